"""The one word vocabulary type (rnnkit/text/vocabulary.py): ranking, ids, save/load, and
the loaders and models that build their tables with it, checked against their former
implementations written out here as the reference."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest

from rnnkit.text import PAD, UNK, TextPipeline, Vocabulary


def reference_ranking(counts, min_count, max_size, reserved):
    """The former loaders' rule: reserved tokens, then words counted >= min_count by
    (-count, word), cut to max_size ids in all."""
    words = [w for w, c in counts.items() if c >= min_count and w not in reserved]
    words.sort(key=lambda w: (-counts[w], w))
    full = list(reserved) + words
    return full if max_size is None else full[:max_size]


def random_counts(seed):
    rng = random.Random(seed)
    alphabet = "abcAB\u00e9<>_"
    counts = Counter()
    for _ in range(300):
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        counts[word] += rng.randint(1, 3)  # many ties
    counts[UNK] += 2  # a literal "<unk>" in the data is the unknown word
    counts[PAD] += 1
    return counts


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_count,max_size", [(1, None), (2, None), (1, 20), (3, 2)])
def test_from_counts_matches_the_reference_ranking(seed, min_count, max_size):
    counts = random_counts(seed)
    vocab = Vocabulary.from_counts(counts, min_count=min_count, max_size=max_size)
    expected = reference_ranking(counts, min_count, max_size, (PAD, UNK))
    assert vocab.words == expected
    assert vocab.words[:2] == [PAD, UNK] and vocab.unk_id == 1
    assert vocab.index == {w: i for i, w in enumerate(expected)}
    assert len(vocab) == len(expected)
    # the same counts in another order give the same vocabulary
    shuffled = dict(sorted(counts.items(), key=lambda kv: random.Random(seed).random()))
    assert Vocabulary.from_counts(shuffled, min_count, max_size) == vocab
    assert Vocabulary.from_tokens(counts.elements(), min_count, max_size) == vocab
    numpy_args = (np.int64(min_count), None if max_size is None else np.int32(max_size))
    assert Vocabulary.from_counts(counts, *numpy_args) == vocab  # e.g. from a param grid


def test_encode_decode_and_reserved_tokens():
    vocab = Vocabulary.from_tokens("the cat the dog".split())
    assert vocab.words == [PAD, UNK, "the", "cat", "dog"]
    ids = vocab.encode(["the", "zebra", "dog", UNK, PAD])
    assert ids.dtype == np.int32 and ids.tolist() == [2, 1, 4, 1, 0]
    assert vocab.decode(np.array([2, 3, 1])) == ["the", "cat", UNK]
    assert "cat" in vocab and "zebra" not in vocab
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        vocab.decode([5])
    # extra reserved tokens follow PAD and UNK; reserved words in the data keep their ids
    seq = Vocabulary(["<s>", "x", "y"], reserved=(PAD, UNK, "<s>", "</s>"))
    assert seq.words == [PAD, UNK, "<s>", "</s>", "x", "y"]
    # no reserved tokens: every id is a word, UNK among them
    plain = Vocabulary(["b", UNK, "a"], reserved=())
    assert plain.encode(["a", "zebra"]).tolist() == [2, 1] and plain.unk_id == 1


def test_bad_vocabularies_are_refused():
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match="unknown token"):
        Vocabulary(["a"], reserved=())
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a"], reserved=(UNK, PAD))
    with pytest.raises(ValueError, match="must be str"):
        Vocabulary(["a", 3])
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.from_counts({"a": 1}, min_count=-1)
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.from_counts({"a": 1}, max_size=1)
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.from_counts({"a": 1}, min_count=True)
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.from_counts({"a": 1}, max_size=5.0)


def test_save_load_round_trip_and_malformed_files(tmp_path):
    vocab = Vocabulary.from_tokens("\u00e9t\u00e9 a a b \U0001f600".split())
    path = tmp_path / "vocabulary.json"
    vocab.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "format": "rnnkit.vocabulary",
        "version": 1,
        "reserved": [PAD, UNK],
        "words": vocab.words,
    }
    loaded = Vocabulary.load(path)
    assert (
        loaded == vocab and loaded.encode(["b", "q"]).tolist() == vocab.encode(["b", "q"]).tolist()
    )
    vocab.save(path)  # overwrites
    assert Vocabulary.load(path) == vocab

    def bad(content, match):
        p = tmp_path / "bad.json"
        p.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError, match=match):
            Vocabulary.load(p)

    bad("{not json", "not a JSON vocabulary file")
    bad('"words"', "expected a JSON object or list")
    bad(json.dumps({**data, "format": "other"}), "not an rnnkit vocabulary")
    bad(json.dumps({**data, "version": 9}), "unsupported vocabulary version 9")
    bad(json.dumps({**data, "words": "abc"}), "must be lists")
    bad(json.dumps({**data, "words": ["a", PAD, UNK]}), "must start with the reserved")
    bad(json.dumps({**data, "words": [PAD, UNK, "a", "a"]}), "unique")
    bad(json.dumps({**data, "reserved": [], "words": ["a"]}), "unknown token")
    bad(json.dumps({**data, "words": [PAD, UNK, 7]}), "must be str")
    with pytest.raises(FileNotFoundError):
        Vocabulary.load(tmp_path / "missing.json")


# ---------------------------------------------------------------- the users of the type
SENTENCES = [
    "The cat sat on the mat .".split(),
    "A <unk> cat , the DOG and the Cat !".split(),
    "<pad> zebra : the end".split(),
]


def test_ner_vocabulary_equals_its_former_implementation():
    from rnnkit.data.conll import TaggedSentence
    from rnnkit.data.ner import build_tagging_vocabulary

    sents = [TaggedSentence(s, ["O"] * len(s)) for s in SENTENCES]
    for min_count in (1, 2):
        words, chars = Counter(), Counter()
        for s in SENTENCES:
            for token in s:
                words[token.lower()] += 1
                chars.update(token)
        expected_words = {PAD: 0, UNK: 1}
        for w, c in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
            if c >= min_count and w not in expected_words:
                expected_words[w] = len(expected_words)
        expected_chars = {PAD: 0, UNK: 1}
        for ch, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0])):
            expected_chars[ch] = len(expected_chars)
        got = build_tagging_vocabulary(sents, min_count=min_count)
        assert got.words == expected_words and got.chars == expected_chars


def test_hierarchical_vocabulary_equals_its_former_implementation():
    from rnnkit.models.hierarchical import build_vocabulary, tokenize

    texts = [" ".join(s) for s in SENTENCES] * 2 + ["Zebras don't sit. Cats do!"]
    for max_words, min_count in ((None, 1), (7, 1), (20000, 2), (2, 1)):
        counts = Counter(t for text in texts for t in tokenize(text))
        ordered = sorted(
            ((w, c) for w, c in counts.items() if c >= min_count), key=lambda kv: (-kv[1], kv[0])
        )
        words = [PAD, UNK] + [w for w, _ in ordered]
        words = words if max_words is None else words[:max_words]
        expected = {w: i for i, w in enumerate(words)}
        assert build_vocabulary(texts, max_words=max_words, min_count=min_count) == expected


def test_text_pipeline_fit_equals_its_former_ranking():
    texts = [" ".join(s) for s in SENTENCES] * 3 + ["the end of the cat"]
    for max_vocabulary, min_count in ((20000, 1), (6, 1), (20000, 3)):
        pipe = TextPipeline.fit(texts, max_vocabulary=max_vocabulary, min_count=min_count)
        counts = Counter(t for text in texts for t in pipe.tokenize(text))
        words = sorted(
            (w for w, c in counts.items() if c >= min_count and w not in (PAD, UNK)),
            key=lambda w: (-counts[w], w),
        )[: max(0, max_vocabulary - 2)]
        assert pipe.vocabulary == [PAD, UNK, *words]


def test_translation_vocabulary_is_the_type_and_old_lists_load(tmp_path):
    from rnnkit.data import en_fr

    tokenized = [en_fr.tokenize(" ".join(s)) for s in SENTENCES]
    vocab = en_fr.Vocabulary.from_texts(tokenized, max_size=9)
    assert isinstance(vocab, Vocabulary)
    counts = Counter(t for tokens in tokenized for t in tokens)
    ranked = sorted(counts, key=lambda t: (-counts[t], t))  # the former from_texts
    ranked = [t for t in ranked if t not in en_fr.RESERVED][: 9 - 4]
    assert vocab.to_list() == [*en_fr.RESERVED, *ranked]
    assert vocab.encode(["the", "zzz"]).tolist() == [vocab.index["the"], en_fr.UNK_ID]
    row = [en_fr.START_ID, vocab.index["cat"], 0, vocab.index["the"], en_fr.END_ID, 5]
    assert vocab.decode(row) == ["cat", "the"]  # the seq2seq decode: stops at the end id
    # a vocabulary saved by the former to_list() (a JSON list) loads with the same ids
    path = tmp_path / "target_vocab.json"
    path.write_text(json.dumps(vocab.to_list()), encoding="utf-8")
    old = en_fr.Vocabulary.load(path)
    assert isinstance(old, en_fr.Vocabulary) and old.words == vocab.words
    vocab.save(tmp_path / "new.json")
    assert en_fr.Vocabulary.load(tmp_path / "new.json").decode(row) == ["cat", "the"]


def test_ptb_vocabulary_keeps_its_ids():
    from rnnkit.data.ptb import Vocabulary as PTBVocabulary

    words = "b a b c <eos> b <unk> a".split()
    vocab = PTBVocabulary.from_corpus(words)
    assert isinstance(vocab, Vocabulary) and vocab.reserved == ()
    counts = Counter(words)
    assert vocab.words == sorted(counts, key=lambda w: (-counts[w], w))  # no padding id
    missing = PTBVocabulary.from_corpus("b a b".split())
    assert missing.words == ["b", "a", UNK] and missing.unk_id == 2  # unseen <unk> last
