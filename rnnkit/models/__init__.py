"""Models for the usage patterns of recurrent networks."""

from rnnkit.models.acceptor import build_acceptor
from rnnkit.models.deepmoji import (
    deepmoji,
    extend_embedding,
    load_keras2_weights,
    load_torchmoji_weights,
)
from rnnkit.models.hierarchical import HierarchicalClassifier, encode_documents
from rnnkit.models.language_model import LanguageModel, generate, perplexity, sample_logits
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.models.taggers import BiLSTMCRFTagger, build_transducer_tagger

__all__ = [
    "BiLSTMCRFTagger",
    "build_transducer_tagger",
    "HierarchicalClassifier",
    "LanguageModel",
    "encode_documents",
    "generate",
    "perplexity",
    "sample_logits",
    "deepmoji",
    "extend_embedding",
    "load_keras2_weights",
    "load_torchmoji_weights",
    "Seq2Seq",
    "build_acceptor",
]
