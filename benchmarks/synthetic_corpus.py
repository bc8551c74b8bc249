"""Synthetic emoji tweets for the corpus-scale tests and benchmarks (seeded, gzip JSONL shards).

Each text is built from DeepMoji's vocabulary (``deepmoji/vocabulary.json`` in the data
root) the way a tweet looks to DeepMoji's pipeline:

* words drawn by a Zipf-Mandelbrot law over vocabulary rank (the vocabulary's ids are in
  frequency order): ``p(rank) ~ 1 / (rank + 2.7) ** 1.05`` over the 49,990 real words;
  a few out-of-vocabulary pseudo-words (``OOV_RATE`` per word) and numbers;
* a tweet-like number of words (log-normal, median 10, clipped to 1..35);
* punctuation tokens attached to the word before them, case (a capitalised first word
  for half of the texts, some Capitalised and UPPER-CASE words);
* occasional leading @mentions (a pool of handles drawn by popularity), trailing
  hashtags and ``https://t.co/...`` links;
* DeepMoji's 64 emoji classes (``deepmoji/wanted_emojis.csv``, class-id order) at the
  end of the text or between words, sometimes repeated (``😂😂😂``), sometimes two or
  more different classes in one text; a few texts also carry an emoji outside the 64
  classes and a few carry only such an emoji (no label: the pipeline drops them);
* some retweets (``RT @handle: `` + an earlier text of the shard) and exact duplicates
  of an earlier text (the pipeline drops both).

Class frequencies: DeepMoji's paper gives the class emoji's frequencies only as a
figure and the data folder has no counts, so the class of each emoji is drawn from a
Zipf-Mandelbrot law over the class id, ``p(c) ~ 1 / (c + 2) ** 1.0`` (class 0, 😂, the
most frequent; class 63 about 32x rarer). The classes of ``wanted_emojis.csv`` are
listed roughly in order of frequency, so this follows the real ordering roughly, not
the real values.

Sampling is vectorised with NumPy per chunk of texts; only the final string joins and
the JSON lines are per text. Shard ``k`` is generated from its own generator seeded by
``(seed, k)``, so the output is a function of ``(n, shards, seed)`` alone (also with
``--workers > 1``), and the gzip headers carry no time stamp or file name: two runs
write byte-identical files. Each shard is written to ``<name>.tmp`` and renamed when
complete. Records are ``{"id": <global index>, "text": ...}``, shards are
``tweets-00000-of-00016.jsonl.gz``; nothing else is written to the output folder.

Usage::

    python benchmarks/synthetic_corpus.py --n 1000000 --shards 16 --out runs/bench/tweets-1m
    python benchmarks/synthetic_corpus.py --n 10000 --shards 2 --out /tmp/tw --seed 1 --workers 2
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the DeepMoji folder of the data root: ``$RNNKIT_DATA/deepmoji`` when set, else
#: ``../shared/data/deepmoji`` beside the repository (rnnkit.data.paths's layout)
DEFAULT_DATA = (
    Path(os.environ.get("RNNKIT_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    / "deepmoji"
)
FIRST_WORD_ID = 10  # ids 0-9 are DeepMoji's CUSTOM_* tokens

WORD_ZIPF_S, WORD_ZIPF_Q = 1.05, 2.7  # p(rank) ~ (rank + q) ** -s over the vocabulary
CLASS_ZIPF_S, CLASS_ZIPF_Q = 1.0, 2.0  # p(class) ~ (class id + q) ** -s
MEDIAN_WORDS, WORDS_SIGMA, MAX_WORDS = 10.0, 0.6, 35
OOV_RATE, NUMBER_RATE = 0.03, 0.015  # per word
CASE_P = (0.94, 0.04, 0.02)  # lower, Capitalised, UPPER per word
CAPITALISED_FIRST = 0.5  # texts whose first word is capitalised
MENTIONS_P = (0.68, 0.25, 0.07)  # 0, 1, 2 leading @mentions
HASHTAGS_P = (0.85, 0.11, 0.04)  # 0, 1, 2 trailing hashtags
URL_P = 0.10
EMOJI_COUNT_P = (0.70, 0.20, 0.07, 0.03)  # 1, 2, 3, 4 class emoji draws per text
EMOJI_REPEAT_P = (0.65, 0.20, 0.15)  # each draw written 1, 2 or 3 times in a row
EMOJI_INSIDE_P = 0.25  # a draw placed between words instead of at the end
EMOJI_ATTACHED_P = 0.4  # no space before an emoji (always none before a repeat)
VARIATION_P = 0.5  # U+FE0F after a BMP emoji (as ❤️ is often written)
OTHER_EMOJI_P = 0.03  # texts that also carry an emoji outside the classes
ONLY_OTHER_EMOJI_P = 0.02  # texts whose only emoji is outside the classes
RETWEET_P, DUPLICATE_P = 0.04, 0.03
OTHER_EMOJI = "🙂🤔🔥🎉😀👉😆🤣💗😇🙄👋🌹😱💋"
CHUNK = 20_000


def load_classes(data: Path) -> list[str]:
    """The 64 class emoji in class-id order (``wanted_emojis.csv``, escaped or literal)."""
    classes = []
    with open(data / "wanted_emojis.csv", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                char = codecs.decode(line, "unicode_escape") if "\\" in line else line
                classes.append(char.replace("\ufe0f", ""))
    return classes


def zipf_probabilities(n: int, s: float, q: float) -> np.ndarray:
    """``p(i) ~ (i + q) ** -s`` for ``i = 0 .. n-1`` (a Zipf-Mandelbrot law), normalised."""
    p = (np.arange(n, dtype=np.float64) + q) ** -s
    return p / p.sum()


class _Tables:
    """Every string a text is made of, as one token table (a leading space included
    where one belongs), and the id ranges of each kind of token."""

    def __init__(self, data: Path):
        with open(data / "vocabulary.json", encoding="utf-8") as f:
            vocab = json.load(f)
        words = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1])][FIRST_WORD_ID:]
        self.classes = load_classes(data)
        rng = np.random.default_rng(12345)  # fixed pools: part of the format, not the seed
        tokens: list[str] = []
        self.starts: dict[str, int] = {}

        def add(kind: str, items: list[str]) -> None:
            self.starts[kind] = len(tokens)
            tokens.extend(items)

        punct = lambda w: not any(c.isalnum() for c in w)
        spaced = lambda w: w if punct(w) else " " + w
        add("lower", [spaced(w) for w in words])
        add("capital", [spaced(w[:1].upper() + w[1:]) for w in words])
        add("upper", [spaced(w.upper()) for w in words])
        self.n_words = len(words)
        self.is_punct = np.array([punct(w) for w in words])
        alpha = [w for w in words if w.isalpha()][:5000]
        add("hashtag", [" #" + w for w in alpha])
        add("mention", [" @" + h for h in _pseudo_words(rng, 20_000, digits=True)])
        add("url", [" https://t.co/" + u for u in _codes(rng, 50_000, 10)])
        add("oov", [" " + w for w in _pseudo_words(rng, 20_000, digits=False)])
        numbers = [str(x) for x in range(100)] + [str(x) for x in range(1990, 2031)]
        numbers += [f"{x}k" for x in range(1, 20)] + ["1st", "2nd", "3rd", "100%", "24/7"]
        add("number", [" " + x for x in numbers])
        emoji = []
        for c in self.classes:  # 4 forms per class: spaced or not, with U+FE0F or not
            vs = "\ufe0f" if ord(c) < 0x10000 else ""
            emoji += [" " + c, c, " " + c + vs, c + vs]
        add("emoji", emoji)
        others = [c for c in OTHER_EMOJI if c not in self.classes]
        add("other", [" " + c for c in others])
        self.n_other = len(others)
        self.sizes = {
            "hashtag": len(alpha),
            "mention": 20_000,
            "url": 50_000,
            "oov": 20_000,
            "number": len(numbers),
        }
        self.tokens = np.array(tokens, dtype=object)
        self.word_p = zipf_probabilities(self.n_words, WORD_ZIPF_S, WORD_ZIPF_Q)
        self.class_p = zipf_probabilities(len(self.classes), CLASS_ZIPF_S, CLASS_ZIPF_Q)
        self.hashtag_p = zipf_probabilities(len(alpha), 1.0, 10.0)
        self.mention_p = zipf_probabilities(20_000, 1.0, 5.0)


def _pseudo_words(rng: np.random.Generator, n: int, digits: bool) -> list[str]:
    """``n`` pronounceable lower-case pseudo-words (consonant-vowel syllables)."""
    cons, vows = np.array(list("bcdfghjklmnprstvwz")), np.array(list("aeiouy"))
    syll = rng.integers(2, 5, n)
    c = cons[rng.integers(0, len(cons), (n, 4))]
    v = vows[rng.integers(0, len(vows), (n, 4))]
    tail = rng.integers(0, 100, n)
    out = []
    for i in range(n):
        w = "".join(c[i, j] + v[i, j] for j in range(syll[i]))
        out.append(w + (f"_{tail[i]}" if digits and tail[i] < 40 else ""))
    return out


def _codes(rng: np.random.Generator, n: int, length: int) -> list[str]:
    chars = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
    grid = chars[rng.integers(0, len(chars), (n, length))]
    return ["".join(row) for row in grid]


_TABLES: dict[Path, _Tables] = {}


def _tables(data: Path) -> _Tables:
    data = Path(data).resolve()
    if data not in _TABLES:
        _TABLES[data] = _Tables(data)
    return _TABLES[data]


def _choice(rng: np.random.Generator, p: tuple[float, ...] | np.ndarray, size) -> np.ndarray:
    """Indices drawn with probabilities ``p`` (inverse CDF: fast for large tables)."""
    cdf = np.cumsum(p)
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), len(p) - 1)


def generate_texts(n: int, rng: np.random.Generator, data: Path = DEFAULT_DATA) -> list[str]:
    """``n`` synthetic tweets drawn with ``rng`` (see the module docstring).

    Args:
        n: Number of texts.
        rng: The generator all draws come from (same state -> same texts).
        data: The DeepMoji data folder (``vocabulary.json``, ``wanted_emojis.csv``).

    Returns:
        The texts, retweets and duplicates referring to earlier texts of the same call.

    Example:

    >>> texts = generate_texts(3, np.random.default_rng(0))
    >>> len(texts)
    3
    """
    t = _tables(data)
    s = t.starts
    # -- words: (n, MAX_WORDS) token ids, -1 beyond each text's length
    lengths = np.clip(np.rint(rng.lognormal(np.log(MEDIAN_WORDS), WORDS_SIGMA, n)), 1, MAX_WORDS)
    lengths = lengths.astype(np.int64)
    col = np.arange(MAX_WORDS)[None, :]
    word = _choice(rng, t.word_p, (n, MAX_WORDS))
    redraw = _choice(rng, t.word_p, n)  # a text rarely starts with punctuation
    word[:, 0] = np.where(t.is_punct[word[:, 0]], redraw, word[:, 0])
    case = _choice(rng, CASE_P, (n, MAX_WORDS))
    case[:, 0] = np.where(rng.random(n) < CAPITALISED_FIRST, np.maximum(case[:, 0], 1), case[:, 0])
    ids = word + np.array([s["lower"], s["capital"], s["upper"]])[case]
    u = rng.random((n, MAX_WORDS))
    oov = s["oov"] + rng.integers(0, t.sizes["oov"], (n, MAX_WORDS))
    num = s["number"] + rng.integers(0, t.sizes["number"], (n, MAX_WORDS))
    ids = np.where(u < OOV_RATE, oov, np.where(u < OOV_RATE + NUMBER_RATE, num, ids))
    ids[col >= lengths[:, None]] = -1
    # -- emoji draws: up to 4 per text, each repeated up to 3 times, at the end or inside
    draws = _choice(rng, EMOJI_COUNT_P, n) + 1
    only_other = rng.random(n) < ONLY_OTHER_EMOJI_P
    draws[only_other] = 0
    cls = _choice(rng, t.class_p, (n, 4))
    attached = rng.random((n, 4)) < EMOJI_ATTACHED_P
    variation = rng.random((n, 4)) < VARIATION_P
    repeat = _choice(rng, EMOJI_REPEAT_P, (n, 4)) + 1
    inside = rng.random((n, 4)) < EMOJI_INSIDE_P
    # key orders tokens: word j -> j; an inside emoji after word pos -> pos + 0.5; an end
    # emoji -> MAX_WORDS + 2 + draw (after hashtags and links); padding -> inf
    pos = (rng.random((n, 4)) * lengths[:, None]).astype(np.int64)
    d_of = np.repeat(np.arange(4), 3)[None, :]  # (n, 12): draw d's copies at 3d .. 3d+2
    copy = np.tile(np.arange(3), 4)[None, :]
    # a class's 4 table entries: spaced, attached, spaced + U+FE0F, attached + U+FE0F
    e_ids = (
        s["emoji"]
        + 4 * np.repeat(cls, 3, axis=1)
        + (np.repeat(attached, 3, axis=1) | (copy > 0))
        + 2 * np.repeat(variation, 3, axis=1)
    )
    live = (d_of < draws[:, None]) & (copy < np.repeat(repeat, 3, axis=1))
    e_key = np.where(
        np.repeat(inside, 3, axis=1),
        np.repeat(pos, 3, axis=1) + 0.5 + copy * 0.01 + d_of * 0.1,
        MAX_WORDS + 2 + d_of + copy * 0.01,
    )
    e_ids[~live] = -1
    # -- mentions, hashtags, link, emoji outside the classes
    n_mention = _choice(rng, MENTIONS_P, n)
    mention = s["mention"] + _choice(rng, t.mention_p, (n, 2))
    mention[np.arange(2)[None, :] >= n_mention[:, None]] = -1
    n_tag = _choice(rng, HASHTAGS_P, n)
    tag = s["hashtag"] + _choice(rng, t.hashtag_p, (n, 2))
    tag[np.arange(2)[None, :] >= n_tag[:, None]] = -1
    url = np.where(rng.random(n) < URL_P, s["url"] + rng.integers(0, t.sizes["url"], n), -1)
    other = np.where(
        only_other | (rng.random(n) < OTHER_EMOJI_P),
        s["other"] + rng.integers(0, t.n_other, n),
        -1,
    )
    grid = np.concatenate([mention, ids, tag, url[:, None], e_ids, other[:, None]], axis=1)
    keys = np.concatenate(
        [
            np.broadcast_to([-2.0, -1.0], (n, 2)),
            np.broadcast_to(np.arange(MAX_WORDS, dtype=np.float64), (n, MAX_WORDS)),
            np.broadcast_to([MAX_WORDS + 0.0, MAX_WORDS + 0.1], (n, 2)),
            np.full((n, 1), MAX_WORDS + 1.0),
            e_key,
            np.full((n, 1), MAX_WORDS + 10.0),
        ],
        axis=1,
    )
    keys = np.where(grid < 0, np.inf, keys)
    order = np.argsort(keys, axis=1, kind="stable")
    grid = np.take_along_axis(grid, order, axis=1)
    valid = grid >= 0
    flat = t.tokens[grid[valid]].tolist()
    ends = np.cumsum(valid.sum(axis=1)).tolist()
    texts, start = [], 0
    for end in ends:
        texts.append("".join(flat[start:end]).lstrip())
        start = end
    # -- retweets and exact duplicates of an earlier text of this call
    kind = rng.random(n)
    source = (rng.random(n) * np.arange(n)).astype(np.int64)  # uniform over earlier texts
    handles = s["mention"] + _choice(rng, t.mention_p, n)
    for i in np.flatnonzero((kind < RETWEET_P + DUPLICATE_P) & (np.arange(n) > 0)).tolist():
        if kind[i] < RETWEET_P:
            texts[i] = "RT" + t.tokens[handles[i]] + ": " + texts[source[i]]
        else:
            texts[i] = texts[source[i]]
    return texts


def shard_name(k: int, shards: int) -> str:
    return f"tweets-{k:05d}-of-{shards:05d}.jsonl.gz"


def shard_sizes(n: int, shards: int) -> list[int]:
    """Texts per shard: ``n`` split as evenly as possible, the larger shards first."""
    return [n // shards + (k < n % shards) for k in range(shards)]


@dataclass
class ShardResult:
    path: str
    texts: int
    bytes: int
    seconds: float


def write_shard(
    out: str | os.PathLike,
    k: int,
    shards: int,
    n: int,
    seed: int,
    data: str | os.PathLike = DEFAULT_DATA,
    compresslevel: int = 6,
) -> ShardResult:
    """Writes shard ``k`` of ``shards`` of an ``n``-text corpus (see :func:`write_corpus`)."""
    start_time = time.perf_counter()
    sizes = shard_sizes(n, shards)
    first_id = sum(sizes[:k])
    rng = np.random.default_rng([seed, k])
    path = Path(out) / shard_name(k, shards)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel
        ) as gz:
            done = 0
            while done < sizes[k]:
                m = min(CHUNK, sizes[k] - done)
                texts = generate_texts(m, rng, Path(data))
                lines = [
                    json.dumps({"id": first_id + done + i, "text": text}, ensure_ascii=False)
                    for i, text in enumerate(texts)
                ]
                gz.write(("\n".join(lines) + "\n").encode("utf-8"))
                done += m
    os.replace(tmp, path)
    return ShardResult(str(path), sizes[k], path.stat().st_size, time.perf_counter() - start_time)


def write_corpus(
    out: str | os.PathLike,
    n: int,
    shards: int = 16,
    seed: int = 0,
    workers: int = 1,
    data: str | os.PathLike = DEFAULT_DATA,
    compresslevel: int = 6,
) -> list[ShardResult]:
    """Writes an ``n``-text synthetic corpus as ``shards`` gzip JSONL files in ``out``.

    Args:
        out: Output folder (created; existing shards of the same names are replaced).
        n: Number of texts in all.
        shards: Number of files (``tweets-KKKKK-of-SSSSS.jsonl.gz``).
        seed: Seed; the files are a function of ``(n, shards, seed)``.
        workers: Processes writing shards in parallel (the output does not depend on it).
        data: The DeepMoji data folder.
        compresslevel: gzip level (1-9).

    Returns:
        One :class:`ShardResult` per shard, in shard order.

    Example:

    >>> results = write_corpus("/tmp/tweets", n=1000, shards=2)  # doctest: +SKIP
    """
    if n < 1 or shards < 1 or shards > n:
        raise ValueError(f"need 1 <= shards <= n, got n={n}, shards={shards}")
    if workers < 1:
        raise ValueError(f"`workers` must be >= 1, got {workers}")
    Path(out).mkdir(parents=True, exist_ok=True)
    args = [(out, k, shards, n, seed, data, compresslevel) for k in range(shards)]
    if workers == 1:
        return [write_shard(*a) for a in args]
    with ProcessPoolExecutor(min(workers, shards)) as pool:
        futures = [pool.submit(write_shard, *a) for a in args]
        return [f.result() for f in futures]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of texts")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes (same output)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the DeepMoji data folder")
    parser.add_argument("--compresslevel", type=int, default=6, choices=range(1, 10))
    parser.add_argument("--json", help="also write the summary to this JSON file")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = write_corpus(
        args.out, args.n, args.shards, args.seed, args.workers, args.data, args.compresslevel
    )
    seconds = time.perf_counter() - start
    summary = {
        "n": args.n,
        "shards": args.shards,
        "seed": args.seed,
        "workers": args.workers,
        "out": str(args.out),
        "bytes": sum(r.bytes for r in results),
        "seconds": seconds,
        "texts_per_s": args.n / seconds,
        "texts_per_s_per_process": args.n / sum(r.seconds for r in results),
    }
    if not args.quiet:
        print(
            f"{args.n:,} texts in {args.shards} shards ({summary['bytes'] / 1e6:.1f} MB gz) "
            f"in {seconds:.1f} s: {summary['texts_per_s']:,.0f} texts/s "
            f"({summary['texts_per_s_per_process']:,.0f} per process) -> {args.out}",
            file=sys.stderr,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    main()
