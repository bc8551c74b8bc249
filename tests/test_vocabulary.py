"""DeepMoji vocabularies: loading, format errors, building and extension."""

import json
from collections import Counter

import pytest

from rnnkit.data.paths import resolve
from rnnkit.models.deepmoji import (
    SPECIAL_TOKENS,
    DeepMojiTokenizer,
    build_vocabulary,
    count_words,
    extend_vocabulary,
    load_vocabulary,
    save_vocabulary,
)


def test_load_deepmoji_vocabulary():
    path = resolve(None, "deepmoji/vocabulary.json")
    vocab = load_vocabulary(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert vocab == raw and len(vocab) == 50000
    assert [vocab[t] for t in SPECIAL_TOKENS] == list(range(10))
    assert sorted(vocab.values()) == list(range(50000))


@pytest.mark.parametrize(
    "content, match",
    [
        ("not json", "not a DeepMoji vocabulary: expected a UTF-8 JSON object"),
        ('["a", "b"]', "got a JSON list"),
        ('{"a": "1"}', "word \\(str\\) -> id \\(int\\)"),
        ('{"CUSTOM_MASK": 0, "the": 1}', "special token 'CUSTOM_UNKNOWN' at id 1"),
    ],
)
def test_load_rejects_other_formats(tmp_path, content, match):
    path = tmp_path / "vocab.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        load_vocabulary(path)


def test_load_rejects_gaps(tmp_path):
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    vocab["the"] = 12
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match="no gaps"):
        load_vocabulary(path)
    with pytest.raises(FileNotFoundError):
        load_vocabulary(tmp_path / "missing.json")


def test_build_counts_min_count_max_size_and_specials(tmp_path):
    texts = ["the cat sat", "the dog sat", "the cat ran http://x.co @bob 42", "a"]
    counts = count_words(texts)
    # Brute-force count from the tokenizer's words, specials excluded.
    tok = DeepMojiTokenizer()
    expected = Counter(w for t in texts for w in tok.words(t) if w not in SPECIAL_TOKENS)
    assert counts == expected
    vocab = build_vocabulary(texts, min_count=2)
    assert [vocab[t] for t in SPECIAL_TOKENS] == list(range(10))
    # the:3, then cat:2 / sat:2 alphabetically; words seen once are out.
    assert {w: i for w, i in vocab.items() if i >= 10} == {"the": 10, "cat": 11, "sat": 12}
    small = build_vocabulary(counts, min_count=1, max_size=12)
    assert len(small) == 12 and "the" in small and "cat" in small
    path = tmp_path / "v.json"
    save_vocabulary(vocab, path)
    assert load_vocabulary(path) == vocab
    with pytest.raises(ValueError, match="max_size"):
        build_vocabulary(texts, max_size=5)
    with pytest.raises(ValueError, match="min_count"):
        build_vocabulary(texts, min_count=0)
    with pytest.raises(ValueError, match=r"texts\[1\] must be a str"):
        build_vocabulary(["ok", None])


def test_extend_keeps_ids_and_appends_most_frequent_new_words():
    base = build_vocabulary(["the cat sat"], min_count=1)
    target = ["the zebra zebra yak", "yak zebra owl"]
    extended, added = extend_vocabulary(base, target, max_new=2)
    assert added == {"zebra": len(base), "yak": len(base) + 1}
    assert {w: extended[w] for w in base} == base  # pretrained ids unchanged
    assert sorted(extended.values()) == list(range(len(base) + 2))
    assert base.get("zebra") is None  # input not modified
    none_added = extend_vocabulary(base, target, max_new=0)[1]
    assert none_added == {}
    assert extend_vocabulary(base, target, max_new=5, min_count=2)[1] == {
        "zebra": len(base),
        "yak": len(base) + 1,
    }
    with pytest.raises(ValueError, match="max_new"):
        extend_vocabulary(base, target, max_new=-1)
    # Encoding with the extended vocabulary uses the new ids.
    tok = DeepMojiTokenizer(extended)
    assert tok.encode(["zebra owl"], maxlen=3).tolist() == [[added["zebra"], 1, 0]]


def test_extend_real_vocabulary_with_benchmark_words():
    from rnnkit.models.deepmoji import load_deepmoji_benchmark

    vocab = load_vocabulary(resolve(None, "deepmoji/vocabulary.json"))
    texts, _ = load_deepmoji_benchmark("SS-Twitter").split("train")
    extended, added = extend_vocabulary(vocab, texts, max_new=100)
    assert len(added) == 100 and len(extended) == 50100
    assert all(w not in vocab for w in added)
    assert list(added.values()) == list(range(50000, 50100))
