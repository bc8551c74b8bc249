"""rnnkit.text: the text stage (raw strings to ids), at the bottom of the package.

:class:`TextPipeline` (:mod:`rnnkit.text.pipeline`) is the one implementation of
"raw text -> ids", with a Python form and an exact in-graph TensorFlow form; DeepMoji's
tokenizer (:class:`DeepMojiTokenizer`, in-graph :mod:`rnnkit.text.deepmoji_graph`) is a
tokenizer inside it. :class:`Vocabulary` (:mod:`rnnkit.text.vocabulary`) is the one word
vocabulary type, with :data:`PAD` / :data:`UNK` at ids 0 and 1; DeepMoji's dict
vocabularies (:func:`build_vocabulary`, :func:`load_vocabulary`, ...), whose ten special
tokens are fixed by its pretrained weights, are the exception. The tagger's token
features (:class:`TokenFeatures`, :func:`encode_tokens`, :func:`case_class`; in-graph
:mod:`rnnkit.text.token_features_graph`) turn tokens into word, word-shape and
character ids.
"""

from rnnkit.text.deepmoji_tokenizer import SPECIAL_TOKENS, DeepMojiTokenizer
from rnnkit.text.embeddings import EmbeddingMatrix, embedding_matrix, read_embeddings
from rnnkit.text.pipeline import (
    DEFAULT_REPLACEMENTS,
    UNICODE_REPLACEMENTS,
    WORD_APOSTROPHE_REPLACEMENTS,
    WORD_REPLACEMENTS,
    TextPipeline,
    deepmoji_pipeline,
)
from rnnkit.text.special_tokens import PAD, UNK
from rnnkit.text.token_features import CASE_CLASSES, TokenFeatures, case_class, encode_tokens
from rnnkit.text.vectorizer import TextVectorizer
from rnnkit.text.vocabulary import (
    Vocabulary,
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
    "DEFAULT_REPLACEMENTS",
    "UNICODE_REPLACEMENTS",
    "WORD_APOSTROPHE_REPLACEMENTS",
    "WORD_REPLACEMENTS",
    "TextPipeline",
    "TextVectorizer",
    "deepmoji_pipeline",
    "PAD",
    "UNK",
    "CASE_CLASSES",
    "TokenFeatures",
    "case_class",
    "encode_tokens",
    "Vocabulary",
    "build_vocabulary",
    "count_words",
    "extend_vocabulary",
    "load_vocabulary",
    "save_vocabulary",
]
