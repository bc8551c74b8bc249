"""MinGRU / MinLSTM with ``stateful=True`` (truncated backpropagation through time): the
final state of one call is the initial state of the next, so a sequence fed in windows
gives the NumPy sequential equations of the whole sequence; and their step cells
(``MinGRUCell`` / ``MinLSTMCell``, what decoders run token by token) against the same
equations; on the current backend."""

import keras
import numpy as np
import pytest

from rnnkit.cells import MinGRUCell, MinLSTMCell
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


CELLS = {"mingru": MinGRUCell, "minlstm": MinLSTMCell}


@pytest.mark.parametrize("kind", LAYERS)
def test_cells_step_the_layers_equations(kind):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 7, 5)).astype("float32") * 2
    h0 = rng.normal(size=(3, 4)).astype("float32")
    layer = LAYERS[kind](4, bias_initializer="random_normal", return_sequences=True)
    layer.build((None, None, 5))
    cell = CELLS[kind](4)
    cell.build((None, 5))
    assert [w.name for w in cell.weights] == ["kernel", "bias"]  # no recurrent kernel
    cell.set_weights(layer.get_weights())
    kernel, bias = weights(layer)
    ref_y, _ = np_run(kind, kernel, bias, x, None, h0)
    h, outputs = h0, []
    for t in range(7):
        y, [h] = cell(x[:, t], [h])
        outputs.append(to_np(y))
    np.testing.assert_allclose(np.stack(outputs, 1), ref_y, atol=2e-5)
    np.testing.assert_allclose(to_np(layer(x, initial_state=h0)), ref_y, atol=2e-5)
    # the generic runner with the cell gives the same states at the real steps (at a
    # masked step Keras's runner repeats its last output, zeros before the first)
    from rnnkit.layers import RNN

    mask = rng.random((3, 7)) < 0.7
    runner = RNN(cell, return_sequences=True, return_state=True)
    y, h = runner(x, initial_state=[h0], mask=mask)
    ref_y, ref_h = np_run(kind, kernel, bias, x, mask, h0)
    np.testing.assert_allclose(to_np(y)[mask], ref_y[mask], atol=2e-5)
    np.testing.assert_allclose(to_np(h), ref_h, atol=2e-5)
    config = cell.get_config()
    assert "recurrent_initializer" not in config
    assert CELLS[kind].from_config(config).get_config() == config
    with pytest.raises(ValueError, match="recurrent_dropout must be 0"):
        CELLS[kind](4, recurrent_dropout=0.2)
