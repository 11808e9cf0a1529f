"""rgflow: what is run for a user — the command line, Monte Carlo over real networks,
theory-versus-Monte-Carlo validation and its figures, numerical references, and the
numerics of the Bayesian theory.

Layers import one way: :mod:`derive` (symbolic: what is derived) ← :mod:`codegen` (what
is compiled) ← :mod:`rgflow` (tests/test_layering.py).  Entry points:
:func:`rgflow.validate.validate`, :func:`rgflow.montecarlo.sample`,
:mod:`rgflow.bayes` and :func:`rgflow.cli.main` (the ``rgflow`` command, also
``python -m rgflow``); the defaults they share are defined once in :mod:`rgflow.defaults`.
"""
