"""Emoji distant supervision: turn raw emoji-bearing texts into (text, emoji class) examples.

The pipeline of DeepMoji's pretraining data, streamed so that it scales to hundreds of
millions of texts (memory is bounded by the duplicate filter's fixed bit array and by the
per-class sample size, never by the corpus):

1. :func:`iter_texts` reads texts from JSONL, CSV/TSV or plain-text files (optionally
   ``.gz``), any number of shards (paths, folders or glob patterns), one line at a time.
2. :func:`extract_examples` finds the 64 emoji classes (:func:`load_emoji_classes`, class-id
   order of ``wanted_emojis.csv``), removes all emoji from the text, filters retweets,
   exact duplicates, texts with too few words (URLs, mentions, numbers and punctuation do
   not count, so texts that are only URLs/mentions go) and emits one example per distinct
   class emoji of the text.
3. :func:`balanced_sample` keeps a uniform random sample of at most ``per_class`` examples
   of each class (reservoir sampling), for a class-balanced training set.

Example:

>>> classes = load_emoji_classes()  # doctest: +SKIP
>>> stats = EmojiCorpusStats()
>>> texts = iter_texts("../shared/data/tweets-with-emoji/*.jsonl")  # doctest: +SKIP
>>> examples = extract_examples(texts, classes, stats=stats)  # doctest: +SKIP
>>> train = balanced_sample(examples, per_class=1000, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import hashlib
import io
import json
import math
import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.paths import resolve
from rnnkit.text.deepmoji_tokenizer import SPECIAL_TOKENS, DeepMojiTokenizer

__all__ = [
    "load_emoji_classes",
    "iter_texts",
    "remove_emoji",
    "find_emoji_classes",
    "extract_examples",
    "balanced_sample",
    "EmojiCorpusStats",
    "EmojiExample",
    "write_examples",
    "read_examples",
]

# Emoji and their modifiers: pictographs (U+1F000-1FAFF), misc symbols and dingbats
# (U+2600-27BF), the emoji in U+2300-23FF / U+2B00-2BFF / arrows / geometric shapes,
# variation selectors, zero-width joiner, combining keycap and tag characters.
_EMOJI_RE = re.compile(
    "["
    "\U0001f000-\U0001faff"
    "\u2600-\u27bf"
    "\u231a\u231b\u2328\u23cf\u23e9-\u23f3\u23f8-\u23fa"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55"
    "\u2194-\u2199\u21a9\u21aa\u2934\u2935"
    "\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe"
    "\u203c\u2049\u2122\u2139\u24c2\u3030\u303d\u3297\u3299"
    "\ufe00-\ufe0f\u200d\u20e3"
    "\U000e0020-\U000e007f"
    "]+"
)
_VARIATION_RE = re.compile("[\ufe00-\ufe0f]")
_RETWEET_RE = re.compile(r"^\s*rt\b", re.IGNORECASE)
_URL_RE = re.compile(r"https?://|www\.", re.IGNORECASE)
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def load_emoji_classes(
    wanted_path: str | os.PathLike | None = None,
    unicode_path: str | os.PathLike | None = None,
) -> list[str]:
    """The DeepMoji emoji classes, in class-id order.

    Args:
        wanted_path: ``wanted_emojis.csv`` (one escaped emoji per line, e.g.
            ``\\U0001f602``); default ``deepmoji/wanted_emojis.csv`` in the data root.
        unicode_path: ``emoji_unicode.csv`` (``escaped,hex`` per line), checked to agree
            with ``wanted_path``; default ``deepmoji/emoji_unicode.csv`` when it exists.

    Returns:
        List of 64 one-character strings; index = class id.
    """
    wanted_path = resolve(wanted_path, "deepmoji/wanted_emojis.csv")
    classes = []
    with open(wanted_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            char = codecs.decode(line, "unicode_escape") if "\\" in line else line
            char = _VARIATION_RE.sub("", char)
            if len(char) != 1:
                raise ValueError(
                    f"{wanted_path}:{lineno}: expected one emoji (escaped like \\U0001f602), "
                    f"got {line!r}."
                )
            classes.append(char)
    if len(set(classes)) != len(classes):
        raise ValueError(f"{wanted_path}: the emoji classes repeat.")
    if unicode_path is None:
        candidate = Path(wanted_path).with_name("emoji_unicode.csv")
        unicode_path = candidate if candidate.exists() else None
    if unicode_path is not None:
        with open(resolve(unicode_path, "deepmoji/emoji_unicode.csv"), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                escaped, hexcode = line.strip().split(",")[:2]
                char = codecs.decode(escaped, "unicode_escape")
                if char != chr(int(hexcode, 16)) or char not in classes:
                    raise ValueError(
                        f"{unicode_path}:{lineno}: {line.strip()!r} disagrees with the emoji "
                        f"classes of {wanted_path}."
                    )
    return classes


def _expand(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
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


def _format_of(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for suffix, fmt in ((".jsonl", "jsonl"), (".json", "jsonl"), (".csv", "csv")):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".tsv"):
        return "tsv"
    return "txt"


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
    for path in _expand(paths):
        fmt = format or _format_of(path)
        raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
        with raw, io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as f:
            if fmt == "txt":
                for line in f:
                    line = line.rstrip("\r\n")
                    if line.strip():
                        yield line
            elif fmt == "jsonl":
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path}:{lineno}: not valid JSON ({err}).") from None
                    if not isinstance(record, dict) or text_field not in record:
                        raise ValueError(
                            f"{path}:{lineno}: expected a JSON object with a {text_field!r} "
                            f"field; got {str(record)[:80]!r}."
                        )
                    text = record[text_field]
                    if not isinstance(text, str):
                        raise ValueError(
                            f"{path}:{lineno}: {text_field!r} must be a string; got "
                            f"{type(text).__name__}."
                        )
                    yield text
            else:
                reader = csv.DictReader(f, delimiter="," if fmt == "csv" else "\t")
                if reader.fieldnames is None or text_field not in reader.fieldnames:
                    raise ValueError(
                        f"{path}: no column {text_field!r}; columns are {reader.fieldnames}."
                    )
                for row in reader:
                    text = row[text_field]
                    if text:
                        yield text


def remove_emoji(text: str) -> str:
    """``text`` without any emoji (and their variation selectors, joiners, skin tones)."""
    return _EMOJI_RE.sub(" ", text)


def find_emoji_classes(text: str, classes: Sequence[str] | dict[str, int]) -> list[int]:
    """Distinct class ids of the class emoji in ``text``, ascending."""
    index = classes if isinstance(classes, dict) else {c: i for i, c in enumerate(classes)}
    return sorted({index[c] for c in text if c in index})


@dataclass
class EmojiExample:
    """One training example: the text with all emoji removed, and one emoji class id."""

    text: str
    label: int


@dataclass
class EmojiCorpusStats:
    """Counters of :func:`extract_examples` (filled in while it streams)."""

    texts: int = 0
    no_class_emoji: int = 0
    retweets: int = 0
    url_texts: int = 0
    duplicates: int = 0
    too_short: int = 0
    kept_texts: int = 0
    examples: int = 0
    per_class: dict[int, int] = field(default_factory=dict)

    def as_table(self) -> str:
        rows = [(k, v) for k, v in vars(self).items() if k != "per_class"]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v:>10,}" for k, v in rows)


class _BloomFilter:
    """Fixed-memory set of seen texts (false positives at about ``error_rate``)."""

    def __init__(self, capacity: int, error_rate: float):
        self.size = max(64, math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2))
        self.k = max(1, round(self.size / capacity * math.log(2)))
        self.bits = np.zeros((self.size + 7) // 8, dtype=np.uint8)

    def add(self, text: str) -> bool:
        """Add ``text``; True if it was (probably) already there."""
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        seen = True
        for i in range(self.k):
            pos = (h1 + i * h2) % self.size
            byte, bit = pos >> 3, 1 << (pos & 7)
            if not self.bits[byte] & bit:
                seen = False
                self.bits[byte] |= bit
        return seen


def _content_words(words: list[str]) -> int:
    specials = set(SPECIAL_TOKENS)
    return sum(1 for w in words if w not in specials and not all(c in _PUNCT for c in w))


def extract_examples(
    texts: Iterable[str],
    classes: Sequence[str],
    min_words: int = 1,
    drop_retweets: bool = True,
    drop_url_texts: bool = False,
    drop_duplicates: bool = True,
    duplicate_capacity: int = 10_000_000,
    duplicate_error_rate: float = 1e-6,
    tokenizer: DeepMojiTokenizer | None = None,
    stats: EmojiCorpusStats | None = None,
) -> Iterator[EmojiExample]:
    """Emoji distant supervision over a stream of texts.

    Args:
        texts: iterable of raw texts (e.g. :func:`iter_texts`); streamed once.
        classes: the emoji classes (index = class id), e.g. :func:`load_emoji_classes`.
        min_words: drop texts with fewer words than this after emoji removal; URLs,
            mentions, numbers, line breaks and punctuation do not count, so texts that
            are only URLs/mentions are dropped.
        drop_retweets: drop texts starting with "RT" (the automatic retweet prefix).
        drop_url_texts: also drop every text holding a URL (the original's stricter rule).
        drop_duplicates: drop exact repeats of an earlier text, remembered in a fixed-size
            Bloom filter (memory ~``duplicate_capacity * 3.6`` bytes at the default error
            rate; beyond the capacity more unique texts are dropped by mistake).
        duplicate_capacity: distinct texts the duplicate filter is sized for.
        duplicate_error_rate: fraction of unique texts wrongly taken for duplicates.
        tokenizer: counts words (default: a :class:`DeepMojiTokenizer`).
        stats: an :class:`EmojiCorpusStats` to fill with counters.

    Yields:
        :class:`EmojiExample` per distinct class emoji of each kept text (class-id order).

    Raises:
        ValueError: for a non-string text (with its position) or bad arguments.
    """
    if not isinstance(min_words, int) or min_words < 0:
        raise ValueError(f"`min_words` must be an int >= 0; got {min_words!r}.")
    index = {c: i for i, c in enumerate(classes)}
    if not index:
        raise ValueError("`classes` is empty; expected the emoji classes in class-id order.")
    tokenizer = tokenizer or DeepMojiTokenizer()
    stats = stats if stats is not None else EmojiCorpusStats()
    seen = _BloomFilter(duplicate_capacity, duplicate_error_rate) if drop_duplicates else None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] must be a str; got {type(text).__name__}.")
        stats.texts += 1
        labels = find_emoji_classes(_VARIATION_RE.sub("", text), index)
        if not labels:
            stats.no_class_emoji += 1
            continue
        if drop_retweets and _RETWEET_RE.match(text):
            stats.retweets += 1
            continue
        if drop_url_texts and _URL_RE.search(text):
            stats.url_texts += 1
            continue
        if seen is not None and seen.add(text):
            stats.duplicates += 1
            continue
        clean = " ".join(remove_emoji(text).split())
        if _content_words(tokenizer.words(clean)) < max(min_words, 1):
            stats.too_short += 1
            continue
        stats.kept_texts += 1
        for label in labels:
            stats.examples += 1
            stats.per_class[label] = stats.per_class.get(label, 0) + 1
            yield EmojiExample(clean, label)


def balanced_sample(
    examples: Iterable[EmojiExample],
    per_class: int,
    seed: int | None = 0,
    num_classes: int | None = None,
) -> list[EmojiExample]:
    """Class-balanced uniform sample: at most ``per_class`` examples of each class.

    Reservoir sampling per class over the stream, so memory is ``num_classes * per_class``
    examples whatever the stream's length; each class's kept examples are a uniform sample
    of that class. Returned shuffled.

    Args:
        examples: the stream (e.g. :func:`extract_examples`).
        per_class: the most examples kept per class.
        seed: random seed (None: nondeterministic).
        num_classes: when given, labels must be in ``[0, num_classes)``.
    """
    if not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"`per_class` must be an int >= 1; got {per_class!r}.")
    rng = random.Random(seed)
    reservoirs: dict[int, list[EmojiExample]] = {}
    seen: dict[int, int] = {}
    for ex in examples:
        if num_classes is not None and not 0 <= ex.label < num_classes:
            raise ValueError(
                f"Example label {ex.label} is outside the declared {num_classes} classes."
            )
        n = seen.get(ex.label, 0) + 1
        seen[ex.label] = n
        bucket = reservoirs.setdefault(ex.label, [])
        if n <= per_class:
            bucket.append(ex)
        else:
            j = rng.randrange(n)
            if j < per_class:
                bucket[j] = ex
    out = [ex for label in sorted(reservoirs) for ex in reservoirs[label]]
    rng.shuffle(out)
    return out


def write_examples(examples: Iterable[EmojiExample], path: str | os.PathLike) -> int:
    """Stream ``examples`` to a JSONL file (``{"text", "label"}`` per line; ``.gz`` is
    compressed). Returns the number written."""
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    n = 0
    with opener(path, "wt", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"text": ex.text, "label": int(ex.label)}, ensure_ascii=False))
            f.write("\n")
            n += 1
    return n


def read_examples(
    path: str | os.PathLike, num_classes: int | None = None
) -> Iterator[EmojiExample]:
    """Stream the examples of a file written by :func:`write_examples`.

    Raises:
        ValueError: a line that is not ``{"text": str, "label": int}``, or a label outside
            ``[0, num_classes)`` when ``num_classes`` is given.
    """
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, label = row["text"], row["label"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(
                    f"{path}:{lineno}: expected a JSON object with text and label; got "
                    f"{line.strip()[:80]!r}."
                ) from None
            if not isinstance(text, str) or isinstance(label, bool) or not isinstance(label, int):
                raise ValueError(f"{path}:{lineno}: text must be a str and label an int.")
            if num_classes is not None and not 0 <= label < num_classes:
                raise ValueError(
                    f"{path}:{lineno}: label {label} is outside the {num_classes} classes."
                )
            yield EmojiExample(text, label)
