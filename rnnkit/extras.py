"""Optional dependencies: the packages that ``pip install "rnnkit[EXTRA]"`` brings, and a
clear error naming the extra when one is missing.

- ``serve``: fastapi, uvicorn and httpx (``rnnkit serve``, :mod:`rnnkit.serving.server`,
  :class:`rnnkit.serving.process.ServerProcess`);
- ``plot``: matplotlib (the training curves PNG of ``rnnkit train``, the DeepMoji
  attention heatmap of ``rnnkit bench`` and :mod:`rnnkit.recipes.deepmoji_attention`,
  the recipes' plots);
- ``recipes``: sacrebleu and matplotlib (the recipes under ``recipes/``);
- ``bench``: pytorch-crf (module ``torchcrf``), the reference of ``benchmarks/crf.py``.

Everything else (Keras, TensorFlow for tf.data and export, scikit-learn, seqeval, which the
tagger's early stopping scores with) is a core dependency.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "require"]

#: top-level package -> the extra that installs it
EXTRAS = {
    "fastapi": "serve",
    "starlette": "serve",
    "uvicorn": "serve",
    "httpx": "serve",
    "matplotlib": "plot",
    "sacrebleu": "recipes",
    "torchcrf": "bench",
}


def require(module: str, purpose: str) -> ModuleType:
    """``import module``, or an ImportError that names ``purpose`` and the extra to install.

    Example:

    >>> uvicorn = require("uvicorn", "rnnkit serve")  # doctest: +SKIP
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = module.split(".")[0]
        extra = EXTRAS.get(package)
        hint = f'pip install "rnnkit[{extra}]"' if extra else f"pip install {package}"
        raise ImportError(
            f"{purpose} needs the {package!r} package, which is not installed: {hint}."
        ) from err
