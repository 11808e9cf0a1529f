"""Where rgflow keeps what it derives and compiles, and how it writes there.

Stage *storage* (the lowest layer; :mod:`codegen.cache` and :mod:`derive.engine.store` build on it):

* :func:`cache_root` — ``$RGFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/rgflow``, else
  ``~/.cache/rgflow``;
* :func:`atomic_write` — a temporary file in the same directory, flushed, then ``os.replace``:
  a reader never sees a partial file and two writers of the same bytes are harmless.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

__all__ = ["cache_root", "atomic_write"]


def cache_root() -> pathlib.Path:
    """Root directory of the user cache (as configured; :func:`codegen.cache.usable_root` falls
    back to a private temporary one when it cannot be written)."""
    env = os.environ.get("RGFLOW_CACHE_DIR")
    if env:
        return pathlib.Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = pathlib.Path(xdg) if xdg else pathlib.Path.home() / ".cache"
    return base / "rgflow"


def atomic_write(path: pathlib.Path, text: str) -> None:
    """Write ``text`` (ASCII) to ``path`` atomically (temporary file + ``os.replace``)."""
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
