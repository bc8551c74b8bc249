"""``RNNClassifier``'s text stage: a fitted :class:`~rnnkit.text.pipeline.TextPipeline`
with the classifier's rules.

:class:`TextVectorizer` is a thin wrapper, not a second implementation: it fits and runs
a :class:`~rnnkit.text.pipeline.TextPipeline` (``pipeline_``) whose rules are
:data:`~rnnkit.text.pipeline.UNICODE_REPLACEMENTS` with ``split="tf_whitespace"`` and
``engine="tensorflow"``:

1. ``tf.strings.lower`` (UTF-8), then URLs (``http(s)://``, ``www.``) become ``xxurl``,
   ``@user`` mentions become ``xxuser``, and every character that is not a letter, digit,
   apostrophe, ``#`` or ``_`` (punctuation, emoji, symbols) becomes a token of its own
   (RE2 patterns with Unicode classes, so the Python side runs the TF ops eagerly);
2. ``tf.strings.split`` on whitespace;
3. vocabulary lookup (0 padding, 1 unknown), the first ``max_length`` tokens kept and
   right-padded with 0.

These are the ids of the earlier implementation (its own regex calls and a
``keras.layers.TextVectorization`` lookup), tested on varied texts in
``tests/test_text_pipeline.py``. The SavedModel export takes ``pipeline_`` as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnkit.text.pipeline import UNICODE_REPLACEMENTS, TextPipeline
from rnnkit.text.special_tokens import PAD, UNK

__all__ = ["TextVectorizer", "tokenize"]

#: the padding and unknown markers that versions before the one text stage saved
LEGACY_SPECIALS = ["", "[UNK]"]


def _pipeline(vocabulary: Sequence[str], max_length: int) -> TextPipeline:
    """A pipeline with the classifier's rules and this vocabulary."""
    return TextPipeline(
        list(vocabulary),
        max_length,
        lowercase=True,
        replacements=[tuple(r) for r in UNICODE_REPLACEMENTS],
        split="tf_whitespace",
        engine="tensorflow",
    )


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The tokens of each text under the classifier's rules (before vocabulary lookup).

    Args:
        texts: raw strings.

    Returns:
        One token list per text.

    Example:

    >>> tokenize(["I love it! @bob"])
    [['i', 'love', 'it', '!', 'xxuser']]
    """
    return _pipeline([PAD, UNK], 1).tokenize_batch(texts)


class TextVectorizer:
    """Learns a vocabulary from raw texts and maps texts to padded id matrices.

    A plain Python object (picklable: it holds its parameters and the fitted
    :class:`~rnnkit.text.pipeline.TextPipeline`; TensorFlow objects are built on demand).

    Args:
        max_length: length of the output rows (pad with 0 / truncate at the end).
        max_vocabulary: most ids, including padding (0) and unknown (1).
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
                "max_vocabulary must be at least 3 (padding, unknown and one word), "
                f"got {max_vocabulary!r}."
            )
        self.max_length = int(max_length)
        self.max_vocabulary = int(max_vocabulary)
        self.min_count = int(min_count)
        self.pipeline_: TextPipeline | None = None

    @property
    def vocabulary_(self) -> list[str] | None:
        """Words by id (``[PAD, UNK, ...]``), or None before ``fit``."""
        return None if self.pipeline_ is None else self.pipeline_.vocabulary

    def fit(self, texts: Sequence[str]) -> TextVectorizer:
        """Fit the vocabulary: most frequent tokens first, ties broken alphabetically.

        Args:
            texts: the training texts (at least one).

        Returns:
            This vectorizer.
        """
        probe = _pipeline([PAD, UNK], self.max_length)
        self.pipeline_ = TextPipeline.fit(
            list(texts),
            max_length=self.max_length,
            max_vocabulary=self.max_vocabulary,
            min_count=self.min_count,
            lowercase=probe.lowercase,
            replacements=probe.replacements,
            split=probe.split,
            engine=probe.engine,
        )
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Ids of ``texts``.

        Args:
            texts: raw strings.

        Returns:
            ``(len(texts), max_length)`` int32 ids.
        """
        if self.pipeline_ is None:
            raise ValueError("This TextVectorizer is not fitted yet: call fit(texts) first.")
        return self.pipeline_.encode(texts)

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "pipeline_" not in state:
            # Pickled before the one text stage: the vocabulary list with "" and "[UNK]"
            # at ids 0 and 1 (never tokens under these rules), same rules, same ids.
            vocabulary = state.pop("vocabulary_", None)
            state.pop("_layer", None)
            if vocabulary is not None and list(vocabulary[:2]) != LEGACY_SPECIALS:
                raise ValueError(
                    "TextVectorizer: cannot load this pickle: its vocabulary starts with "
                    f"{list(vocabulary[:2])!r}, expected {LEGACY_SPECIALS!r} (an earlier "
                    f"rnnkit) or a pipeline_ (this version)."
                )
            state["pipeline_"] = (
                None
                if vocabulary is None
                else _pipeline([PAD, UNK, *vocabulary[2:]], int(state["max_length"]))
            )
        self.__dict__.update(state)
