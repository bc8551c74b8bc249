"""Fused recurrent kernels: the fast paths of :class:`rnnkit.layers.RNN`.

* ``torch_fused``: on the torch backend, ``torch.lstm`` / ``torch.gru`` /
  ``torch.rnn_tanh`` / ``torch.rnn_relu`` (cuDNN on GPU, ATen/oneDNN on CPU);
  rnnkit's weight layouts are converted to torch's (GRU gates z, r, h -> r, z, n).
* ``keras_cudnn``: on TensorFlow and JAX with a GPU, Keras's own cuDNN kernels
  (``keras.src.backend.lstm`` / ``gru``), which raise ``NotImplementedError`` for
  configurations cuDNN cannot run. Only with a GPU: since Keras 3.15 the JAX ``gru``
  is a plain ``lax.scan`` that also runs on a CPU, where rnnkit's own loop measured
  faster (GRU inference at B=64, H=512: 43.8 vs 69.0 ms at T=50, 476.8 vs 721.7 ms at
  T=500, ``benchmarks/RESULTS.md``).

Only unmasked sequences take a fused path. Both return ``(last_output, outputs,
states)`` like :func:`rnnkit.ops.recurrence`, or None when no fused kernel applies;
the runner then uses the generic loop. Tests check every fused path against the
generic one wherever both run.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import ops


def fused_recurrence(
    cell: Any,
    inputs: Any,
    initial_states: list,
    mask: Any = None,
    go_backwards: bool = False,
    return_sequences: bool = True,
) -> tuple[Any, Any, list] | None:
    """Runs ``cell`` over raw ``inputs`` (B, T, D) with a fused kernel, if one applies."""
    kind = cell.fused_kind()
    if kind is None or mask is not None:
        # Masked sequences take the generic loop: cuDNN zeroes padded outputs where
        # Keras's masking semantics carry the previous output.
        return None
    backend = keras.backend.backend()
    if backend == "torch":
        return torch_fused(kind, cell, inputs, initial_states, go_backwards)
    if backend in ("tensorflow", "jax") and kind in ("lstm", "gru") and gpu_available():
        return keras_cudnn(kind, cell, inputs, initial_states, mask, go_backwards, return_sequences)
    return None


@functools.cache
def _gpu_available(backend: str) -> bool:
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def gpu_available() -> bool:
    """Whether the current backend (TensorFlow or JAX) computes on a GPU."""
    return _gpu_available(keras.backend.backend())


def _gru_to_torch(w: Any) -> Any:
    import torch

    z, r, n = torch.chunk(w, 3, dim=-1)
    return torch.cat([r, z, n], dim=-1)


def torch_fused(
    kind: str, cell: Any, inputs: Any, initial_states: list, go_backwards: bool
) -> tuple[Any, Any, list]:
    """Torch fast path (see module docstring)."""
    import torch

    x = ops.convert_to_tensor(inputs)
    if go_backwards:
        x = torch.flip(x, dims=[1])
    kernel = ops.convert_to_tensor(cell.kernel)
    recurrent = ops.convert_to_tensor(cell.recurrent_kernel)
    bias = None if cell.bias is None else ops.convert_to_tensor(cell.bias)
    h0 = ops.convert_to_tensor(initial_states[0]).unsqueeze(0).contiguous()
    if kind == "gru":
        params = [_gru_to_torch(kernel).t(), _gru_to_torch(recurrent).t()]
        if bias is not None:
            params += [_gru_to_torch(bias[0]), _gru_to_torch(bias[1])]
    else:
        params = [kernel.t(), recurrent.t()]
        if bias is not None:
            params += [bias, torch.zeros_like(bias)]
    params = [p.contiguous() for p in params]
    has_bias = bias is not None
    args = (params, has_bias, 1, 0.0, False, False, True)
    if kind == "lstm":
        c0 = ops.convert_to_tensor(initial_states[1]).unsqueeze(0).contiguous()
        outputs, h, c = torch.lstm(x, (h0, c0), *args)
        return h[0], outputs, [h[0], c[0]]
    fn = {"gru": torch.gru, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}[kind]
    outputs, h = fn(x, h0, *args)
    return h[0], outputs, [h[0]]


def keras_cudnn(
    kind: str,
    cell: Any,
    inputs: Any,
    initial_states: list,
    mask: Any,
    go_backwards: bool,
    return_sequences: bool,
) -> tuple[Any, Any, list] | None:
    """Keras's cuDNN kernels on TensorFlow / JAX (GPU only; None elsewhere)."""
    from keras.src import backend as keras_backend

    common = dict(
        mask=None,
        kernel=cell.kernel,
        recurrent_kernel=cell.recurrent_kernel,
        bias=cell.bias,
        activation=cell.activation,
        recurrent_activation=cell.recurrent_activation,
        return_sequences=True,
        go_backwards=go_backwards,
        unroll=False,
    )
    try:
        if kind == "lstm":
            last, outputs, states = keras_backend.lstm(
                inputs, initial_states[0], initial_states[1], **common
            )
        else:
            last, outputs, states = keras_backend.gru(
                inputs, initial_states[0], reset_after=cell.reset_after, **common
            )
    except NotImplementedError:
        return None
    return last, outputs, list(states)
