"""rnnkit: recurrent neural networks for text in Keras 3, on every backend.

The core (``cells``, ``layers``, ``ops``) is imported with the package, which registers
rnnkit's Keras serializables (so ``keras.saving.load_model`` finds them after ``import
rnnkit``); the other subpackages (``models``, ``text``, ``data``, ``training``,
``sklearn``, ``serving``, ``recipes``, ``cli``) are imported on first use. In the
``rnnkit`` command itself (the console script or ``python -m rnnkit``) the core is
imported on first use too: the command imports what a subcommand needs, so ``rnnkit
--help`` imports no deep-learning framework.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

__version__ = "0.1.0"

_CORE = ("cells", "config", "layers", "ops")
_LAZY = ("models", "text", "data", "training", "sklearn", "serving", "recipes", "cli")

__all__ = ["cells", "config", "explain", "layers", "ops", *_LAZY, "__version__"]


def _running_the_command() -> bool:
    """Whether this process is the ``rnnkit`` command: the console script (``argv[0]``
    named ``rnnkit``) or ``python -m rnnkit``."""
    if sys.argv and os.path.basename(sys.argv[0]) in ("rnnkit", "rnnkit.exe"):
        return True
    orig = list(getattr(sys, "orig_argv", ()))
    return any(a == "-m" and b == "rnnkit" for a, b in zip(orig, orig[1:]))


_QUIET = os.environ.get("RNNKIT_QUIET")
if _QUIET in ("1", "auto") and not _running_the_command():
    # a script that owns its process asked for quiet before importing any framework
    # ("auto": unless its own arguments say --verbose N with N > 0). The ``rnnkit``
    # command decides from its own arguments (rnnkit.cli.main): a setting it inherits
    # from a quiet script that started it must not hide its errors.
    from rnnkit.logs import hide_framework_logs, verbose_requested

    if _QUIET == "1" or not verbose_requested(sys.argv[1:]):
        hide_framework_logs()

if not _running_the_command():
    from rnnkit import cells, config, layers, ops
    from rnnkit.layers.planner import explain


def __getattr__(name: str) -> Any:
    if name in _LAZY or name in _CORE:
        module = importlib.import_module(f"rnnkit.{name}")
        globals()[name] = module
        return module
    if name == "explain":
        from rnnkit.layers.planner import explain

        globals()[name] = explain
        return explain
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
