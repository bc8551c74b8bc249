"""Keras's cuDNN kernels on TensorFlow and JAX with a GPU (the planner's ``cudnn`` path):

* ``cudnn``: on TensorFlow and JAX with a GPU, Keras's own cuDNN kernels
  (``keras.src.backend.lstm`` / ``gru``), for unmasked sequences. Only with a GPU: since
  Keras 3.15 the JAX ``gru`` is a plain ``lax.scan`` that also runs on a CPU, where
  rnnkit's own loop measured faster. These kernels raise ``NotImplementedError`` for
  configurations cuDNN cannot run.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import ops


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


def keras_cudnn(
    kind: str,
    cell: Any,
    inputs: Any,
    initial_states: list,
    mask: Any,
    go_backwards: bool,
    return_sequences: bool,
) -> tuple[Any, Any, list] | None:
    """Keras's cuDNN kernels on TensorFlow / JAX: the planner's ``cudnn`` path, chosen
    only with a GPU (Keras's JAX ``gru`` also runs on a CPU, where rnnkit's own loop is
    the faster one). None when Keras declines the configuration (``NotImplementedError``).

    With ``go_backwards`` the inputs are reversed here and the kernel runs forward, so the
    outputs come back in processing order (last input step first), as the generic loop
    gives them: Keras's JAX LSTM kernel returns its ``go_backwards`` outputs in input
    order instead."""
    from keras.src import backend as keras_backend

    if go_backwards:
        inputs = ops.flip(inputs, axis=1)
    common = dict(
        mask=None,
        kernel=cell.kernel,
        recurrent_kernel=cell.recurrent_kernel,
        bias=cell.bias,
        activation=cell.activation,
        recurrent_activation=cell.recurrent_activation,
        return_sequences=True,
        go_backwards=False,
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
