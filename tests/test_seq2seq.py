"""Seq2Seq and the en-fr loader (the AttentionDecoder layer itself:
tests/multibackend/test_attention_decoder.py)."""

import keras
import numpy as np
import pytest
from keras import ops

from rnnkit.data import en_fr
from rnnkit.models import Seq2Seq


def tiny_data():
    src = np.array([[5, 6, 7, 0], [8, 9, 0, 0], [4, 0, 0, 0]], "int32")
    tin = np.array([[2, 4, 5, 6], [2, 7, 0, 0], [2, 8, 9, 0]], "int32")
    tout = np.array([[4, 5, 6, 3], [7, 3, 0, 0], [8, 9, 3, 0]], "int32")
    return src, tin, tout


@pytest.mark.parametrize(
    "attention, cell", [(True, "gru"), (False, "gru"), (True, "mingru"), (True, "minlstm")]
)
def test_seq2seq_trains_saves_and_loads(tmp_path, attention, cell):
    keras.utils.set_random_seed(0)
    layers = 2 if attention else 1  # keeps the test short; both paths share the encoder
    model = Seq2Seq(
        12, 11, embedding_dim=8, units=10, encoder_layers=layers, cell=cell, attention=attention
    )
    src, tin, tout = tiny_data()
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    history = model.fit([src, tin], tout, epochs=10, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    # the padding of the source cannot change the translation
    padded = np.pad(src, ((0, 0), (0, 3)))
    a = ops.convert_to_numpy(model([src, tin]))
    np.testing.assert_allclose(ops.convert_to_numpy(model([padded, tin])), a, atol=1e-5)
    align = ops.convert_to_numpy(model.alignments(src, tin))
    assert align.shape == ((3, 4, 4) if attention else (3, 4, 1))
    if attention:
        assert np.all(align[:, :, 3][src[:, 3] == 0] == 0)
    path = tmp_path / "s2s.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded([src, tin])), a, atol=1e-6)
    r1, r2 = model.translate(src, beam_width=3), loaded.translate(src, beam_width=3)
    np.testing.assert_array_equal(r1.tokens, r2.tokens)
    assert loaded.get_config()["attention"] is attention
    assert loaded.get_config()["cell"] == cell


def test_bad_input():
    model = Seq2Seq(12, 11, embedding_dim=8, units=10, cell="lstm")
    src, tin, _ = tiny_data()
    model([src, tin])
    with pytest.raises(ValueError, match="empty source: rows \\[1\\]"):
        model.translate(np.array([[5, 6], [0, 0]], "int32"))
    with pytest.raises(ValueError, match="expects inputs \\[source_ids"):
        model(src)
    with pytest.raises(ValueError, match="`cell` must be one of"):
        Seq2Seq(12, 11, cell="transformer")


def test_en_fr_tokens_vocab_and_lengths(tmp_path):
    assert en_fr.tokenize('Can\'t open "%s": %.*s (%1$lu)') == [
        "Can", "'", "t", "open", '"', "%s", '"', ":", "%.*s", "(", "%1$lu", ")",
    ]  # fmt: skip
    path = tmp_path / "pairs.tsv"
    path.write_text(
        'source\ttarget\tcatalog\n"%s" failed\t« %s » a échoué\tx\n'
        "open file\touvrir le fichier\ty\n\tvide\tz\nopen file\touvrir le fichier\tw\n"
        "a b c d e f\tun deux trois\tz\n",
        encoding="utf-8",
    )
    pairs = en_fr.load_en_fr(path)
    assert pairs.sources == ['"%s" failed', "open file", "a b c d e f"]  # quotes kept
    assert (pairs.skipped_empty, pairs.skipped_duplicates) == (1, 1)
    src_vocab = en_fr.Vocabulary.from_texts(map(en_fr.tokenize, pairs.sources[:2]))
    tgt_vocab = en_fr.Vocabulary.from_texts(map(en_fr.tokenize, pairs.targets[:2]))
    enc = en_fr.encode_pairs(pairs.sources, pairs.targets, src_vocab, tgt_vocab, max_length=5)
    assert enc.kept == [0, 1] and enc.dropped_too_long == 1
    assert enc.source.shape == (2, 5) and enc.target_in.shape == (2, 6)
    row = enc.target_out[1]
    assert tgt_vocab.decode(row) == ["ouvrir", "le", "fichier"] and row[3] == en_fr.END_ID
    np.testing.assert_array_equal(enc.target_in[1, 1:4], row[:3])
    assert enc.target_in[1, 0] == en_fr.START_ID
    unknown = en_fr.encode_pairs(["open zzz"], ["ouvrir"], src_vocab, tgt_vocab, max_length=4)
    assert unknown.source[0, 1] == en_fr.UNK_ID
    cut = en_fr.encode_pairs(
        pairs.sources, pairs.targets, src_vocab, tgt_vocab, max_length=5, too_long="truncate"
    )
    assert cut.truncated == 1 and len(cut.kept) == 3
    with pytest.raises(ValueError, match="over max_length=5 tokens \\(source 6, target 3\\)"):
        en_fr.encode_pairs(pairs.sources, pairs.targets, src_vocab, tgt_vocab, 5, "error")
    with pytest.raises(ValueError, match="Pair 0 has an empty target"):
        en_fr.encode_pairs(["open"], ["  "], src_vocab, tgt_vocab)
    with pytest.raises(ValueError, match="`too_long` must be one of"):
        en_fr.encode_pairs(["open"], ["x"], src_vocab, tgt_vocab, too_long="wrap")


def test_en_fr_real_file_sample():
    from rnnkit.data.paths import default_data_dir

    if not (default_data_dir() / "en-fr-messages" / "pairs.tsv").exists():
        pytest.skip("en-fr-messages data set not present (set RNNKIT_DATA)")
    pairs = en_fr.load_en_fr(max_pairs=500)
    assert len(pairs) == 500 and all(pairs.sources) and all(pairs.targets)
    train, val, test = en_fr.split_pairs(pairs, 0.1, 0.1, seed=0)
    assert (len(train), len(val), len(test)) == (400, 50, 50)
    assert not set(zip(test.sources, test.targets)) & set(zip(train.sources, train.targets))
