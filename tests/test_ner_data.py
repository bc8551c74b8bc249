"""BIO loader on the real NER tweets, bad-line validation, encoding, embeddings loader."""

import numpy as np
import pytest

from rnnkit.data.ner import (
    TaggingVocabulary,
    bio_violations,
    build_tagging_vocabulary,
    decode_tags,
    encode_tagging,
    load_bio,
)
from rnnkit.text.embeddings import embedding_matrix, read_embeddings


def test_real_file_counts():
    sentences = load_bio()
    assert len(sentences) == 2394
    assert sum(len(s.tokens) for s in sentences) == 46469
    types = {t[2:] for s in sentences for t in s.tags if t != "O"}
    assert len(types) == 10 and "person" in types and "geo-loc" in types
    first = sentences[0]
    assert first.tokens[:2] == ["@paulwalk", "It"]
    assert first.tags[first.tokens.index("Empire")] == "B-facility"
    assert all(len(s.tokens) == len(s.tags) for s in sentences)


@pytest.mark.parametrize(
    "content, match",
    [
        ("a\tO\nb\n", r":2: expected at least 2 columns"),
        ("a\tO\nb\tc\tO\n", r":2: 3 columns .* line 1 has 2"),
        ("a\tO\t\n", r":1: empty tag"),
        ("a\tB-per\nb\tX-per\n", r":2: expected a BIO tag.*'X-per'"),
        ("a\tB-\n", r":1: expected a BIO tag"),
        ("\tO\n", r":1: empty token"),
        ("\n\n", "no sentences found"),
    ],
)
def test_bad_lines_are_rejected(tmp_path, content, match):
    path = tmp_path / "bad.bio"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        load_bio(path)


def test_blank_lines_with_whitespace_split_sentences(tmp_path):
    path = tmp_path / "ok.bio"
    path.write_text("a\tB-x\nb\tI-x\n\t\nc\tO\n\n\nd\tO", encoding="utf-8")
    sentences = load_bio(path)
    assert [s.tokens for s in sentences] == [["a", "b"], ["c"], ["d"]]
    assert sentences[0].tags == ["B-x", "I-x"]


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="Data not found"):
        load_bio("/nonexistent/train.bio")


def test_bio_violations():
    assert bio_violations(["B-a", "I-a", "O", "B-b", "I-b", "I-b"]) == 0
    assert bio_violations(["I-a"]) == 1
    assert bio_violations(["O", "I-a", "B-a", "I-b", "I-b"]) == 2
    assert sum(bio_violations(s.tags) for s in load_bio()) == 0  # the gold data is valid


def test_encode_and_decode_round_trip():
    sentences = load_bio()[:20]
    vocab = build_tagging_vocabulary(sentences)
    assert vocab.tags[0] == "O" and vocab.words["<pad>"] == 0 and vocab.words["<unk>"] == 1
    a = encode_tagging(sentences, vocab, max_word_len=6)
    lengths = [len(s.tokens) for s in sentences]
    assert a["words"].shape == (20, max(lengths)) and a["chars"].shape == (20, max(lengths), 6)
    for i, n in enumerate(lengths):
        assert (a["words"][i, :n] > 1).all() and (a["words"][i, n:] == 0).all()
        assert (a["tags"][i, n:] == -1).all() and (a["chars"][i, n:] == 0).all()
    assert decode_tags(a["tags"], lengths, vocab.tags) == [s.tags for s in sentences]
    other = build_tagging_vocabulary(sentences[:1])
    unknown = encode_tagging(sentences[1:2], TaggingVocabulary(other.words, {}, vocab.tags))
    assert (unknown["words"][0, : lengths[1]] == 1).sum() > 0
    assert (unknown["chars"][0, : lengths[1], 0] == 1).all()
    with pytest.raises(ValueError, match="is not in the vocabulary's tags"):
        encode_tagging([s for s in sentences if any(t != "O" for t in s.tags)][:5], other)


def test_embeddings_text_word2vec_and_npy(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("the 1 2 3\ncat 4 5 6\nDog 7 8 9\n", encoding="utf-8")
    w2v = tmp_path / "w2v.txt"
    w2v.write_text("3 3\nthe 1 2 3\ncat 4 5 6\nDog 7 8 9\n", encoding="utf-8")
    np.save(tmp_path / "emb.npy", np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], "float32"))
    (tmp_path / "emb.vocab").write_text("the\ncat\nDog\n", encoding="utf-8")
    vocab = {"<pad>": 0, "<unk>": 1, "the": 2, "CAT": 3, "bird": 4}
    results = [embedding_matrix(p, vocab, oov="zeros") for p in (glove, w2v, tmp_path / "emb.npy")]
    for r in results:
        np.testing.assert_array_equal(r.matrix[2], [1, 2, 3])
        np.testing.assert_array_equal(r.matrix[3], [4, 5, 6])  # lower-case fallback
        assert (r.matrix[[0, 1, 4]] == 0).all() and r.found == 2 and r.oov_words == ["bird"]
    rand = embedding_matrix(glove, vocab, oov="random", seed=1)
    assert np.abs(rand.matrix[4]).sum() > 0 and (rand.matrix[:2] == 0).all()
    with pytest.raises(ValueError, match=r"1 words have no pretrained vector.*bird"):
        embedding_matrix(glove, vocab, oov="error")
    with pytest.raises(ValueError, match="Unknown oov policy"):
        embedding_matrix(glove, vocab, oov="skip")
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2 3\ncat 4 5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 3 values"):
        read_embeddings(bad)
    bad.write_text("the 1 x 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="with float values"):
        read_embeddings(bad)
    np.save(tmp_path / "lonely.npy", np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="needs its words"):
        read_embeddings(tmp_path / "lonely.npy")
    with pytest.raises(ValueError, match="2 vectors but 1 words"):
        read_embeddings(tmp_path / "lonely.npy", words=["a"])
