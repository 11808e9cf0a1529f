"""Subcommands of ``rgflow`` (each module offers ``add_parsers(subparsers)``; see
:func:`rgflow.cli.build_parser`)."""
