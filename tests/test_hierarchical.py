"""Hierarchical classifier: span splitting/encoding, ragged masking, save/load, bad input."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from rnnkit.data.paths import default_data_dir
from rnnkit.models.hierarchical import (
    PAD,
    UNK,
    HierarchicalClassifier,
    build_vocabulary,
    encode_documents,
    split_spans,
)

BENCH = default_data_dir() / "deepmoji-benchmarks"


def make_model(**kwargs) -> HierarchicalClassifier:
    config = dict(
        vocab_size=40, num_classes=3, embedding_dim=8, span_units=5, document_units=6, kind="gru"
    )
    config.update(kwargs)
    return HierarchicalClassifier(**config)


def ragged_batch(rng: np.random.Generator) -> tuple[np.ndarray, list[list[list[int]]]]:
    docs = [
        [[3, 4, 5], [6, 7, 8, 9, 10], [11]],
        [[12, 13, 14, 15, 16, 17]],
        [[18, 19], [20, 21, 22]],
    ]
    x = np.zeros((3, 4, 7), "int32")
    for i, doc in enumerate(docs):
        for j, span in enumerate(doc):
            x[i, j, : len(span)] = span
    return x, docs


def test_split_and_encode():
    text = "The cat sat. It was happy! Was it? yes, indeed; it was"
    assert split_spans(text) == ["The cat sat.", "It was happy!", "Was it?", "yes, indeed; it was"]
    assert split_spans(text, "punctuation")[-3:] == ["yes,", "indeed;", "it was"]
    vocab = build_vocabulary([text])
    assert vocab[PAD] == 0 and vocab[UNK] == 1
    x = encode_documents([text, "Unseen words here.", ""], vocab)
    assert x.shape == (3, 4, 6) and x.dtype == np.int32
    words = {i: w for w, i in vocab.items()}
    assert [words[i] for i in x[0, 0] if i] == ["the", "cat", "sat", "."]
    assert x[1, 0].tolist() == [1, 1, 1, vocab["."], 0, 0]  # unknown words -> <unk>
    assert not x[1, 1:].any() and not x[2].any()  # padding spans, empty document
    short = encode_documents([text], vocab, max_spans=2, max_tokens=3)
    np.testing.assert_array_equal(short[0], x[0, :2, :3])


def test_encode_bad_input():
    vocab = {PAD: 0, UNK: 1, "a": 2}
    with pytest.raises(ValueError, match="single str"):
        encode_documents("a text", vocab)
    with pytest.raises(ValueError, match="at least one document"):
        encode_documents([], vocab)
    with pytest.raises(ValueError, match="str documents"):
        encode_documents(["ok", 3], vocab)
    with pytest.raises(ValueError, match="<unk>"):
        encode_documents(["a"], {"a": 2})
    with pytest.raises(ValueError, match="max_spans"):
        encode_documents(["a"], vocab, max_spans=0)
    with pytest.raises(ValueError, match="mode"):
        split_spans("a. b", mode="words")


@pytest.mark.parametrize(
    "kind, bidirectional", [("gru", False), ("lstm", True), ("mingru", True), ("minlstm", False)]
)
def test_ragged_documents_match_per_span_reference(kind, bidirectional):
    """The padded batch gives what the model's own layers give on each unpadded span
    and each unpadded document one at a time."""
    keras.utils.set_random_seed(1)
    model = make_model(kind=kind, document_bidirectional=bidirectional)
    x, docs = ragged_batch(np.random.default_rng(0))
    probs = np.asarray(model(x))
    assert probs.shape == (3, 3)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    for i, doc in enumerate(docs):
        vectors = []
        for span in doc:
            emb = model.embedding(np.array([span], "int32"))
            vec, _ = model.span_pool(model.span_rnn(emb))
            vectors.append(np.asarray(vec)[0])
        states = model.document_rnn(np.stack(vectors)[None].astype("float32"))
        doc_vec, _ = model.document_pool(states)
        ref = np.asarray(model.classifier(doc_vec))[0]
        np.testing.assert_allclose(probs[i], ref, atol=1e-5)


def test_padding_never_changes_the_output():
    model = make_model(return_attention=True)
    x, _ = ragged_batch(np.random.default_rng(0))
    probs, span_w, token_w = (np.asarray(t) for t in model(x))
    assert span_w.shape == (3, 4) and token_w.shape == (3, 4, 7)
    bigger = np.zeros((3, 9, 15), "int32")
    bigger[:, :4, :7] = x
    probs2, span_w2, token_w2 = (np.asarray(t) for t in model(bigger))
    np.testing.assert_allclose(probs2, probs, atol=1e-6)
    np.testing.assert_allclose(span_w2[:, :4], span_w, atol=1e-6)
    assert not span_w2[:, 4:].any() and not token_w2[:, :, 7:].any()
    assert np.all(span_w[x.any(-1) == 0] == 0) and np.all(token_w[x == 0] == 0)
    # each document alone gives the same as in the batch
    for i in range(3):
        np.testing.assert_allclose(np.asarray(model(x[i : i + 1])[0])[0], probs[i], atol=1e-6)
    # an all-padding document gets the bias-only prediction, no NaN
    empty = np.asarray(model(np.zeros((1, 2, 3), "int32"))[0])
    assert np.all(np.isfinite(empty))


def test_save_load_round_trip(tmp_path):
    model = make_model(score="deepmoji", dropout=0.1)
    x, _ = ragged_batch(np.random.default_rng(0))
    ref = np.asarray(model(x))
    path = tmp_path / "hier.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, HierarchicalClassifier) and loaded.score == "deepmoji"
    np.testing.assert_allclose(np.asarray(loaded(x)), ref, atol=1e-6)


def test_model_bad_input():
    model = make_model()
    with pytest.raises(ValueError, match=r"\(batch, spans, tokens\)"):
        model(np.zeros((2, 5), "int32"))
    with pytest.raises(ValueError, match="integer token ids"):
        model(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="num_classes"):
        make_model(num_classes=1)
    with pytest.raises(ValueError, match="span_units"):
        make_model(span_units=0)
    with pytest.raises(ValueError, match="Unknown recurrent layer kind"):
        make_model(kind="transformer")


@pytest.mark.skipif(not BENCH.is_dir(), reason="shared DeepMoji benchmarks not present")
def test_fit_reduces_loss_on_real_reviews():
    keras.utils.set_random_seed(0)
    rows = [json.loads(line) for line in open(BENCH / "SS-Youtube.jsonl", encoding="utf-8")]
    rows = [r for r in rows if r["split"] == "train"][:96]
    texts, labels = [r["text"] for r in rows], np.array([r["label"] for r in rows])
    vocab = build_vocabulary(texts, max_words=2000)
    x = encode_documents(texts, vocab, max_spans=4, max_tokens=20)
    model = make_model(vocab_size=len(vocab), num_classes=2, embedding_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    history = model.fit(x, labels, batch_size=32, epochs=4, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
