"""CoNLL column files: one token per line, the token first and its tag last, a blank line
between sentences.

Columns are separated by tabs when a line holds a tab, else by runs of spaces (the
CoNLL-2000/2003 files use spaces, most other tools tabs). ``-DOCSTART-`` lines (CoNLL-2003
document breaks) are skipped and end the current sentence. Lines starting with ``#``
are comments only when ``comments=True`` (CoNLL-U style), since ``#`` is a common token
in tweets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TaggedSentence", "load_conll", "read_conll", "check_bio"]

_SPACES = re.compile(r" +")
_BIO = re.compile(r"^(O|[BI]-.+)$")
_BIO_TAG = re.compile(r"^(O|[BI]-\S+)$")


@dataclass
class TaggedSentence:
    """One sentence: parallel lists of tokens and tags."""

    tokens: list[str]
    tags: list[str]


def _split(line: str) -> list[str]:
    if "\t" in line:
        return [p.strip() for p in line.split("\t")]
    return _SPACES.split(line.strip())


def read_conll(
    lines: Iterable[str | bytes],
    name: str = "<lines>",
    token_column: int = 0,
    tag_column: int = -1,
    comments: bool = False,
    bio: bool = False,
) -> list[TaggedSentence]:
    """Parse CoNLL lines (see the module docstring); ``name`` is used in error messages.

    This is rnnkit's one reader of token/tag column files: the NER loader
    (:func:`rnnkit.data.ner.load_bio`), ``rnnkit train --task tagging`` and the recipes
    all read through it.

    Args:
        lines: the lines, ``str`` or UTF-8 ``bytes`` (with or without line ends).
        name: what the lines come from (a file name), for error messages.
        token_column: column index of the token.
        tag_column: column index of the tag (default: the last one).
        comments: skip lines starting with ``#``.
        bio: every tag must be ``O``, ``B-type`` or ``I-type`` (the tag's form only;
            :func:`check_bio` checks the sequence).

    Returns:
        A list of :class:`TaggedSentence`.

    Raises:
        ValueError: ``"{name}:{line}: ..."`` for a line that is not UTF-8, a line with
            fewer columns than needed, a line whose number of columns differs from the
            first token line's, an empty token or tag, or with ``bio`` a tag that is not
            BIO; also when no sentence is found.

    Example:

    >>> read_conll(["EU B-ORG", "rejects O", "", "Peter B-PER"])[1].tags
    ['B-PER']
    """
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    width: int | None = None
    first_line = 0
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{name}:{number}: not valid UTF-8 ({error.reason} at byte "
                    f"{error.start}): {raw[:60]!r}."
                ) from None
        line = raw.rstrip("\r\n")
        if number == 1:
            line = line.lstrip("\ufeff")
        stripped = line.strip()
        if (
            not stripped
            or stripped.startswith("-DOCSTART-")
            or (comments and stripped.startswith("#"))
        ):
            if tokens:
                sentences.append(TaggedSentence(tokens, tags))
                tokens, tags = [], []
            continue
        parts = _split(line)
        needed = max(token_column, tag_column if tag_column >= 0 else -tag_column - 1) + 1
        if len(parts) < max(needed, 2):
            raise ValueError(
                f"{name}:{number}: expected at least {max(needed, 2)} columns (token first, "
                f"tag last), got {len(parts)} in {line!r}."
            )
        if width is None:
            width, first_line = len(parts), number
        elif len(parts) != width:
            raise ValueError(
                f"{name}:{number}: {len(parts)} columns in {line!r}, but line {first_line} "
                f"has {width}: every token line needs the same columns."
            )
        token, tag = parts[token_column], parts[tag_column]
        if not token:
            raise ValueError(f"{name}:{number}: empty token in {line!r}.")
        if not tag:
            raise ValueError(f"{name}:{number}: empty tag in {line!r}.")
        if bio and not _BIO_TAG.match(tag):
            raise ValueError(
                f"{name}:{number}: expected a BIO tag ('O', 'B-type' or 'I-type'), got {tag!r}."
            )
        tokens.append(token)
        tags.append(tag)
    if tokens:
        sentences.append(TaggedSentence(tokens, tags))
    if not sentences:
        raise ValueError(f"{name}: no sentences found (expected 'token ... tag' lines).")
    return sentences


def load_conll(
    path: str | os.PathLike,
    token_column: int = 0,
    tag_column: int = -1,
    comments: bool = False,
    bio: bool = False,
) -> list[TaggedSentence]:
    """Read a CoNLL column file (see :func:`read_conll`; errors name the file and line).

    Args:
        path: the file.
        token_column: column index of the token.
        tag_column: column index of the tag (default: the last one).
        comments: skip lines starting with ``#``.
        bio: every tag must be ``O``, ``B-type`` or ``I-type``.

    Returns:
        A list of :class:`TaggedSentence`.

    Example:

    >>> sentences = load_conll("train.conll")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL file not found: {path}.")
    with open(path, "rb") as f:
        return read_conll(f, str(path), token_column, tag_column, comments, bio)


def check_bio(tags: list[str], where: str = "") -> None:
    """Raise ``ValueError`` when ``tags`` is not valid BIO (IOB2).

    Valid: every tag is ``O``, ``B-type`` or ``I-type``, and an ``I-type`` follows a
    ``B-type`` or ``I-type`` of the same type. ``where`` names the sequence in the message.
    """
    from rnnkit.ops.crf import scheme_violations  # imported here: no Keras for readers

    for i, tag in enumerate(tags):
        if not _BIO.match(tag):
            raise ValueError(f"{where}tag {i} is {tag!r}: not 'O', 'B-type' or 'I-type'.")
    found = scheme_violations(tags, "BIO")
    if found:
        i = found[0]
        tag, prev = tags[i], tags[i - 1] if i else "O"
        raise ValueError(
            f"{where}tag {i} is {tag!r} after {prev!r}: in BIO an I-{tag[2:]} must follow "
            f"B-{tag[2:]} or I-{tag[2:]}."
        )
