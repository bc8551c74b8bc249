"""rnnkit.text: the text stage (raw strings to ids), at the bottom of the package.

:class:`TextPipeline` (:mod:`rnnkit.text.pipeline`) is the one implementation of
"raw text -> ids", with a Python form and an exact in-graph TensorFlow form; a model
family whose tokenizer is not a list of replacements registers it as a tokenizer inside
the pipeline (:func:`register_tokenizer`; ``import rnnkit.models.deepmoji`` registers
``TextPipeline(tokenizer="deepmoji")``). :class:`Vocabulary` (:mod:`rnnkit.text.vocabulary`)
is the one word vocabulary type, with :data:`PAD` / :data:`UNK` at ids 0 and 1. The
tagger's token features (:class:`TokenFeatures`, :func:`encode_tokens`, :func:`case_class`;
in-graph :mod:`rnnkit.text.token_features_graph`, over the generic code point tables of
:mod:`rnnkit.text.graph_tables`) turn tokens into word, word-shape and character ids.

Moved: DeepMoji's tokenizer and vocabularies (``DeepMojiTokenizer``, ``SPECIAL_TOKENS``,
``load_vocabulary``, ``save_vocabulary``, ``build_vocabulary``, ``extend_vocabulary``,
``count_words``), its in-graph tokenizer and ``deepmoji_pipeline`` live in the DeepMoji
folder: ``from rnnkit.models.deepmoji import DeepMojiTokenizer, load_vocabulary,
deepmoji_pipeline``. This package sits at the bottom and imports nothing from above it.
"""

from rnnkit.text.embeddings import EmbeddingMatrix, embedding_matrix, read_embeddings
from rnnkit.text.pipeline import (
    DEFAULT_REPLACEMENTS,
    UNICODE_REPLACEMENTS,
    WORD_APOSTROPHE_REPLACEMENTS,
    WORD_REPLACEMENTS,
    TextPipeline,
    register_tokenizer,
)
from rnnkit.text.special_tokens import PAD, UNK
from rnnkit.text.token_features import CASE_CLASSES, TokenFeatures, case_class, encode_tokens
from rnnkit.text.vectorizer import TextVectorizer
from rnnkit.text.vocabulary import Vocabulary

__all__ = [
    "EmbeddingMatrix",
    "embedding_matrix",
    "read_embeddings",
    "DEFAULT_REPLACEMENTS",
    "UNICODE_REPLACEMENTS",
    "WORD_APOSTROPHE_REPLACEMENTS",
    "WORD_REPLACEMENTS",
    "TextPipeline",
    "TextVectorizer",
    "register_tokenizer",
    "PAD",
    "UNK",
    "CASE_CLASSES",
    "TokenFeatures",
    "case_class",
    "encode_tokens",
    "Vocabulary",
]
