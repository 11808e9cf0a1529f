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
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pathlib
import sys
import tempfile

__all__ = ["cache_root", "namespace", "module_path", "atomic_write", "load_module"]


def cache_root() -> pathlib.Path:
    """Root directory of the user cache."""
    env = os.environ.get("RGFLOW_CACHE_DIR")
    if env:
        return pathlib.Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "rgflow"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def namespace() -> str:
    """Cache namespace: every version that can change a generated module."""
    from .render import GENERATOR_FORMAT
    parts = [f"g{GENERATOR_FORMAT}", f"rgflow{_version('rgflow')}", f"sympy{_version('sympy')}",
             f"networkx{_version('networkx')}", f"numba{_version('numba')}",
             f"py{sys.version_info[0]}{sys.version_info[1]}"]
    return "-".join(parts)


def module_path(key: str) -> pathlib.Path:
    """Where the module with cache key ``key`` lives."""
    return cache_root() / namespace() / f"flow_{key[:40]}.py"


def atomic_write(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; give the usual file mode
        with os.fdopen(fd, "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_module(path: pathlib.Path, name: str):
    """Import the module file ``path`` under the module name ``name`` (once per process)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
