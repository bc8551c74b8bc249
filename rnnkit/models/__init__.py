"""Models for the usage patterns of recurrent networks."""

from rnnkit.models.acceptor import build_acceptor
from rnnkit.models.deepmoji import deepmoji, extend_embedding
from rnnkit.models.deepmoji_weights import load_keras2_weights, load_torchmoji_weights

__all__ = [
    "deepmoji",
    "extend_embedding",
    "load_keras2_weights",
    "load_torchmoji_weights",
    "build_acceptor"]
