"""The recurrence loop shared by every rnnkit recurrent layer.

``recurrence`` runs ``s_i = R(s_{i-1}, x_i), y_i = O(s_i)`` over time given a step
function, with Keras's masking semantics: at a masked step the states are carried
unchanged and the emitted output is the previous emitted output (or zeros with
``zero_output_for_mask=True``).

Loops:

* ``"unrolled"``: a Python loop of ``keras.ops`` calls over ``keras.ops.unstack`` of
  the inputs (the reference path; needs a static number of time steps). It is also
  torch's loop: torch runs eagerly, and stepping over ``unstack`` (``torch.unbind``)
  views gives one stacked gradient, where indexing one step at a time (as
  ``keras.ops.scan`` does on torch) makes the backward pass write a full-size gradient
  per step, quadratic in the length (measured: ``benchmarks/RESULTS.md``).
* ``"scan"``: ``keras.ops.scan`` -- ``jax.lax.scan`` on JAX, a plain loop on torch.
* ``"tf_while"``: fast path for TensorFlow, a ``tf.while_loop`` over TensorArrays
  (what ``keras.ops.scan`` cannot express there: its outputs must mirror the carry).

``loop="auto"`` picks ``tf_while`` on TensorFlow, ``scan`` on JAX, ``unrolled`` on
torch and whenever asked to unroll. Tests check every loop against ``unrolled``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from rnnkit.config import LOOPS

StepFn = Callable[[Any, list], tuple[Any, list]]

BACKEND_LOOPS = {"tensorflow": "tf_while", "jax": "scan", "torch": "unrolled"}


def masked_step(step: StepFn, zero_output_for_mask: bool):
    """``step`` with Keras's masking: ``fn(x_t, m_t, prev_output, states)``; masked
    steps keep the states and emit the previous output (zeros with
    ``zero_output_for_mask``). Shared by every loop here and by
    :mod:`rnnkit.backend.jax`."""

    def fn(x_t, m_t, prev_output, states):
        output, new_states = step(x_t, list(states))
        new_states = list(new_states)
        if m_t is None:
            return output, new_states
        m = ops.expand_dims(m_t, -1)
        new_states = [ops.where(m, n, s) for n, s in zip(new_states, states)]
        fill = ops.zeros_like(output) if zero_output_for_mask else prev_output
        return ops.where(m, output, fill), new_states

    return fn


def resolve_loop(loop: str, unroll: bool) -> str:
    if loop not in LOOPS:
        raise ValueError(f"Unknown loop {loop!r}: expected one of {LOOPS}.")
    if loop != "auto":
        if loop == "tf_while" and keras.backend.backend() != "tensorflow":
            raise ValueError("loop='tf_while' needs the TensorFlow backend.")
        if loop == "scan" and keras.backend.backend() == "tensorflow":
            raise ValueError(
                "loop='scan' is not available on TensorFlow (keras.ops.scan needs "
                "outputs shaped like the carry there); use 'tf_while' or 'unrolled'."
            )
        return loop
    if unroll:
        return "unrolled"
    return BACKEND_LOOPS.get(keras.backend.backend(), "scan")


def recurrence(
    step: StepFn,
    inputs: Any,
    initial_states: Sequence[Any],
    output_size: int,
    mask: Any = None,
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    return_sequences: bool = True,
    unroll: bool = False,
    loop: str = "auto",
    time_major: bool = False,
) -> tuple[Any, Any, list]:
    """Runs a step function over the time axis of ``inputs``.

    Args:
        step: ``step(x_t, states) -> (output, new_states)``; ``x_t`` is ``inputs[:, t]``
            (a tuple of the inputs' steps when ``inputs`` is a tuple).
        inputs: batch-major tensor ``(batch, timesteps, ...)`` (already projected), or
            time-major ``(timesteps, batch, ...)`` with ``time_major=True``; or a tuple of
            such tensors with the same batch and time steps, stepped through together
            (no concatenated copy, and each step reads whole rows of each).
        initial_states: list of ``(batch, n)`` tensors.
        output_size: size of the step output (for the zero output before step 0).
        mask: optional boolean ``(batch, timesteps)``; False steps are skipped.
        go_backwards: process the sequence in reverse; outputs come back in
            processing order (as Keras does). :class:`rnnkit.layers.RNN` reverses
            its raw inputs itself before projecting them (less data to move) and
            passes False here.
        zero_output_for_mask: emit zeros instead of the previous output at
            masked steps.
        return_sequences: also return all outputs ``(batch, timesteps, output_size)``.
        unroll: unroll the loop in Python (static time dimension required).
        loop: one of ``LOOPS``.
        time_major: ``inputs`` is time-major. Runners project time-major inputs so
            that the large projected tensor never needs a transpose (on XLA CPU that
            transpose costs as much as the projection itself); ``mask`` and the
            returned outputs stay batch-major.

    Returns:
        ``(last_output, outputs_or_None, final_states)``.
    """
    loop = resolve_loop(loop, unroll)
    states = list(initial_states)
    several = isinstance(inputs, (tuple, list))
    inputs_tm = tuple(ops.convert_to_tensor(x) for x in (inputs if several else (inputs,)))
    if not time_major:
        inputs_tm = tuple(ops.moveaxis(x, 1, 0) for x in inputs_tm)
    mask_tm = None
    if mask is not None:
        mask_tm = ops.moveaxis(ops.cast(mask, "bool"), 1, 0)
    if go_backwards:
        inputs_tm = tuple(ops.flip(x, axis=0) for x in inputs_tm)
        if mask_tm is not None:
            mask_tm = ops.flip(mask_tm, axis=0)
    batch = ops.shape(inputs_tm[0])[1]
    zero_output = ops.zeros((batch, output_size), dtype=states[0].dtype)
    masked = masked_step(step, zero_output_for_mask)

    def fn(x_t, m_t, prev_output, states):  # every loop steps through a tuple of inputs
        return masked(x_t if several else x_t[0], m_t, prev_output, states)

    if loop == "unrolled":
        last, outs, states = _unrolled(fn, inputs_tm, mask_tm, zero_output, states)
    elif loop == "scan":
        last, outs, states = _scan(fn, inputs_tm, mask_tm, zero_output, states, return_sequences)
    else:
        last, outs, states = _tensorflow_while_loop(
            fn, inputs_tm, mask_tm, zero_output, states, return_sequences
        )
    outputs = ops.moveaxis(outs, 0, 1) if (return_sequences and outs is not None) else None
    return last, outputs, states


def _unrolled(fn, inputs_tm, mask_tm, prev, states):
    timesteps = inputs_tm[0].shape[0]
    if timesteps is None:
        raise ValueError(
            "Cannot unroll a recurrent layer over an undefined number of time steps: "
            "give the Input a static time dimension or use unroll=False."
        )
    if timesteps == 0:
        raise ValueError("Cannot run a recurrent layer over 0 time steps.")
    steps = list(zip(*(ops.unstack(x, timesteps, axis=0) for x in inputs_tm)))
    masks_t = [None] * timesteps if mask_tm is None else ops.unstack(mask_tm, timesteps, axis=0)
    outputs = []
    for x_t, m_t in zip(steps, masks_t):
        prev, states = fn(x_t, m_t, prev, states)
        outputs.append(prev)
    return prev, ops.stack(outputs, axis=0), states


def _scan(fn, inputs_tm, mask_tm, prev, states, return_sequences):
    if mask_tm is None:
        # Unmasked: the previous output is never read, so it is not carried (a smaller
        # carry is a cheaper backward pass); the last output is the last of the outputs.
        def body(st, x_t):
            out, new_states = fn(x_t, None, None, list(st))
            return tuple(new_states), out

        final_states, outs = ops.scan(body, tuple(states), inputs_tm)
        return outs[-1], outs, list(final_states)

    def body(carry, xs):
        prev_output, st = carry
        x_t, m_t = xs
        out, new_states = fn(x_t, m_t, prev_output, list(st))
        return (out, tuple(new_states)), out

    (last, final_states), outs = ops.scan(body, (prev, tuple(states)), (inputs_tm, mask_tm))
    return last, outs, list(final_states)


def _tensorflow_while_loop(fn, inputs_tm, mask_tm, prev, states, return_sequences):
    """TensorFlow fast path: ``tf.while_loop`` over TensorArrays (as Keras's own RNN)."""
    import tensorflow as tf

    timesteps = tf.shape(inputs_tm[0])[0]
    static_t = inputs_tm[0].shape[0]
    input_tas = [
        tf.TensorArray(x.dtype, size=timesteps, element_shape=x.shape[1:]).unstack(x)
        for x in inputs_tm
    ]

    def read(t):
        return tuple(ta.read(t) for ta in input_tas)

    mask_ta = None
    if mask_tm is not None:
        mask_ta = tf.TensorArray(tf.bool, size=timesteps, element_shape=mask_tm.shape[1:])
        mask_ta = mask_ta.unstack(mask_tm)
    output_ta = tf.TensorArray(
        prev.dtype, size=timesteps if return_sequences else 1, element_shape=prev.shape
    )

    loop_kwargs = dict(
        parallel_iterations=32,
        swap_memory=True,
        maximum_iterations=static_t if static_t is not None else timesteps,
    )
    if mask_ta is None:
        # Unmasked: the previous output is never read, so it is not carried (as in
        # Keras's own loop); the last output is read back from the outputs.
        def body(t, out_ta, *st):
            out, new_states = fn(read(t), None, None, list(st))
            out_ta = out_ta.write(t if return_sequences else 0, out)
            return (t + 1, out_ta, *new_states)

        result = tf.while_loop(
            lambda t, *_: t < timesteps, body, (tf.constant(0), output_ta, *states), **loop_kwargs
        )
        final_states = list(result[2:])
        if return_sequences:
            outs = result[1].stack()  # before any read: reads clear TensorArray elements
            last = outs[-1]
        else:
            outs, last = None, result[1].read(0)
        last.set_shape(prev.shape)
    else:

        def body(t, out_ta, prev_output, *st):
            out, new_states = fn(read(t), mask_ta.read(t), prev_output, list(st))
            out_ta = out_ta.write(t if return_sequences else 0, out)
            return (t + 1, out_ta, out, *new_states)

        result = tf.while_loop(
            lambda t, *_: t < timesteps,
            body,
            (tf.constant(0), output_ta, prev, *states),
            **loop_kwargs,
        )
        last = result[2]
        final_states = list(result[3:])
        outs = result[1].stack() if return_sequences else None
    if outs is not None and static_t is not None:
        outs.set_shape([static_t, *prev.shape])
    return last, outs, final_states
