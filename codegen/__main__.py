"""``python -m codegen regenerate|check``: maintain the committed ``generated/`` catalogue.

* ``regenerate [STEM ...]`` rewrites the catalogue modules (atomically) and
  ``generated/MANIFEST.json``; prints the stems whose bytes changed.
* ``check [--quick]`` is the freshness gate (:func:`codegen.artifacts.check`):
  exit status 1 and one line per problem when ``generated/`` is stale, hand-edited
  or has orphans; ``--quick`` skips the in-memory regeneration.
"""

from __future__ import annotations

import argparse
import sys

from . import artifacts
from .catalogue import CATALOGUE


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("regenerate", help="rewrite generated/ from the catalogue")
    p.add_argument("stems", nargs="*", help=f"only these entries (default: all {len(CATALOGUE)})")
    p = sub.add_parser("check", help="freshness gate of generated/")
    p.add_argument("--quick", action="store_true", help="skip the in-memory regeneration")
    args = parser.parse_args(argv)
    if args.command == "regenerate":
        try:
            changed = artifacts.regenerate(args.stems or None)
        except KeyError as exc:
            print(f"python -m codegen: error: {exc.args[0]}", file=sys.stderr)
            return 2
        print("\n".join(f"regenerated generated/{s}.py" for s in changed) or "generated/ is up to date")
        return 0
    problems = artifacts.check(full=not args.quick)
    for line in problems:
        print(line)
    if not problems:
        print(f"generated/ is fresh ({len(CATALOGUE)} modules)")
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
