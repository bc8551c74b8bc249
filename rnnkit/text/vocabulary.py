"""Word vocabularies: the one :class:`Vocabulary` type.

:class:`Vocabulary` is the word <-> id table of every rnnkit vocabulary but DeepMoji's:
words by id, the reserved tokens first (:data:`~rnnkit.text.special_tokens.PAD` at 0 and
:data:`~rnnkit.text.special_tokens.UNK` at 1 by default), then the words by decreasing
count, ties by word; unknown words map to the id of ``UNK``. It saves to and loads from
one JSON format (:meth:`Vocabulary.save`, :meth:`Vocabulary.load`). The text pipeline,
the hierarchical classifier, the NER, translation and Penn Treebank loaders build their
tables with it.

DeepMoji's vocabularies are the one exception: a ``dict`` word -> id with DeepMoji's ten
special tokens at ids 0-9, a format fixed by its pretrained weights and files. They are
built, extended, loaded and saved in the DeepMoji folder
(:mod:`rnnkit.models.deepmoji.vocabulary`, ``from rnnkit.models.deepmoji import
build_vocabulary, load_vocabulary``); this module, at the bottom of the package, knows
nothing of them.
"""

from __future__ import annotations

import json
import numbers
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from rnnkit.atomic import atomic_path
from rnnkit.text.special_tokens import PAD, UNK

__all__ = ["Vocabulary"]


def _is_int(value: Any) -> bool:
    """An int or a NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


#: the ``"format"`` field of a saved :class:`Vocabulary`
FORMAT = "rnnkit.vocabulary"
FORMAT_VERSION = 1


class Vocabulary:
    """Words by id, with reserved tokens first and an unknown-word id.

    Args:
        words: the words after the reserved tokens, in id order (``words[0]`` gets id
            ``len(reserved)``). A reserved token among them is skipped (it keeps its
            reserved id, so a literal ``"<unk>"`` in the data is the unknown word).
        reserved: the tokens at ids ``0 .. len(reserved) - 1``: ``(PAD, UNK)`` followed by
            any others (e.g. a translation vocabulary's start and end markers), or ``()``
            for a vocabulary without padding whose ``words`` hold ``UNK`` (Penn Treebank,
            whose corpus text spells its rare words ``"<unk>"``). Default: the class's
            :attr:`RESERVED`, ``(PAD, UNK)``.

    Raises:
        ValueError: a word that is not a str, a repeated word, ``reserved`` not starting
            with ``(PAD, UNK)``, or no ``UNK`` at all.

    Example:

    >>> vocab = Vocabulary.from_counts({"the": 3, "cat": 1, "a": 3})
    >>> vocab.words
    ['<pad>', '<unk>', 'a', 'the', 'cat']
    >>> vocab.encode(["the", "dog"]).tolist(), vocab.decode([3, 4])
    ([3, 1], ['the', 'cat'])
    """

    #: the reserved tokens of this class's vocabularies (ids 0, 1, ...)
    RESERVED: tuple[str, ...] = (PAD, UNK)

    def __init__(self, words: Iterable[str] = (), reserved: Sequence[str] | None = None) -> None:
        reserved = tuple(self.RESERVED if reserved is None else reserved)
        if reserved and reserved[:2] != (PAD, UNK):
            raise ValueError(
                f"Vocabulary: reserved tokens must start with {PAD!r}, {UNK!r} (ids 0 and 1) "
                f"or be empty; got {list(reserved)}."
            )
        full = list(reserved)
        for word in words:
            if not isinstance(word, str):
                raise ValueError(
                    f"Vocabulary words must be str; got {type(word).__name__} {word!r}."
                )
            if word not in reserved:
                full.append(word)
        index = {w: i for i, w in enumerate(full)}
        if len(index) != len(full):
            repeated = sorted(w for w, c in Counter(full).items() if c > 1)
            raise ValueError(f"Vocabulary words must be unique; got duplicates {repeated[:5]}.")
        if UNK not in index:
            raise ValueError(
                f"The vocabulary must contain the unknown token {UNK!r}; got {len(full)} "
                "words without it."
            )
        self.reserved = reserved
        self.words = full
        self.index = index
        self.unk = UNK
        self.unk_id = index[UNK]

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        min_count: int = 1,
        max_size: int | None = None,
        reserved: Sequence[str] | None = None,
    ) -> Vocabulary:
        """The vocabulary of word counts: the words seen at least ``min_count`` times, by
        decreasing count, ties by word (deterministic), at most ``max_size`` ids in all.

        Args:
            counts: word -> count (a ``collections.Counter``); reserved tokens in it are
                skipped (they keep their reserved ids).
            min_count: keep words counted at least this often (0 keeps every word of
                ``counts``, even one counted 0).
            max_size: the most ids, reserved tokens included (None: no limit).
            reserved: as in :class:`Vocabulary` (default: the class's :attr:`RESERVED`).

        Returns:
            A vocabulary of this class.

        Example:

        >>> Vocabulary.from_counts({"b": 2, "a": 2, "c": 1}, max_size=3).words
        ['<pad>', '<unk>', 'a']
        """
        reserved = tuple(cls.RESERVED if reserved is None else reserved)
        if not _is_int(min_count) or min_count < 0:
            raise ValueError(f"`min_count` must be an int >= 0; got {min_count!r}.")
        if max_size is not None and (not _is_int(max_size) or max_size < len(reserved)):
            raise ValueError(
                f"`max_size` must be None or an int >= {len(reserved)} (the reserved tokens "
                f"count towards it); got {max_size!r}."
            )
        min_count, max_size = int(min_count), None if max_size is None else int(max_size)
        ranked = sorted(
            (w for w, c in counts.items() if c >= min_count and w not in reserved),
            key=lambda w: (-counts[w], w),
        )
        if max_size is not None:
            ranked = ranked[: max_size - len(reserved)]
        return cls._make(ranked, reserved)

    @classmethod
    def from_tokens(
        cls,
        tokens: Iterable[str],
        min_count: int = 1,
        max_size: int | None = None,
        reserved: Sequence[str] | None = None,
    ) -> Vocabulary:
        """:meth:`from_counts` of the counts of a stream of tokens.

        Example:

        >>> Vocabulary.from_tokens("b a b".split()).words
        ['<pad>', '<unk>', 'b', 'a']
        """
        return cls.from_counts(Counter(tokens), min_count, max_size, reserved)

    @classmethod
    def _make(cls, words: Sequence[str], reserved: Sequence[str]) -> Vocabulary:
        # subclasses may take other constructor arguments: build through the base __init__
        vocab = cls.__new__(cls)
        Vocabulary.__init__(vocab, words, reserved)
        return vocab

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.words == other.words and self.reserved == other.reserved

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} words, reserved={list(self.reserved)})"

    def encode(self, words: Iterable[str]) -> np.ndarray:
        """The ids of ``words`` (int32); unknown words get :attr:`unk_id`.

        Args:
            words: tokens.

        Returns:
            ``np.ndarray`` int32 of shape ``(len(words),)``.
        """
        return np.asarray([self.index.get(w, self.unk_id) for w in words], dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of ``ids``.

        Args:
            ids: ids in ``[0, len(self))``.

        Returns:
            The words, one per id (reserved tokens included).

        Raises:
            ValueError: an id outside ``[0, len(self))``.
        """
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self.words)]
        if bad:
            raise ValueError(
                f"Ids must lie in [0, {len(self.words)}) for this vocabulary, got {bad[:5]}."
            )
        return [self.words[i] for i in ids]

    def to_list(self) -> list[str]:
        """All words by id, reserved tokens included."""
        return list(self.words)

    def get_config(self) -> dict[str, Any]:
        """The JSON object :meth:`save` writes (:meth:`from_config` reads it back)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "reserved": list(self.reserved),
            "words": list(self.words),
        }

    @classmethod
    def from_config(cls, config: Any, where: str = "vocabulary") -> Vocabulary:
        """The vocabulary of :meth:`get_config`'s object, or of a plain list of all words
        by id (the form ``to_list()`` gives, read with this class's :attr:`RESERVED`).

        Raises:
            ValueError: anything else, naming ``where``.
        """
        if isinstance(config, list):
            reserved, words = list(cls.RESERVED), config
        elif isinstance(config, dict):
            if config.get("format") != FORMAT:
                raise ValueError(
                    f'{where}: not an rnnkit vocabulary ("format" is '
                    f"{config.get('format')!r}, expected {FORMAT!r})."
                )
            if config.get("version") != FORMAT_VERSION:
                raise ValueError(
                    f"{where}: unsupported vocabulary version {config.get('version')!r} "
                    f"(this rnnkit reads version {FORMAT_VERSION})."
                )
            reserved, words = config.get("reserved"), config.get("words")
        else:
            raise ValueError(
                f"{where}: expected a JSON object or list of words, got {type(config).__name__}."
            )
        if not isinstance(reserved, list) or not isinstance(words, list):
            raise ValueError(f'{where}: "reserved" and "words" must be lists of strings.')
        if words[: len(reserved)] != reserved:
            raise ValueError(
                f"{where}: the words must start with the reserved tokens {reserved}; got "
                f"{words[: len(reserved)]}."
            )
        try:
            return cls._make(words[len(reserved) :], reserved)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (UTF-8, written atomically).

        Example:

        >>> vocab.save("vocabulary.json")  # doctest: +SKIP
        >>> Vocabulary.load("vocabulary.json") == vocab  # doctest: +SKIP
        True
        """
        with atomic_path(path, replace=True) as tmp:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(self.get_config(), handle, ensure_ascii=False, indent=0)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a vocabulary written by :meth:`save` (or a JSON list of all words by id).

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not valid JSON or not a vocabulary (the message says
                what is wrong).
        """
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        try:
            config = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a JSON vocabulary file ({err}).") from None
        return cls.from_config(config, where=str(path))
