"""Emoji distant supervision pipeline on the real tweets of the rtweet fixtures."""

import csv
import gzip
import itertools
import json
import re

import pytest

from rnnkit.data import iter_texts
from rnnkit.data.bloom import BloomFilter
from rnnkit.data.paths import resolve
from rnnkit.models.deepmoji import (
    SPECIAL_TOKENS,
    DeepMojiTokenizer,
    EmojiCorpusStats,
    EmojiExample,
    balanced_sample,
    extract_examples,
    load_emoji_classes,
    read_examples,
    remove_emoji,
    write_examples,
)

FIXTURES = "tweets-with-emoji/rtweet-fixtures.jsonl"
# Any character of the common emoji blocks (independent of the module's own pattern).
ANY_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\ufe0f\u200d]")


@pytest.fixture(scope="module")
def classes():
    return load_emoji_classes()


@pytest.fixture(scope="module")
def tweets():
    path = resolve(None, FIXTURES)
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_emoji_classes_in_class_id_order(classes):
    path = resolve(None, "deepmoji/wanted_emojis.csv")
    lines = path.read_text(encoding="utf-8").split()
    assert len(classes) == 64
    assert classes[0] == "\U0001f602" and classes[-1] == "\u2728"
    assert [f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else f"\\u{ord(c):04x}" for c in classes] == [
        line for line in lines
    ]


def reference_examples(tweets, classes, min_words=1):
    """Brute force: same rules with an exact Python set for duplicates."""
    tok = DeepMojiTokenizer()
    punct = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    seen, out = set(), []
    for text in tweets:
        ids = sorted({i for i, c in enumerate(classes) if c in text.replace("\ufe0f", "")})
        if not ids or text.lower().startswith("rt ") or text in seen:
            continue
        seen.add(text)
        clean = " ".join(remove_emoji(text).split())
        words = [w for w in tok.words(clean) if w not in SPECIAL_TOKENS and not set(w) <= punct]
        if len(words) < min_words:
            continue
        out.extend((clean, i) for i in ids)
    return out


def test_extract_on_real_tweets(tweets, classes):
    stats = EmojiCorpusStats()
    examples = list(extract_examples(iter(tweets), classes, stats=stats))
    assert stats.texts == len(tweets) == 2369
    assert [(e.text, e.label) for e in examples] == reference_examples(tweets, classes)
    assert stats.examples == len(examples) > 100
    assert stats.retweets > 0 and stats.no_class_emoji > 0
    assert sum(stats.per_class.values()) == len(examples)
    for ex in examples:
        assert not ANY_EMOJI.search(ex.text), ex.text  # all emoji removed
        assert 0 <= ex.label < 64
        assert not ex.text.lower().startswith("rt ")
    # One example per distinct class emoji: a text with k distinct classes appears k times.
    by_text = {}
    for ex in examples:
        by_text.setdefault(ex.text, []).append(ex.label)
    assert any(len(v) > 1 for v in by_text.values())
    assert all(len(v) == len(set(v)) for v in by_text.values())
    assert re.search(rf"kept_texts +{stats.kept_texts:,}\n", stats.as_table())


def test_filters(classes):
    joy = classes[0]
    texts = [
        f"RT @bob: so funny {joy}",  # retweet
        f"@bob https://t.co/xyz {joy}",  # only a mention and a URL
        f"{joy}{joy}",  # only emoji
        f"so funny {joy}",
        f"so funny {joy}",  # exact duplicate
        f"so funny {joy} {classes[1]} {joy}\ufe0f",  # two distinct classes
        "no emoji here",
    ]
    stats = EmojiCorpusStats()
    got = [(e.text, e.label) for e in extract_examples(texts, classes, stats=stats)]
    assert got == [("so funny", 0), ("so funny", 0), ("so funny", 1)]
    assert (stats.retweets, stats.too_short, stats.duplicates, stats.no_class_emoji) == (
        1,
        2,
        1,
        1,
    )
    kept = list(extract_examples(texts, classes, drop_retweets=False, drop_duplicates=False))
    assert len(kept) == 5
    longer = list(extract_examples(texts, classes, min_words=3))
    assert longer == []
    with_url = [f"funny https://t.co/x {joy}"]
    assert len(list(extract_examples(with_url, classes))) == 1
    assert list(extract_examples(with_url, classes, drop_url_texts=True)) == []


def test_streams_lazily(classes):
    def endless():
        for i in itertools.count():
            yield f"text number {i} {classes[i % 64]}"

    first = list(itertools.islice(extract_examples(endless(), classes), 100))
    assert [e.label for e in first] == [i % 64 for i in range(100)]


def test_shards_jsonl_gz_csv_txt(tmp_path, tweets, classes):
    parts = [tweets[:800], tweets[800:1600], tweets[1600:]]
    with open(tmp_path / "a.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(parts[0]))
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": t}) + "\n" for t in parts[1])
    with open(tmp_path / "c.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user", "text"])
        writer.writerows(["u", t] for t in parts[2])
    streamed = list(iter_texts(tmp_path / "*"))
    assert streamed == tweets
    assert list(iter_texts([tmp_path / "a.jsonl", tmp_path / "c.csv"])) == parts[0] + parts[2]
    assert list(iter_texts(tmp_path)) == tweets  # a folder
    one_line = [t for t in tweets if "\n" not in t and "\r" not in t][:50]
    (tmp_path / "d.txt").write_text("\n".join(one_line) + "\n\n", encoding="utf-8")
    assert list(iter_texts(tmp_path / "d.txt")) == one_line
    a = [(e.text, e.label) for e in extract_examples(iter_texts(tmp_path / "*.*s*"), classes)]
    b = [(e.text, e.label) for e in extract_examples(tweets, classes)]
    assert a == b


def test_load_emoji_classes_bad_files(tmp_path):
    (tmp_path / "wanted_emojis.csv").write_text("\\U0001f602\nab\n")
    with pytest.raises(ValueError, match="expected one emoji"):
        load_emoji_classes(tmp_path / "wanted_emojis.csv")
    (tmp_path / "wanted_emojis.csv").write_text("\\U0001f602\n")
    (tmp_path / "emoji_unicode.csv").write_text("\\U0001f602,1f603\n")
    with pytest.raises(ValueError, match="disagrees with the emoji classes"):
        load_emoji_classes(tmp_path / "wanted_emojis.csv")


def test_iter_texts_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="No files match"):
        list(iter_texts(tmp_path / "*.jsonl"))
    with pytest.raises(FileNotFoundError, match="not found"):
        list(iter_texts(tmp_path / "missing.jsonl"))
    (tmp_path / "x.jsonl").write_text('{"body": "hi"}\n')
    with pytest.raises(ValueError, match=r"x.jsonl:1: expected a JSON object with a 'text'"):
        list(iter_texts(tmp_path / "x.jsonl"))
    (tmp_path / "y.jsonl").write_text('{"text": "ok"}\n{oops\n')
    with pytest.raises(ValueError, match=r"y.jsonl:2: not valid JSON"):
        list(iter_texts(tmp_path / "y.jsonl"))
    (tmp_path / "z.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no column 'text'"):
        list(iter_texts(tmp_path / "z.csv"))
    with pytest.raises(ValueError, match="format"):
        list(iter_texts(tmp_path / "z.csv", format="xml"))
    # Invalid UTF-8 bytes are replaced, not a crash.
    (tmp_path / "w.txt").write_bytes(b"caf\xe9 ok\n")
    assert list(iter_texts(tmp_path / "w.txt")) == ["caf\ufffd ok"]
    with pytest.raises(ValueError, match=r"texts\[1\] must be a str"):
        list(extract_examples(["a \U0001f602", 5], load_emoji_classes()))


def test_balanced_sample_caps_and_is_uniform():
    stream = [EmojiExample(f"t{i}", 0) for i in range(1000)]
    stream += [EmojiExample(f"u{i}", 1) for i in range(5)]
    sample = balanced_sample(stream, per_class=10, seed=1)
    labels = [e.label for e in sample]
    assert labels.count(0) == 10 and labels.count(1) == 5
    assert balanced_sample(stream, per_class=10, seed=1) == sample  # deterministic
    # Uniform: the mean index of sampled class-0 items over many seeds is near 499.5.
    means = []
    for seed in range(200):
        idx = [int(e.text[1:]) for e in balanced_sample(stream, 10, seed=seed) if e.label == 0]
        means.append(sum(idx) / len(idx))
    assert abs(sum(means) / len(means) - 499.5) < 15
    with pytest.raises(ValueError, match="outside the declared 1 classes"):
        balanced_sample(stream, per_class=3, num_classes=1)
    with pytest.raises(ValueError, match="per_class"):
        balanced_sample(stream, per_class=0)


def test_duplicate_filter_false_positive_rate():
    bloom = BloomFilter(capacity=20000, error_rate=1e-3)
    false = sum(bloom.add(f"distinct text {i}") for i in range(20000))
    assert false < 100  # ~20 expected
    assert bloom.add("distinct text 7") and bloom.add("distinct text 19999")


def test_write_read_examples_round_trip(tmp_path, tweets, classes):
    examples = list(extract_examples(tweets, classes))
    for name in ("ex.jsonl", "ex.jsonl.gz"):
        assert write_examples(iter(examples), tmp_path / name) == len(examples)
        assert list(read_examples(tmp_path / name, num_classes=64)) == examples
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 70}\n')
    with pytest.raises(ValueError, match="label 70 is outside the 64 classes"):
        list(read_examples(tmp_path / "bad.jsonl", num_classes=64))
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: expected a JSON object with text and label"):
        list(read_examples(tmp_path / "bad.jsonl"))
