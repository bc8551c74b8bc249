"""benchmarks/synthetic_corpus.py: deterministic files, the documented distributions."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synthetic_corpus as sc  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (sc.DEFAULT_DATA / "vocabulary.json").exists(), reason="no DeepMoji data folder"
)


def read_shards(folder: Path) -> list[dict]:
    records = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f]
    return records


def test_two_runs_write_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sc.write_corpus(a, n=3001, shards=3, seed=7)
    sc.write_corpus(b, n=3001, shards=3, seed=7, workers=2)  # parallel: same bytes
    sc.write_corpus(c, n=3001, shards=3, seed=8)
    names = sorted(p.name for p in a.iterdir())
    assert names == [sc.shard_name(k, 3) for k in range(3)]  # no .tmp left, nothing else
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()
    records = read_shards(a)
    assert [r["id"] for r in records] == list(range(3001))
    with gzip.open(a / names[0], "rt", encoding="utf-8") as f:
        assert sum(1 for _ in f) == 1001  # sizes as even as possible, larger first


def test_class_frequencies_follow_the_documented_law():
    n = 30_000
    texts = sc.generate_texts(n, np.random.default_rng(0))
    classes = sc.load_classes(sc.DEFAULT_DATA)
    assert len(classes) == 64 and classes[0] == "\U0001f602"
    index = {c: i for i, c in enumerate(classes)}
    present = np.zeros(64)
    for text in texts:
        for i in {index[ch] for ch in text if ch in index}:
            present[i] += 1
    # reference: P(class c in a text) with k independent draws, k ~ EMOJI_COUNT_P, in
    # the texts that carry class emoji at all (retweets/duplicates copy that law)
    p = sc.zipf_probabilities(64, sc.CLASS_ZIPF_S, sc.CLASS_ZIPF_Q)
    k_p = np.array(sc.EMOJI_COUNT_P)
    k = np.arange(1, len(k_p) + 1)
    expected = n * (1 - sc.ONLY_OTHER_EMOJI_P) * (k_p * (1 - (1 - p[:, None]) ** k)).sum(axis=1)
    z = (present - expected) / np.sqrt(expected)
    assert np.abs(z).max() < 5, (present[:5], expected[:5])
    assert present[0] > 10 * present[63]  # frequency falls with class id
    # texts with two or more different classes, and texts without any class emoji
    n_classes = [len({ch for ch in t if ch in index}) for t in texts]
    assert 0.15 < np.mean(np.array(n_classes) >= 2) < 0.45
    assert 0.01 < np.mean(np.array(n_classes) == 0) < 0.04


def test_retweets_duplicates_and_tweet_features():
    n = 20_000
    texts = sc.generate_texts(n, np.random.default_rng(1))
    assert texts == sc.generate_texts(n, np.random.default_rng(1))
    seen: set[str] = set()
    retweets = duplicates = 0
    for text in texts:
        if text.startswith("RT @"):
            retweets += 1
            assert text.split(": ", 1)[1] in seen  # a retweet quotes an earlier text
        elif text in seen:
            duplicates += 1
        seen.add(text)
    for count, rate in ((retweets, sc.RETWEET_P), (duplicates, sc.DUPLICATE_P)):
        assert abs(count - n * rate) < 5 * np.sqrt(n * rate), (count, n * rate)
    mention = np.mean([t.startswith("@") for t in texts])
    assert abs(mention - (1 - sc.MENTIONS_P[0])) < 0.03
    url = np.mean(["https://t.co/" in t for t in texts])
    assert abs(url - sc.URL_P) < 0.02
    assert 0.05 < np.mean(["#" in t for t in texts]) < 0.4
    assert 0.3 < np.mean([t[:1].isupper() for t in texts]) < 0.7
    words = [len(t.split()) for t in texts]
    assert 6 <= np.median(words) <= 16 and max(words) < 100
    assert all(t == t.strip() and t for t in texts)


def test_bad_arguments():
    with pytest.raises(ValueError, match="shards"):
        sc.write_corpus("/nonexistent-unused", n=2, shards=3)
    with pytest.raises(ValueError, match="workers"):
        sc.write_corpus("/nonexistent-unused", n=10, shards=1, workers=0)
