"""Committed artifacts: ``generated/*.py`` and ``generated/MANIFEST.json``.

Stage *artifacts*: catalogue → files.  :func:`regenerate` writes every catalogue
module (atomically) and the manifest; :func:`check` is the freshness gate used by
``python -m codegen check`` and the tests:

1. every module file in ``generated/`` is in the manifest and vice versa;
2. each file's sha256 equals the manifest's ``output_sha256`` (no hand edits);
3. (``full=True``) every catalogue entry regenerated in memory is byte-identical
   to the committed file.

The manifest maps stem → {spec, activation, observables, flow_signature,
cache_key, output_sha256, generator_format, generated_with}; keys sorted, indent 2,
one trailing newline.  ``generated_with`` (package versions) is informational: an
entry is rewritten only when its output bytes change.
"""

from __future__ import annotations

import difflib
import json
import pathlib

from derive.flow import flow

from .cache import atomic_write, package_version
from .catalogue import CATALOGUE, Entry
from .driver import GeneratedModule, cache_key, generate
from .render import DEFAULT_COMMAND, GENERATOR_FORMAT

__all__ = ["GENERATED_DIR", "MANIFEST", "read_manifest", "expected", "regenerate", "check", "find_stem"]

GENERATED_DIR = pathlib.Path(__file__).resolve().parent.parent / "generated"
MANIFEST = "MANIFEST.json"
_INIT_TEXT = '"""Generated evaluators (by `python -m codegen regenerate`); no logic lives here."""\n'


def read_manifest(directory: pathlib.Path = GENERATED_DIR) -> dict:
    """The manifest as a dict ({} when there is none)."""
    path = pathlib.Path(directory) / MANIFEST
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def find_stem(key: str, directory: pathlib.Path = GENERATED_DIR) -> str | None:
    """Stem of the committed module whose cache key is ``key`` (None if there is none)."""
    for stem, info in read_manifest(directory).get("modules", {}).items():
        if info.get("cache_key") == key and info.get("generator_format") == GENERATOR_FORMAT:
            return stem
    return None


def _generate_entry(e: Entry) -> tuple[GeneratedModule, str]:
    f = flow(e.activation, e.observables)
    return generate(f, DEFAULT_COMMAND), cache_key(f)


def expected(entries=CATALOGUE) -> dict[str, tuple[GeneratedModule, str]]:
    """Catalogue modules regenerated in memory: stem → (module, cache key)."""
    return {e.stem: _generate_entry(e) for e in entries}


def _manifest_entry(e: Entry, module: GeneratedModule, key: str) -> dict:
    return {
        "spec": f"flow({e.activation!r}, observables={tuple(e.observables)!r})",
        "activation": e.activation,
        "observables": list(e.observables),
        "flow_signature": module.flow_signature,
        "cache_key": key,
        "output_sha256": module.sha256,
        "generator_format": GENERATOR_FORMAT,
        "generated_with": {name: package_version(name) for name in ("networkx", "numba", "rgflow", "sympy")},
    }


def _dump(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def regenerate(stems=None, directory: pathlib.Path = GENERATED_DIR) -> list[str]:
    """Write the catalogue modules (all, or ``stems``) and the manifest; return changed stems."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = [e for e in CATALOGUE if stems is None or e.stem in set(stems)]
    unknown = set(stems or ()) - {e.stem for e in CATALOGUE}
    if unknown:
        raise KeyError(f"not in the catalogue: {', '.join(sorted(unknown))}")
    manifest = read_manifest(directory) or {}
    modules = manifest.get("modules", {})
    changed = []
    for e in entries:
        module, key = _generate_entry(e)
        path = directory / f"{e.stem}.py"
        old = path.read_text() if path.exists() else None
        if old != module.text:
            atomic_write(path, module.text)
            changed.append(e.stem)
        entry = _manifest_entry(e, module, key)
        previous = modules.get(e.stem)
        if previous is None or {k: v for k, v in previous.items() if k != "generated_with"} != \
                {k: v for k, v in entry.items() if k != "generated_with"}:
            modules[e.stem] = entry
    if stems is None:
        for stem in sorted(set(modules) - {e.stem for e in CATALOGUE}):
            del modules[stem]
            orphan = directory / f"{stem}.py"
            if orphan.exists():
                orphan.unlink()
    new = {"generator_format": GENERATOR_FORMAT, "modules": dict(sorted(modules.items()))}
    text = _dump(new)
    path = directory / MANIFEST
    if not path.exists() or path.read_text() != text:
        atomic_write(path, text)
    init = directory / "__init__.py"
    if not init.exists() or init.read_text() != _INIT_TEXT:
        atomic_write(init, _INIT_TEXT)
    return changed


def check(directory: pathlib.Path = GENERATED_DIR, full: bool = True, entries=CATALOGUE) -> list[str]:
    """Problems with the committed artifacts (empty list: all fresh); see the module docstring."""
    from derive.hashing import sha256_text
    directory = pathlib.Path(directory)
    fix = f"run `{DEFAULT_COMMAND}` and commit generated/"
    problems = []
    manifest = read_manifest(directory)
    modules = manifest.get("modules", {})
    files = {p.stem for p in directory.glob("flow_*.py")}
    for stem in sorted(files - set(modules)):
        problems.append(f"generated/{stem}.py is not in {MANIFEST} ({fix})")
    for stem in sorted(set(modules) - files):
        problems.append(f"{MANIFEST} lists {stem} but generated/{stem}.py is missing ({fix})")
    for stem in sorted(set(modules) & files):
        text = (directory / f"{stem}.py").read_text()
        if sha256_text(text) != modules[stem].get("output_sha256"):
            problems.append(f"generated/{stem}.py does not match its sha256 in {MANIFEST} (edited by hand?) ({fix})")
    catalogue = {e.stem for e in CATALOGUE}
    for stem in sorted(catalogue - set(modules)):
        problems.append(f"catalogue entry {stem} has not been generated ({fix})")
    if full:
        for stem, (module, key) in expected(entries).items():
            path = directory / f"{stem}.py"
            if not path.exists():
                continue
            old = path.read_text()
            if old != module.text:
                diff = list(difflib.unified_diff(old.splitlines(), module.text.splitlines(),
                                                 f"generated/{stem}.py", "regenerated", lineterm="", n=1))
                problems.append(f"generated/{stem}.py is stale ({fix}); first lines of the diff:\n"
                                + "\n".join(diff[:12]))
            info = modules.get(stem, {})
            if info.get("cache_key") != key:
                problems.append(f"{MANIFEST} entry {stem} has a stale cache key ({fix})")
    return problems
