"""The tagger's token features, in Python and as a TensorFlow graph, defined once.

A tagger (:class:`rnnkit.models.taggers.SequenceTagger`, ``RNNSequenceTagger``) reads
tokens as word ids, word-shape classes and character ids. This module holds the Python
form of these rules (:func:`case_class`, :func:`encode_tokens`, what training and
prediction run) and :class:`TokenFeatures`, the fitted feature set that also builds the
same ids in a TensorFlow graph (:mod:`rnnkit.text.token_features_graph`, whose tables are
generated from the Python string methods used here; an exported tagger runs it).
``tests/test_export.py`` checks both forms give identical ids. Padding is id 0 and the
unknown word / character id 1 (:data:`rnnkit.text.special_tokens.PAD`, ``UNK``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rnnkit.text.special_tokens import PAD, UNK_ID

__all__ = ["CASE_CLASSES", "TokenFeatures", "case_class", "encode_tokens"]


#: word shapes of :func:`case_class` (index = class id; 0 is padding)
CASE_CLASSES = (
    PAD,
    "other",
    "lower",
    "title",
    "upper",
    "mixed",
    "numeric",
    "has_digit",
    "mention",
    "hashtag",
    "url",
    "punct",
)


def case_class(token: str) -> int:
    """The word-shape class of ``token`` (an index into :data:`CASE_CLASSES`, never 0).

    Keeps what lower-casing the word ids throws away: capitalisation, digits, and the
    tweet markers ``@``, ``#`` and URLs.

    Example:

    >>> [CASE_CLASSES[case_class(t)] for t in ["Paris", "NASA", "eBay", "@bob", "42"]]
    ['title', 'upper', 'mixed', 'mention', 'numeric']
    """
    if token.startswith("@") and len(token) > 1:
        return 8
    if token.startswith("#") and len(token) > 1:
        return 9
    low = token.lower()
    if low.startswith(("http:", "https:", "www.")):
        return 10
    if token.isdigit():
        return 6
    if any(c.isdigit() for c in token):
        return 7
    letters = [c for c in token if c.isalpha()]
    if not letters:
        return 11 if all(not c.isalnum() for c in token) else 1
    if all(c.islower() for c in letters):
        return 2
    if all(c.isupper() for c in letters):
        return 4 if len(letters) > 1 else 3
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return 3
    return 5


def encode_tokens(
    sentences: Sequence[Sequence[str]],
    word_index: Mapping[str, int],
    char_index: Mapping[str, int] | None = None,
    lowercase: bool = True,
    max_word_len: int = 20,
    width: int | None = None,
    char_width: int | None = None,
) -> dict[str, np.ndarray]:
    """Token lists -> the inputs of :class:`SequenceTagger` (right-padded).

    Args:
        sentences: token lists.
        word_index: word -> id (ids 0 and 1 reserved: padding, unknown); words are
            looked up lower-cased with ``lowercase``.
        char_index: character -> id (0 padding, 1 unknown); None: no ``"chars"``.
        lowercase: lower-case words before the lookup (characters keep their case).
        max_word_len: characters kept per word (the first ones).
        width: padded length (default: the longest sentence, at least 1).
        char_width: characters axis length ``L`` (default: the longest word, at most
            ``max_word_len``); a fixed value keeps batch shapes stable.

    Returns:
        ``{"words": (N, T) int32, "case": (N, T) int32[, "chars": (N, T, L) int32]}``
        (see ``char_width`` for ``L``).
    """
    width = width or max([len(s) for s in sentences] + [1])
    n = len(sentences)
    words = np.zeros((n, width), "int32")
    case = np.zeros((n, width), "int32")
    for i, sentence in enumerate(sentences):
        for t, token in enumerate(sentence[:width]):
            words[i, t] = word_index.get(token.lower() if lowercase else token, UNK_ID)
            case[i, t] = case_class(token)
    out = {"words": words, "case": case}
    if char_index is not None:
        longest = max([len(t) for s in sentences for t in s[:width]] + [1])
        chars = np.zeros((n, width, char_width or min(longest, max_word_len)), "int32")
        for i, sentence in enumerate(sentences):
            for t, token in enumerate(sentence[:width]):
                for c, ch in enumerate(token[: chars.shape[-1]]):
                    chars[i, t, c] = char_index.get(ch, UNK_ID)
        out["chars"] = chars
    return out


@dataclass
class TokenFeatures:
    """The inputs of a tagger with word, word-shape and character features, built from
    tokens identically in Python and in a TensorFlow graph.

    The Python side is :func:`encode_tokens`, the function ``RNNSequenceTagger`` trains
    and predicts with; the TensorFlow side is
    :func:`rnnkit.text.token_features_graph.tf_token_features` (core ops only, tables
    from the running Python's string methods), tested equal on every id.

    Args:
        vocabulary: words by id (entries 0 and 1 are padding and unknown and never
            matched), looked up lower-cased (``str.lower``) with ``lowercase``.
        lowercase: lower-case tokens before the word lookup (characters and word shapes
            keep the original case).
        chars: characters by id (entries 0 and 1: padding and unknown), or None for a
            tagger without character features.
        char_width: characters kept per token (the first ones).
        case_features: add the word-shape classes (:func:`case_class`).

    Example:

    >>> from rnnkit.text.special_tokens import PAD, UNK
    >>> feats = TokenFeatures([PAD, UNK, "paris"], chars=[PAD, UNK, "P", "a"])
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
        """The model inputs of token lists, right-padded to ``width`` tokens.

        Args:
            tokens: token lists.
            width: padded length (longer lists are cut).

        Returns:
            ``{"words": (N, width) int32[, "case": ...][, "chars": (N, width,
            char_width) int32]}`` as :func:`encode_tokens` gives them.
        """
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
        return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), UNK_ID)

    def tf_encode(self, tokens: Any, width: int, table: Any = None) -> dict[str, Any]:
        """:meth:`encode` in-graph, for a ragged ``[batch, None]`` string tensor of tokens."""
        from rnnkit.text.token_features_graph import tf_token_features

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
        """The features described by :meth:`get_config` (an exported model's metadata)."""
        return cls(
            vocabulary=list(config["vocabulary"]),
            lowercase=bool(config.get("lowercase", True)),
            chars=None if config.get("chars") is None else list(config["chars"]),
            char_width=int(config.get("char_width", 20)),
            case_features=bool(config.get("case_features", False)),
        )
