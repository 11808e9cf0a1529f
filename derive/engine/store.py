"""Content-addressed disk cache of derivations (``<cache root>/derivations-<engine digest>/``).

A derivation (:func:`derive.engine.wick.metric_cumulant`) is a series of exact rational
coefficients over keys made of names, integers and sample names, so it is stored as JSON — data,
never code — under the sha256 of what was asked for, with the sha256 of the file's bytes next to
it.  A file is used only if its bytes match that digest and it parses into a series; otherwise it
is derived again and rewritten (atomically: :func:`derive.storage.atomic_write`).  The directory
name carries a digest of the engine's own source, so a changed engine never reads an old
derivation.  A cache directory that cannot be written costs the write, never the derivation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
import sys
from fractions import Fraction

from ..storage import atomic_write, cache_root
from .terms import Key, sample_symbol

__all__ = ["cached", "cached_family", "engine_digest", "directory", "encode", "decode"]


@functools.lru_cache(maxsize=1)
def engine_digest() -> str:
    """sha256 over the source of :mod:`derive.engine` (file names and bytes, sorted)."""
    h = hashlib.sha256()
    here = pathlib.Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def directory() -> pathlib.Path:
    return cache_root() / f"derivations-{engine_digest()[:16]}"


def encode(series: dict) -> str:
    """The series as canonical JSON (keys sorted)."""
    rows = []
    for key, coef in series.items():
        rows.append([key.order, key.ratio,
                     [[name, [str(i) for i in idx]] for name, idx in key.tensors],
                     [[[code, k, str(sample)] for code, k, sample in atom] for atom in key.atoms],
                     f"{coef.numerator}/{coef.denominator}"])
    rows.sort(key=lambda r: json.dumps(r))
    return json.dumps({"format": 1, "terms": rows}, separators=(",", ":"), sort_keys=True) + "\n"


def decode(text: str) -> dict:
    """The series encoded by :func:`encode` (ValueError for anything else)."""
    data = json.loads(text)
    if data.get("format") != 1:
        raise ValueError("unknown derivation format")
    series = {}
    for order, ratio, tensors, atoms, coef in data["terms"]:
        key = Key(int(order), int(ratio),
                  tuple((str(name), tuple(sample_symbol(str(i)) for i in idx)) for name, idx in tensors),
                  tuple(tuple((str(code), int(k), sample_symbol(str(s))) for code, k, s in atom) for atom in atoms))
        num, den = str(coef).split("/")
        series[key] = Fraction(int(num), int(den))
    return series


def _read(path: pathlib.Path):
    try:
        data = path.read_bytes()
        digest = path.with_suffix(".sha256").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if hashlib.sha256(data).hexdigest() != digest:
        print(f"rgflow: warning: cached derivation {path.name} does not match its sha256; deriving it again",
              file=sys.stderr, flush=True)
        return None
    try:
        return decode(data.decode("ascii"))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


@functools.lru_cache(maxsize=None)
def _warn_unwritable(where: pathlib.Path, reason: str) -> None:
    """Say once per process and directory that derivations cannot be cached there."""
    print(f"rgflow: warning: cannot cache derivations in {where} ({reason})", file=sys.stderr, flush=True)


def cached(request: str, compute):
    """``compute()`` (a series) through the disk cache, keyed by the text ``request``."""
    path = directory() / f"{hashlib.sha256(request.encode()).hexdigest()[:40]}.json"
    series = _read(path)
    if series is not None:
        return series
    series = compute()
    text = encode(series)
    try:
        atomic_write(path, text)
        atomic_write(path.with_suffix(".sha256"), hashlib.sha256(text.encode("ascii")).hexdigest() + "\n")
    except OSError as exc:
        _warn_unwritable(path.parent, exc.strerror or str(exc))
    return series


_SEPARATOR = "\x1f"     # joins a family member's name to its request (never in a name)


def cached_family(request: str, names: tuple[str, ...], compute) -> dict:
    """``compute()`` — a dict {name: series} over the fixed ``names`` — through the disk cache, one
    verified file per member (``request`` + the member's name); computed once if any is missing."""
    out, computed = {}, None
    for name in names:
        def member(name=name):
            nonlocal computed
            if computed is None:
                computed = compute()
            return computed[name]
        out[name] = cached(f"{request}{_SEPARATOR}{name}", member)
    return out
