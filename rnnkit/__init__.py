"""rnnkit: recurrent neural networks for text in Keras 3, on every backend.

The core (``cells``, ``layers``, ``ops``) is imported with the package; the other
subpackages (``models``, ``text``, ``data``, ``training``, ``sklearn``, ``serving``,
``cli``) are imported on first use, so ``import rnnkit`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from rnnkit import cells, config, layers, ops
from rnnkit.layers.planner import explain

__version__ = "0.1.0"

_LAZY = ("models", "text", "data", "training", "sklearn", "serving", "cli")

__all__ = ["cells", "config", "explain", "layers", "ops", *_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"rnnkit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
