"""MinGRU / MinLSTM on the native path (``parallel_scan.cumlogsumexp``: the backend's
cumulative log-sum-exp over chunks of the time axis) against the generic associative scan
(the same layer with the path excluded) and against the float64 NumPy sequential
equations: values and gradients, every mask layout, initial states of both signs,
go_backwards, lengths around the chunk length, a long sequence with strongly and weakly
decaying gates, float16 / bfloat16, a compiled train step, and the plan that is run."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest

from rnnkit.layers import MinGRU, MinLSTM, planner
from rnnkit.layers.planner import CUMLOGSUMEXP_BACKENDS
from rnnkit.ops.parallel_scan import chunked_linear_recurrence, linear_recurrence
from tests.multibackend.helpers import as_list, gradients, masks, to_np
from tests.multibackend.test_min_rnn import LAYERS, make, np_run, weights

BACKEND = keras.backend.backend()
NATIVE = "parallel_scan.cumlogsumexp"
native_only = pytest.mark.skipif(
    BACKEND not in CUMLOGSUMEXP_BACKENDS or planner._device() != "CPU",
    reason="the native path runs on a CPU of the backends in CUMLOGSUMEXP_BACKENDS",
)


def generic():
    """The generic associative scan: the native path turned off."""
    return planner.excluding(NATIVE)


@contextlib.contextmanager
def chunk_length(steps: int):
    """Plans made inside the block use chunks of ``steps`` time steps."""
    saved = planner.CUMLOGSUMEXP_CHUNK
    planner.CUMLOGSUMEXP_CHUNK = steps
    try:
        yield
    finally:
        planner.CUMLOGSUMEXP_CHUNK = saved


def all_masks(batch: int, steps: int, rng: np.random.Generator) -> dict:
    """none, right- and left-padded, a fully masked row, holes (any pattern)."""
    right = np.arange(steps)[None, :] < rng.integers(0, steps + 1, batch)[:, None]
    right[0] = True
    empty = np.ones((batch, steps), bool)
    empty[-1] = False
    return {
        "none": None,
        "right": right,
        "left": right[:, ::-1].copy(),
        "empty_row": empty,
        "holes": rng.random((batch, steps)) < 0.6,
    }


def call_both(layer, x, **kwargs):
    """(native outputs, generic outputs, the native call's plan name) of one call."""
    with planner.recording() as rows:
        native = [to_np(v) for v in as_list(layer(x, training=True, **kwargs))]
    with generic(), planner.recording() as generic_rows:
        plain = [to_np(v) for v in as_list(layer(x, training=True, **kwargs))]
    assert [p.name for _, p in rows] == [NATIVE]
    assert [p.name for _, p in generic_rows] == ["parallel_scan"]
    return native, plain


# -- the plan ---------------------------------------------------------------------------
@native_only
def test_the_planner_chooses_the_native_path_and_excluding_turns_it_off():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 2)).astype("float32")
    for cls in (MinGRU, MinLSTM):
        layer = cls(4)
        for mask in all_masks(3, 7, rng).values():
            plan = layer.execution_plan(x, mask=mask, training=True)
            assert plan.name == NATIVE and plan.chunk == planner.CUMLOGSUMEXP_CHUNK
            assert plan.loop == "associative_scan" and plan.not_taken == ()
            assert f"chunk={planner.CUMLOGSUMEXP_CHUNK}" in plan.describe()
        with generic():
            plan = layer.execution_plan(x, training=True)
        assert plan.name == "parallel_scan" and plan.chunk is None
        assert plan.reasons() == {NATIVE: f"{NATIVE} is excluded"}
        inference = layer.execution_plan(x)
        assert inference.name == "parallel_scan"
        assert "inference" in inference.reasons()[NATIVE]
        # the recorded plan is the one execution_plan gives
        for training in (True, False):
            with planner.recording() as rows:
                layer(x, training=training)
            assert [p for _, p in rows] == [layer.execution_plan(x, training=training)]
        with generic(), planner.recording() as rows:
            layer(x, training=True)
        assert [p.name for _, p in rows] == ["parallel_scan"]


# -- values -----------------------------------------------------------------------------
@native_only
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("steps", [1, 4, 9, 13])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_values_match_the_generic_scan_and_the_equations(kind, steps, go_backwards):
    """Chunks of 4 steps: one chunk, exactly one, a partial last chunk, several."""
    rng = np.random.default_rng(steps)
    batch = 5
    x = (rng.normal(size=(batch, steps, 3)) * 2).astype("float32")
    layer = make(kind, return_sequences=True, return_state=True, go_backwards=go_backwards)
    kernel, bias = weights(layer)
    h0s = {
        "none": None,
        "positive": np.abs(rng.normal(size=(batch, 4))).astype("float32") + 0.5,
        "negative": -np.abs(rng.normal(size=(batch, 4))).astype("float32") - 0.5,
        "mixed": rng.normal(size=(batch, 4)).astype("float32") * 3,
    }
    with chunk_length(4):
        for mask_name, mask in all_masks(batch, steps, rng).items():
            for h0_name, h0 in h0s.items():
                native, plain = call_both(layer, x, initial_state=h0, mask=mask)
                ref = np_run(kind, kernel, bias, x, mask, h0, go_backwards)
                for got, want, expected in zip(native, plain, ref):
                    where = f"{mask_name} mask, {h0_name} h0"
                    np.testing.assert_allclose(got, expected, atol=2e-5, err_msg=where)
                    np.testing.assert_allclose(got, want, atol=2e-5, err_msg=where)


@native_only
@pytest.mark.parametrize("kind", LAYERS)
def test_zero_output_for_mask(kind):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    mask = masks()["empty_row"]
    layer = make(kind, return_sequences=True, zero_output_for_mask=True)
    with chunk_length(4):
        (native,), (plain,) = call_both(layer, x, mask=mask)
    ref, _ = np_run(kind, *weights(layer), x, mask, zero_output=True)
    np.testing.assert_allclose(native, ref, atol=2e-5)
    np.testing.assert_allclose(native, plain, atol=2e-5)


# -- gradients --------------------------------------------------------------------------
@native_only
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "holes"])
def test_gradients_match_the_generic_scan(kind, mask_name):
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(4, 11, 3)) * 2).astype("float32")
    mask = all_masks(4, 11, rng)[mask_name]
    h0 = rng.normal(size=(4, 4)).astype("float32") * 2
    target = rng.normal(size=(4, 11, 4))
    layer = make(kind, return_sequences=True, go_backwards=mask_name == "left")

    def loss_fn(y):
        return keras.ops.sum(y * keras.ops.convert_to_tensor(target, y.dtype))

    with chunk_length(4):
        with planner.recording() as rows:
            native = gradients(layer, x, loss_fn, mask=mask, initial_state=h0, training=True)
        with generic():
            plain = gradients(layer, x, loss_fn, mask=mask, initial_state=h0, training=True)
    assert {p.name for _, p in rows} == {NATIVE}
    for got, want in zip(native, plain):  # inputs, kernel, bias
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


@native_only
@pytest.mark.parametrize("kind", LAYERS)
def test_gradients_match_finite_differences_of_the_equations(kind):
    """Chunks of 2 steps over 5 (a partial last chunk), a mask with holes, float64
    finite differences of the NumPy equations."""
    rng = np.random.default_rng(3)
    layer = make(kind, return_sequences=True)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[True] * 5, [False, True, True, False, True]])
    target = rng.normal(size=(2, 5, 4))

    def loss_fn(y):
        return keras.ops.sum(y * keras.ops.convert_to_tensor(target, y.dtype))

    with chunk_length(2), planner.recording() as rows:
        grads = gradients(layer, x, loss_fn, mask=mask, training=True)
    assert {p.name for _, p in rows} == {NATIVE}
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


# -- long sequences ---------------------------------------------------------------------
@native_only
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("decay", ["strong", "weak"])
def test_long_sequence_at_the_default_chunk_length(kind, decay):
    """4,096 steps in float32 at the planner's chunk length: gates that forget almost
    everything at each step (the largest log magnitudes inside a chunk) and gates that
    keep almost everything (the state carried across every chunk)."""
    rng = np.random.default_rng(4)
    units, features = 3, 2
    sign = 1.0 if decay == "strong" else -1.0
    if kind == "mingru":  # gate bias > 0: z near 1, a = 1 - z near 0
        bias = np.concatenate([np.full(units, 6.0 * sign), rng.normal(size=units)])
    else:  # input gate against forget gate
        bias = np.concatenate(
            [np.full(units, -4.0 * sign), np.full(units, 4.0 * sign), rng.normal(size=units)]
        )
    layer = make(kind, units=units, features=features, return_sequences=True)
    layer.bias.assign(bias.astype("float32"))
    x = (rng.normal(size=(2, 4096, features)) * 2).astype("float32")
    mask = np.ones((2, 4096), bool)
    mask[1, 3000:] = False
    mask[1, 100:400] = False
    h0 = np.array([[5.0, -5.0, 0.5], [-1.0, 2.0, -3.0]], "float32")
    (native,), (plain,) = call_both(layer, x, mask=mask, initial_state=h0)
    ref, _ = np_run(kind, *weights(layer), x, mask, h0)
    assert np.isfinite(native).all()
    np.testing.assert_allclose(native, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(native, plain, rtol=1e-4, atol=1e-4)


# -- low precision ----------------------------------------------------------------------
@native_only
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_layers(kind, dtype):
    """A float16 / bfloat16 layer: the native path computes the recurrence in float32
    and returns the layer's dtype; it stays within that dtype's rounding of the float64
    equations (on the layer's own rounded weights and inputs)."""
    rng = np.random.default_rng(5)
    layer = make(kind, return_sequences=True, dtype=dtype)
    x = rng.normal(size=(3, 70, 3)).astype("float32")
    mask = all_masks(3, 70, rng)["holes"]
    with planner.recording() as rows:
        y = layer(x, mask=mask, training=True)
    assert [p.name for _, p in rows] == [NATIVE]
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    x_rounded = to_np(keras.ops.cast(keras.ops.cast(x, dtype), "float32"))
    ref, _ = np_run(kind, *weights(layer), x_rounded, mask)
    tol = 2e-2 if dtype == "bfloat16" else 4e-3
    native = to_np(keras.ops.cast(y, "float32"))
    np.testing.assert_allclose(native, ref, rtol=tol, atol=tol)


# -- the operation itself ---------------------------------------------------------------
def test_chunked_recurrence_against_the_generic_one_at_every_chunk_length():
    from rnnkit import backend

    rng = np.random.default_rng(6)
    cumulative = getattr(backend, BACKEND).cumulative_logsumexp
    steps = 23
    log_a = keras.ops.convert_to_tensor(-np.abs(rng.normal(size=(2, steps, 3)) * 2), "float32")
    log_b = keras.ops.convert_to_tensor(rng.normal(size=(2, steps, 3)), "float32")
    h0 = keras.ops.convert_to_tensor(rng.normal(size=(2, 3)), "float32")
    mask = rng.random((2, steps)) < 0.7
    want = to_np(linear_recurrence(log_a, log_b, h0, mask))
    for chunk in (1, 2, 5, 22, 23, 24, 64):
        got = chunked_linear_recurrence(
            log_a, log_b, h0, mask, cumulative_logsumexp=cumulative, chunk=chunk
        )
        np.testing.assert_allclose(to_np(got), want, rtol=1e-5, atol=1e-5, err_msg=str(chunk))
    with pytest.raises(ValueError, match="chunk must be a positive"):
        chunked_linear_recurrence(log_a, log_b, cumulative_logsumexp=cumulative, chunk=0)


# -- compiled ---------------------------------------------------------------------------
@native_only
@pytest.mark.parametrize("kind", LAYERS)
def test_a_compiled_train_step_equals_the_generic_one(kind):
    """``train_on_batch`` (tf.function on TensorFlow, jax.jit on JAX, eager on torch)
    records the native plan when it is traced; one SGD step gives the generic scan's
    loss and weights."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8, 37, 3)).astype("float32")
    x[::3, 30:] = 0.0
    y = rng.normal(size=(8, 2)).astype("float32")

    def model():
        inputs = keras.Input((37, 3))
        h = LAYERS[kind](5, return_sequences=True)(keras.layers.Masking()(inputs))
        m = keras.Model(inputs, keras.layers.Dense(2)(LAYERS[kind](4)(h)))
        m.compile(keras.optimizers.SGD(0.1), "mse")
        return m

    native, plain = model(), model()
    plain.set_weights(native.get_weights())
    with chunk_length(8), planner.recording() as rows:
        loss = native.train_on_batch(x, y)
    with chunk_length(8), generic(), planner.recording() as generic_rows:
        loss_plain = plain.train_on_batch(x, y)
    # (JAX also traces the model once outside training, which plans the generic scan)
    assert NATIVE in {p.name for _, p in rows}
    assert {p.name for _, p in generic_rows} == {"parallel_scan"}
    np.testing.assert_allclose(loss, loss_plain, rtol=1e-5)
    for a, b in zip(native.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a traced TensorFlow function")
def test_a_length_known_only_at_run_time():
    """A tf.function traced with an unknown time axis: the chunk count is computed at run
    time and the chunks are joined by the while loop; values and gradients (log a,
    log b, h0) equal the generic while-loop scan's at lengths around the chunk length.
    (TensorFlow's primitive: the planner does not take this path on TensorFlow.)"""
    import functools

    import tensorflow as tf

    from rnnkit.backend import tensorflow as tf_backend

    spec = (
        tf.TensorSpec((None, None, 3)),
        tf.TensorSpec((None, None, 3)),
        tf.TensorSpec((None, None), tf.bool),
        tf.TensorSpec((None, 3)),
    )

    def run(log_a, log_b, mask, h0, native):
        with tf.GradientTape() as tape:
            tape.watch([log_a, log_b, h0])
            if native:
                y = chunked_linear_recurrence(
                    log_a,
                    log_b,
                    h0,
                    mask,
                    cumulative_logsumexp=tf_backend.cumulative_logsumexp,
                    chunk=4,
                    dynamic_length=True,
                )
            else:
                y = linear_recurrence(log_a, log_b, h0, mask, dynamic_length=True)
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, [log_a, log_b, h0])

    native = tf.function(functools.partial(run, native=True), input_signature=spec)
    plain = tf.function(functools.partial(run, native=False), input_signature=spec)
    rng = np.random.default_rng(8)
    for steps in (1, 3, 4, 5, 12, 17):
        args = (
            tf.constant(-np.abs(rng.normal(size=(2, steps, 3))), tf.float32),
            tf.constant(rng.normal(size=(2, steps, 3)), tf.float32),
            tf.constant(rng.random((2, steps)) < 0.7),
            tf.constant(rng.normal(size=(2, 3)), tf.float32),
        )
        (y, grads), (y_plain, grads_plain) = native(*args), plain(*args)
        np.testing.assert_allclose(y.numpy(), y_plain.numpy(), atol=2e-5)
        for g, g_plain in zip(grads, grads_plain):
            np.testing.assert_allclose(g.numpy(), g_plain.numpy(), atol=1e-4, rtol=1e-4)
