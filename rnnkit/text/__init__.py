"""rnnkit.text."""

from rnnkit.text.deepmoji_tokenizer import SPECIAL_TOKENS, DeepMojiTokenizer
from rnnkit.text.embeddings import EmbeddingMatrix, embedding_matrix, read_embeddings
from rnnkit.text.vocabulary import (
    build_vocabulary,
    count_words,
    extend_vocabulary,
    load_vocabulary,
    save_vocabulary,
)

__all__ = [
    "EmbeddingMatrix",
    "embedding_matrix",
    "read_embeddings",
    "SPECIAL_TOKENS",
    "DeepMojiTokenizer",
    "build_vocabulary",
    "count_words",
    "extend_vocabulary",
    "load_vocabulary",
    "save_vocabulary",
]
