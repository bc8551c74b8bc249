"""Text files read as a stream of texts: JSONL, CSV, TSV or plain text, optionally ``.gz``.

:func:`iter_texts` streams the texts of any number of shard files (paths, folders or glob
patterns), one line at a time, so memory does not grow with the data; :func:`iter_records`
streams ``(text, label value)`` records of one file, optionally only the lines that start
in a byte range (how a large file is split between worker processes). Invalid UTF-8 bytes
are replaced by U+FFFD. DeepMoji's distant supervision and prepared corpora
(``rnnkit/models/deepmoji/``) read their inputs with these.
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["expand_paths", "file_format", "iter_records", "iter_texts"]


def expand_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """The files of ``paths``: each a file, a folder (its files, sorted) or a glob pattern
    (its matches, sorted); raises ``FileNotFoundError`` for one that matches nothing."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files: list[Path] = []
    for p in paths:
        p = str(p)
        if any(c in p for c in "*?["):
            matches = sorted(glob.glob(p))
            if not matches:
                raise FileNotFoundError(f"No files match {p!r}.")
            files.extend(Path(m) for m in matches)
        elif os.path.isdir(p):
            files.extend(sorted(q for q in Path(p).iterdir() if q.is_file()))
        elif os.path.isfile(p):
            files.append(Path(p))
        else:
            raise FileNotFoundError(f"Text source not found: {p}")
    return files


def file_format(path: Path) -> str:
    """``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"txt"`` from the suffix (``.gz`` ignored)."""
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".jsonl", "jsonl"), (".json", "jsonl"), (".csv", "csv")):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".tsv"):
        return "tsv"
    return "txt"


def _decode(raw: bytes, stats: Any = None) -> str:
    """UTF-8 ``raw`` with each invalid byte sequence replaced by U+FFFD (as
    ``errors="replace"``), the replaced bytes counted in ``stats.invalid_bytes``."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    parts, pos, bad = [], 0, 0
    while True:
        try:
            parts.append(raw[pos:].decode("utf-8"))
            break
        except UnicodeDecodeError as err:
            parts.append(raw[pos : pos + err.start].decode("utf-8"))
            parts.append("\ufffd")
            bad += err.end - err.start
            pos += err.end
    if stats is not None:
        stats.invalid_bytes += bad
    return "".join(parts)


def _field_value(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int):
        return str(value)
    raise ValueError(f"expected a string or int label; got {type(value).__name__} {value!r:.40}")


def iter_records(
    path: str | os.PathLike,
    text_field: str = "text",
    label_field: str | None = None,
    format: str | None = None,
    start: int = 0,
    end: int | None = None,
    skip_bad_records: bool = False,
    stats: Any = None,
) -> Iterator[tuple[str, str | None]]:
    """Stream ``(text, label_value)`` records of one file (the reader under :func:`iter_texts`).

    Args:
        path: a JSONL, CSV, TSV or text file (one text a line), optionally ``.gz``.
        text_field: the JSON key / column of the text.
        label_field: the JSON key / column of a label (``None``: the value is ``None``); a
            record without it has the value ``None``.
        format: ``"jsonl"``, ``"csv"``, ``"tsv"``, ``"txt"`` or None (from the suffix).
        start, end: read only the lines that start in the byte range ``[start, end)``
            (uncompressed JSONL and text files only; the ranges of a file split at any
            byte offsets give every line exactly once).
        skip_bad_records: skip malformed records (counted in ``stats.bad_records``)
            instead of raising.
        stats: an object whose int attributes ``invalid_bytes`` (bytes that are not
            UTF-8, replaced by U+FFFD) and ``bad_records`` are counted up (e.g. DeepMoji's
            ``EmojiCorpusStats``), or None.

    Yields:
        ``(text, value)``: CSV/TSV rows with an empty text and blank text lines are
        skipped.

    Raises:
        ValueError: a malformed JSON line, a record without ``text_field``, a non-string
            text, a missing CSV column, with file and line (or byte offset).

    Example:

    >>> next(iter_records("tweets.csv", label_field="sentiment"))  # doctest: +SKIP
    ('what a day', 'positive')
    """
    if format not in (None, "jsonl", "csv", "tsv", "txt"):
        raise ValueError(f"`format` must be None, 'jsonl', 'csv', 'tsv' or 'txt'; got {format!r}.")
    path = Path(path)
    fmt = format or file_format(path)
    compressed = path.name.lower().endswith(".gz")
    if (start or end is not None) and (compressed or fmt in ("csv", "tsv")):
        raise ValueError(
            f"{path}: byte ranges need an uncompressed JSONL or text file (a CSV field or a "
            "gzip stream cannot be entered in the middle)."
        )

    def bad(where: str, message: str) -> None:
        if not skip_bad_records:
            raise ValueError(f"{where}: {message}")
        if stats is not None:
            stats.bad_records += 1

    raw = gzip.open(path, "rb") if compressed else open(path, "rb")
    with raw as f:
        pos = start
        if start:
            f.seek(start - 1)
            pos = start - 1 + len(f.readline())  # the line holding byte start-1 is not ours
        if fmt in ("txt", "jsonl"):
            for lineno, line in enumerate(f, 1):
                where = f"{path}:{lineno}" if not start else f"{path} (line at byte {pos})"
                if end is not None and pos >= end:
                    break
                pos += len(line)
                if not line.strip():
                    continue
                text = _decode(line, stats)
                if fmt == "txt":
                    yield text.rstrip("\r\n"), None
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as err:
                    bad(where, f"not valid JSON ({err}).")
                    continue
                if not isinstance(record, dict) or text_field not in record:
                    bad(
                        where,
                        f"expected a JSON object with a {text_field!r} field; got "
                        f"{str(record)[:80]!r}.",
                    )
                    continue
                text = record[text_field]
                if not isinstance(text, str):
                    bad(where, f"{text_field!r} must be a string; got {type(text).__name__}.")
                    continue
                try:
                    value = _field_value(record.get(label_field)) if label_field else None
                except ValueError as err:
                    bad(where, f"{label_field!r}: {err}.")
                    continue
                yield text, value
        else:
            lines = (_decode(line, stats) for line in f)
            reader = csv.DictReader(lines, delimiter="," if fmt == "csv" else "\t")
            if reader.fieldnames is None or text_field not in reader.fieldnames:
                raise ValueError(
                    f"{path}: no column {text_field!r}; columns are {reader.fieldnames}."
                )
            if label_field and label_field not in reader.fieldnames:
                raise ValueError(
                    f"{path}: no label column {label_field!r}; columns are {reader.fieldnames}."
                )
            for row in reader:
                text = row[text_field]
                if text:
                    yield text, (row[label_field] or None) if label_field else None


def iter_texts(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    text_field: str = "text",
    format: str | None = None,
) -> Iterator[str]:
    """Stream texts from shard files, one at a time.

    Args:
        paths: a file, a folder (all its files), a glob pattern, or a list of these.
        text_field: the JSON key (JSONL) or column name (CSV/TSV) holding the text.
        format: ``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"txt"`` (one text per line); by
            default from each file's suffix (``.gz`` is decompressed).

    Yields:
        Each text (str). Invalid UTF-8 bytes are replaced by U+FFFD.

    Raises:
        ValueError: a malformed JSON line, a record without ``text_field``, or a
            non-string text, with file and line.
    """
    if format not in (None, "jsonl", "csv", "tsv", "txt"):
        raise ValueError(f"`format` must be None, 'jsonl', 'csv', 'tsv' or 'txt'; got {format!r}.")
    for path in expand_paths(paths):
        for text, _ in iter_records(path, text_field, format=format):
            yield text
