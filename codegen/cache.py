"""Content-addressed user cache for modules of flows outside the catalogue.

Stage *cache*: flow → path of its generated module under
``<root>/<namespace>/flow_<key>.py``, generating it on a miss.

* ``root``: ``$RGFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/rgflow``, else
  ``~/.cache/rgflow``.
* ``namespace``: generator format and the versions of rgflow, sympy, networkx,
  numba and Python, so that an upgrade never reuses a stale derivation.
* ``key``: sha256 of the generator format and the flow signature
  (:func:`codegen.driver.cache_key`), so identical flows share one file.

Writes are atomic (temporary file in the same directory, then ``os.replace``):
two processes generating the same flow at once both write identical bytes and a
reader never sees a partial file.  Nothing here ever writes into ``generated/``.

Integrity: next to each module lies ``flow_<key>.sha256``, the sha256 of its bytes.
:func:`load_verified` reads the module once, checks those bytes against the digest
and executes exactly the bytes it checked (no second read, no ``.pyc``); a missing,
tampered or truncated file raises :class:`CacheIntegrityError` and the caller
regenerates it — a cached file that does not match is never executed.  Committed
modules are checked the same way against ``generated/MANIFEST.json``.

Where the cache root cannot be used (it is a file, read-only, not writable), a
private temporary cache is used for this process instead, with one warning on stderr.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import pathlib
import sys
import tempfile
import types

from derive.errors import RGFlowError
from derive.storage import atomic_write, cache_root

__all__ = ["package_version", "cache_root", "namespace", "module_path", "atomic_write", "load_verified",
           "store", "digest_path", "usable_root", "discard_corrupt_numba_cache", "CacheIntegrityError", "CacheDirectoryError"]


class CacheIntegrityError(RGFlowError, OSError):
    """A cached module that is missing, truncated or does not match its recorded sha256."""


class CacheDirectoryError(RGFlowError, OSError):
    """Neither the cache directory nor a private temporary one can be written."""


_FALLBACK: dict[str, pathlib.Path] = {}


def usable_root() -> pathlib.Path:
    """:func:`cache_root` when a module can be written there, else a private temporary cache
    for this process (made once, announced once on stderr)."""
    root = cache_root()
    problem = _unwritable(root / namespace())
    if problem is None:
        return root
    key = str(root)
    if key not in _FALLBACK:
        try:
            private = pathlib.Path(tempfile.mkdtemp(prefix="rgflow-cache-"))
        except OSError as exc:
            raise CacheDirectoryError(f"cache directory {root} cannot be used ({problem}) and no temporary "
                                      f"directory can be made ({exc.strerror}); set RGFLOW_CACHE_DIR") from None
        _FALLBACK[key] = private
        print(f"rgflow: warning: cache directory {root} cannot be used ({problem}); using the private "
              f"temporary cache {private} for this run (set RGFLOW_CACHE_DIR to a writable directory)",
              file=sys.stderr, flush=True)
    return _FALLBACK[key]


def _unwritable(directory: pathlib.Path) -> str | None:
    """Why files cannot be created in ``directory`` (made if missing), or None."""
    for parent in (directory, *directory.parents):
        if parent.exists() and not parent.is_dir():
            return f"{parent} is not a directory"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or exc.__class__.__name__
    return None


def package_version(dist: str) -> str:
    """Installed version of the distribution ``dist`` ("unknown" when it is not installed)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 over the source of the packages that write modules (``derive``, ``codegen``),
    so that a change to ``lower``, ``render`` or the printer never reuses a stale cached
    module, even without a generator-format bump."""
    h = hashlib.sha256()
    top = pathlib.Path(__file__).resolve().parent.parent
    for package in ("codegen", "derive"):
        for path in sorted((top / package).rglob("*.py")):
            h.update(path.relative_to(top).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def namespace() -> str:
    """Cache namespace: every version that can change a generated module (the generator
    format, package versions, Python, and the digest of rgflow's own source)."""
    from .render import GENERATOR_FORMAT
    parts = [f"g{GENERATOR_FORMAT}", f"rgflow{package_version('rgflow')}", f"sympy{package_version('sympy')}",
             f"networkx{package_version('networkx')}", f"numba{package_version('numba')}",
             f"py{sys.version_info[0]}{sys.version_info[1]}", f"src{source_digest()[:12]}"]
    return "-".join(parts)


def module_path(key: str, root: pathlib.Path | None = None) -> pathlib.Path:
    """Where the module with cache key ``key`` lives (under ``root``, default :func:`cache_root`)."""
    return (cache_root() if root is None else root) / namespace() / f"flow_{key[:40]}.py"


def digest_path(path: pathlib.Path) -> pathlib.Path:
    """The file that records the sha256 of the module at ``path``."""
    return pathlib.Path(path).with_suffix(".sha256")


def store(path: pathlib.Path, text: str) -> None:
    """Write a module and then its digest, each atomically (a reader that finds the module
    without its digest regenerates it: the same bytes)."""
    atomic_write(path, text)
    atomic_write(digest_path(path), hashlib.sha256(text.encode("ascii")).hexdigest() + "\n")


def load_verified(path: pathlib.Path, name: str, expected_sha256: str | None = None):
    """Import the module file ``path`` as ``name`` after checking its bytes against
    ``expected_sha256`` (default: the digest file next to it); the bytes checked are the
    bytes executed.  :class:`CacheIntegrityError` when the file or digest is missing or
    they differ.  A module already imported under ``name`` in this process is returned."""
    if name in sys.modules:
        return sys.modules[name]
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
        if expected_sha256 is None:
            expected_sha256 = digest_path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CacheIntegrityError(f"cannot read {path} or its digest: {exc}") from None
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise CacheIntegrityError(f"{path} does not match its recorded sha256 (truncated or edited)")
    code = compile(data, str(path), "exec", dont_inherit=True)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__rgflow_sha256__ = expected_sha256   # what a worker process re-verifies (codegen.tiles.ModuleRef)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def discard_corrupt_numba_cache(module) -> list[str]:
    """Remove numba's on-disk cache entries of ``module``'s jitted functions whose index file
    cannot be read (truncated, corrupt); numba then recompiles them on first use instead of
    failing with an unpickling error.  Returns the removed paths (a warning is printed)."""
    removed = []
    for name in sorted(vars(module)):
        cache_file = getattr(getattr(getattr(module, name), "_cache", None), "_cache_file", None)
        if cache_file is None or not hasattr(cache_file, "_load_index"):
            continue
        try:
            cache_file._load_index()
        except Exception:  # noqa: BLE001 - any failure to read numba's index means: rebuild it
            index = pathlib.Path(cache_file._index_path)
            stem = index.name[:-len(".nbi")]
            for path in sorted([index, *index.parent.glob(f"{stem}.*.nbc")]):
                try:
                    path.unlink()
                    removed.append(str(path))
                except FileNotFoundError:
                    pass
    if removed:
        print(f"rgflow: warning: discarded {len(removed)} unreadable numba cache file(s) of "
              f"{getattr(module, '__file__', module.__name__)}; they are recompiled on first use",
              file=sys.stderr, flush=True)
    return removed
