"""rnnkit's StackedRNN against the same stack composed of keras.layers, every backend."""

import keras
import numpy as np
import pytest
from helpers import gradients, masks, max_diff, sum_sq, to_np

from rnnkit.cells import LSTMCell
from rnnkit.layers import GRU, LSTM, RNN, Bidirectional, SimpleRNN, StackedRNN

B, T, D, U = 4, 6, 5, 3
TOL = 1e-5
KERAS = {SimpleRNN: keras.layers.SimpleRNN, LSTM: keras.layers.LSTM, GRU: keras.layers.GRU}


class KerasStack(keras.Layer):
    """The reference: keras.layers recurrent layers composed by hand, with each of the
    skip connections written out."""

    def __init__(self, layers, bidirectional, merge_mode, skip, **kwargs):
        super().__init__(**kwargs)
        self.layers_ = [
            keras.layers.Bidirectional(lay, merge_mode=merge_mode) if bidirectional else lay
            for lay in layers
        ]
        self.skip = skip
        self.supports_masking = True

    def call(self, x, mask=None):
        inputs, outputs = x, []
        for lay in self.layers_:
            y = lay(x, mask=mask)
            if self.skip == "residual" and y.shape[-1] == x.shape[-1]:
                y = y + x
            outputs.append(y)
            x = y
        if self.skip == "concat":
            return keras.ops.concatenate([*reversed(outputs), inputs], axis=-1)
        return x


def stack_pair(specs, bidirectional=False, merge_mode="concat", skip="none", **kwargs):
    """(StackedRNN, KerasStack) over layers ``specs`` [(rnnkit class, units, config)],
    the same random weights in both."""
    ours = StackedRNN(
        [cls(units, **cfg) for cls, units, cfg in specs],
        bidirectional=bidirectional,
        merge_mode=merge_mode,
        skip=skip,
        **kwargs,
    )
    return_sequences = kwargs.get("return_sequences", True)
    theirs = KerasStack(
        [
            KERAS[cls](units, return_sequences=return_sequences or i < len(specs) - 1, **cfg)
            for i, (cls, units, cfg) in enumerate(specs)
        ],
        bidirectional,
        merge_mode,
        skip,
    )
    ours.build((None, T, D))
    theirs(np.zeros((1, T, D), "float32"))
    rng = np.random.default_rng(1)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")


MIXED = [(LSTM, U, {}), (GRU, U, {"reset_after": False}), (SimpleRNN, U, {})]


@pytest.mark.parametrize("skip", ["none", "residual", "concat"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "empty_row"])
def test_matches_keras_stack(skip, bidirectional, mask_name, x):
    ours, theirs = stack_pair(MIXED, bidirectional=bidirectional, skip=skip)
    mask = masks(B, T)[mask_name]
    got = ours(x, mask=mask)
    features = {"none": 1, "residual": 1, "concat": len(MIXED)}[skip] * U * (
        2 if bidirectional else 1
    ) + (D if skip == "concat" else 0)
    assert tuple(got.shape) == (B, T, features)
    assert max_diff(got, theirs(x, mask=mask)) < TOL


def test_residual_skips_only_where_sizes_match(x):
    # layer 0 maps D=5 to U=3 (no residual), layers 1 and 2 keep U (residual)
    ours, _ = stack_pair(MIXED, skip="residual")
    assert ours._residual == [False, True, True]
    plain, _ = stack_pair(MIXED, skip="none")
    assert max_diff(ours(x), plain(x)) > 1e-3


@pytest.mark.parametrize("merge_mode", ["sum", "ave", "mul"])
def test_merge_modes_match_keras_stack(merge_mode, x):
    ours, theirs = stack_pair(MIXED[:2], bidirectional=True, merge_mode=merge_mode, skip="concat")
    mask = masks(B, T)["right"]
    assert max_diff(ours(x, mask=mask), theirs(x, mask=mask)) < TOL


@pytest.mark.parametrize("bidirectional", [False, True])
def test_last_output_matches_keras_stack(bidirectional, x):
    ours, theirs = stack_pair(MIXED[:2], bidirectional=bidirectional, return_sequences=False)
    mask = masks(B, T)["left"]
    got = ours(x, mask=mask)
    assert tuple(got.shape) == (B, U * (2 if bidirectional else 1))
    assert max_diff(got, theirs(x, mask=mask)) < TOL
    assert ours.compute_mask(x, mask) is None


@pytest.mark.parametrize("skip", ["none", "concat"])
def test_gradients_match_keras_stack(skip, x):
    ours, theirs = stack_pair(MIXED[:2], bidirectional=True, skip=skip)
    mask = masks(B, T)["right"]
    g_ours = gradients(ours, x, sum_sq, mask=mask)
    g_keras = gradients(theirs, x, sum_sq, mask=mask)
    assert len(g_ours) == len(g_keras)
    for a, b in zip(g_ours, g_keras):
        assert np.abs(a - b).max() < 1e-4


def test_dropout_between_layers_only_in_training(x):
    # no dropout before the first layer; between layers only when training
    one = StackedRNN([LSTM(U)], dropout=0.5)
    assert max_diff(one(x, training=True), one(x)) < 1e-6
    two = StackedRNN([LSTM(U), LSTM(U)], dropout=0.5)
    assert max_diff(two(x, training=True), two(x)) > 1e-3
    assert max_diff(two(x, training=False), two(x)) == 0.0


def test_mask_passes_through_a_model(x):
    # the Masking layer's mask reaches every layer: padded steps do not change the result
    inputs = keras.Input((None, D))
    block = StackedRNN([LSTM(U), GRU(U)], bidirectional=True, return_sequences=False)
    model = keras.Model(inputs, block(keras.layers.Masking()(inputs)))
    padded = np.concatenate([x, np.zeros((B, 3, D), "float32")], axis=1)
    assert max_diff(model(padded), model(x)) < TOL


def test_all_recurrent_layers_save_and_reload(x, tmp_path):
    # one model with every recurrent layer and block of rnnkit round-trips through
    # .keras (safe_mode) with identical outputs
    ids = np.random.default_rng(5).integers(1, 20, size=(B, T))
    ids[1, 4:] = 0
    inputs = keras.Input((T,), dtype="int32")
    h = keras.layers.Embedding(20, D, mask_zero=True)(inputs)
    h = StackedRNN(
        [LSTM(U), GRU(U, reset_after=False)], bidirectional=True, skip="concat", dropout=0.2
    )(h)
    h = Bidirectional(SimpleRNN(U, return_sequences=True), merge_mode="ave")(h)
    h = StackedRNN([GRU(U), GRU(U)], skip="residual")(h)
    h = RNN(LSTMCell(U, recurrent_activation="keras2_hard_sigmoid"))(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    path = str(tmp_path / "all.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert np.array_equal(to_np(loaded(ids)), to_np(model(ids)))
    config = model.get_layer(index=2).get_config()
    assert config["skip"] == "concat" and config["bidirectional"] and config["dropout"] == 0.2


def test_errors(x):
    with pytest.raises(ValueError, match="at least one recurrent layer"):
        StackedRNN([])
    with pytest.raises(ValueError, match="layer 1 must be an rnnkit recurrent layer.*got LSTM"):
        StackedRNN([LSTM(U), keras.layers.LSTM(U)])
    with pytest.raises(ValueError, match="Invalid skip 'dense'"):
        StackedRNN([LSTM(U)], skip="dense")
    with pytest.raises(ValueError, match="Invalid merge_mode None"):
        StackedRNN([LSTM(U)], bidirectional=True, merge_mode=None)
    with pytest.raises(ValueError, match="skip='concat' needs return_sequences=True"):
        StackedRNN([LSTM(U)], skip="concat", return_sequences=False)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\), got 1.5"):
        StackedRNN([LSTM(U)], dropout=1.5)
    with pytest.raises(ValueError, match="residual connection around layer 1 needs its output"):
        StackedRNN([LSTM(U), LSTM(U + 1)], skip="residual").build((None, T, D))
    with pytest.raises(ValueError, match="expected inputs of rank 3"):
        StackedRNN([LSTM(U)]).build((None, D))
