"""Backwards-compatible names for the text stage, and the tagger's token features.

The text pipeline (:class:`TextPipeline`, :func:`deepmoji_pipeline`, the replacement
rules and the special tokens) lives in :mod:`rnnkit.text.pipeline`; it is re-exported
here so that code written against ``rnnkit.serving.preprocessing`` keeps working. Serving
holds no tokenization rule: it builds signatures from a text stage object.

:class:`TokenFeatures` stays here because its Python side is the tagger's own feature
encoder (:func:`rnnkit.models.taggers.encode_tokens`), a higher layer than
:mod:`rnnkit.text`; it works on tokens, after the text stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rnnkit.text.pipeline import (
    DEFAULT_REPLACEMENTS,
    PAD,
    UNICODE_REPLACEMENTS,
    UNK,
    TextPipeline,
    deepmoji_pipeline,
)

__all__ = [
    "DEFAULT_REPLACEMENTS",
    "PAD",
    "UNICODE_REPLACEMENTS",
    "UNK",
    "TextPipeline",
    "TokenFeatures",
    "deepmoji_pipeline",
]


@dataclass
class TokenFeatures:
    """The inputs of a tagger with word, word-shape and character features, built from
    tokens identically in Python and in a TensorFlow graph.

    The Python side is :func:`rnnkit.models.taggers.encode_tokens`, the function
    ``RNNSequenceTagger`` trains and predicts with; the TensorFlow side is
    :func:`rnnkit.serving.tagger_graph.tf_token_features` (core ops only, tables from
    the running Python's string methods), tested equal on every id.

    Args:
        vocabulary: words by id (entries 0 and 1 are padding and unknown and never
            matched), looked up lower-cased (``str.lower``) with ``lowercase``.
        lowercase: lower-case tokens before the word lookup (characters and word shapes
            keep the original case).
        chars: characters by id (entries 0 and 1: padding and unknown), or None for a
            tagger without character features.
        char_width: characters kept per token (the first ones).
        case_features: add the word-shape classes (:func:`rnnkit.models.taggers.case_class`).

    Example:

    >>> feats = TokenFeatures(["<pad>", "<unk>", "paris"], chars=["<pad>", "<unk>", "P", "a"])
    >>> feats.encode([["Paris", "is"]], width=3)["words"].tolist()
    [[2, 1, 0]]
    """

    vocabulary: list[str]
    lowercase: bool = True
    chars: list[str] | None = None
    char_width: int = 20
    case_features: bool = False

    def __post_init__(self) -> None:
        self.vocabulary = [str(w) for w in self.vocabulary]
        if len(self.vocabulary) < 2:
            raise ValueError(
                "TokenFeatures: vocabulary must hold the padding and unknown entries (ids 0 "
                f"and 1) first; got {len(self.vocabulary)} entries."
            )
        if self.chars is not None:
            self.chars = [str(c) for c in self.chars]
            odd = [c for c in self.chars[2:] if len(c) != 1]
            if len(self.chars) < 2 or odd:
                raise ValueError(
                    "TokenFeatures: chars must be the padding and unknown entries followed by "
                    f"single characters; got {len(self.chars)} entries"
                    + (f", e.g. {odd[0]!r}." if odd else ".")
                )
        if not isinstance(self.char_width, int) or self.char_width < 1:
            raise ValueError(
                f"TokenFeatures: char_width must be a positive int, got {self.char_width!r}."
            )
        self._index = {w: i for i, w in enumerate(self.vocabulary) if i >= 2}
        self._char_index = (
            None if self.chars is None else {c: i for i, c in enumerate(self.chars) if i >= 2}
        )

    def encode(self, tokens: Sequence[Sequence[str]], width: int) -> dict[str, np.ndarray]:
        """The model inputs of token lists, right-padded to ``width`` tokens."""
        from rnnkit.models.taggers import encode_tokens

        x = encode_tokens(
            tokens,
            self._index,
            self._char_index,
            lowercase=self.lowercase,
            width=width,
            char_width=self.char_width,
        )
        if not self.case_features:
            x.pop("case")
        return x

    def tf_table(self) -> Any:
        """The word vocabulary as a ``tf.lookup.StaticHashTable`` (unknown words -> 1)."""
        import tensorflow as tf

        keys = tf.constant(self.vocabulary[2:], dtype=tf.string)
        values = tf.range(2, len(self.vocabulary), dtype=tf.int64)
        return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), 1)

    def tf_encode(self, tokens: Any, width: int, table: Any = None) -> dict[str, Any]:
        """:meth:`encode` in-graph, for a ragged ``[batch, None]`` string tensor of tokens."""
        from rnnkit.serving.tagger_graph import tf_token_features

        return tf_token_features(
            tokens,
            self.tf_table() if table is None else table,
            width=width,
            lowercase=self.lowercase,
            chars=self.chars,
            char_width=self.char_width,
            case_features=self.case_features,
        )

    def get_config(self) -> dict[str, Any]:
        """A JSON-serialisable description (round-trips through :meth:`from_config`)."""
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TokenFeatures:
        return cls(
            vocabulary=list(config["vocabulary"]),
            lowercase=bool(config.get("lowercase", True)),
            chars=None if config.get("chars") is None else list(config["chars"]),
            char_width=int(config.get("char_width", 20)),
            case_features=bool(config.get("case_features", False)),
        )
