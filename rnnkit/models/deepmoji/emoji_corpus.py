"""Emoji distant supervision: turn raw emoji-bearing texts into (text, emoji class) examples.

The pipeline of DeepMoji's pretraining data, streamed so that it scales to hundreds of
millions of texts (memory is bounded by the duplicate filter's fixed bit array and by the
per-class sample size, never by the corpus):

1. :func:`rnnkit.data.iter_texts` reads texts from JSONL, CSV/TSV or plain-text files
   (optionally ``.gz``), any number of shards (paths, folders or glob patterns), one line
   at a time (a generic reader of the data layer, :mod:`rnnkit.data.text_files`).
2. :func:`extract_examples` finds the 64 emoji classes (:func:`load_emoji_classes`, class-id
   order of ``wanted_emojis.csv``), removes all emoji from the text, filters retweets,
   exact duplicates, texts with too few words (URLs, mentions, numbers and punctuation do
   not count, so texts that are only URLs/mentions go) and emits one example per distinct
   class emoji of the text.
3. :func:`balanced_sample` keeps a uniform random sample of at most ``per_class`` examples
   of each class (reservoir sampling), for a class-balanced training set.

Exact duplicates are remembered in a fixed-size Bloom filter
(:class:`rnnkit.data.bloom.BloomFilter`). The prepared corpora of
:mod:`rnnkit.models.deepmoji.corpus` run the same rules in worker processes.

Example:

>>> from rnnkit.data import iter_texts
>>> classes = load_emoji_classes()  # doctest: +SKIP
>>> stats = EmojiCorpusStats()
>>> texts = iter_texts("../shared/data/tweets-with-emoji/*.jsonl")  # doctest: +SKIP
>>> examples = extract_examples(texts, classes, stats=stats)  # doctest: +SKIP
>>> train = balanced_sample(examples, per_class=1000, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rnnkit.data.bloom import BloomFilter
from rnnkit.data.paths import resolve
from rnnkit.models.deepmoji.tokenizer import SPECIAL_TOKENS, DeepMojiTokenizer

__all__ = [
    "load_emoji_classes",
    "remove_emoji",
    "find_emoji_classes",
    "LabelFinder",
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


def remove_emoji(text: str) -> str:
    """``text`` without any emoji (and their variation selectors, joiners, skin tones)."""
    return _EMOJI_RE.sub(" ", text)


def find_emoji_classes(text: str, classes: Sequence[str] | dict[str, int]) -> list[int]:
    """Distinct class ids of the class emoji in ``text``, ascending."""
    index = classes if isinstance(classes, dict) else {c: i for i, c in enumerate(classes)}
    return sorted({index[c] for c in text if c in index})


class LabelFinder:
    """Where the distant labels of a text come from, and which tokens of it they are.

    One object for every kind of label, used by :func:`extract_examples` and
    :func:`rnnkit.models.deepmoji.prepare_corpus` alike:

    - ``LabelFinder.emoji(classes)``: the class emoji in the text (variation selectors
      ignored); every emoji is removed from the text (:func:`remove_emoji`).
    - ``LabelFinder.regex(pattern)``: every distinct match of ``pattern`` (e.g. hashtags
      ``#\\w+`` or emoticons); the matches are removed from the text.
    - ``LabelFinder.function(fn)``: ``fn(text) -> list[str]`` gives the label names; the
      text is kept as it is. For worker processes ``fn`` must be picklable (a function
      defined at module level, not a lambda or a nested function).
    - ``LabelFinder.field(name)``: already-labelled data; the label is the record's
      ``name`` column / JSON key; the text is kept as it is.

    ``names`` (label id = index) is fixed for emoji; for the others it may be given, or left
    ``None`` and found from the data (:meth:`with_names`, e.g. the sorted distinct labels of
    a first pass). Labels that are not in ``names`` are ignored.

    Example:

    >>> finder = LabelFinder.regex(r"#\\w+", names=["#fail", "#win"])
    >>> finder.ids(finder.find("so #win, not #fail #win")), finder.clean("so #win!")
    ([0, 1], 'so  !')
    """

    KINDS = ("emoji", "regex", "function", "field")

    def __init__(self, kind: str, names=None, pattern=None, fn=None, field_name=None):
        if kind not in self.KINDS:
            raise ValueError(f"LabelFinder kind must be one of {self.KINDS}; got {kind!r}.")
        self.kind = kind
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self.fn = fn
        self.field_name = field_name
        self.names: list[str] | None = None
        self.index: dict[str, int] = {}
        if names is not None:
            self._set_names(names)

    def _set_names(self, names: Sequence[str]) -> None:
        names = [str(n) for n in names]
        if not names:
            raise ValueError("The label names are empty.")
        if len(set(names)) != len(names):
            raise ValueError(f"The label names repeat: {names[:10]}.")
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}

    @classmethod
    def emoji(cls, classes: Sequence[str]) -> LabelFinder:
        """The emoji classes (index = class id), e.g. :func:`load_emoji_classes`."""
        if not classes:
            raise ValueError("`classes` is empty; expected the emoji classes in class-id order.")
        return cls("emoji", names=list(classes))

    @classmethod
    def regex(cls, pattern: str | re.Pattern, names: Sequence[str] | None = None) -> LabelFinder:
        """Every distinct match of ``pattern`` is a label."""
        try:
            compiled = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"Label regex {pattern!r} does not compile: {err}.") from None
        return cls("regex", names=names, pattern=compiled)

    @classmethod
    def function(cls, fn, names: Sequence[str] | None = None) -> LabelFinder:
        """``fn(text) -> list[str]`` gives each text's label names."""
        if not callable(fn):
            raise ValueError(f"Expected a callable text -> list of label names; got {fn!r}.")
        return cls("function", names=names, fn=fn)

    @classmethod
    def field(cls, name: str, names: Sequence[str] | None = None) -> LabelFinder:
        """The label is the record's ``name`` column / JSON key."""
        return cls("field", names=names, field_name=name)

    def with_names(self, names: Sequence[str]) -> LabelFinder:
        """A copy with the label names fixed (label id = index in ``names``)."""
        out = LabelFinder(self.kind, names, self.pattern, self.fn, self.field_name)
        return out

    def describe(self) -> str:
        """A string naming the spec (stored in corpus manifests)."""
        if self.kind == "emoji":
            return "emoji:" + "".join(self.names or [])
        if self.kind == "regex":
            return f"regex:{self.pattern.pattern}"
        if self.kind == "function":
            fn = self.fn
            return f"function:{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        return f"field:{self.field_name}"

    def find(self, text: str, value: str | None = None) -> list[str]:
        """The distinct label names of ``text`` (``value``: its label field), in order of
        appearance; for emoji only the classes (in ``names``)."""
        if self.kind == "emoji":
            if _VARIATION_RE.search(text):
                text = _VARIATION_RE.sub("", text)
            index = self.index
            return list(dict.fromkeys(c for c in text if c in index))
        if self.kind == "regex":
            return list(dict.fromkeys(self.pattern.findall(text)))
        if self.kind == "function":
            found = self.fn(text)
            if isinstance(found, str) or not all(isinstance(x, str) for x in found):
                raise ValueError(
                    f"The label function must return a list of label names (str); got "
                    f"{found!r:.80} for {text!r:.80}."
                )
            return list(dict.fromkeys(found))
        return [] if value is None else [value]

    def ids(self, found: Iterable[str]) -> list[int]:
        """Label ids (ascending) of the names in ``found`` that are labels."""
        if self.names is None:
            raise ValueError(
                f"The label names of {self.describe()} are not known yet: give them (names=...) "
                "or find them in the data first (prepare_corpus does)."
            )
        index = self.index
        return sorted({index[n] for n in found if n in index})

    def clean(self, text: str) -> str:
        """``text`` without the label tokens (emoji: every emoji; regex: every match)."""
        if self.kind == "emoji":
            return remove_emoji(text)
        if self.kind == "regex":
            return self.pattern.sub(" ", text)
        return text


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
    invalid_bytes: int = 0
    bad_records: int = 0
    per_class: dict[int, int] = field(default_factory=dict)

    def merge(self, other: EmojiCorpusStats) -> None:
        """Add the counters of ``other`` (e.g. of another worker) to these."""
        for key, value in vars(other).items():
            if key == "per_class":
                for label, n in value.items():
                    self.per_class[label] = self.per_class.get(label, 0) + n
            else:
                setattr(self, key, getattr(self, key) + value)

    def as_table(self) -> str:
        rows = [(k, v) for k, v in vars(self).items() if k != "per_class"]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v:>10,}" for k, v in rows)


def _content_words(words: list[str]) -> int:
    specials = set(SPECIAL_TOKENS)
    return sum(1 for w in words if w not in specials and not all(c in _PUNCT for c in w))


class _ExampleRules:
    """DeepMoji's per-text rules, in order, shared by :func:`extract_examples` and the
    worker processes of :func:`rnnkit.models.deepmoji.prepare_corpus` (which decide duplicates
    between the two steps, in input order, across all workers):

    :meth:`candidate`: has a label (else ``no_class_emoji``), is not a retweet, has no
    URL when ``drop_url_texts``; then (duplicates); then :meth:`finish`: the text without
    its label tokens, whitespace collapsed, has at least ``min_words`` content words.
    """

    def __init__(
        self,
        finder: LabelFinder,
        min_words: int = 1,
        drop_retweets: bool = True,
        drop_url_texts: bool = False,
        tokenizer: DeepMojiTokenizer | None = None,
    ):
        if not isinstance(min_words, int) or min_words < 0:
            raise ValueError(f"`min_words` must be an int >= 0; got {min_words!r}.")
        self.finder = finder
        self.min_words = max(min_words, 1)
        self.drop_retweets = drop_retweets
        self.drop_url_texts = drop_url_texts
        self.tokenizer = tokenizer or DeepMojiTokenizer()

    def candidate(self, text: str, value: str | None, stats: EmojiCorpusStats) -> list[str]:
        """The label names of ``text`` if it passes the filters before duplicates, else []."""
        stats.texts += 1
        found = self.finder.find(text, value)
        if self.finder.names is not None and found:
            found = [n for n in found if n in self.finder.index]
        if not found:
            stats.no_class_emoji += 1
            return []
        if self.drop_retweets and _RETWEET_RE.match(text):
            stats.retweets += 1
            return []
        if self.drop_url_texts and _URL_RE.search(text):
            stats.url_texts += 1
            return []
        return found

    def finish(
        self, text: str, labels: list[int], stats: EmojiCorpusStats
    ) -> tuple[str, list[str]] | None:
        """``(clean text, its words)`` of a non-duplicate candidate, or None if too short;
        counts the kept text and its examples (one per label id)."""
        clean = " ".join(self.finder.clean(text).split())
        words = self.tokenizer.words(clean)
        if _content_words(words) < self.min_words:
            stats.too_short += 1
            return None
        stats.kept_texts += 1
        stats.examples += len(labels)
        for label in labels:
            stats.per_class[label] = stats.per_class.get(label, 0) + 1
        return clean, words


def extract_examples(
    texts: Iterable[str] | Iterable[tuple[str, str | None]],
    classes: Sequence[str] | LabelFinder,
    min_words: int = 1,
    drop_retweets: bool = True,
    drop_url_texts: bool = False,
    drop_duplicates: bool = True,
    duplicate_capacity: int = 10_000_000,
    duplicate_error_rate: float = 1e-6,
    tokenizer: DeepMojiTokenizer | None = None,
    stats: EmojiCorpusStats | None = None,
) -> Iterator[EmojiExample]:
    """Distant supervision over a stream of texts (emoji by default, any :class:`LabelFinder`).

    Multi-label texts follow DeepMoji: one example per distinct label of the text (all
    with the same cleaned text), in label-id order.

    Args:
        texts: iterable of raw texts (e.g. :func:`rnnkit.data.iter_texts`), or of ``(text,
            label value)`` pairs (:func:`rnnkit.data.iter_records`) for
            ``LabelFinder.field``; streamed once.
        classes: the emoji classes (index = class id), e.g. :func:`load_emoji_classes`,
            or a :class:`LabelFinder` with known names.
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
        :class:`EmojiExample` per distinct label of each kept text (label-id order).

    Raises:
        ValueError: for a non-string text (with its position) or bad arguments.
    """
    finder = classes if isinstance(classes, LabelFinder) else LabelFinder.emoji(classes)
    finder.ids([])  # the names must be known
    rules = _ExampleRules(finder, min_words, drop_retweets, drop_url_texts, tokenizer)
    stats = stats if stats is not None else EmojiCorpusStats()
    seen = BloomFilter(duplicate_capacity, duplicate_error_rate) if drop_duplicates else None
    for i, item in enumerate(texts):
        text, value = item if isinstance(item, tuple) else (item, None)
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] must be a str; got {type(text).__name__}.")
        found = rules.candidate(text, value, stats)
        if not found:
            continue
        if seen is not None and seen.add(text):
            stats.duplicates += 1
            continue
        labels = finder.ids(found)
        kept = rules.finish(text, labels, stats)
        if kept is not None:
            for label in labels:
                yield EmojiExample(kept[0], label)


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
