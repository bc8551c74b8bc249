"""MinGRU / MinLSTM with ``stateful=True`` (truncated backpropagation through time): the
final state of one call is the initial state of the next, so a sequence fed in windows
gives the NumPy sequential equations of the whole sequence; on the current backend."""

import keras
import numpy as np
import pytest

from tests.multibackend.helpers import to_np
from tests.multibackend.test_min_rnn import LAYERS, np_run, weights


def stateful(kind, batch=3, units=4, features=3, **kwargs):
    layer = LAYERS[kind](
        units, bias_initializer="random_normal", stateful=True, return_sequences=True, **kwargs
    )
    layer.build((batch, None, features))
    return layer


@pytest.mark.parametrize("kind", LAYERS)
def test_windows_continue_the_whole_sequence(kind):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 12, 3)).astype("float32") * 2
    mask = rng.random((3, 12)) < 0.7
    layer = stateful(kind)
    kernel, bias = weights(layer)
    ref_y, ref_h = np_run(kind, kernel, bias, x, mask)
    pieces = [to_np(layer(x[:, t : t + 5], mask=mask[:, t : t + 5])) for t in range(0, 12, 5)]
    np.testing.assert_allclose(np.concatenate(pieces, 1), ref_y, atol=2e-5)
    np.testing.assert_allclose(to_np(layer.states[0]), ref_h, atol=2e-5)
    # the next call starts from the carried state; reset_states() starts from zeros
    carried = to_np(layer(x[:, :4]))
    layer.reset_states()
    np.testing.assert_allclose(to_np(layer.states[0]), 0.0)
    fresh = np_run(kind, kernel, bias, x[:, :4])[0]
    np.testing.assert_allclose(to_np(layer(x[:, :4])), fresh, atol=2e-5)
    assert np.abs(carried - fresh).max() > 1e-3
    # an explicit initial state wins over the carried one
    layer.reset_states()
    h0 = rng.normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(
        to_np(layer(x, initial_state=h0)), np_run(kind, kernel, bias, x, None, h0)[0], atol=2e-5
    )


@pytest.mark.parametrize("kind", LAYERS)
def test_training_through_windows_and_config(kind):
    layer = stateful(kind, batch=8, units=6, features=2)
    config = layer.get_config()
    assert config["stateful"] is True
    assert LAYERS[kind].from_config(config).get_config() == config
    assert LAYERS[kind](4).get_config()["stateful"] is False
    inputs = keras.Input(batch_shape=(8, 5, 2))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(keras.optimizers.Adam(0.01), "mse")
    x = np.random.default_rng(1).normal(size=(8, 5, 2)).astype("float32")
    before = to_np(layer.kernel).copy()
    model.fit(x, x[..., :1], batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert np.abs(to_np(layer.kernel) - before).max() > 0  # gradients reach the kernel
    assert np.all(np.isfinite(to_np(layer.states[0])))


@pytest.mark.parametrize("kind", LAYERS)
def test_stateful_needs_a_fixed_batch_size(kind):
    with pytest.raises(ValueError, match="stateful and needs a fixed batch size"):
        LAYERS[kind](4, stateful=True).build((None, 5, 3))
