"""Penn Treebank language-modelling data (Mikolov's preprocessing) and TBPTT batching.

The corpus is three plain-text files, ``train.txt``, ``valid.txt`` and ``test.txt``,
one sentence a line, already lower-cased with a 10k vocabulary (``<unk>``, ``N``).
Every line becomes its words followed by ``<eos>``, as in Zaremba et al. (2014).

For truncated backpropagation through time the token stream is laid out as
``batch_size`` contiguous streams: ``data[: batch_size * L].reshape(batch_size, L)``;
window ``i`` is ``data[:, i*unroll : (i+1)*unroll]`` and its targets are the same
window shifted by one token. A stateful model that reads the windows in order sees
each stream continue from one batch to the next.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.paths import resolve
from rnnkit.text.special_tokens import UNK
from rnnkit.text.vocabulary import Vocabulary as _Vocabulary

EOS = "<eos>"
# UNK is rnnkit's one unknown marker, and it must stay "<unk>" here whatever that constant
# says: Mikolov's PTB text already holds the literal word "<unk>" for its rare words, so the
# corpus fixes this spelling (a different marker would make "<unk>" an ordinary word).
assert UNK == "<unk>", "PTB's text spells its unknown word '<unk>'"
SPLITS = ("train", "valid", "test")


def read_words(path: str | os.PathLike) -> list[str]:
    """The words of a PTB-style text file: each line's words, then ``<eos>``.

    Blank lines give a lone ``<eos>`` (a sentence boundary), as in the reference code.
    """
    words: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            words.extend(line.split())
            words.append(EOS)
    return words


class Vocabulary(_Vocabulary):
    """The Penn Treebank vocabulary: rnnkit's :class:`rnnkit.text.vocabulary.Vocabulary`
    with no reserved tokens (``RESERVED = ()``), so every id is a word of the corpus and the
    10,000 ids of PTB are its 10,000 words, most frequent first (as the TF PTB code);
    ``<unk>`` is one of them (``unk_id``, wherever its count puts it).

    Args:
        words: The words in id order (id ``i`` is ``words[i]``); must be unique and
            contain ``<unk>``.

    Example:

    >>> vocab = Vocabulary.from_corpus("a b a <eos>".split() + ["<unk>"])
    >>> vocab.words  # "<" sorts before letters: ties are broken by word
    ['a', '<eos>', '<unk>', 'b']
    >>> vocab.encode(["a", "zebra"]).tolist()  # zebra -> <unk>
    [0, 2]
    """

    RESERVED = ()

    @classmethod
    def from_corpus(cls, words: Iterable[str]) -> Vocabulary:
        """Ids by decreasing frequency, ties broken alphabetically (as the TF PTB code);
        ``<unk>`` is added with count 0 when the corpus lacks it."""
        counts = collections.Counter(words)
        counts.setdefault(UNK, 0)
        return cls.from_counts(counts, min_count=0)


@dataclass
class PTBData:
    """The three splits as int32 id streams, with the vocabulary built on ``train``."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    vocabulary: Vocabulary

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)


def load_ptb(path: str | os.PathLike | None = None) -> PTBData:
    """Loads PTB from a folder holding ``train.txt``, ``valid.txt`` and ``test.txt``.

    Args:
        path: The folder; default ``<data root>/ptb`` (see :mod:`rnnkit.data.paths`).

    Returns:
        A :class:`PTBData` (vocabulary of the training split: 10,000 words for PTB).
    """
    folder = resolve(path, "ptb")
    files = {split: Path(folder) / f"{split}.txt" for split in SPLITS}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"PTB folder {folder} must hold train.txt, valid.txt and test.txt; missing {missing}."
        )
    words = {split: read_words(f) for split, f in files.items()}
    vocabulary = Vocabulary.from_corpus(words["train"])
    ids = {split: vocabulary.encode(w) for split, w in words.items()}
    return PTBData(ids["train"], ids["valid"], ids["test"], vocabulary)


def check_layout(ids: np.ndarray, batch_size: int, unroll: int | None = None) -> np.ndarray:
    """Checks that ``ids`` can be laid out as ``batch_size`` contiguous streams read in
    windows of ``unroll`` steps (at least one window), and returns it as an array.

    Raises:
        ValueError: ``ids`` is not a 1-D integer stream, ``batch_size`` or ``unroll`` is
            not a positive integer, or the stream is too short for one window.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"Expected a 1-D stream of token ids, got shape {ids.shape}.")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"Expected integer token ids, got dtype {ids.dtype}.")
    for name, value in (("batch_size", batch_size), ("unroll", unroll)):
        if value is not None and (not isinstance(value, (int, np.integer)) or value <= 0):
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    needed = batch_size * ((unroll or 1) + 1)
    if ids.size < needed:
        raise ValueError(
            f"A stream of {ids.size} tokens is too short for batch_size={batch_size} and "
            f"unroll={unroll}: it needs at least {needed} tokens."
        )
    return ids


def contiguous_streams(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """``ids`` cut into ``batch_size`` contiguous streams: shape ``(batch_size, L)``.

    The last ``len(ids) % batch_size`` tokens are dropped.
    """
    ids = check_layout(ids, batch_size)
    length = ids.size // batch_size
    return ids[: batch_size * length].reshape(batch_size, length)


def num_windows(num_tokens: int, batch_size: int, unroll: int) -> int:
    """Number of ``unroll``-step windows per epoch (the reference code's ``epoch_size``)."""
    return (num_tokens // batch_size - 1) // unroll


def tbptt_windows(ids: np.ndarray, batch_size: int, unroll: int) -> Iterator[tuple]:
    """Yields ``(inputs, targets)`` windows, each ``(batch_size, unroll)`` int32.

    Window ``i`` is ``streams[:, i*unroll:(i+1)*unroll]`` and its targets
    ``streams[:, i*unroll+1:(i+1)*unroll+1]``; consecutive windows continue each row's
    stream, so a stateful model carries its state from one to the next.
    """
    streams = contiguous_streams(check_layout(ids, batch_size, unroll), batch_size)
    for i in range(num_windows(ids.size, batch_size, unroll)):
        start = i * unroll
        yield (
            streams[:, start : start + unroll].astype(np.int32),
            streams[:, start + 1 : start + unroll + 1].astype(np.int32),
        )


def tbptt_arrays(ids: np.ndarray, batch_size: int, unroll: int) -> tuple[np.ndarray, np.ndarray]:
    """All windows stacked for ``model.fit(..., batch_size=batch_size, shuffle=False)``.

    Returns ``(x, y)`` of shape ``(num_windows * batch_size, unroll)``: rows
    ``[i*batch_size, (i+1)*batch_size)`` are window ``i`` of :func:`tbptt_windows`.
    """
    pairs = list(tbptt_windows(ids, batch_size, unroll))
    x = np.concatenate([p[0] for p in pairs], axis=0)
    y = np.concatenate([p[1] for p in pairs], axis=0)
    return x, y
