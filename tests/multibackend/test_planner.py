"""The execution planner: the plan's public name for each configuration on this backend,
the reasons faster paths are not taken, the strict switch's message, and rnnkit.explain.

Each path's numbers are tested against the generic loop in test_recurrent_layers.py;
here the tests check which path a call takes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import rnnkit
from rnnkit.backend import cudnn
from rnnkit.layers import GRU, LSTM, Bidirectional, MinGRU, SimpleRNN, StackedRNN

B, T, D, U = 4, 6, 5, 3
BACKEND = keras.backend.backend()
X = np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")
RIGHT = np.arange(T)[None, :] < np.array([T, 3, 1, 0])[:, None]
LEFT = RIGHT[:, ::-1].copy()


def no_grad():
    if BACKEND == "torch":
        import torch

        return torch.no_grad()
    import contextlib

    return contextlib.nullcontext()


def generic_name() -> str:
    if BACKEND == "jax" and rnnkit.layers.planner.xla_cpu():
        return "jax.scan_batched_grads"  # gated cells on JAX's CPU backend
    return {"tensorflow": "loop.tf_while", "jax": "loop.scan", "torch": "loop.unrolled"}[BACKEND]


def test_plain_lstm():
    plan = LSTM(U).execution_plan(X)
    if BACKEND == "torch":
        assert plan.name == "torch.fused" and plan.kernel == "lstm" and plan.fused
    elif cudnn.gpu_available():
        assert plan.name == "cudnn"
    else:
        assert plan.name == generic_name()
        assert plan.reasons() == {"fused kernel": "no GPU"}


def test_masks():
    right = LSTM(U).execution_plan(X, mask=RIGHT)
    left = LSTM(U).execution_plan(X, mask=LEFT)
    if BACKEND == "torch":
        assert right.name == "torch.fused_right_padded"
        # training: the closed-form LSTM loop; inference: the generic loop
        assert left.name == "torch.lstm_closed_form"
        assert left.reasons()["fused kernel"] == "the mask is not right-padded"
        with no_grad():
            assert LSTM(U).execution_plan(X, mask=LEFT).name == "loop.unrolled"
        with no_grad():
            packed = LSTM(U, return_state=True).execution_plan(X, mask=RIGHT)
        assert packed.name == "torch.lstm_packed"
        training = LSTM(U, return_state=True).execution_plan(X, mask=RIGHT)
        assert (
            "final states under a mask while gradients are recorded"
            in (training.reasons()["fused kernel"])
        )
    else:
        for plan in (right, left):
            assert not plan.fused
            assert "a masked sequence" in plan.reasons()["fused kernel"]


def test_settings_that_turn_the_fused_kernels_off():
    plan = LSTM(U, use_fused=False).execution_plan(X)
    assert not plan.fused and "use_fused=False" in plan.reasons()["fused kernel"]
    plan = LSTM(U, recurrent_dropout=0.3).execution_plan(X, training=True)
    assert "recurrent dropout is active" in plan.reasons()["fused kernel"]
    plan = LSTM(U, unroll=True).execution_plan(X)
    assert plan.name == "loop.unrolled" and "unroll=True" in plan.reasons()["fused kernel"]
    with rnnkit.config.execution(loop="unrolled"):
        plan = GRU(U).execution_plan(X)
    assert plan.name == "loop.unrolled"
    assert "loop='unrolled' was asked for" in plan.reasons()["fused kernel"]
    plan = SimpleRNN(U, activation="sigmoid").execution_plan(X)
    assert (
        "no fused kernel computes this SimpleRNNCell's configuration"
        in (plan.reasons()["fused kernel"])
    )


def test_generic_loop_details():
    plan = SimpleRNN(U, use_fused=False).execution_plan(X)
    expected = {"tensorflow": "tf_while", "jax": "scan", "torch": "unrolled"}[BACKEND]
    assert plan.name == f"loop.{expected}" and plan.loop == expected
    assert plan.projection in ("hoisted", "per_step") and plan.batch_parts == 1
    with rnnkit.config.execution(projection="per_step", batch_split=2):
        plan = SimpleRNN(U, use_fused=False).execution_plan(X)
    assert plan.projection == "per_step" and plan.batch_parts == 2
    if BACKEND == "tensorflow":
        assert SimpleRNN(U).execution_plan(X, training=True).matmul == "tf_pretransposed"


def test_hard_sigmoid_lstm_on_torch():
    layer = LSTM(U, recurrent_activation="hard_sigmoid")
    plan = layer.execution_plan(X)
    if BACKEND != "torch":
        assert not plan.fused
        return
    # training: the closed-form Function, unmasked and under any mask; not a fused kernel
    assert plan.name == "torch.lstm_closed_form" and not plan.fused
    assert (
        "no fused kernel computes this LSTMCell's configuration" in (plan.reasons()["fused kernel"])
    )
    assert layer.execution_plan(X, mask=LEFT).name == "torch.lstm_closed_form"
    assert layer.execution_plan(X, mask=RIGHT).name == "torch.lstm_closed_form"
    with no_grad():
        plan = layer.execution_plan(X)
    assert plan.name == "loop.unrolled" and plan.matmul == "torch_colmajor"
    with rnnkit.layers.planner.excluding("torch.lstm_closed_form"):
        assert layer.execution_plan(X).name == "loop.unrolled"


def test_excluding_a_path_takes_the_next_one():
    from rnnkit.layers import planner

    with pytest.raises(ValueError, match=r"Unknown execution path\(s\) \['torch.fast'\]"):
        with planner.excluding("torch.fast"):
            pass
    layer = SimpleRNN(U)
    with no_grad():
        plan = layer.execution_plan(X)
        y = keras.ops.convert_to_numpy(layer(X))
    with no_grad(), planner.excluding(*planner.EXCLUDABLE):
        plain = layer.execution_plan(X)
        y_plain = keras.ops.convert_to_numpy(layer(X))
    assert plain.name == f"loop.{plain.loop}" and plain.matmul == "generic"
    assert np.abs(y - y_plain).max() < 1e-5
    if BACKEND == "torch":
        assert plan.name == "torch.simple_rnn_inference" and plan.kernel == "rnn_tanh_in_place"
        with no_grad(), planner.excluding("torch.simple_rnn_inference"):
            assert layer.execution_plan(X).kernel == "rnn_tanh"
            y_next = keras.ops.convert_to_numpy(layer(X))
        assert np.abs(y - y_next).max() < 1e-5
        assert "torch.simple_rnn_inference is excluded" in plain.reasons()["fused kernel"]
        assert "torch.fused is excluded" in plain.reasons()["fused kernel"]
    # the block ends: the plan is the default one again
    with no_grad():
        assert layer.execution_plan(X) == plan


def test_wrappers_show_each_inner_plan():
    bi = Bidirectional(LSTM(U, return_sequences=True))
    plans = bi.execution_plan(X, mask=RIGHT)
    assert set(plans) == {"forward", "backward"}
    assert plans["forward"] == bi.forward_layer.execution_plan(X, mask=RIGHT)
    assert plans["backward"].name == bi.backward_layer.execution_plan(X, mask=RIGHT).name
    stack = StackedRNN([GRU(U), SimpleRNN(U)], bidirectional=True)
    first, second = stack.execution_plan(X)
    gru = GRU(U).execution_plan(X).name
    inner = SimpleRNN(U).execution_plan(np.zeros((B, T, 2 * U), "float32")).name
    assert first["forward"].name == first["backward"].name == gru
    assert second["forward"].name == second["backward"].name == inner
    # the plans are the ones a call runs
    with rnnkit.layers.planner.recording() as rows:
        stack(X)
    assert [plan.name for _, plan in rows] == [gru, gru, inner, inner]


def test_strict_switch_names_the_unmet_condition():
    layer = LSTM(U, use_fused=True)
    if BACKEND == "torch":
        with pytest.raises(ValueError, match="no fused kernel applies on torch: the mask is not"):
            layer(X, mask=LEFT)
    elif not cudnn.gpu_available():
        with pytest.raises(ValueError, match=f"no fused kernel applies on {BACKEND}: no GPU"):
            layer(X)


def test_explain_lists_every_recurrent_layer_nested_ones_included(capsys):
    inputs = keras.Input((T, D))
    h = Bidirectional(LSTM(U, return_sequences=True), name="bi")(inputs)
    h = StackedRNN([GRU(U, return_sequences=True), SimpleRNN(U)], name="stack")(h)
    outputs = keras.layers.Dense(2)(h)
    model = keras.Model(inputs, outputs)
    h2 = MinGRU(U)(inputs)
    side = keras.Model(inputs, h2)
    rows = rnnkit.explain(model, X)
    printed = capsys.readouterr().out
    assert [r["class"] for r in rows] == ["LSTM", "LSTM", "GRU", "SimpleRNN"]
    assert "bi/forward_lstm" in rows[0]["layer"] and "bi/backward_lstm" in rows[1]["layer"]
    expected = LSTM(U).execution_plan(X).name
    assert rows[0]["plan"] == expected
    for row in rows:
        assert row["layer"] in printed and row["plan"] in printed
    assert BACKEND in printed.splitlines()[0]
    assert [r["plan"] for r in rnnkit.explain(side, X, print_table=False)] == [parallel_scan_name()]


def parallel_scan_name() -> str:
    """The parallel-scan layers' plan on this backend and device (a static length)."""
    return "linear_loop" if rnnkit.layers.planner._device() == "CPU" else "parallel_scan"


def test_parallel_scan_layers():
    from rnnkit.layers import MinLSTM, planner
    from rnnkit.ops.recurrence import BACKEND_LOOPS

    for layer in (MinGRU(U), MinLSTM(U)):
        for training in (False, True):
            plan = layer.execution_plan(X, mask=LEFT, training=training)
            assert plan.name == parallel_scan_name() and not plan.fused
            # the loop steps through time-major tensors; the scan through batch-major ones
            assert plan.time_major == (plan.name == "linear_loop")
            if plan.name == "linear_loop":
                coefficients = "tf_xla_fused" if BACKEND == "tensorflow" else "generic"
                assert plan.details() == (
                    f"loop={BACKEND_LOOPS[BACKEND]}, coefficients={coefficients}"
                )
                assert plan.not_taken == ()
                with planner.excluding("tf_xla_fused"):
                    generic = layer.execution_plan(X, mask=LEFT, training=training)
                assert generic.name == "linear_loop" and generic.coefficients == "generic"
            else:
                reason = "a GPU (the parallel scan uses its parallel hardware)"
                assert plan.reasons() == {"linear_loop": reason}
        with planner.excluding("linear_loop"):
            plain = layer.execution_plan(X)
        assert plain.name == "parallel_scan" and plain.details() == ""
        assert not plain.time_major
        assert "linear_loop" in plain.reasons()
