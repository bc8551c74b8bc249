"""``rnnkit.backend.torch.compiled_coefficients`` (the ``torch_compiled`` fast path of the
parallel-scan layers' loop) as a torch utility: it equals the function it compiles, values
and gradients; a function TorchDynamo cannot compile whole warns once and runs uncompiled;
an input at fault raises its own error and leaves the compiled function in use. The layers'
use of it is tested against the generic coefficients in
``tests/multibackend/test_min_rnn_linear_loop.py`` (torch backend)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from rnnkit.backend import torch as torch_paths


def gates(projected, units):
    """A pure coefficient function in torch (a minGRU-like pair)."""
    gate, candidate = projected[..., :units], projected[..., units:]
    return torch.sigmoid(-gate), torch.sigmoid(gate) * torch.tanh(candidate)


def breaks_the_graph(projected, units):
    """The same, after a Python scalar read from the data: a graph break, which
    ``fullgraph=True`` refuses."""
    scale = float(projected.abs().max().item()) or 1.0
    return torch.sigmoid(projected[..., :units] / scale), projected[..., units:]


def test_compiled_coefficients_equal_the_function_values_and_gradients():
    x = torch.randn(3, 11, 8, dtype=torch.float32, requires_grad=True)
    got = torch_paths.compiled_coefficients(gates, 4)(x)
    (sum(t.square().sum() for t in got)).backward()
    grad_got = x.grad.clone()
    x.grad = None
    want = gates(x, 4)
    (sum(t.square().sum() for t in want)).backward()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad_got.numpy(), x.grad.numpy(), rtol=1e-5, atol=1e-6)
    # another batch size and length: the same compiled function (dynamic shapes)
    y = torch.randn(5, 7, 8)
    for g, w in zip(torch_paths.compiled_coefficients(gates, 4)(y), gates(y, 4)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)
    assert (gates, 4) in torch_paths._COMPILED and (gates, 4) not in torch_paths._COMPILE_FAILED


def test_a_function_that_cannot_compile_warns_once_and_runs_uncompiled():
    x = torch.randn(2, 5, 6)
    fn = torch_paths.compiled_coefficients(breaks_the_graph, 3)
    with pytest.warns(RuntimeWarning, match=r"torch.compile of 'breaks_the_graph' \(units=3\)"):
        got = fn(x)
    for g, w in zip(got, breaks_the_graph(x, 3)):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    assert (breaks_the_graph, 3) in torch_paths._COMPILE_FAILED
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        again = torch_paths.compiled_coefficients(breaks_the_graph, 3)(x)
    np.testing.assert_array_equal(again[0].numpy(), got[0].numpy())


def test_an_input_at_fault_raises_its_own_error_and_keeps_the_compiled_function():
    fn = torch_paths.compiled_coefficients(gates, 2)
    with pytest.raises(RuntimeError, match="must match the size|size of tensor"):
        fn(torch.randn(2, 5, 5))  # 5 features: gate 2, candidate 3, which do not broadcast
    assert (gates, 2) not in torch_paths._COMPILE_FAILED
    x = torch.randn(2, 5, 4)
    for g, w in zip(fn(x), gates(x, 2)):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-6)


def test_compiling_is_true_only_inside_a_torch_compile_trace():
    """What the planner reads to leave the coefficients to an enclosing compilation
    (Keras's ``jit_compile=True`` train step on torch)."""
    assert not torch_paths.compiling()

    def inside(x):
        return x + 1 if torch_paths.compiling() else x - 1

    x = torch.zeros(3)
    np.testing.assert_array_equal(torch.compile(inside, fullgraph=True)(x).numpy(), np.ones(3))
    np.testing.assert_array_equal(inside(x).numpy(), -np.ones(3))
