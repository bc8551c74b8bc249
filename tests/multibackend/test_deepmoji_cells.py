"""DeepMoji with another recurrent layer than its LSTMs (``cell=``, e.g. the parallel-scan
MinGRU / MinLSTM): the backbone's structure, outputs through a ``.keras`` round trip, the
estimator on raw texts, and the errors (a cell that is not a name, the released LSTM
weights with another cell)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnnkit.layers import GRU, LSTM, MinGRU, MinLSTM
from rnnkit.models.deepmoji import deepmoji
from rnnkit.sklearn import DeepMojiClassifier

KINDS = {"lstm": LSTM, "gru": GRU, "mingru": MinGRU, "minlstm": MinLSTM}


@pytest.mark.parametrize("cell", ["mingru", "minlstm", "gru"])
def test_backbone_with_another_cell_round_trips(cell, tmp_path):
    keras.utils.set_random_seed(0)
    model = deepmoji(200, 3, 12, embedding_dim=8, lstm_units=5, cell=cell)
    for name in ("bi_lstm_0", "bi_lstm_1"):
        bi = model.get_layer(name)
        assert type(bi.forward_layer) is KINDS[cell] and bi.forward_layer.units == 5
    # the skip concatenation keeps DeepMoji's width: 2 x 2 directions x units + embedding
    assert model.get_layer("skip_concat").output.shape[-1] == 4 * 5 + 8
    ids = np.random.default_rng(0).integers(1, 200, size=(4, 12)).astype("int32")
    ids[:, 9:] = 0  # padding
    out = keras.ops.convert_to_numpy(model(ids))
    assert out.shape == (4, 3) and np.allclose(out.sum(-1), 1.0, atol=1e-5)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(ids)), out, atol=1e-6)
    # a real word where there was padding changes the scores (padding is not read)
    longer = ids.copy()
    longer[:, 10] = 7
    assert np.abs(keras.ops.convert_to_numpy(model(longer)) - out).max() > 1e-6


def test_backbone_bad_cell():
    with pytest.raises(ValueError, match="`cell` must be one of lstm, gru, srnn, mingru"):
        deepmoji(200, 3, 12, embedding_dim=8, lstm_units=5, cell="transformer")


def test_estimator_with_mingru_fits_and_predicts(tmp_path):
    texts = ["i love this", "great day :)", "so happy", "this is awful", "i hate it", "so sad"]
    labels = np.array(["pos"] * 3 + ["neg"] * 3)
    clf = DeepMojiClassifier(
        finetune="new",
        cell="mingru",
        embedding_dim=8,
        lstm_units=6,
        maxlen=8,
        epochs=2,
        batch_size=4,
        validation_fraction=0.34,
        random_state=0,
    )
    clf.fit(texts * 2, np.concatenate([labels, labels]))
    assert type(clf.model_.get_layer("bi_lstm_0").forward_layer) is MinGRU
    proba = clf.predict_proba(texts)
    assert proba.shape == (6, 2) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    assert set(clf.predict(texts)) <= {"pos", "neg"}
    with pytest.raises(ValueError, match="cannot load into cell='mingru'"):
        DeepMojiClassifier(cell="mingru", weights=str(tmp_path / "w.hdf5")).fit(texts, labels)
    with pytest.raises(ValueError, match="cell must be one of"):
        DeepMojiClassifier(cell="cnn").fit(texts, labels)
