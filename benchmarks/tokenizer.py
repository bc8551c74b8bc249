"""Throughput of DeepMojiTokenizer on one CPU core (texts per second).

Corpora: the 14,980 real texts of DeepMoji's five benchmarks (the tokenizer reference
file) and the 2,369 real tweets of the rtweet fixtures (emoji, URLs, mentions, non-ASCII).
Also the emoji distant-supervision filter (:func:`rnnkit.models.deepmoji.extract_examples`, without
the duplicate filter since the tweet corpus is repeated). Anchor in the same run: a
minimal regex tokenizer (lowercase + ``\\w+|[^\\w\\s]`` + dict lookup), so the ratio
says what DeepMoji's faithful preprocessing costs over the simplest one. Median of several
repeats of the process's CPU time (``time.process_time``, so that other work on a shared
machine does not count), pinned to one core where the OS allows it.

Run: ``python benchmarks/tokenizer.py [--repeats 5] [--markdown out.md]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

from rnnkit.data.paths import resolve
from rnnkit.models.deepmoji import (
    DeepMojiTokenizer,
    extract_examples,
    load_emoji_classes,
    load_vocabulary,
)


def load_texts() -> dict[str, list[str]]:
    ref = resolve(None, "deepmoji/tokenizer-reference.jsonl")
    tweets = resolve(None, "tweets-with-emoji/rtweet-fixtures.jsonl")
    with open(ref, encoding="utf-8") as f:
        bench = [json.loads(line)["text"] for line in f]
    with open(tweets, encoding="utf-8") as f:
        tw = [json.loads(line)["text"] for line in f]
    return {"deepmoji-benchmarks (14,980 texts)": bench, "rtweet tweets (2,369 x 4)": tw * 4}


def median_rate(fn, texts: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn(texts)
        times.append(time.process_time() - start)
    return len(texts) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", default=None, help="also write the table here")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    vocab = load_vocabulary(resolve(None, "deepmoji/vocabulary.json"))
    tok = DeepMojiTokenizer(vocab)
    simple_re = re.compile(r"\w+|[^\w\s]")

    def anchor(texts):
        get = vocab.get
        return [[get(w, 1) for w in simple_re.findall(t.lower())][:30] for t in texts]

    methods = {
        "anchor: regex split + lookup": anchor,
        "DeepMojiTokenizer.words": lambda texts: [tok.words(t) for t in texts],
        "DeepMojiTokenizer.encode(maxlen=30)": lambda texts: tok.encode(texts, maxlen=30),
        "emoji corpus: extract_examples": lambda texts: list(
            extract_examples(texts, classes, drop_duplicates=False, tokenizer=tok)
        ),
    }
    classes = load_emoji_classes()
    rows = []
    for corpus, texts in load_texts().items():
        base = None
        for name, fn in methods.items():
            rate = median_rate(fn, texts, args.repeats)
            base = base or rate
            rows.append((corpus, name, rate, base / rate))
    header = "| corpus | method | texts/s (1 core, CPU time) | time vs anchor |"
    lines = [header, "|---|---|---:|---:|"]
    lines += [f"| {c} | {m} | {r:,.0f} | {x:.2f}x |" for c, m, r, x in rows]
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
