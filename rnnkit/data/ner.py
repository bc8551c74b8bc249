"""BIO-tagged named-entity data (``token<TAB>tag`` lines, a blank line between sentences).

The default file is ``ner-tweets/train.bio`` under the data root (2,394 tweets, WNUT-16
style, 10 entity types); see :mod:`rnnkit.data.paths`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rnnkit.data.conll import TaggedSentence, load_conll
from rnnkit.data.paths import resolve
from rnnkit.text.special_tokens import PAD
from rnnkit.text.vocabulary import Vocabulary

PAD_TAG = PAD  # kept for code that imported it: the one padding marker


def load_bio(path: str | os.PathLike | None = None) -> list[TaggedSentence]:
    """Read a BIO file: ``token<TAB>tag`` per line, blank lines between sentences, through
    rnnkit's one CoNLL reader (:func:`rnnkit.data.conll.load_conll` with ``bio=True``).

    Args:
        path: the file; default ``ner-tweets/train.bio`` under the data root.

    Returns:
        A list of :class:`TaggedSentence`.

    Raises:
        FileNotFoundError: no such file (the message says where the data root is).
        ValueError: a line with fewer than 2 columns or with a different number of
            columns than the first, an empty token, a tag that is not ``O``, ``B-type``
            or ``I-type``, or a file that is not UTF-8 (the message gives file and line).

    Example:

    >>> sentences = load_bio()  # ../shared/data/ner-tweets/train.bio
    >>> sentences[0].tokens[:3], sentences[0].tags[:3]
    """
    return load_conll(resolve(path, "ner-tweets/train.bio"), bio=True)


def bio_violations(tags: Sequence[str]) -> int:
    """Number of invalid BIO transitions in one tag sequence: an ``I-x`` that does not
    follow ``B-x`` or ``I-x`` (including at the start); see
    :func:`rnnkit.ops.crf.scheme_violations` (a ``ValueError`` for a tag that is not
    ``O``, ``B-x`` or ``I-x``)."""
    from rnnkit.ops.crf import scheme_violations  # imported here: no Keras for readers

    return len(scheme_violations(tags, "BIO"))


@dataclass
class TaggingVocabulary:
    """Index maps for words (0 = padding, 1 = unknown), characters (same) and tags."""

    words: dict[str, int]
    chars: dict[str, int]
    tags: list[str]

    @property
    def tag_index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tags)}


def build_tagging_vocabulary(
    sentences: Iterable[TaggedSentence], min_count: int = 1, lowercase: bool = True
) -> TaggingVocabulary:
    """Word, character and tag vocabularies of ``sentences`` (words by frequency)."""
    words: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    tags: set[str] = set()
    for s in sentences:
        for token in s.tokens:
            words[token.lower() if lowercase else token] += 1
            chars.update(token)
        tags.update(s.tags)
    # a literal "<unk>" / "<pad>" token is the unknown word / padding, not a new word
    word_index = dict(Vocabulary.from_counts(words, min_count=min_count).index)
    char_index = dict(Vocabulary.from_counts(chars).index)
    tag_list = ["O"] + sorted(t for t in tags if t != "O")
    return TaggingVocabulary(word_index, char_index, tag_list)


def encode_tagging(
    sentences: Sequence[TaggedSentence],
    vocabulary: TaggingVocabulary,
    max_len: int | None = None,
    max_word_len: int = 20,
    lowercase: bool = True,
) -> dict[str, np.ndarray]:
    """Right-padded arrays for a tagger.

    Returns:
        ``{"words": (N, T) int32 (0 = pad), "chars": (N, T, max_word_len) int32,
        "tags": (N, T) int32 with -1 at padded steps}``; sentences longer than
        ``max_len`` are cut (``T = max_len`` or the longest sentence).
    """
    if not sentences:
        raise ValueError("encode_tagging expected at least one sentence, got none.")
    length = max_len or max(len(s.tokens) for s in sentences)
    tag_index = vocabulary.tag_index
    n = len(sentences)
    words = np.zeros((n, length), "int32")
    chars = np.zeros((n, length, max_word_len), "int32")
    tags = np.full((n, length), -1, "int32")
    for i, s in enumerate(sentences):
        for t, (token, tag) in enumerate(zip(s.tokens[:length], s.tags[:length])):
            key = token.lower() if lowercase else token
            words[i, t] = vocabulary.words.get(key, 1)
            for c, ch in enumerate(token[:max_word_len]):
                chars[i, t, c] = vocabulary.chars.get(ch, 1)
            if tag not in tag_index:
                raise ValueError(
                    f"Sentence {i}: tag {tag!r} is not in the vocabulary's tags {vocabulary.tags}."
                )
            tags[i, t] = tag_index[tag]
    return {"words": words, "chars": chars, "tags": tags}


def decode_tags(ids: np.ndarray, lengths: Sequence[int], tags: Sequence[str]) -> list[list[str]]:
    """Tag-id rows back to tag strings, each cut to its sentence length."""
    return [[tags[int(j)] for j in row[:n]] for row, n in zip(np.asarray(ids), lengths)]
