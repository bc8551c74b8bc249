"""Hierarchical document classifier (Li et al. 2015, Tang et al. 2015, Yang et al. 2016).

A document is a list of spans (sentences, or pieces between punctuation marks), each a
list of tokens, given as int ids of shape ``(batch, spans, tokens)`` with 0 as
padding. Each span is encoded by a bidirectional RNN with attention pooling into one
vector; an acceptor RNN reads the span vectors and attention pooling turns its outputs
into the document vector, which a softmax layer classifies.

Documents with different numbers of spans, and spans with different numbers of
tokens, are padded with 0 and handled through masks: padding tokens and padding spans
never change the output. A document with no tokens at all gets the zero document
vector (the classifier's bias alone decides).

:func:`encode_documents` turns raw texts into the ``(batch, spans, tokens)`` ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from rnnkit.layers.attention_pooling import AttentionPooling
from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.factory import recurrent_layer
from rnnkit.ops.validation import static_shape
from rnnkit.text.pipeline import WORD_APOSTROPHE_REPLACEMENTS, TextPipeline
from rnnkit.text.special_tokens import PAD, UNK
from rnnkit.text.vocabulary import Vocabulary

SPLIT_MODES = ("sentence", "punctuation")
# Span splitting stays here: the shared pipeline (rnnkit/text/pipeline.py) turns a text
# into one flat token list and has no notion of spans, so "split after . ! ? (and , ; :)
# and at line breaks" cannot be one of its replacements. Only this rule is local; the
# words of each span come from the pipeline (see ``tokenize``).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_PUNCTUATION = re.compile(r"(?<=[.!?,;:])\s+|\n+")
# The word tokenization is the shared pipeline's, with Python's Unicode ``re`` semantics
# (the classifier has no exported in-graph form): the tokens of the former
# ``re.findall(r"\w+(?:'\w+)?|[^\w\s]", text)``, pinned by
# tests/test_text_module_tokenizers.py.
_PIPELINES = {
    lowercase: TextPipeline(
        [PAD, UNK],
        lowercase=lowercase,
        replacements=WORD_APOSTROPHE_REPLACEMENTS,
        split="unicode_whitespace",
        engine="unicode",
    )
    for lowercase in (True, False)
}


def split_spans(text: str, mode: str = "sentence") -> list[str]:
    """Splits ``text`` into spans.

    Args:
        text: The document.
        mode: ``"sentence"`` splits after ``.``, ``!``, ``?`` (and at line breaks);
            ``"punctuation"`` also after ``,``, ``;`` and ``:``.

    Returns:
        The non-empty spans, stripped.
    """
    if not isinstance(text, str):
        raise ValueError(f"Expected a document as a str, got {type(text).__name__}.")
    if mode not in SPLIT_MODES:
        raise ValueError(f"`mode` must be one of {SPLIT_MODES}, got {mode!r}.")
    pattern = _SENTENCE_END if mode == "sentence" else _PUNCTUATION
    return [span.strip() for span in pattern.split(text) if span.strip()]


def tokenize(span: str, lowercase: bool = True) -> list[str]:
    """Words (with inner apostrophes) and single punctuation marks of ``span``: the
    shared :class:`rnnkit.text.TextPipeline` with :data:`WORD_APOSTROPHE_REPLACEMENTS`."""
    return _PIPELINES[bool(lowercase)].tokenize(span)


def build_vocabulary(
    texts: Iterable[str], max_words: int | None = 20000, min_count: int = 1
) -> dict[str, int]:
    """A word -> id mapping for :func:`encode_documents`: 0 ``<pad>``, 1 ``<unk>``, then
    the words by decreasing frequency (ties alphabetical), at most ``max_words`` in all
    (the index of a :class:`rnnkit.text.vocabulary.Vocabulary`).

    Args:
        texts: the documents.
        max_words: the most ids, padding and unknown included (None: no limit).
        min_count: keep words seen at least this often.

    Returns:
        ``dict`` word -> id.

    Example:

    >>> build_vocabulary(["A cat. A dog."])
    {'<pad>': 0, '<unk>': 1, '.': 2, 'a': 3, 'cat': 4, 'dog': 5}
    """
    tokens = (token for text in texts for token in tokenize(_check_text(text, "texts")))
    vocab = Vocabulary.from_tokens(tokens, min_count=min_count, max_size=max_words)
    return dict(vocab.index)


def _check_text(text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"Expected {what} to hold str documents, got {type(text).__name__}.")
    return text


def encode_documents(
    texts: Iterable[str],
    vocabulary: Mapping[str, int],
    max_spans: int | None = None,
    max_tokens: int | None = None,
    mode: str = "sentence",
    lowercase: bool = True,
) -> np.ndarray:
    """Raw texts to int32 ids ``(batch, spans, tokens)``, 0-padded.

    Args:
        texts: The documents.
        vocabulary: word -> id, with ``<pad>`` = 0 and ``<unk>`` (unknown words map to it).
        max_spans: Keep at most this many spans per document (the first ones); default
            the longest document's count.
        max_tokens: Keep at most this many tokens per span; default the longest span's.
        mode: How to split spans (see :func:`split_spans`).
        lowercase: Lower-case before the look-up.

    Returns:
        ``np.ndarray`` int32 of shape ``(batch, spans, tokens)``; empty documents are all
        padding.
    """
    if isinstance(texts, str):
        raise ValueError("Expected a list of documents, got a single str; wrap it in a list.")
    texts = [_check_text(t, "texts") for t in texts]
    if not texts:
        raise ValueError("Expected at least one document, got an empty list.")
    if vocabulary.get(PAD, 0) != 0 or UNK not in vocabulary:
        raise ValueError(
            f"The vocabulary must map {PAD!r} to 0 (or omit it) and contain {UNK!r}; got "
            f"{PAD!r} -> {vocabulary.get(PAD)}, {UNK!r} -> {vocabulary.get(UNK)}."
        )
    for name, value in (("max_spans", max_spans), ("max_tokens", max_tokens)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ValueError(f"`{name}` must be a positive integer or None, got {value!r}.")
    unk = vocabulary[UNK]
    docs = [
        [
            [vocabulary.get(tok, unk) for tok in tokenize(span, lowercase)]
            for span in split_spans(text, mode)
        ]
        for text in texts
    ]
    docs = [[span for span in doc if span] for doc in docs]
    n_spans = max_spans or max(1, max(len(d) for d in docs))
    n_tokens = max_tokens or max(1, max((len(s) for d in docs for s in d), default=1))
    out = np.zeros((len(docs), n_spans, n_tokens), dtype=np.int32)
    for i, doc in enumerate(docs):
        for j, span in enumerate(doc[:n_spans]):
            span = span[:n_tokens]
            out[i, j, : len(span)] = span
    return out


@keras.saving.register_keras_serializable(package="rnnkit")
class HierarchicalClassifier(keras.Model):
    """Span encoder (BiRNN + attention pooling) under a document acceptor RNN.

    Args:
        vocab_size: Number of token ids (0 is padding).
        num_classes: Number of classes (softmax output).
        embedding_dim: Token embedding size.
        span_units: Units of each direction of the span BiRNN.
        document_units: Units of the document RNN (per direction if bidirectional).
        kind: Recurrent layer kind, one of :data:`rnnkit.names.CELL_NAMES`: ``"lstm"``,
            ``"gru"``, ``"srnn"``, or the parallel-scan ``"mingru"`` / ``"minlstm"``.
        document_bidirectional: Make the document RNN bidirectional.
        score: Attention score form of both poolings (``"han"`` or ``"deepmoji"``).
        attention_units: HAN projection size (default: the input size).
        dropout: Dropout on the span and document vectors.
        return_attention: Also return the span-level ``(batch, spans)`` and the
            token-level ``(batch, spans, tokens)`` attention weights.

    Call arguments:
        inputs: int ``(batch, spans, tokens)`` ids, 0 = padding.
        training: whether dropout is active.

    Returns:
        Class probabilities ``(batch, num_classes)``; with ``return_attention`` a tuple
        ``(probabilities, span_weights, token_weights)``.

    Example:

    >>> model = HierarchicalClassifier(vocab_size=1000, num_classes=3)
    >>> probs = model(np.ones((2, 4, 12), "int32"))  # (2, 3)
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 64,
        span_units: int = 32,
        document_units: int = 32,
        kind: str = "gru",
        document_bidirectional: bool = False,
        score: str = "han",
        attention_units: int | None = None,
        dropout: float = 0.0,
        return_attention: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("vocab_size", vocab_size),
            ("num_classes", num_classes),
            ("embedding_dim", embedding_dim),
            ("span_units", span_units),
            ("document_units", document_units),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if num_classes < 2:
            raise ValueError(f"`num_classes` must be at least 2, got {num_classes}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.span_units = span_units
        self.document_units = document_units
        self.kind = kind
        self.document_bidirectional = bool(document_bidirectional)
        self.score = score
        self.attention_units = attention_units
        self.dropout = float(dropout)
        self.return_attention = bool(return_attention)

        self.embedding = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=True, name="embedding"
        )
        self.span_rnn = Bidirectional(
            recurrent_layer(kind, span_units, return_sequences=True), name="span_rnn"
        )
        self.span_pool = AttentionPooling(
            score=score, units=attention_units, return_attention=True, name="span_attention"
        )
        document_rnn = recurrent_layer(kind, document_units, return_sequences=True)
        if self.document_bidirectional:
            document_rnn = Bidirectional(document_rnn)
        self.document_rnn = document_rnn
        self.document_pool = AttentionPooling(
            score=score, units=attention_units, return_attention=True, name="document_attention"
        )
        self.span_dropout = keras.layers.Dropout(self.dropout)
        self.document_dropout = keras.layers.Dropout(self.dropout)
        self.classifier = keras.layers.Dense(num_classes, activation="softmax", name="classifier")

    def build(self, input_shape: tuple) -> None:
        self.embedding.build(input_shape)
        self.span_rnn.build((None, None, self.embedding_dim))
        span_dim = 2 * self.span_units
        self.span_pool.build((None, None, span_dim))
        self.document_rnn.build((None, None, span_dim))
        doc_dim = self.document_units * (2 if self.document_bidirectional else 1)
        self.document_pool.build((None, None, doc_dim))
        self.classifier.build((None, doc_dim))
        self.built = True

    def call(self, inputs: Any, training: bool | None = False) -> Any:
        shape = static_shape(inputs)
        if len(shape) != 3:
            raise ValueError(
                "HierarchicalClassifier expected token ids of shape (batch, spans, tokens), "
                f"got shape {shape}. Use rnnkit.models.hierarchical.encode_documents for raw "
                "texts."
            )
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "int" not in dtype:
            raise ValueError(
                f"HierarchicalClassifier expected integer token ids, got dtype {dtype}."
            )
        dims = ops.shape(inputs)
        batch, spans, tokens = dims[0], dims[1], dims[2]
        token_mask = ops.not_equal(inputs, 0)  # (B, S, T)
        span_mask = ops.any(token_mask, axis=-1)  # (B, S)
        flat_ids = ops.reshape(inputs, (-1, tokens))
        flat_mask = ops.reshape(token_mask, (-1, tokens))
        embedded = self.embedding(flat_ids)
        states = self.span_rnn(embedded, mask=flat_mask, training=training)
        span_vectors, token_weights = self.span_pool(states, mask=flat_mask)
        span_vectors = ops.reshape(span_vectors, (batch, spans, 2 * self.span_units))
        span_vectors = self.span_dropout(span_vectors, training=training)
        doc_states = self.document_rnn(span_vectors, mask=span_mask, training=training)
        doc_vector, span_weights = self.document_pool(doc_states, mask=span_mask)
        doc_vector = self.document_dropout(doc_vector, training=training)
        probs = self.classifier(doc_vector)
        if self.return_attention:
            return probs, span_weights, ops.reshape(token_weights, (batch, spans, tokens))
        return probs

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "span_units": self.span_units,
            "document_units": self.document_units,
            "kind": self.kind,
            "document_bidirectional": self.document_bidirectional,
            "score": self.score,
            "attention_units": self.attention_units,
            "dropout": self.dropout,
            "return_attention": self.return_attention,
        }

    @classmethod
    def from_config(cls, config: dict) -> HierarchicalClassifier:
        config = dict(config)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        return cls(**config)
