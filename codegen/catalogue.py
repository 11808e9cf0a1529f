"""The catalogue: which flows have evaluators committed in ``generated/``.

Stage *catalogue*: nothing → tuple of :class:`Entry` (stem, activation name,
observables).  Every named activation that is usable without parameters and has
a critical point studied in THEORY.md gets two modules: the kernel and NTK mean
(``_kh``) and the full set K, H, V, G1 (``_full``).  Custom activations are never
committed; they go to the user cache (:mod:`codegen.cache`).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Entry", "CATALOGUE", "ACTIVATIONS", "OBSERVABLE_SETS", "entry"]

ACTIVATIONS = ("relu", "erf", "tanh", "gelu", "swish", "linear")
OBSERVABLE_SETS = {"kh": ("K", "H"), "full": ("K", "H", "V", "G1"),
                   "ntk": ("K", "H", "V", "G1", "A", "B", "D", "F", "H1", "P", "Q")}


class Entry(NamedTuple):
    stem: str
    activation: str
    observables: tuple[str, ...]


CATALOGUE = tuple(Entry(f"flow_{act}_{tag}", act, obs)
                  for act in ACTIVATIONS for tag, obs in OBSERVABLE_SETS.items())


def entry(stem: str) -> Entry:
    """The catalogue entry called ``stem``."""
    for e in CATALOGUE:
        if e.stem == stem:
            return e
    raise KeyError(f"{stem!r} is not in the catalogue; known: {', '.join(e.stem for e in CATALOGUE)}")
