"""Transducer and BiLSTM-CRF taggers on a sample of the real NER tweets."""

import keras
import numpy as np
import pytest

from rnnkit.data.ner import build_tagging_vocabulary, encode_tagging, load_bio
from rnnkit.models.taggers import BiLSTMCRFTagger, build_transducer_tagger
from rnnkit.ops import crf_log_likelihood


@pytest.fixture(scope="module")
def sample():
    sentences = load_bio()[:64]
    vocab = build_tagging_vocabulary(sentences)
    arrays = encode_tagging(sentences, vocab, max_len=24, max_word_len=12)
    return vocab, arrays


def test_transducer_tagger_trains_masks_and_round_trips(sample, tmp_path):
    vocab, a = sample
    keras.utils.set_random_seed(0)
    model = build_transducer_tagger(len(vocab.words), len(vocab.tags), 16, units=16)
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy")
    y = np.maximum(a["tags"], 0)
    loss0 = model.evaluate(a["words"], y, verbose=0)
    model.fit(a["words"], y, epochs=3, batch_size=32, verbose=0)
    assert model.evaluate(a["words"], y, verbose=0) < loss0
    probs = model.predict(a["words"], verbose=0)
    assert probs.shape == (64, 24, len(vocab.tags))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    # Padding after a sentence does not change its predictions.
    longer = np.pad(a["words"][:2], ((0, 0), (0, 6)))
    np.testing.assert_allclose(model.predict(longer, verbose=0)[:, :24], probs[:2], atol=1e-5)
    path = tmp_path / "transducer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(a["words"], verbose=0), probs, atol=1e-6)


@pytest.mark.parametrize("chars", [False, True])
def test_bilstm_crf_tagger_trains_decodes_and_round_trips(sample, tmp_path, chars):
    vocab, a = sample
    keras.utils.set_random_seed(0)
    tagger = BiLSTMCRFTagger(
        len(vocab.words),
        len(vocab.tags),
        embedding_dim=16,
        units=16,
        char_vocab_size=len(vocab.chars) if chars else None,
        char_embedding_dim=8,
        char_units=8,
    )
    x = {"words": a["words"], "chars": a["chars"]} if chars else a["words"]
    tagger.compile(keras.optimizers.Adam(0.02))
    loss0 = tagger.evaluate(x, a["tags"], verbose=0)
    potentials = tagger.predict(x, decode=False, verbose=0)
    mask = a["words"] != 0
    crf = tagger.crf
    ref = -np.mean(
        keras.ops.convert_to_numpy(
            crf_log_likelihood(
                potentials,
                np.maximum(a["tags"], 0),
                crf.transitions,
                crf.start_transitions,
                crf.end_transitions,
                mask,
            )
        )
    )
    np.testing.assert_allclose(loss0, ref, rtol=1e-4)
    tagger.fit(x, a["tags"], epochs=4, batch_size=32, verbose=0)
    assert tagger.evaluate(x, a["tags"], verbose=0) < loss0
    tags = tagger.predict(x, verbose=0)
    assert tags.shape == (64, 24) and tags.dtype == np.int32
    assert (tags[~mask] == 0).all() and tags.max() < len(vocab.tags)
    path = tmp_path / "crf_tagger.keras"
    tagger.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), tags)
    np.testing.assert_allclose(
        loaded.predict(x, decode=False, verbose=0),
        tagger.predict(x, decode=False, verbose=0),
        atol=1e-5,
    )


def test_pretrained_embeddings_are_used_and_checked(sample):
    vocab, a = sample
    matrix = np.random.default_rng(0).normal(size=(len(vocab.words), 16)).astype("float32")
    tagger = BiLSTMCRFTagger(
        len(vocab.words), len(vocab.tags), 16, 8, embeddings=matrix, trainable_embeddings=False
    )
    tagger.predict(a["words"][:2], verbose=0)
    np.testing.assert_array_equal(tagger.word_embedding.get_weights()[0], matrix)
    assert not tagger.word_embedding.trainable
    model = build_transducer_tagger(len(vocab.words), len(vocab.tags), 16, embeddings=matrix)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0], matrix)
    with pytest.raises(ValueError, match=r"must have shape \(vocab_size, embedding_dim\)"):
        BiLSTMCRFTagger(len(vocab.words), len(vocab.tags), 8, embeddings=matrix)
    with pytest.raises(ValueError, match="uses character features"):
        BiLSTMCRFTagger(10, 3, 4, 4, char_vocab_size=5)(np.ones((1, 3), "int32"))
