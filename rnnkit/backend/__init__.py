"""Each backend's fast paths, one module per backend: :mod:`rnnkit.backend.torch`
(torch's kernels, the closed-form LSTM, the column-major matmul, the compiled
coefficients),
:mod:`rnnkit.backend.tensorflow` (the pre-transposed matmul, the XLA-fused coefficients),
:mod:`rnnkit.backend.jax` (the scan with its weight gradients after the loop) and
:mod:`rnnkit.backend.cudnn` (Keras's cuDNN kernels on TensorFlow and JAX with a GPU).
:func:`run_linear_recurrence` runs the parallel-scan layers' plans.

:func:`rnnkit.layers.planner.plan_call` is the one place that chooses among them; these
modules execute what a plan names. The generic loop they replace is in
:mod:`rnnkit.ops.recurrence`, the generic scan in :mod:`rnnkit.ops.parallel_scan`.
"""

from __future__ import annotations

from typing import Any

import keras

from rnnkit.backend import cudnn, jax, tensorflow, torch
from rnnkit.ops.parallel_scan import linear_recurrence, sequential_linear_recurrence
from rnnkit.ops.recurrent_matmul import Block, RecurrentMatmul

__all__ = [
    "cudnn",
    "jax",
    "recurrent_matmul",
    "run_fused",
    "run_linear_recurrence",
    "tensorflow",
    "torch",
]

#: fast path name -> its class (the class's ``backend`` is the one it needs)
_FAST_PATH_CLASSES = {
    "tf_pretransposed": tensorflow.TFPretransposedMatmul,
    "torch_colmajor": torch.TorchColumnMajorMatmul,
}


def recurrent_matmul(
    kernel: Any, fast_path: str | None = None, blocks: tuple[Block, ...] = ((0, None),)
) -> RecurrentMatmul:
    """The matmul for a loop: the fast path the plan names (``ExecutionPlan.matmul``; on
    its backend only) or None for the generic one, with the kernel's column ``blocks``
    sliced now. Call it before the loop."""
    if fast_path is None:
        return RecurrentMatmul(kernel, blocks)
    cls = _FAST_PATH_CLASSES.get(fast_path)
    if cls is None:
        raise ValueError(
            f"Unknown recurrent matmul fast path {fast_path!r}: expected None or one of "
            f"{sorted(_FAST_PATH_CLASSES)}."
        )
    if keras.backend.backend() != cls.backend:
        raise ValueError(
            f"The {fast_path!r} recurrent matmul needs the {cls.backend} backend, "
            f"got {keras.backend.backend()!r}."
        )
    return cls(kernel, blocks)


def run_fused(
    plan: Any,
    cell: Any,
    inputs: Any,
    initial_states: list,
    go_backwards: bool = False,
    return_sequences: bool = True,
    zero_output_for_mask: bool = False,
) -> tuple[Any, Any, list] | None:
    """Runs the fused path that ``plan`` (:func:`rnnkit.layers.planner.plan_call`) chose
    over raw ``inputs`` (B, T, D); None only when Keras's cuDNN kernel declines at run
    time. States the path does not compute (an LSTM's cell state under a right-padded
    mask when the caller does not read it) are None."""
    if plan.name in ("torch.fused", "torch.simple_rnn_inference"):
        return torch.torch_fused(plan.kernel, cell, inputs, initial_states, go_backwards)
    if plan.name in ("torch.fused_right_padded", "torch.lstm_packed"):
        return torch.torch_fused_right_padded(
            plan.kernel,
            cell,
            inputs,
            initial_states,
            plan.lengths,
            go_backwards,
            zero_output_for_mask,
            packed=plan.name == "torch.lstm_packed",
        )
    if plan.name == "cudnn":
        return cudnn.keras_cudnn(
            plan.kernel, cell, inputs, initial_states, None, go_backwards, return_sequences
        )
    raise ValueError(f"run_fused: {plan.name!r} is not a fused path.")


def run_linear_recurrence(
    plan: Any,
    projected: Any,
    layer: Any,
    initial_state: Any = None,
    mask: Any = None,
) -> Any:
    """Solves ``h_t = a_t h_{t-1} + b_t`` over a projected sequence the way ``plan``
    (:func:`rnnkit.layers.planner.plan_parallel_scan`) says, with the coefficients of
    ``layer`` (a :class:`~rnnkit.layers.parallel_rnn.ParallelRNN`:
    ``layer.coefficients(projected, log_space)`` gives ``(a, b)``, or their logs).
    ``linear_loop`` runs the sequential loop on the linear-space coefficients
    (:func:`rnnkit.ops.parallel_scan.sequential_linear_recurrence`, with the plan's
    ``loop``), computing them as one XLA cluster when the plan's ``coefficients`` is
    ``tf_xla_fused`` (:func:`rnnkit.backend.tensorflow.xla_fused`), as one
    ``torch.compile`` graph when it is ``torch_compiled``
    (:func:`rnnkit.backend.torch.compiled_coefficients`);
    ``parallel_scan`` and ``parallel_scan.dynamic_length`` the generic associative scan on
    their logs (:func:`rnnkit.ops.parallel_scan.linear_recurrence`).
    ``projected`` is ``(timesteps, batch, features)`` when the plan's ``time_major`` says
    so (the loop's plan: what it steps through without a transpose; a scan moves such an
    input to batch-major), else ``(batch, timesteps, features)``; ``mask`` and the
    returned states are batch-major."""
    if plan.name == "linear_loop":
        if plan.coefficients == "tf_xla_fused":
            fn = tensorflow.xla_fused(layer.pure_linear_coefficients(), layer.units, projected)
            a, b = fn(projected)
        elif plan.coefficients == "torch_compiled":
            fn = torch.compiled_coefficients(layer.pure_linear_coefficients(), layer.units)
            a, b = fn(projected)
        else:
            a, b = layer.coefficients(projected, False)
        return sequential_linear_recurrence(
            a, b, initial_state, mask, loop=plan.loop, time_major=plan.time_major
        )
    if plan.time_major:
        projected = keras.ops.moveaxis(projected, 0, 1)
    if plan.name in ("parallel_scan", "parallel_scan.dynamic_length"):
        log_a, log_b = layer.coefficients(projected, True)
        dynamic_length = plan.name == "parallel_scan.dynamic_length"
        return linear_recurrence(log_a, log_b, initial_state, mask, dynamic_length)
    raise ValueError(f"run_linear_recurrence: {plan.name!r} is not a parallel-scan path.")
