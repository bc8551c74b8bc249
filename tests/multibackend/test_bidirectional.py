"""rnnkit's Bidirectional against keras.layers.Bidirectional (same weights), every backend."""

import keras
import numpy as np
import pytest
from helpers import gradients, masks, max_diff, sum_sq

from rnnkit.layers import GRU, LSTM, Bidirectional, SimpleRNN

B, T, D, U = 4, 6, 5, 3
TOL = 1e-5
MERGE_MODES = ["concat", "sum", "ave", "mul", None]

KINDS = {
    "srnn": (SimpleRNN, keras.layers.SimpleRNN, {}),
    "lstm": (LSTM, keras.layers.LSTM, {}),
    "lstm_hard_sigmoid": (LSTM, keras.layers.LSTM, {"recurrent_activation": "hard_sigmoid"}),
    "gru": (GRU, keras.layers.GRU, {}),
    "gru_reset_before": (GRU, keras.layers.GRU, {"reset_after": False}),
}


def pair(kind, merge_mode="concat", **kwargs):
    """(rnnkit Bidirectional, keras Bidirectional) with the same random weights."""
    ours_cls, keras_cls, base = KINDS[kind]
    cfg = {**base, **kwargs}
    theirs = keras.layers.Bidirectional(keras_cls(U, **cfg), merge_mode=merge_mode)
    ours = Bidirectional(ours_cls(U, **cfg), merge_mode=merge_mode)
    theirs.build((None, T, D))
    ours.build((None, T, D))
    rng = np.random.default_rng(1)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)  # forward layer's weights, then the backward layer's
    return ours, theirs


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "empty_row"])
def test_sequences_match_keras(kind, mask_name, x):
    ours, theirs = pair(kind, "concat", return_sequences=True)
    mask = masks(B, T)[mask_name]
    assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL


@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "empty_row"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_merge_modes_match_keras(merge_mode, mask_name, return_sequences, x):
    ours, theirs = pair("lstm", merge_mode, return_sequences=return_sequences)
    mask = masks(B, T)[mask_name]
    assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("merge_mode", ["concat", None])
@pytest.mark.parametrize("mask_name", ["none", "right", "empty_row"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_states_match_keras(kind, merge_mode, mask_name, return_sequences, x):
    # [output(s), *forward_states, *backward_states], as Keras returns them
    ours, theirs = pair(kind, merge_mode, return_sequences=return_sequences, return_state=True)
    mask = masks(B, T)[mask_name]
    got, want = ours(x, mask=mask), theirs(x, mask=mask)
    assert len(got) == len(want)
    assert max_diff(got, want) < TOL


@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru", "gru_reset_before"])
@pytest.mark.parametrize("mask_name", ["none", "right", "left"])
def test_gradients_match_keras(kind, mask_name, x):
    ours, theirs = pair(kind, "concat", return_sequences=True)
    mask = masks(B, T)[mask_name]
    g_ours = gradients(ours, x, sum_sq, mask=mask)
    g_keras = gradients(theirs, x, sum_sq, mask=mask)
    assert len(g_ours) == len(g_keras) == 1 + 2 * len(ours.forward_layer.trainable_weights)
    for a, b in zip(g_ours, g_keras):
        assert np.abs(a - b).max() < 1e-4


@pytest.mark.parametrize("kind", ["srnn", "lstm", "gru"])
def test_initial_state_matches_keras(kind, x):
    ours, theirs = pair(kind, "concat", return_sequences=True, return_state=True)
    rng = np.random.default_rng(3)
    n = 2 * len(ours.forward_layer.state_size)
    states = [rng.normal(size=(B, U)).astype("float32") for _ in range(n)]
    mask = masks(B, T)["right"]
    got = ours(x, initial_state=states, mask=mask)
    want = theirs(x, initial_state=states, mask=mask)
    assert max_diff(got, want) < TOL


def test_backward_layer_argument_matches_keras(x):
    # a backward layer of its own (another cell kind), as keras.layers.Bidirectional takes
    theirs = keras.layers.Bidirectional(
        keras.layers.LSTM(U, return_sequences=True),
        backward_layer=keras.layers.GRU(U, return_sequences=True, go_backwards=True),
    )
    ours = Bidirectional(
        LSTM(U, return_sequences=True),
        backward_layer=GRU(U, return_sequences=True, go_backwards=True),
    )
    theirs.build((None, T, D))
    ours.build((None, T, D))
    rng = np.random.default_rng(4)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    for mask_name in ("none", "right", "left"):
        mask = masks(B, T)[mask_name]
        assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL


def test_output_shape_and_mask_propagate():
    inputs = keras.Input((T, D))
    bi = Bidirectional(GRU(U, return_sequences=True), merge_mode="sum")
    masked = keras.layers.Masking()(inputs)
    y = bi(masked)
    assert tuple(y.shape) == (None, T, U)
    assert tuple(Bidirectional(LSTM(U))(inputs).shape) == (None, 2 * U)
    both = Bidirectional(LSTM(U, return_state=True), merge_mode=None)(inputs)
    assert [tuple(t.shape) for t in both] == [(None, U)] * 6
    mask = np.ones((B, T), bool)
    assert bi.compute_mask(None, mask) is mask


@pytest.mark.parametrize("merge_mode", MERGE_MODES)
def test_config_round_trip_and_save_load(merge_mode, x, tmp_path):
    ours, _ = pair("lstm", merge_mode, return_sequences=True, return_state=True)
    clone = Bidirectional.from_config(ours.get_config())
    clone.build((None, T, D))
    clone.set_weights(ours.get_weights())
    assert max_diff(clone(x), ours(x)) < 1e-6
    assert clone.backward_layer.go_backwards and not clone.forward_layer.go_backwards
    inputs = keras.Input((T, D))
    outputs = Bidirectional(GRU(U, return_sequences=True), merge_mode=merge_mode)(
        keras.layers.Masking()(inputs)
    )
    model = keras.Model(inputs, outputs)
    x_padded = x.copy()
    x_padded[1, 4:] = 0.0
    path = str(tmp_path / "bi.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert max_diff(loaded(x_padded), model(x_padded)) == 0.0


def test_errors(x):
    with pytest.raises(ValueError, match="expects an rnnkit recurrent layer.*got LSTM"):
        Bidirectional(keras.layers.LSTM(U))
    with pytest.raises(ValueError, match="Invalid merge_mode 'max'"):
        Bidirectional(LSTM(U), merge_mode="max")
    with pytest.raises(ValueError, match="`backward_layer` must be an rnnkit recurrent layer"):
        Bidirectional(LSTM(U), backward_layer=keras.layers.LSTM(U, go_backwards=True))
    with pytest.raises(ValueError, match="must agree on `return_sequences`"):
        Bidirectional(LSTM(U), backward_layer=LSTM(U, return_sequences=True, go_backwards=True))
    with pytest.raises(ValueError, match="opposite `go_backwards`"):
        Bidirectional(LSTM(U), backward_layer=LSTM(U))
    bi = Bidirectional(LSTM(U))
    states = [np.zeros((B, U), "float32")] * 3
    with pytest.raises(
        ValueError, match=r"expected 4 initial states \(2 forward then 2 backward\), got 3"
    ):
        bi(x, initial_state=states)
    with pytest.raises(ValueError, match="expected inputs of rank 3"):
        Bidirectional(LSTM(U))(x[0])
