"""Raw text to padded token ids, with core TensorFlow string ops only.

The same three steps run in Python (scikit-learn estimators) and can run inside a
graph (a raw-string SavedModel signature):

1. :func:`standardize_tf`: ``tf.strings.lower`` (UTF-8) and a few
   ``tf.strings.regex_replace`` calls: URLs become ``xxurl``, ``@user`` mentions
   become ``xxuser``, and every character that is not a letter, digit, apostrophe,
   ``#`` or ``_`` (punctuation, emoji, symbols) is set apart with spaces so that it
   becomes a token of its own.
2. Whitespace split (``tf.strings.split``).
3. Lookup in a fixed vocabulary with ``keras.layers.TextVectorization``
   (``0`` = padding, ``1`` = ``[UNK]``), padded or truncated to ``max_length``
   (the first ``max_length`` tokens are kept).

To rebuild the preprocessing in a graph, use :meth:`TextVectorizer.keras_layer`
(a ``keras.layers.TextVectorization`` whose ``standardize`` is
:func:`standardize_tf`) or call :func:`standardize_tf` yourself and look the tokens
up in ``vocabulary_`` (a ``tf.lookup.StaticHashTable`` with default 1 gives the same ids).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

PAD = ""
UNK = "[UNK]"

# RE2 patterns (the regex engine of tf.strings.regex_replace).
URL_PATTERN = r"(?:https?://|www\.)\S+"
USER_PATTERN = r"@\w+"
SYMBOL_PATTERN = r"([^\pL\pN\s'#_])"


def standardize_tf(texts: Any) -> Any:
    """Lower-case and separate symbols, with core TF string ops (graph-safe).

    Args:
        texts: string tensor of any shape.

    Returns:
        A string tensor of the same shape, whose whitespace-separated pieces are
        the tokens.
    """
    import tensorflow as tf

    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, URL_PATTERN, " xxurl ")
    texts = tf.strings.regex_replace(texts, USER_PATTERN, " xxuser ")
    texts = tf.strings.regex_replace(texts, SYMBOL_PATTERN, r" \1 ")
    return texts


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Tokens of each text, exactly as :func:`standardize_tf` + whitespace split give them."""
    import tensorflow as tf

    if len(texts) == 0:
        return []
    ragged = tf.strings.split(standardize_tf(tf.constant(list(texts), dtype=tf.string)))
    return [[t.decode("utf-8") for t in row] for row in ragged.to_list()]


class TextVectorizer:
    """Learns a vocabulary from raw texts and maps texts to padded id matrices.

    A plain Python object (picklable: it holds only the vocabulary list and its
    parameters; the TensorFlow lookup layer is rebuilt on demand).

    Args:
        max_length: length of the output rows (pad with 0 / truncate at the end).
        max_vocabulary: most ids, including padding (0) and ``[UNK]`` (1).
        min_count: ignore tokens seen fewer times than this in ``fit``.

    Example:

    >>> vec = TextVectorizer(max_length=5).fit(["I love it!", "I hate it"])
    >>> vec.transform(["love it !!"]).shape
    (1, 5)
    """

    def __init__(self, max_length: int = 50, max_vocabulary: int = 20000, min_count: int = 1):
        if int(max_length) < 1:
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}.")
        if int(max_vocabulary) < 3:
            raise ValueError(
                "max_vocabulary must be at least 3 (padding, [UNK] and one word), "
                f"got {max_vocabulary!r}."
            )
        self.max_length = int(max_length)
        self.max_vocabulary = int(max_vocabulary)
        self.min_count = int(min_count)
        self.vocabulary_: list[str] | None = None
        self._layer = None

    def fit(self, texts: Sequence[str]) -> TextVectorizer:
        """Vocabulary: most frequent tokens first, ties broken alphabetically (deterministic)."""
        counts = Counter(token for row in tokenize(texts) for token in row)
        ranked = sorted(
            (item for item in counts.items() if item[1] >= self.min_count),
            key=lambda item: (-item[1], item[0]),
        )
        words = [word for word, _ in ranked[: self.max_vocabulary - 2]]
        self.vocabulary_ = [PAD, UNK, *words]
        self._layer = None
        return self

    def keras_layer(self) -> keras.layers.TextVectorization:
        """A ``keras.layers.TextVectorization`` with this vocabulary (TF ops only)."""
        if self.vocabulary_ is None:
            raise ValueError("This TextVectorizer is not fitted yet: call fit(texts) first.")
        return keras.layers.TextVectorization(
            standardize=standardize_tf,
            split="whitespace",
            output_mode="int",
            output_sequence_length=self.max_length,
            vocabulary=self.vocabulary_[2:],
        )

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), max_length)`` int32 ids."""
        if self._layer is None:
            self._layer = self.keras_layer()
        if len(texts) == 0:
            return np.zeros((0, self.max_length), dtype="int32")
        import tensorflow as tf

        ids = self._layer.call(tf.constant(list(texts), dtype=tf.string))
        return np.asarray(ids, dtype="int32")

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_layer"] = None
        return state
