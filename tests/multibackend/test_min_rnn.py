"""MinGRU / MinLSTM against a NumPy implementation of the sequential equations: values,
gradients, masks of every layout, go_backwards, initial states, the step form,
Bidirectional / StackedRNN and .keras round trips, on the current backend. The reference
tests run each of the layers' two paths (the fixture ``path``): the sequential loop that
a CPU runs (``linear_loop``) and the generic parallel scan (``parallel_scan``, the loop
turned off)."""

import contextlib

import keras
import numpy as np
import pytest

from rnnkit.layers import Bidirectional, MinGRU, MinLSTM, StackedRNN, planner
from tests.multibackend.helpers import gradients, masks, no_grad, to_np

LAYERS = {"mingru": MinGRU, "minlstm": MinLSTM}


@pytest.fixture(params=["linear_loop", "parallel_scan"])
def path(request):
    """Runs the test with the layers on one path and checks that every call recorded
    it (on a GPU the planner runs the parallel scan for both)."""
    expected = request.param if planner._device() == "CPU" else "parallel_scan"
    off = planner.excluding("linear_loop") if request.param == "parallel_scan" else None
    with off or contextlib.nullcontext(), planner.recording() as rows:
        yield request.param
    assert rows and {p.name for _, p in rows} == {expected}


def np_sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_g(v):
    return np.where(v >= 0, v + 0.5, np_sigmoid(v))


def np_step(kind, p, h, units):
    """The paper's sequential equations on the projected input ``p`` (float64)."""
    if kind == "mingru":
        z = np_sigmoid(p[..., :units])
        return (1 - z) * h + z * np_g(p[..., units:])
    f = np_sigmoid(p[..., :units])
    i = np_sigmoid(p[..., units : 2 * units])
    return f / (f + i) * h + i / (f + i) * np_g(p[..., 2 * units :])


def np_run(kind, kernel, bias, x, mask=None, h0=None, go_backwards=False, zero_output=False):
    """Sequences ``(B, T, U)`` and final states ``(B, U)``: masked steps carry the state."""
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    units = kernel.shape[1] // (2 if kind == "mingru" else 3)
    m = np.ones((batch, steps), bool) if mask is None else np.asarray(mask, bool)
    if go_backwards:
        x, m = x[:, ::-1], m[:, ::-1]
    h = np.zeros((batch, units)) if h0 is None else np.asarray(h0, np.float64)
    outputs = []
    for t in range(steps):
        new = np_step(kind, x[:, t] @ kernel + bias, h, units)
        h = np.where(m[:, t : t + 1], new, h)
        outputs.append(np.where(m[:, t : t + 1], h, 0.0) if zero_output else h)
    return np.stack(outputs, 1), h


def make(kind, units=4, features=3, **kwargs):
    layer = LAYERS[kind](units, bias_initializer="random_normal", **kwargs)
    layer.build((None, None, features))
    return layer


def weights(layer):
    return to_np(layer.kernel).astype(np.float64), to_np(layer.bias).astype(np.float64)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "empty_row", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_the_sequential_equations(path, kind, mask_name, go_backwards):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 3)).astype("float32") * 2
    mask = masks()[mask_name] if mask_name != "holes" else rng.random((4, 6)) < 0.6
    h0 = rng.normal(size=(4, 4)).astype("float32")  # any sign
    layer = make(kind, return_sequences=True, return_state=True, go_backwards=go_backwards)
    kernel, bias = weights(layer)
    for initial in (None, h0):
        y, h = layer(x, initial_state=initial, mask=mask)
        ref_y, ref_h = np_run(kind, kernel, bias, x, mask, initial, go_backwards)
        np.testing.assert_allclose(to_np(y), ref_y, atol=2e-5)
        np.testing.assert_allclose(to_np(h), ref_h, atol=2e-5)
    zero = make(kind, return_sequences=True, zero_output_for_mask=True, go_backwards=go_backwards)
    zero.set_weights(layer.get_weights())
    ref_y, _ = np_run(kind, kernel, bias, x, mask, None, go_backwards, zero_output=True)
    np.testing.assert_allclose(to_np(zero(x, mask=mask)), ref_y, atol=2e-5)


@pytest.mark.parametrize("kind", LAYERS)
def test_padding_gives_the_unpadded_results(path, kind):
    """Right- and left-padded rows: outputs at real positions and the final state equal
    those of the row alone."""
    rng = np.random.default_rng(1)
    layer = make(kind, return_sequences=True, return_state=True)
    row = rng.normal(size=(1, 5, 3)).astype("float32")
    alone_y, alone_h = (to_np(v) for v in layer(row))
    pad = np.zeros((1, 3, 3), "float32")
    right, left = np.concatenate([row, pad], 1), np.concatenate([pad, row], 1)
    m_right = np.array([[True] * 5 + [False] * 3])
    y, h = layer(right, mask=m_right)
    np.testing.assert_allclose(to_np(y)[:, :5], alone_y, atol=1e-6)
    np.testing.assert_allclose(to_np(h), alone_h, atol=1e-6)
    y, h = layer(left, mask=m_right[:, ::-1].copy())
    np.testing.assert_allclose(to_np(y)[:, 3:], alone_y, atol=1e-6)
    np.testing.assert_allclose(to_np(h), alone_h, atol=1e-6)


@pytest.mark.parametrize("kind", LAYERS)
def test_step_form_equals_the_parallel_form(path, kind):
    rng = np.random.default_rng(2)
    layer = make(kind, return_sequences=True)
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    h0 = rng.normal(size=(2, 4)).astype("float32")
    parallel = to_np(layer(x, initial_state=h0))
    h, outs = h0, []
    with no_grad():
        for t in range(7):
            y, [h] = layer.step(x[:, t], [h])
            outs.append(to_np(y))
    np.testing.assert_allclose(np.stack(outs, 1), parallel, atol=1e-5)


@pytest.mark.parametrize("kind", LAYERS)
def test_gradients_match_finite_differences_of_the_equations(path, kind):
    rng = np.random.default_rng(3)
    layer = make(kind, return_sequences=True)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[True] * 5, [False, True, True, True, False]])
    target = rng.normal(size=(2, 5, 4))

    def loss_fn(y):
        return keras.ops.sum(y * keras.ops.convert_to_tensor(target, y.dtype))

    grads = gradients(layer, x, loss_fn, mask=mask)
    kernel, bias = weights(layer)

    def ref_loss(k, b, xv):
        return float(np.sum(np_run(kind, k, b, xv, mask)[0] * target))

    eps = 1e-6
    for got, arg in ((grads[0], 2), (grads[1], 0), (grads[2], 1)):
        params = [kernel, bias, x.astype(np.float64)]
        num = np.zeros_like(params[arg])
        for idx in np.ndindex(*num.shape):
            plus = [p.copy() for p in params]
            minus = [p.copy() for p in params]
            plus[arg][idx] += eps
            minus[arg][idx] -= eps
            num[idx] = (ref_loss(*plus) - ref_loss(*minus)) / (2 * eps)
        np.testing.assert_allclose(got, num, atol=2e-4, rtol=1e-3)


@pytest.mark.parametrize("kind", LAYERS)
def test_long_sequences_stay_finite_and_exact(path, kind):
    """4,096 steps in float32: the log-space scan neither overflows nor drifts, and
    neither does the loop."""
    rng = np.random.default_rng(4)
    layer = make(kind, units=2, features=2, return_sequences=True)
    x = (rng.normal(size=(1, 4096, 2)) * 3).astype("float32")
    y = to_np(layer(x))
    ref, _ = np_run(kind, *weights(layer), x)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", LAYERS)
def test_bidirectional_and_stacked(kind, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    mask = masks()["right"]
    bi = Bidirectional(make(kind, return_sequences=True))
    y = to_np(bi(x, mask=mask))
    fwd, _ = np_run(kind, *weights(bi.forward_layer), x, mask)
    bwd, _ = np_run(kind, *weights(bi.backward_layer), x, mask, go_backwards=True, zero_output=True)
    fwd = np.where(mask[..., None], fwd, 0.0)
    np.testing.assert_allclose(y[mask], np.concatenate([fwd, bwd[:, ::-1]], -1)[mask], atol=2e-5)

    stack = StackedRNN([LAYERS[kind](4), LAYERS[kind](5)], bidirectional=True)
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(stack(inputs)))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(to_np(loaded(x)), to_np(model(x)), atol=1e-6)
    assert to_np(model(x)).shape == (4, 6, 2)


@pytest.mark.parametrize("kind", LAYERS)
def test_config_round_trip_and_training(kind):
    layer = LAYERS[kind](6, dropout=0.3, seed=1, return_state=True, go_backwards=True)
    clone = LAYERS[kind].from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = np.random.default_rng(6).normal(size=(32, 10, 4)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int32")
    inputs = keras.Input((10, 4))
    model = keras.Model(
        inputs, keras.layers.Dense(2, activation="softmax")(LAYERS[kind](8)(inputs))
    )
    model.compile(
        keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, epochs=80, verbose=0)
    assert history.history["accuracy"][-1] >= 0.9


def test_bad_input():
    for units in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            MinGRU(units)
    with pytest.raises(ValueError, match=r"dropout"):
        MinLSTM(4, dropout=1.5)
    layer = make("mingru")
    x = np.zeros((2, 5, 3), "float32")
    with pytest.raises(ValueError, match="initial state"):
        layer(x, initial_state=np.zeros((2, 7), "float32"))
    with pytest.raises(ValueError, match="mask of shape"):
        layer(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="input features"):
        layer(np.zeros((2, 5, 9), "float32"))


@pytest.mark.parametrize("kind", LAYERS)
def test_by_name_in_the_models(kind):
    """recurrent_layer(kind) and the acceptor (Bidirectional, masked, attention pooling)."""
    from rnnkit.layers import recurrent_layer
    from rnnkit.models.acceptor import build_acceptor

    assert type(recurrent_layer(kind, 4)) is LAYERS[kind]
    model = build_acceptor(30, 2, embedding_dim=8, cell=kind, units=6, pooling="attention")
    assert any(isinstance(lay, LAYERS[kind]) for lay in model._flatten_layers())
    ids = np.random.default_rng(7).integers(1, 30, (16, 9))
    ids[::2, 6:] = 0  # padded rows
    y = (ids[:, 0] > 15).astype("int32")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(ids, y, epochs=1, verbose=0)
    # padding does not change a row's prediction
    short = model.predict(ids[:1, :6], verbose=0)
    np.testing.assert_allclose(model.predict(ids[:1], verbose=0), short, atol=1e-5)
    with pytest.raises(ValueError, match="recurrent_dropout must be 0"):
        LAYERS[kind](4, recurrent_dropout=0.2)


def test_scan_of_a_length_known_only_at_run_time_equals_the_static_scan():
    """The while-loop scan (TensorFlow functions traced with an unknown time length) gives
    the associative scan's results, on every backend (lengths around powers of two)."""
    from rnnkit.ops.parallel_scan import _combine, _scan_dynamic_length

    rng = np.random.default_rng(8)
    for steps in (1, 2, 5, 8, 9, 33):
        la = -np.abs(rng.normal(size=(2, steps, 3))).astype("float32")
        lb = rng.normal(size=(2, steps, 3)).astype("float32")
        static = keras.ops.associative_scan(_combine, (la, lb), axis=1)
        dynamic = _scan_dynamic_length(
            keras.ops.convert_to_tensor(la), keras.ops.convert_to_tensor(lb)
        )
        for s, d in zip(static, dynamic):
            np.testing.assert_allclose(to_np(d), to_np(s), atol=1e-5)
