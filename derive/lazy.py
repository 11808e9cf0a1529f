"""Lazy package exports (PEP 562), so that ``rgflow --help`` and light imports such as
``derive.errors`` do not pay for sympy, scipy or numba.

:func:`install` gives a package a module ``__getattr__`` that imports the submodule
holding a public name on first access, and keeps a public name that shares its
submodule's name (``derive.flow``, the function) from being replaced by the submodule
object when that submodule is imported — the behaviour the eager ``from .flow import
flow`` had.

Examples
--------
>>> import derive, sys
>>> derive.flow.__name__       # the function, also after ``import derive.flow``
'flow'
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Mapping

__all__ = ["install"]


class _LazyPackage(types.ModuleType):
    """Module type whose public names are never overwritten by same-named submodules."""

    def __setattr__(self, name, value):
        exports = self.__dict__.get("_LAZY_EXPORTS", {})
        if name in exports and isinstance(value, types.ModuleType) and value.__name__ == f"{self.__name__}.{name}":
            current = self.__dict__.get(name)
            if current is not None and not isinstance(current, types.ModuleType):
                return                       # keep the resolved public object
            super().__setattr__(name, getattr(value, name))
            return
        super().__setattr__(name, value)


def install(package: str, exports: Mapping[str, str]) -> None:
    """Make ``exports`` (public name → submodule, relative like ``".flow"``) lazy in ``package``."""
    module = sys.modules[package]
    module.__class__ = _LazyPackage
    module.__dict__["_LAZY_EXPORTS"] = dict(exports)

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        module.__dict__[name] = value
        return value

    def __dir__():
        return sorted(set(module.__dict__) | set(exports))

    module.__dict__["__getattr__"] = __getattr__
    module.__dict__["__dir__"] = __dir__
