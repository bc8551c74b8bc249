"""rnnkit: recurrent neural networks for text in Keras 3, on every backend."""

from rnnkit import cells, layers, ops

__version__ = "0.1.0"

__all__ = ["cells", "layers", "ops", "__version__"]
