"""Import one of rnnkit's modules without running the ``__init__`` of its packages.

``import rnnkit`` imports Keras (the package ``__init__`` loads the layers), and so does
the ``__init__`` of ``rnnkit.models`` and of each model family's folder. A process that
needs only text-processing modules (the worker processes that prepare a corpus, or the
``rnnkit prepare-corpus`` command) installs stand-in package modules instead: their
submodules import normally, and each stand-in loads its real ``__init__`` on the first
attribute asked of it. Modules meant to be imported this way therefore take names from
submodules (``from rnnkit.models.deepmoji.tokenizer import ...``), never from these
packages.

Example:

>>> corpus = import_light("rnnkit.models.deepmoji.corpus")  # doctest: +SKIP
>>> "keras" in sys.modules  # doctest: +SKIP
False
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

__all__ = ["import_light", "stand_in_source"]

#: the folder holding the ``rnnkit`` package
_ROOT = str(Path(__file__).resolve().parents[2])

# top-level statements only: an initializer runs it as ``exec(source)`` inside a function
# of multiprocessing, where the names it imports are locals that a function defined in it
# would not see
_SOURCE = """
import os, sys, types

for _name in {packages!r}:
    if _name in sys.modules:
        continue
    _m = types.ModuleType(_name)
    _m.__path__ = [os.path.join({root!r}, *_name.split("."))]
    _m.__file__ = os.path.join(_m.__path__[0], "__init__.py")
    _m.__package__ = _name

    def _load(attr, _m=_m):
        del _m.__dict__["__getattr__"]
        with open(_m.__file__, encoding="utf-8") as f:
            exec(compile(f.read(), _m.__file__, "exec"), _m.__dict__)
        try:
            return _m.__dict__[attr]
        except KeyError:
            raise AttributeError(attr) from None

    _m.__getattr__ = _load
    sys.modules[_name] = _m
    _parent, _, _child = _name.rpartition(".")
    if _parent:
        setattr(sys.modules[_parent], _child, _m)
"""


def _packages(module: str) -> tuple[str, ...]:
    parts = module.split(".")
    if parts[0] != "rnnkit" or len(parts) < 2:
        raise ValueError(f"Expected a submodule of rnnkit, got {module!r}.")
    return tuple(".".join(parts[:i]) for i in range(1, len(parts)))


def stand_in_source(module: str) -> str:
    """Python source that installs stand-ins for the packages above ``module`` (those not
    imported yet), e.g. the initializer of a worker process (``exec`` of it).

    Args:
        module: a dotted rnnkit module name, e.g. ``"rnnkit.models.deepmoji.corpus"``
            (stand-ins for ``rnnkit``, ``rnnkit.models`` and ``rnnkit.models.deepmoji``).
    """
    return _SOURCE.format(packages=_packages(module), root=_ROOT)


def import_light(module: str) -> ModuleType:
    """``module``, imported after installing the stand-ins of :func:`stand_in_source` in
    this process (packages already imported are left as they are)."""
    exec(stand_in_source(module), {"__name__": "rnnkit_stand_ins"})
    return importlib.import_module(module)
