"""Prepared corpora (rnnkit.models.deepmoji.corpus) against the in-process reference path
(extract_examples + DeepMojiTokenizer.encode), resume after SIGKILL, bad input, reading."""

import csv
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.cli.main import main as cli_main
from rnnkit.data import iter_records, verify_shard
from rnnkit.data.bloom import BloomFilter
from rnnkit.data.paths import resolve
from rnnkit.data.tfrecord import frame
from rnnkit.models.deepmoji import (
    SPECIAL_TOKENS,
    DeepMojiTokenizer,
    LabelFinder,
    build_vocabulary,
    corpus_dataset,
    corpus_steps,
    extract_examples,
    load_corpus,
    load_emoji_classes,
    load_vocabulary,
    prepare_corpus,
)
from rnnkit.models.deepmoji.corpus import _BOOTSTRAP, _example

FIXTURES = resolve(None, "tweets-with-emoji/rtweet-fixtures.jsonl")
SENTIMENT = resolve(None, "tweets-sentiment/crowdflower-tweets.csv")
VOCAB = resolve(None, "deepmoji/vocabulary.json")
QUIET = {"verbose": 0}


def hashtags(text):
    """Module-level label function (picklable): the hashtags of a text."""
    return re.findall(r"#\w+", text)


@pytest.fixture(scope="module")
def tweets():
    return [json.loads(line)["text"] for line in FIXTURES.read_text("utf-8").splitlines()]


def read_corpus(info, split=None):
    """Every record of the corpus's shards, read with tf.data: [(ids tuple, label, key)]."""
    spec = {
        "ids": tf.io.FixedLenFeature([info.maxlen], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "key": tf.io.FixedLenFeature([], tf.int64),
    }
    out = []
    for s in info.shards:
        if split and s["split"] != split:
            continue
        for rec in tf.data.TFRecordDataset(str(info.directory / s["name"])):
            p = tf.io.parse_single_example(rec, spec)
            out.append((tuple(p["ids"].numpy().tolist()), int(p["label"]), int(p["key"])))
    return out


def text_key(text):
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 62) - 1)


def reference(records, finder, vocab, maxlen=30, validation_fraction=0.05):
    """The in-process path: extract_examples + DeepMojiTokenizer.encode; split by key."""
    tok = DeepMojiTokenizer(vocab)
    examples = list(extract_examples(records, finder))
    ids = tok.encode([e.text for e in examples], maxlen=maxlen) if examples else []
    out = {"train": Counter(), "validation": Counter()}
    for e, row in zip(examples, ids):
        key = text_key(e.text)
        split = "validation" if key % 10_000 < round(validation_fraction * 10_000) else "train"
        out[split][(tuple(row.tolist()), e.label, key)] += 1
    return out, examples


def reference_vocab(examples, min_count, vocab_size):
    """Words of each kept text once (a text's examples are consecutive, labels ascending)."""
    tok, counts, prev = DeepMojiTokenizer(), Counter(), None
    for e in examples:
        if prev is None or e.text != prev.text or e.label <= prev.label:
            counts.update(w for w in tok.words(e.text) if w not in SPECIAL_TOKENS)
        prev = e
    return build_vocabulary(counts, min_count=min_count, max_size=vocab_size)


def test_tfrecord_writer_is_read_by_tensorflow(tmp_path):
    rows = [([5, 300, 70000, 0], 3, 2**62 - 1), ([1, 0, 0, 0], 0, 0)]
    with open(tmp_path / "x.tfrecord", "wb") as f:
        for ids, label, key in rows:
            f.write(frame(_example(ids, label, key)))
    spec = {
        "ids": tf.io.FixedLenFeature([4], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "key": tf.io.FixedLenFeature([], tf.int64),
    }
    got = [
        tf.io.parse_single_example(r, spec)
        for r in tf.data.TFRecordDataset(str(tmp_path / "x.tfrecord"))
    ]
    assert [(g["ids"].numpy().tolist(), int(g["label"]), int(g["key"])) for g in got] == rows
    # And TensorFlow's own writer gives the same bytes.
    ex = tf.train.Example(
        features=tf.train.Features(
            feature={
                "ids": tf.train.Feature(int64_list=tf.train.Int64List(value=rows[0][0])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
                "key": tf.train.Feature(int64_list=tf.train.Int64List(value=[2**62 - 1])),
            }
        )
    )
    with tf.io.TFRecordWriter(str(tmp_path / "y.tfrecord")) as w:
        w.write(ex.SerializeToString(deterministic=True))
    assert (tmp_path / "y.tfrecord").read_bytes() == frame(_example(*rows[0]))
    assert verify_shard(tmp_path / "x.tfrecord") == 2


def test_bloom_batched_equals_sequential():
    texts = [f"t{i % 700}" for i in range(2000)]  # repeats, within and across batches
    seq = BloomFilter(500, 0.05)  # small: false positives happen too
    expected = [seq.add(t) for t in texts]
    vec = BloomFilter(500, 0.05)
    digests = b"".join(BloomFilter.digest(t) for t in texts)
    got = np.concatenate(
        [vec.add_digests(digests[i : i + 16 * 333]) for i in range(0, 32000, 16 * 333)]
    )
    assert got.tolist() == expected and (vec.bits == seq.bits).all()


def test_emoji_corpus_equals_in_process_reference(tmp_path, tweets, capsys):
    vocab = load_vocabulary(VOCAB)
    info = prepare_corpus(FIXTURES, tmp_path / "c", vocabulary=VOCAB, workers=1, shard_size=50)
    classes = load_emoji_classes()
    ref, examples = reference(tweets, classes, vocab)
    for split in ("train", "validation"):
        assert Counter(read_corpus(info, split)) == ref[split]
    assert info.labels == classes
    assert info.num_examples == len(examples) == sum(info.splits.values())
    assert info.label_counts == {
        c: sum(e.label == i for e in examples) for i, c in enumerate(classes)
    }
    assert info.splits["validation"] > 0 and info.vocabulary() == vocab
    assert all(s["num_examples"] <= 50 for s in info.shards)
    stats = info.manifest["stats"]
    assert stats["texts"] == len(tweets) and stats["retweets"] > 0
    assert stats["workers_imported_tensorflow"] is None  # no worker process
    printed = capsys.readouterr().out
    assert f"{info.splits['train']:,}" in printed and "texts/s" in printed
    # Rerunning the same command finds it complete.
    again = prepare_corpus(
        FIXTURES, tmp_path / "c", vocabulary=VOCAB, workers=1, shard_size=50, **QUIET
    )
    assert again.manifest["content_hash"] == info.manifest["content_hash"]


def write_inputs(d, tweets):
    """The fixture tweets spread over JSONL, JSONL.gz, CSV, TSV and txt, with repeats across
    files (duplicates) and invalid UTF-8 bytes."""
    d.mkdir()
    one_line = [t for t in tweets if "\n" not in t and "\r" not in t and "\t" not in t]
    parts = [tweets[:900], tweets[900:1500], tweets[1500:2000], one_line[:200], one_line[200:400]]
    parts[1] = parts[1] + tweets[:50]  # duplicates of a.jsonl's texts in another file
    with open(d / "a.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(parts[0]))
    with gzip.open(d / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": t}) + "\n" for t in parts[1])
    with open(d / "c.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "text"])
        w.writerows(["u", t] for t in parts[2])
    with open(d / "d.tsv", "w", encoding="utf-8", newline="") as f:
        f.write("text\n" + "".join(t + "\n" for t in parts[3]))
    with open(d / "e.txt", "wb") as f:
        f.write("".join(t + "\n" for t in parts[4]).encode("utf-8"))
        f.write(b"caf\xe9 is great \xf0\x9f\x98\x82\n")  # 1 invalid byte, then a class emoji
        f.write(b"\xff\xfe so good \xe2\x9d\xa4\n")  # 2 invalid bytes
    return [d / n for n in ("a.jsonl", "b.jsonl.gz", "c.csv", "d.tsv", "e.txt")]


def test_formats_workers_and_built_vocabulary(tmp_path, tweets, capsys):
    files = write_inputs(tmp_path / "in", tweets)
    common = dict(workers=1, min_count=1, vocab_size=3000, shard_size=200, unit_bytes=100_000)
    one = prepare_corpus(files, tmp_path / "w1", **common)
    printed = capsys.readouterr().out
    two = prepare_corpus(files, tmp_path / "w2", **{**common, "workers": 2}, **QUIET)
    # Same corpus whatever the number of workers (same work units, same shards).
    assert two.manifest["content_hash"] == one.manifest["content_hash"]
    assert [s["name"] for s in two.shards] == [s["name"] for s in one.shards]
    assert any("-00001-" in s["name"] for s in one.shards)  # a.jsonl split by byte range
    assert two.manifest["stats"]["workers_imported_tensorflow"] is False
    # Against the reference on the same records, in the same order.
    records = [r for f in files for r in iter_records(f)]
    finder = LabelFinder.emoji(load_emoji_classes())
    _, examples = reference(records, finder, {"CUSTOM_MASK": 0})
    vocab = reference_vocab(examples, 1, 3000)
    assert one.vocabulary() == vocab
    ref, _ = reference(records, finder, vocab)
    assert Counter(read_corpus(one, "train")) == ref["train"]
    assert Counter(read_corpus(one, "validation")) == ref["validation"]
    stats = one.manifest["stats"]
    assert stats["duplicates"] > 0
    assert stats["invalid_bytes_replaced"] == 3
    assert re.search(r"invalid_bytes_replaced +3\n", printed)
    # Split stable by hash of the cleaned text: recomputed from the examples.
    for _ids, _label, key in read_corpus(one, "validation"):
        assert key % 10_000 < 500


def test_label_field_sentiment(tmp_path):
    lines = SENTIMENT.read_bytes().split(b"\n")
    lines = lines[:1] + lines[1::25]  # every label; not valid UTF-8 throughout
    path = tmp_path / "tweets.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    info = prepare_corpus(
        path, tmp_path / "c", label_field="sentiment", workers=1, min_count=1, **QUIET
    )
    names = sorted({r[1] for r in iter_records(path, label_field="sentiment")})
    assert info.labels == names == ["negative", "neutral", "positive"]
    finder = LabelFinder.field("sentiment", names=names)
    records = list(iter_records(path, label_field="sentiment"))
    ref, examples = reference(records, finder, info.vocabulary())
    assert Counter(read_corpus(info, "train")) == ref["train"]
    assert info.label_counts == {
        n: sum(e.label == i for e in examples) for i, n in enumerate(names)
    }
    assert info.manifest["stats"]["invalid_bytes_replaced"] > 0


def test_regex_and_callable_labels(tmp_path, tweets):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in tweets[:800]), "utf-8")
    vocab = load_vocabulary(VOCAB)
    info = prepare_corpus(
        path, tmp_path / "r", labels=r"regex:#\w+", vocabulary=VOCAB, workers=1, **QUIET
    )
    not_rt = [t for t in tweets[:800] if not re.match(r"\s*rt\b", t, re.IGNORECASE)]
    names = sorted({m for t in not_rt for m in re.findall(r"#\w+", t)})  # retweets: no labels
    assert info.labels == names
    ref, _ = reference(tweets[:800], LabelFinder.regex(r"#\w+", names=names), vocab)
    got = Counter(read_corpus(info, "train"))
    assert got == ref["train"]
    # A picklable callable in 2 worker processes: hashtags kept in the text this time.
    info2 = prepare_corpus(
        path, tmp_path / "f", labels=hashtags, vocabulary=VOCAB, workers=2, **QUIET
    )
    assert info2.labels == names
    ref2, _ = reference(tweets[:800], LabelFinder.function(hashtags, names=names), vocab)
    assert Counter(read_corpus(info2, "train")) == ref2["train"] != ref["train"]
    with pytest.raises(ValueError, match="cannot be sent to worker processes .* workers=1"):
        prepare_corpus(path, tmp_path / "l", labels=lambda t: hashtags(t), workers=2, **QUIET)
    info3 = prepare_corpus(
        path, tmp_path / "l", labels=lambda t: hashtags(t), vocabulary=VOCAB, workers=1, **QUIET
    )
    assert Counter(read_corpus(info3, "train")) == ref2["train"]


def test_emoji_list_file(tmp_path, tweets):
    classes = load_emoji_classes()
    (tmp_path / "wanted.csv").write_text(f"{classes[0]}\n\\u2764\n{classes[3]}\n", "utf-8")
    info = prepare_corpus(
        FIXTURES,
        tmp_path / "c",
        labels=tmp_path / "wanted.csv",
        vocabulary=VOCAB,
        workers=1,
        **QUIET,
    )
    assert info.labels == [classes[0], "\u2764", classes[3]]
    ref, _ = reference(tweets, info.labels, load_vocabulary(VOCAB))
    assert Counter(read_corpus(info, "train")) == ref["train"]


def test_bad_input_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No files match"):
        prepare_corpus(tmp_path / "*.jsonl", tmp_path / "c", **QUIET)
    with pytest.raises(ValueError, match="No inputs given"):
        prepare_corpus([], tmp_path / "c", **QUIET)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="The input files are empty"):
        prepare_corpus(tmp_path / "empty.jsonl", tmp_path / "c", **QUIET)
    (tmp_path / "blank.txt").write_text("\n\n")
    with pytest.raises(ValueError, match="The inputs hold no texts"):
        prepare_corpus(tmp_path / "blank.txt", tmp_path / "c2", **QUIET)
    with pytest.raises(
        ValueError, match=r"The label spec 'regex:zzz\+' matches nothing: none of the 2,369"
    ):
        prepare_corpus(FIXTURES, tmp_path / "c3", labels="regex:zzz+", workers=1, **QUIET)
    with pytest.raises(FileNotFoundError, match="no such emoji list file"):
        prepare_corpus(FIXTURES, tmp_path / "c4", labels="nope.csv", **QUIET)
    (tmp_path / "bad.jsonl").write_text('{"text": "hi \U0001f602"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        prepare_corpus(tmp_path / "bad.jsonl", tmp_path / "c5", workers=1, **QUIET)
    info = prepare_corpus(
        tmp_path / "bad.jsonl",
        tmp_path / "c6",
        workers=1,
        min_count=1,
        skip_bad_records=True,
        **QUIET,
    )
    assert info.manifest["stats"]["bad_records"] == 1 and info.num_examples == 1
    # Output directories: unrelated files -> refused; another corpus -> refused unless overwrite.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(
        ValueError, match=r"holds files that are not part of a corpus \(notes.txt\)"
    ):
        prepare_corpus(FIXTURES, tmp_path / "mine", **QUIET)
    with pytest.raises(
        ValueError, match=r"holds another corpus \(different settings \['maxlen'\]\)"
    ):
        prepare_corpus(
            tmp_path / "bad.jsonl",
            tmp_path / "c6",
            maxlen=10,
            skip_bad_records=True,
            min_count=1,
            **QUIET,
        )
    info = prepare_corpus(
        tmp_path / "bad.jsonl",
        tmp_path / "c6",
        maxlen=10,
        skip_bad_records=True,
        min_count=1,
        overwrite=True,
        **QUIET,
    )
    assert info.maxlen == 10 and load_corpus(tmp_path / "c6").maxlen == 10


SLOW_LABELS = """
import os, time
from rnnkit.models.deepmoji.emoji_corpus import load_emoji_classes
CLASSES = set(load_emoji_classes())
def emoji_labels(text):
    if os.environ.get("SLOW_LABELS"):
        time.sleep(0.0007)
    return [c for c in text if c in CLASSES]
"""

KILLED = """
import sys
exec({bootstrap!r})
sys.path.insert(0, {mod!r})
from slowlabels import emoji_labels
from rnnkit.models.deepmoji.corpus import prepare_corpus
prepare_corpus({src!r}, {out!r}, labels=emoji_labels, workers=1, shard_size=20,
               unit_bytes=40_000, min_count=1, verbose=0)
"""


def test_resume_after_sigkill(tmp_path):
    (tmp_path / "slowlabels.py").write_text(SLOW_LABELS)
    sys.path.insert(0, str(tmp_path))
    try:
        from slowlabels import emoji_labels

        out = tmp_path / "killed"
        script = KILLED.format(
            bootstrap=_BOOTSTRAP, mod=str(tmp_path), src=str(FIXTURES), out=str(out)
        )
        env = dict(os.environ, SLOW_LABELS="1")
        proc = subprocess.Popen([sys.executable, "-c", script], env=env)
        manifest, deadline = {}, time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                manifest = json.loads((out / "manifest.json").read_text("utf-8"))
            except (FileNotFoundError, json.JSONDecodeError):
                manifest = {}
            if len(manifest.get("shards", [])) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "preparation ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        manifest = json.loads((out / "manifest.json").read_text("utf-8"))
        assert manifest["complete"] is False and manifest["shards"]
        for s in manifest["shards"]:  # every listed shard is whole
            data = (out / s["name"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == s["sha256"]
        kept = {s["name"]: (out / s["name"]).stat().st_mtime_ns for s in manifest["shards"]}
        with pytest.raises(
            ValueError, match="is incomplete .* run the same prepare_corpus command"
        ):
            load_corpus(out)
        common = dict(labels=emoji_labels, workers=1, shard_size=20, unit_bytes=40_000, min_count=1)
        resumed = prepare_corpus(FIXTURES, out, **common, **QUIET)
        assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept  # finished work kept
        fresh = prepare_corpus(FIXTURES, tmp_path / "fresh", **common, **QUIET)
        assert resumed.manifest["content_hash"] == fresh.manifest["content_hash"]
        assert not (out / ".work").exists()
        assert sorted(p.name for p in out.iterdir()) == sorted(
            ["manifest.json", "vocabulary.json"] + [s["name"] for s in resumed.shards]
        )
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("slowlabels", None)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    return prepare_corpus(
        FIXTURES,
        d / "c",
        vocabulary=VOCAB,
        workers=1,
        shard_size=25,
        validation_fraction=0.2,
        **QUIET,
    )


def batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_dataset_determinism_skip_workers(small_corpus):
    info = small_corpus
    full = batches(corpus_dataset(info, "train", batch_size=8, seed=3, epoch=1, shuffle_buffer=64))
    assert len(full) == corpus_steps(info, "train", 8) and full[0][0].dtype == np.int32
    assert full[0][0].shape == (8, 30)
    assert all(
        (a[0] == b[0]).all()
        for a, b in zip(
            full,
            batches(
                corpus_dataset(info, "train", batch_size=8, seed=3, epoch=1, shuffle_buffer=64)
            ),
        )
    )
    skipped = batches(
        corpus_dataset(
            info, "train", batch_size=8, seed=3, epoch=1, shuffle_buffer=64, skip_batches=5
        )
    )
    assert len(skipped) == len(full) - 5
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(full[5:], skipped))
    other = batches(corpus_dataset(info, "train", batch_size=8, seed=3, epoch=2, shuffle_buffer=64))
    assert any((a[0] != b[0]).any() for a, b in zip(full, other))
    # Everything exactly once, also split between 2 workers (whole shards each).
    every = Counter(tuple(r[0]) for r in read_corpus(info, "train"))
    assert Counter(tuple(row) for x, _ in full for row in x) == every
    parts = [
        Counter(
            tuple(row)
            for x, _ in batches(
                corpus_dataset(info, "train", batch_size=8, num_workers=2, worker_index=i, epoch=1)
            )
            for row in x
        )
        for i in range(2)
    ]
    assert parts[0] + parts[1] == every
    assert sum(
        corpus_steps(info, "train", 8, num_workers=2, worker_index=i, epoch=1, drop_remainder=True)
        for i in range(2)
    ) <= len(full)
    assert len(batches(corpus_dataset(info, "train", batch_size=8, steps=3))) == 3


def test_balanced_sampling(small_corpus):
    info = small_corpus
    counts = np.array(info.split_label_counts("train"))
    a = batches(corpus_dataset(info, "train", batch_size=16, balanced=True, seed=1))
    b = batches(corpus_dataset(info, "train", batch_size=16, balanced=True, seed=1))
    assert all((x[1] == y[1]).all() for x, y in zip(a, b)) and len(a) == len(b)
    labels = np.concatenate([y for _, y in a])
    kept = np.bincount(labels, minlength=len(counts))
    # Expected kept per class = min count (the rarest class's count), within noise.
    present = counts > 0
    assert kept[present].sum() < counts.sum() / 2
    assert np.abs(kept[present] - counts[present].min()).max() <= 4 + 3 * np.sqrt(
        counts[present].min()
    )


def test_corrupt_and_truncated_shards(small_corpus, tmp_path):
    import shutil

    d = tmp_path / "c"
    shutil.copytree(small_corpus.directory, d)
    name = small_corpus.shard_paths("train")[1].name
    shard = d / name
    original = shard.read_bytes()
    data = bytearray(original)
    n_records = json.loads((d / "manifest.json").read_text())["shards"][1]["num_examples"]
    data[len(data) // 2] ^= 0x40  # same size, a flipped bit in the middle
    shard.write_bytes(bytes(data))
    assert load_corpus(d).num_examples == small_corpus.num_examples  # sizes still agree
    with pytest.raises(
        ValueError,
        match=rf"shard {name} is corrupt .*shard {name}: record \d+ \(byte \d+\) is corrupt",
    ):
        load_corpus(d, verify=True)
    ds = corpus_dataset(d, "train", batch_size=8, shuffle=False)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=rf"Corpus shard {name} is corrupt or truncated: record \d+",
    ):
        batches(ds)
    ds = corpus_dataset(d, "train", batch_size=8, shuffle=False, skip_bad_records=True)
    got = sum(len(y) for _, y in batches(ds))
    lost = int(ds.bad_records.numpy())
    assert 0 < lost <= n_records and got + lost == small_corpus.splits["train"]
    shard.write_bytes(original[:-5])
    with pytest.raises(
        ValueError, match=rf"shard {name} has [\d,]+ bytes, the manifest says [\d,]+ \(truncated"
    ):
        load_corpus(d)
    with pytest.raises(ValueError, match=r"record \d+ \(byte \d+\) is truncated"):
        verify_shard(shard)
    shard.unlink()
    with pytest.raises(ValueError, match=f"shard {name} is listed but missing"):
        load_corpus(d)


def test_load_corpus_checks(small_corpus, tmp_path):
    d = small_corpus.directory
    assert load_corpus(d, expect_maxlen=30, expect_vocabulary=VOCAB, verify=True).num_examples
    with pytest.raises(ValueError, match="holds sequences of maxlen 30, expected 20"):
        load_corpus(d, expect_maxlen=20)
    other = build_vocabulary(["a b c"], min_count=1)
    with pytest.raises(
        ValueError,
        match=r"another vocabulary \(50,000 words\) than the expected one \(13 words\)",
    ):
        load_corpus(d, expect_vocabulary=other)
    with pytest.raises(FileNotFoundError, match="holds no corpus: manifest.json not found"):
        load_corpus(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not a valid corpus manifest"):
        load_corpus(tmp_path)
    with pytest.raises(ValueError, match="`split` must be 'train' or 'validation'"):
        corpus_dataset(small_corpus, "test", batch_size=4)
    with pytest.raises(ValueError, match="fewer than the 1000 workers"):
        corpus_dataset(small_corpus, "train", batch_size=4, num_workers=1000)


def test_cli_prepare_corpus(tmp_path, capsys):
    lines = SENTIMENT.read_bytes().split(b"\n")
    lines = lines[:1] + lines[1::100]
    (tmp_path / "s.csv").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "corpus"
    argv = [
        "prepare-corpus",
        "--input",
        str(tmp_path / "s.csv"),
        "--output",
        str(out),
        "--label_field",
        "sentiment",
        "--workers",
        "1",
        "--maxlen",
        "20",
        "--min_count",
        "1",
    ]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    info = load_corpus(out, expect_maxlen=20)
    assert info.labels == ["negative", "neutral", "positive"]
    assert f"{info.splits['train']:,}" in printed and "invalid_bytes_replaced" in printed
    ref = prepare_corpus(
        tmp_path / "s.csv",
        tmp_path / "api",
        label_field="sentiment",
        workers=1,
        maxlen=20,
        min_count=1,
        **QUIET,
    )
    assert ref.manifest["content_hash"] == info.manifest["content_hash"]
    with pytest.raises(SystemExit, match="rnnkit prepare-corpus: error: .*holds another corpus"):
        cli_main(argv[:-4] + ["--maxlen", "10", "--quiet"])
    assert cli_main(argv[:-4] + ["--maxlen", "10", "--quiet", "--overwrite"]) == 0
    assert load_corpus(out).maxlen == 10


def test_the_prepare_corpus_command_imports_no_framework(tmp_path):
    """`rnnkit prepare-corpus` runs text processing only: the corpus modules live in the
    DeepMoji model folder, whose package __init__ loads Keras, but the command (like its
    worker processes) imports them without it, and writes the corpus the API writes."""
    lines = SENTIMENT.read_bytes().split(b"\n")
    (tmp_path / "s.csv").write_bytes(b"\n".join(lines[:1] + lines[1::200]) + b"\n")
    argv = ["--input", str(tmp_path / "s.csv"), "--label_field", "sentiment", "--workers", "1"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rnnkit", "prepare-corpus", *argv]
        + ["--output", str(tmp_path / "cli"), "--min_count", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "rnnkit" in imported and not imported & {"keras", "tensorflow", "jax", "torch"}
    ref = prepare_corpus(
        tmp_path / "s.csv",
        tmp_path / "api",
        label_field="sentiment",
        workers=1,
        min_count=1,
        **QUIET,
    )
    assert load_corpus(tmp_path / "cli").manifest["content_hash"] == ref.manifest["content_hash"]


def test_shard_records_are_shuffled_with_the_seed(tmp_path):
    """Input sorted by label is written in a seeded random order within each shard: the
    same records, the same order for the same seed, another order for another seed."""
    path = tmp_path / "sorted.jsonl"
    with open(path, "w") as f:
        for label in ("a", "b"):
            for i in range(100):
                f.write(json.dumps({"text": f"some words here {label}{i}", "label": label}) + "\n")

    def prepare(name, seed):
        return prepare_corpus(
            path,
            tmp_path / name,
            label_field="label",
            workers=1,
            min_count=1,
            validation_fraction=0.0,
            seed=seed,
            **QUIET,
        )

    first, again, other = prepare("c0", 0), prepare("c0b", 0), prepare("c1", 1)
    a, b, c = read_corpus(first), read_corpus(again), read_corpus(other)
    assert a == b and Counter(a) == Counter(c) and a != c
    labels = [r[1] for r in a]
    assert labels != sorted(labels)
    assert 30 <= sum(labels[:100]) <= 70  # both labels among the first half of the shard


MAIN_SCRIPT = """
import os, sys
with open({runs!r}, "a") as f:  # the script's top level: once per process that runs it
    f.write(str(os.getpid()) + "\\n")
from rnnkit.models.deepmoji import prepare_corpus

if __name__ == "__main__":
    info = prepare_corpus({src}, {out!r}, vocabulary={vocab!r}, workers=2, verbose=0)
    print(info.num_examples)
    assert sys.modules["__main__"].__file__ == {script!r}
"""


def test_workers_do_not_rerun_the_callers_script(tmp_path, tweets):
    """Worker processes (forkserver / spawn) import only rnnkit's text modules: the calling
    script (which usually imports Keras, seconds a worker) is not run again in them."""
    src = [str(p) for p in write_inputs(tmp_path / "in", tweets)]  # several work units
    script, runs = tmp_path / "job.py", tmp_path / "runs.txt"
    script.write_text(
        MAIN_SCRIPT.format(
            runs=str(runs),
            src=str(src),
            out=str(tmp_path / "out"),
            vocab=str(VOCAB),
            script=str(script),
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 0
    assert len(runs.read_text().split()) == 1  # the caller only
    reference = prepare_corpus(src, tmp_path / "ref", vocabulary=VOCAB, workers=1, **QUIET)
    assert (
        load_corpus(tmp_path / "out").manifest["content_hash"] == reference.manifest["content_hash"]
    )
