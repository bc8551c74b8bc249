"""The parallel-scan layers' sequential path (``linear_loop``: one multiply-add per element
and step on the linear-space coefficients, what a CPU runs) against the generic parallel
scan in log space and against the float64 NumPy equations: the operation under every
mask pattern, initial states of any sign and each loop form; the layers' gradients, low
precision, a compiled train step, and (TensorFlow) a length known only at run time. The
value tests of both paths are in ``test_min_rnn.py`` (its ``path`` fixture)."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest

from rnnkit.layers import MinGRU, planner
from rnnkit.ops.min_rnn import (
    min_gru_coefficients,
    min_gru_linear_coefficients,
    min_lstm_coefficients,
    min_lstm_linear_coefficients,
)
from rnnkit.ops.parallel_scan import linear_recurrence, sequential_linear_recurrence
from rnnkit.ops.recurrence import BACKEND_LOOPS
from tests.multibackend.helpers import as_list, function_gradients, gradients, to_np
from tests.multibackend.test_min_rnn import LAYERS, make, np_run, weights

BACKEND = keras.backend.backend()
CPU = planner._device() == "CPU"
#: what the layers run here: the loop on a CPU, the parallel scan on a GPU
DEFAULT = "linear_loop" if CPU else "parallel_scan"
#: the loops of rnnkit.ops.recurrence the layers run here ("auto") and the unrolled one
LOOPS = sorted({BACKEND_LOOPS[BACKEND], "unrolled"})
#: the coefficients' fast path of this backend, for a call large enough
FAST = {"tensorflow": "tf_xla_fused", "torch": "torch_compiled"}.get(BACKEND, "generic")
FAST_PATHS = ("tf_xla_fused", "torch_compiled")


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


def np_linear(a, b, h0, mask):
    """float64 ``h_t = a_t h_{t-1} + b_t`` one step at a time, masked steps carried."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    batch, steps, units = a.shape
    h = np.zeros((batch, units)) if h0 is None else np.asarray(h0, np.float64)
    m = np.ones((batch, steps), bool) if mask is None else mask
    out = []
    for t in range(steps):
        h = np.where(m[:, t : t + 1], a[:, t] * h + b[:, t], h)
        out.append(h)
    return np.stack(out, 1)


# -- the operation ----------------------------------------------------------------------
@pytest.mark.parametrize("loop", LOOPS)
def test_the_loop_equals_the_scan_and_the_equations(loop):
    """Every mask pattern, initial states of both signs and none, lengths 1 and 13; the
    log-space scan gets the logs of the same coefficients."""
    rng = np.random.default_rng(0)
    for steps in (1, 13):
        a = rng.uniform(0.05, 1.0, size=(4, steps, 3)).astype("float32")
        b = rng.uniform(0.01, 2.0, size=(4, steps, 3)).astype("float32")
        for mask_name, mask in all_masks(4, steps, rng).items():
            for h0 in (None, rng.normal(size=(4, 3)).astype("float32") * 3):
                got = to_np(sequential_linear_recurrence(a, b, h0, mask, loop=loop))
                a_tm, b_tm = (np.ascontiguousarray(v.transpose(1, 0, 2)) for v in (a, b))
                got_tm = to_np(
                    sequential_linear_recurrence(a_tm, b_tm, h0, mask, loop=loop, time_major=True)
                )
                scan = to_np(linear_recurrence(np.log(a), np.log(b), h0, mask))
                where = f"T={steps}, {mask_name} mask, h0 {'given' if h0 is not None else 'none'}"
                np.testing.assert_allclose(got, np_linear(a, b, h0, mask), atol=1e-5, err_msg=where)
                np.testing.assert_allclose(got, scan, atol=1e-5, err_msg=where)
                # time-major coefficients, batch-major mask and states: the same numbers
                np.testing.assert_array_equal(got_tm, got, err_msg=where)


def test_linear_and_log_coefficients_are_the_same_equations():
    """``exp`` of the log-space coefficients equals the linear-space ones, including
    gates far in the sigmoid's tails (``1 - z`` as ``sigmoid(-gate)``)."""
    rng = np.random.default_rng(1)
    p2 = (rng.normal(size=(5, 7, 8)) * 4).astype("float32")
    p2[0, 0, :4] = [-30.0, 30.0, 80.0, -80.0]
    p3 = (rng.normal(size=(5, 7, 12)) * 4).astype("float32")
    for log_fn, lin_fn, p in (
        (min_gru_coefficients, min_gru_linear_coefficients, p2),
        (min_lstm_coefficients, min_lstm_linear_coefficients, p3),
    ):
        log_a, log_b = (to_np(v) for v in log_fn(keras.ops.convert_to_tensor(p), 4))
        a, b = (to_np(v) for v in lin_fn(keras.ops.convert_to_tensor(p), 4))
        assert ((a >= 0) & (a <= 1)).all() and (b > 0).all()
        np.testing.assert_allclose(a, np.exp(log_a), rtol=1e-5, atol=1e-30)
        np.testing.assert_allclose(b, np.exp(log_b), rtol=1e-5, atol=1e-30)


def test_gradients_of_the_operation_equal_the_scans():
    """d/da, d/db (through the logs for the scan) and d/dh0 under a mask with holes."""
    rng = np.random.default_rng(2)
    a = rng.uniform(0.05, 1.0, size=(3, 9, 2)).astype("float32")
    b = rng.uniform(0.01, 2.0, size=(3, 9, 2)).astype("float32")
    h0 = rng.normal(size=(3, 2)).astype("float32")
    mask = rng.random((3, 9)) < 0.6
    weights_np = rng.normal(size=(3, 9, 2)).astype("float32")

    def loop_loss(a, b, h0):
        w = keras.ops.convert_to_tensor(weights_np)
        return keras.ops.sum(sequential_linear_recurrence(a, b, h0, mask) * w)

    def scan_loss(a, b, h0):
        w = keras.ops.convert_to_tensor(weights_np)
        return keras.ops.sum(linear_recurrence(keras.ops.log(a), keras.ops.log(b), h0, mask) * w)

    got = function_gradients(loop_loss, [a, b, h0])
    want = function_gradients(scan_loss, [a, b, h0])
    for g_loop, g_scan in zip(got, want):
        assert np.isfinite(g_loop).all()
        np.testing.assert_allclose(g_loop, g_scan, rtol=1e-4, atol=1e-5)


# -- the layers -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("mask_name", ["none", "right", "left", "holes"])
def test_layer_gradients_equal_the_parallel_scans(kind, mask_name):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(4, 11, 3)) * 2).astype("float32")
    mask = all_masks(4, 11, rng)[mask_name]
    h0 = rng.normal(size=(4, 4)).astype("float32") * 2
    target = rng.normal(size=(4, 11, 4))
    layer = make(kind, return_sequences=True, go_backwards=mask_name == "left")

    def loss_fn(y):
        return keras.ops.sum(y * keras.ops.convert_to_tensor(target, y.dtype))

    with planner.recording() as rows:
        loop = gradients(layer, x, loss_fn, mask=mask, initial_state=h0, training=True)
    with planner.excluding("linear_loop"):
        scan = gradients(layer, x, loss_fn, mask=mask, initial_state=h0, training=True)
    assert {p.name for _, p in rows} == {DEFAULT}
    for got, want in zip(loop, scan):  # inputs, kernel, bias
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_layers(kind, dtype):
    """A float16 / bfloat16 layer on the default path stays finite and within the dtype's
    rounding of the float64 equations (on its own rounded weights and inputs), over 300
    steps with gates that keep almost everything (a long memory, so rounding would
    accumulate) and large inputs (candidates far from 0), under a mask with holes."""
    rng = np.random.default_rng(4)
    layer = make(kind, return_sequences=True, dtype=dtype)
    keep = np.full(4, -6.0 if kind == "mingru" else 6.0)
    rest = rng.normal(size=layer.bias.shape[0] - 4)
    layer.bias.assign(np.concatenate([keep, rest]).astype(dtype))
    x = (rng.normal(size=(3, 300, 3)) * 4).astype("float32")
    mask = all_masks(3, 300, rng)["holes"]
    with planner.recording() as rows:
        y = layer(x, mask=mask, training=True)
    assert [p.name for _, p in rows] == [DEFAULT]
    assert keras.backend.standardize_dtype(y.dtype) == dtype
    x_rounded = to_np(keras.ops.cast(keras.ops.cast(x, dtype), "float32"))
    ref, _ = np_run(kind, *weights(layer), x_rounded, mask)
    got = to_np(keras.ops.cast(y, "float32"))
    assert np.isfinite(got).all()
    tol = 5e-2 if dtype == "bfloat16" else 1e-2
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", LAYERS)
def test_a_compiled_train_step_equals_the_parallel_scans(kind):
    """``train_on_batch`` (tf.function on TensorFlow, jax.jit on JAX, eager on torch)
    under a Masking layer: one SGD step gives the parallel scan's loss and weights."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, 37, 3)).astype("float32")
    x[::3, 30:] = 0.0
    y = rng.normal(size=(8, 2)).astype("float32")

    def model():
        inputs = keras.Input((37, 3))
        h = LAYERS[kind](5, return_sequences=True)(keras.layers.Masking()(inputs))
        m = keras.Model(inputs, keras.layers.Dense(2)(LAYERS[kind](4)(h)))
        m.compile(keras.optimizers.SGD(0.1), "mse")
        return m

    loop, scan = model(), model()
    scan.set_weights(loop.get_weights())
    with planner.recording() as rows:
        loss = loop.train_on_batch(x, y)
    with planner.excluding("linear_loop"), planner.recording() as scan_rows:
        loss_scan = scan.train_on_batch(x, y)
    assert {p.name for _, p in rows} == {DEFAULT}
    assert {p.name for _, p in scan_rows} == {"parallel_scan"}
    np.testing.assert_allclose(loss, loss_scan, rtol=1e-5)
    for a, b in zip(loop.get_weights(), scan.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a traced TensorFlow function")
def test_a_length_known_only_at_run_time():
    """A tf.function traced with an unknown time axis: the loop (``tf.while_loop``) gives
    the dynamic-length scan's values and gradients at several lengths."""
    import tensorflow as tf

    layer = make("minlstm", return_sequences=True, return_state=True)
    spec = (tf.TensorSpec((None, None, 3)), tf.TensorSpec((None, None), tf.bool))

    def run(x, mask):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y, h = layer(x, mask=mask, training=True)
            loss = tf.reduce_sum(y * y) + tf.reduce_sum(h)
        return y, h, tape.gradient(loss, [x, *layer.trainable_weights])

    loop = tf.function(run, input_signature=spec)
    rng = np.random.default_rng(6)
    for steps in (1, 5, 12):
        x = tf.constant(rng.normal(size=(2, steps, 3)), tf.float32)
        mask = tf.constant(rng.random((2, steps)) < 0.7)
        with planner.recording() as rows:
            got = loop(x, mask)
        with planner.excluding("linear_loop"), planner.recording() as scan_rows:
            want = tf.function(run, input_signature=spec)(x, mask)
        if steps == 1:  # traced once
            assert [p.name for _, p in rows] == [DEFAULT]
            assert [p.name for _, p in scan_rows] == ["parallel_scan.dynamic_length"]
        for g, w in zip(as_list(got[:2]) + got[2], as_list(want[:2]) + want[2]):
            np.testing.assert_allclose(g.numpy(), w.numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", LAYERS)
def test_input_dropout_in_training_equals_the_parallel_scans(kind):
    """The loop projects time-major inputs: the ``(batch, features)`` dropout mask must
    still drop the same features of a row at every step, as the scan's batch-major
    projection does. Same seed, same weights: the same outputs, and not those of
    inference."""
    x = np.random.default_rng(8).normal(size=(5, 7, 3)).astype("float32")
    reference = make(kind).get_weights()
    expected = {"loop": DEFAULT, "scan": "parallel_scan"}
    outputs = {}
    for name, off in (("loop", None), ("scan", planner.excluding("linear_loop"))):
        layer = make(kind, dropout=0.5, seed=3, return_sequences=True)
        layer.set_weights(reference)
        with off or contextlib.nullcontext(), planner.recording() as rows:
            outputs[name] = to_np(layer(x, training=True))
            outputs[name + " inference"] = to_np(layer(x, training=False))
        assert {p.name for _, p in rows} == {expected[name]}
    np.testing.assert_allclose(outputs["loop"], outputs["scan"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        outputs["loop inference"], outputs["scan inference"], rtol=1e-5, atol=1e-5
    )
    assert np.abs(outputs["loop"] - outputs["loop inference"]).max() > 1e-2


class OwnCoefficients(MinGRU):
    """A subclass that computes its coefficients its own way (here: MinGRU's, by hand)."""

    def coefficients(self, projected, log_space=True):
        if log_space:
            return min_gru_coefficients(projected, self.units)
        return min_gru_linear_coefficients(projected, self.units)


def test_the_coefficients_fast_path_is_planned_where_it_applies(monkeypatch):
    """``coefficients=tf_xla_fused`` on TensorFlow and ``torch_compiled`` on torch (from
    ``TORCH_COMPILE_MIN_STATES`` states: batch x timesteps x units) for the layers' pure
    coefficient functions; ``generic`` elsewhere, when excluded, for a smaller call on
    torch, without a C++ compiler on torch, and for a subclass overriding
    ``coefficients()`` (the planner cannot know what it computes)."""
    from rnnkit.backend import torch as torch_paths

    # 2 x 8 x 4 = 64 states: at the limit, and one timestep below it
    monkeypatch.setattr(planner, "TORCH_COMPILE_MIN_STATES", 64)
    x = np.zeros((2, 8, 3), "float32")
    for cls in LAYERS.values():
        plan = cls(4).execution_plan(x)
        if plan.name == "linear_loop":
            assert plan.coefficients == FAST
            for excluded in FAST_PATHS:
                with planner.excluding(excluded):
                    want = "generic" if excluded == FAST else FAST
                    assert cls(4).execution_plan(x).coefficients == want
            below = "tf_xla_fused" if BACKEND == "tensorflow" else "generic"
            assert cls(4).execution_plan(x[:, :7]).coefficients == below
    plan = OwnCoefficients(4).execution_plan(x)
    if plan.name == "linear_loop":
        assert plan.coefficients == "generic"
    assert OwnCoefficients(4).pure_linear_coefficients() is None
    assert MinGRU(4).pure_linear_coefficients() is min_gru_linear_coefficients
    # no C++ compiler for Inductor (a $CXX that does not exist): the generic path.
    # Inductor reads $CXX once, when its config is first imported: import it before the
    # change, else later compilations in this process would look for that compiler
    import torch._dynamo  # noqa: F401
    import torch._inductor.config  # noqa: F401

    monkeypatch.setenv("CXX", "/nonexistent/c++")
    torch_paths.compile_available.cache_clear()
    try:
        assert not torch_paths.compile_available()
        plan = MinGRU(4).execution_plan(x)
        if plan.name == "linear_loop":
            want = "tf_xla_fused" if BACKEND == "tensorflow" else "generic"
            assert plan.coefficients == want
    finally:
        monkeypatch.delenv("CXX")
        torch_paths.compile_available.cache_clear()


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("mask_name", ["none", "left"])
def test_the_coefficients_fast_path_equals_the_generic_coefficients(kind, mask_name, monkeypatch):
    """The layer's outputs' gradients (inputs, kernel, bias) with its coefficients as one
    XLA cluster (TensorFlow) or one ``torch.compile`` graph (torch) against the generic
    ones, and the weights after a compiled mixed-float16 train step; on JAX both runs take
    the generic path."""
    monkeypatch.setattr(planner, "TORCH_COMPILE_MIN_STATES", 1)  # compile these small calls
    rng = np.random.default_rng(11)
    x = (rng.normal(size=(4, 9, 3)) * 2).astype("float32")
    mask = all_masks(4, 9, rng)[mask_name]
    target = rng.normal(size=(4, 9, 4))
    reference = make(kind).get_weights()

    def loss_fn(y):
        return keras.ops.sum(y * keras.ops.convert_to_tensor(target, y.dtype))

    results = {}
    for name, excluded in (("fast", ()), ("generic", FAST_PATHS)):
        layer = make(kind, return_sequences=True)
        layer.set_weights(reference)
        with planner.excluding(*excluded), planner.recording() as rows:
            results[name] = gradients(layer, x, loss_fn, mask=mask, training=True)
            results[name + " step"] = train_step_weights(kind, reference, x)
        if rows[0][1].name == "linear_loop":
            assert {p.coefficients for _, p in rows} == {FAST if name == "fast" else "generic"}
    if FAST == "torch_compiled":  # the runner took it: the function it compiled is there
        from rnnkit.backend import torch as torch_paths

        key = (LAYERS[kind].linear_coefficients, 4)
        assert key in torch_paths._COMPILED and key not in torch_paths._COMPILE_FAILED
    for got, want in zip(results["fast"], results["generic"]):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(results["fast step"], results["generic step"], rtol=1e-3, atol=1e-3)


def train_step_weights(kind, reference, x):
    """The weights after two SGD steps of a mixed-float16 model around the layer, in
    Keras's compiled train step."""
    inputs = keras.Input((x.shape[1], x.shape[2]))
    layer = LAYERS[kind](4, return_sequences=True, dtype="mixed_float16")
    model = keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(layer(inputs)))
    layer.set_weights(reference)
    model.layers[-1].set_weights([np.full((4, 1), 0.5, "float32"), np.zeros(1, "float32")])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, np.ones((x.shape[0], x.shape[1], 1), "float32"), epochs=2, verbose=0)
    return np.concatenate([w.ravel() for w in model.get_weights()])


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("plan_name", ["linear_loop", "parallel_scan"])
def test_the_runner_takes_time_major_projections_on_every_path(kind, plan_name):
    """``rnnkit.backend.run_linear_recurrence`` with a time-major projection under a plan
    whose ``time_major`` says so (what the layer passes to the loop) equals the
    batch-major one, on the loop and on the scan
    (which moves it back), masked, with an initial state; states come back batch-major."""
    from rnnkit.backend import run_linear_recurrence
    from rnnkit.layers.planner import ExecutionPlan

    rng = np.random.default_rng(12)
    layer = make(kind)
    projected = rng.normal(size=(3, 8, layer.gates * 4)).astype("float32")
    mask = all_masks(3, 8, rng)["holes"]
    h0 = rng.normal(size=(3, 4)).astype("float32")
    loop = BACKEND_LOOPS[BACKEND] if plan_name == "linear_loop" else None
    coefficients = "generic" if loop else None
    plans = {
        layout: ExecutionPlan(
            plan_name, BACKEND, loop=loop, coefficients=coefficients, time_major=layout
        )
        for layout in (False, True)
    }
    batch_major = to_np(run_linear_recurrence(plans[False], projected, layer, h0, mask))
    time_major = to_np(
        run_linear_recurrence(plans[True], projected.transpose(1, 0, 2).copy(), layer, h0, mask)
    )
    assert time_major.shape == (3, 8, 4)
    np.testing.assert_allclose(time_major, batch_major, rtol=1e-6, atol=1e-6)
    a, b = (to_np(v) for v in layer.coefficients(keras.ops.convert_to_tensor(projected), False))
    np.testing.assert_allclose(batch_major, np_linear(a, b, h0, mask), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(b=np.zeros((2, 5, 4), "float32")), r"and .* must have the same shape"),
        (dict(a=np.zeros((2, 5), "float32")), r"must be \(batch, timesteps, units\), got shape"),
        (
            dict(initial_state=np.zeros((3, 4), "float32")),
            r"initial_state must be \(batch, units\) = \(2, 3\) .* got shape \(3, 4\)",
        ),
        (
            dict(mask=np.ones((2, 6), bool)),
            r"mask must be \(batch, timesteps\) = \(2, 5\) .* got shape \(2, 6\)",
        ),
    ],
)
@pytest.mark.parametrize("op", ["sequential", "scan"])
def test_the_recurrences_refuse_coefficients_of_other_shapes(op, change, message):
    """Both operations name the argument at fault, with its expected and actual shape,
    before any backend code runs (a mismatch used to fail inside the loop or the scan)."""
    args = dict(
        a=np.full((2, 5, 3), 0.5, "float32"),
        b=np.ones((2, 5, 3), "float32"),
        initial_state=None,
        mask=None,
    )
    args.update(change)
    fn = sequential_linear_recurrence if op == "sequential" else linear_recurrence
    with pytest.raises(ValueError, match=message):
        fn(args["a"], args["b"], args["initial_state"], args["mask"])
    if op == "sequential":  # time-major: the batch is the second dimension
        a = np.full((5, 2, 3), 0.5, "float32")
        with pytest.raises(ValueError, match=r"mask must be \(batch, timesteps\) = \(2, 5\)"):
            sequential_linear_recurrence(a, a, None, np.ones((5, 2), bool), time_major=True)
        assert to_np(
            sequential_linear_recurrence(a, a, None, np.ones((2, 5), bool), time_major=True)
        ).shape == (2, 5, 3)
