"""English to French software messages (``en-fr-messages/pairs.tsv``) for seq2seq.

The file is tab-separated with a header ``source, target, catalog`` and no quoting
(messages contain quote characters), so it is read with ``csv.QUOTE_NONE``.

Tokenization keeps case and keeps printf-style placeholders (``%s``, ``%.*s``,
``%1$s``, ``%lu``) as single tokens, since they must be copied to the translation;
words are ``\\w+`` runs and every other non-space character is a token of its own.
The placeholder rule is this module's; the rest is the shared text pipeline's
(:class:`rnnkit.text.TextPipeline` with :data:`rnnkit.text.pipeline.WORD_REPLACEMENTS`).

Ids: ``0`` padding, ``1`` unknown, ``2`` start, ``3`` end; tokens outside the
vocabulary map to the unknown id.

Bad input: empty source or target texts are refused with a ValueError by
:func:`encode_pairs` (the loader drops the rows of the file that have one and
reports how many); pairs longer than ``max_length`` tokens are dropped,
truncated or refused, as ``too_long`` says, and the count is reported.
"""

from __future__ import annotations

import csv
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnnkit.data.paths import resolve
from rnnkit.text.pipeline import WORD_REPLACEMENTS, TextPipeline
from rnnkit.text.special_tokens import PAD, PAD_ID, UNK
from rnnkit.text.special_tokens import UNK_ID as UNK_ID  # the ids of the module docstring
from rnnkit.text.vocabulary import Vocabulary as _Vocabulary

START, END = "<s>", "</s>"
START_ID, END_ID = 2, 3
RESERVED = (PAD, UNK, START, END)

# The printf placeholder rule stays here: a placeholder may hold a space (the ``' '`` flag:
# ``"% d"``, and so ``"100% sure"`` gives ``"% s"``), and the shared pipeline's tokens are
# what its whitespace split leaves, so no replacement can keep such a token whole. Every
# other token comes from the shared pipeline (see ``tokenize``).
PLACEHOLDER_PATTERN = re.compile(
    r"%(?:\d+\$)?[-#0 +']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?[a-zA-Z%]"
)
# Words and single other characters between placeholders: the shared pipeline with
# Python's Unicode ``re`` semantics, case kept (the tokens of the former
# ``re.findall(r"\w+|[^\w\s]", ...)``, pinned by tests/test_text_module_tokenizers.py).
_WORDS = TextPipeline(
    [PAD, UNK],
    lowercase=False,
    replacements=WORD_REPLACEMENTS,
    split="unicode_whitespace",
    engine="unicode",
)


def tokenize(text: str) -> list[str]:
    """Tokens of one message (see module docstring): placeholders found left to right,
    the text between them tokenized by the shared :class:`rnnkit.text.TextPipeline`
    (:data:`rnnkit.text.pipeline.WORD_REPLACEMENTS`). A ``%`` can only be taken by a
    placeholder starting at it or before it (neither a word nor a single mark spans a
    ``%``), so this gives the tokens of one left-to-right scan over all three rules."""
    tokens: list[str] = []
    start = 0
    for match in PLACEHOLDER_PATTERN.finditer(text):
        tokens.extend(_WORDS.tokenize(text[start : match.start()]))
        tokens.append(match.group())
        start = match.end()
    tokens.extend(_WORDS.tokenize(text[start:]))
    return tokens


def detokenize(tokens: Iterable[str]) -> str:
    """Tokens joined by single spaces (the form BLEU is computed on)."""
    return " ".join(tokens)


class Vocabulary(_Vocabulary):
    """The translation vocabulary: rnnkit's :class:`rnnkit.text.vocabulary.Vocabulary` with
    the start and end markers reserved after padding and unknown (the ids of the module
    docstring), and a :meth:`decode` that reads a decoder's output.

    Args:
        tokens: the tokens after the four reserved ones, most frequent first (reserved
            tokens among them are skipped).

    Example:

    >>> vocab = Vocabulary.from_texts([["Hello", "world"]], max_size=10)
    >>> vocab.encode(["Hello", "there"]).tolist()
    [4, 1]
    """

    RESERVED = RESERVED

    @classmethod
    def from_texts(
        cls, tokenized: Iterable[Sequence[str]], max_size: int | None = None, min_count: int = 1
    ) -> Vocabulary:
        """The ``max_size`` most frequent tokens (reserved ids included), ``min_count``+ times."""
        return cls.from_tokens(
            (t for tokens in tokenized for t in tokens), min_count=min_count, max_size=max_size
        )

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` up to the first end id, without padding or start ids (an id
        outside the vocabulary reads as ``<unk>``: a decoder's output is not checked)."""
        out = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i in (PAD_ID, START_ID):
                continue
            out.append(self.words[i] if 0 <= i < len(self.words) else UNK)
        return out


@dataclass
class EnFrPairs:
    """Pairs read from the file, with what the loader left out.

    Attributes:
        sources, targets, catalogs: parallel lists of strings.
        skipped_empty: rows with an empty source or target (dropped).
        skipped_duplicates: exact repeats of an earlier (source, target) pair
            (dropped with ``deduplicate=True``).
    """

    sources: list[str]
    targets: list[str]
    catalogs: list[str]
    skipped_empty: int = 0
    skipped_duplicates: int = 0

    def __len__(self) -> int:
        return len(self.sources)


def load_en_fr(
    path: str | os.PathLike | None = None, deduplicate: bool = True, max_pairs: int | None = None
) -> EnFrPairs:
    """Reads ``pairs.tsv`` (default: ``<data root>/en-fr-messages/pairs.tsv``).

    Args:
        path: the file.
        deduplicate: drop exact repeats of a (source, target) pair (the same message
            appears in several catalogs), so that no test pair is also a training
            pair.
        max_pairs: keep only the first ``max_pairs`` pairs (after the above).

    Returns:
        :class:`EnFrPairs`.
    """
    file = resolve(path, "en-fr-messages/pairs.tsv")
    sources, targets, catalogs = [], [], []
    seen: set[tuple[str, str]] = set()
    empty = duplicates = 0
    with open(file, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["source", "target"]:
            raise ValueError(
                f"{file}: expected a header 'source<TAB>target<TAB>catalog', got {header!r}."
            )
        for row in reader:
            if len(row) < 2:
                raise ValueError(f"{file}: expected at least 2 tab-separated fields, got {row!r}.")
            source, target = row[0].strip(), row[1].strip()
            if not source or not target:
                empty += 1
                continue
            if deduplicate:
                if (source, target) in seen:
                    duplicates += 1
                    continue
                seen.add((source, target))
            sources.append(source)
            targets.append(target)
            catalogs.append(row[2] if len(row) > 2 else "")
            if max_pairs is not None and len(sources) >= max_pairs:
                break
    return EnFrPairs(sources, targets, catalogs, empty, duplicates)


def split_pairs(
    pairs: EnFrPairs, validation: float = 0.05, test: float = 0.05, seed: int = 0
) -> tuple[EnFrPairs, EnFrPairs, EnFrPairs]:
    """A random train / validation / test split (fractions of the pairs)."""
    if not (0 <= validation < 1 and 0 <= test < 1 and validation + test < 1):
        raise ValueError(
            f"validation and test fractions must be in [0, 1) and sum below 1, got "
            f"{validation} and {test}."
        )
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_val, n_test = int(round(len(order) * validation)), int(round(len(order) * test))
    parts = (order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test])

    def take(idx: list[int]) -> EnFrPairs:
        return EnFrPairs(
            [pairs.sources[i] for i in idx],
            [pairs.targets[i] for i in idx],
            [pairs.catalogs[i] for i in idx],
        )

    return take(parts[0]), take(parts[1]), take(parts[2])


@dataclass
class EncodedPairs:
    """Padded id matrices for teacher-forced training.

    Attributes:
        source: ``(n, max_length)`` source ids, padded with 0.
        target_in: ``(n, max_length + 1)``: start id, target ids, padding.
        target_out: ``(n, max_length + 1)``: target ids, end id, padding.
        kept: indices (into the input pairs) of the rows kept.
        dropped_too_long: pairs dropped for being over ``max_length`` tokens.
        truncated: pairs cut to ``max_length`` tokens.
    """

    source: np.ndarray
    target_in: np.ndarray
    target_out: np.ndarray
    kept: list[int] = field(default_factory=list)
    dropped_too_long: int = 0
    truncated: int = 0


TOO_LONG = ("drop", "truncate", "error")


def encode_pairs(
    sources: Sequence[str],
    targets: Sequence[str],
    source_vocab: Vocabulary,
    target_vocab: Vocabulary,
    max_length: int = 30,
    too_long: str = "drop",
) -> EncodedPairs:
    """Tokenizes and encodes pairs (unknown tokens map to the unknown id 1).

    Args:
        sources, targets: parallel lists of texts.
        source_vocab, target_vocab: the vocabularies.
        max_length: the most tokens of a source or a target (the end id excluded).
        too_long: what to do with a pair over ``max_length``: ``"drop"`` it (counted
            in ``dropped_too_long``), ``"truncate"`` it (counted in ``truncated``) or
            raise a ValueError (``"error"``).

    Returns:
        :class:`EncodedPairs`.

    Raises:
        ValueError: for an empty source or target, mismatched lengths, or a too
            long pair with ``too_long="error"``.
    """
    if too_long not in TOO_LONG:
        raise ValueError(f"`too_long` must be one of {TOO_LONG}, got {too_long!r}.")
    if not isinstance(max_length, int) or max_length <= 0:
        raise ValueError(f"`max_length` must be a positive integer, got {max_length!r}.")
    if len(sources) != len(targets):
        raise ValueError(
            f"Expected as many sources as targets, got {len(sources)} and {len(targets)}."
        )
    src_rows, tgt_rows, kept = [], [], []
    dropped = truncated = 0
    for i, (source, target) in enumerate(zip(sources, targets)):
        src_tokens, tgt_tokens = tokenize(source), tokenize(target)
        if not src_tokens or not tgt_tokens:
            side = "source" if not src_tokens else "target"
            raise ValueError(
                f"Pair {i} has an empty {side} ({source!r} -> {target!r}): expected at "
                "least one token on both sides."
            )
        if len(src_tokens) > max_length or len(tgt_tokens) > max_length:
            if too_long == "error":
                raise ValueError(
                    f"Pair {i} is over max_length={max_length} tokens (source "
                    f"{len(src_tokens)}, target {len(tgt_tokens)}); use too_long='drop' or "
                    "'truncate', or a larger max_length."
                )
            if too_long == "drop":
                dropped += 1
                continue
            truncated += 1
            src_tokens, tgt_tokens = src_tokens[:max_length], tgt_tokens[:max_length]
        src_rows.append(source_vocab.encode(src_tokens))
        tgt_rows.append(target_vocab.encode(tgt_tokens))
        kept.append(i)
    n = len(src_rows)
    source = np.zeros((n, max_length), "int32")
    target_in = np.zeros((n, max_length + 1), "int32")
    target_out = np.zeros((n, max_length + 1), "int32")
    for r, (s, t) in enumerate(zip(src_rows, tgt_rows)):
        source[r, : len(s)] = s
        target_in[r, 0] = START_ID
        target_in[r, 1 : len(t) + 1] = t
        target_out[r, : len(t)] = t
        target_out[r, len(t)] = END_ID
    return EncodedPairs(source, target_in, target_out, kept, dropped, truncated)
