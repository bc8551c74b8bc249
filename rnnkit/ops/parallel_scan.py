"""Linear recurrences over a whole sequence at once: ``h_t = a_t * h_{t-1} + b_t``.

Used by the parallel-in-time layers (:class:`rnnkit.layers.MinGRU`,
:class:`rnnkit.layers.MinLSTM`; Feng et al. 2024, "Were RNNs All We Needed?"). With
``0 < a_t <= 1`` and ``b_t > 0`` the recurrence is solved in log space by one associative
scan (``keras.ops.associative_scan``: ``O(log T)`` depth, every backend) over pairs
``(log a, log b)`` combined as ``(A1 + A2, logaddexp(B1 + A2, B2))``; no intermediate ever
leaves the range of the logs of the inputs, so the scan neither overflows nor underflows
at any length. The initial state enters linearly: ``h_t = exp(A_t) * h_0 + exp(B_t)`` with
``A_t = sum(log a)`` (at most 0) and ``B_t`` the scanned ``log`` of the rest, so ``h_0``
may have any sign.

:func:`chunked_linear_recurrence` solves the same recurrence in one pass per chunk of the
time axis with a backend's native cumulative log-sum-exp (passed in by
:mod:`rnnkit.backend`); :func:`rnnkit.layers.planner.plan_parallel_scan` chooses between
the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

#: ``log(0)`` in the scan: finite (a true ``-inf`` turns ``logaddexp``'s gradient into
#: NaN), far below any log of a real term (``exp(-1e4)`` is 0 in every float type).
LOG_ZERO = -1e4


def g(x: Any) -> Any:
    """The paper's positive activation: ``x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` below.

    Continuous, increasing and positive, so candidate states stay positive and their logs
    exist.
    """
    return ops.where(x >= 0, x + 0.5, ops.sigmoid(x))


def log_g(x: Any) -> Any:
    """``log(g(x))`` computed stably (``-softplus(-x)`` below 0)."""
    return ops.where(x >= 0, ops.log(ops.maximum(x, 0.0) + 0.5), -ops.softplus(-x))


def linear_recurrence(
    log_a: Any,
    log_b: Any,
    initial_state: Any = None,
    mask: Any = None,
    dynamic_length: bool | None = None,
) -> Any:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` along axis 1, from the logs of a and b.

    Args:
        log_a: ``(batch, timesteps, units)`` logs of the decay factors (``<= 0``).
        log_b: ``(batch, timesteps, units)`` logs of the positive inputs.
        initial_state: ``(batch, units)`` ``h_0`` of any sign; None for zeros.
        mask: optional boolean ``(batch, timesteps)``; at a False step the state is
            carried unchanged (``a = 1``, ``b = 0``), whatever the pattern of the mask.
        dynamic_length: run the ``while_loop`` scan made for a time length known only at
            run time; None: when the static length is unknown. (The layers pass what
            their plan, :func:`rnnkit.layers.planner.plan_parallel_scan`, says.)

    Returns:
        ``(batch, timesteps, units)``: ``h_1 ... h_T``.

    Example:

    >>> la = keras.ops.log(keras.ops.full((1, 3, 1), 0.5))
    >>> lb = keras.ops.zeros((1, 3, 1))  # b = 1
    >>> h = linear_recurrence(la, lb)  # [[1], [1.5], [1.75]]
    """
    log_a, log_b = masked_coefficients(log_a, log_b, mask)
    if dynamic_length is None:
        dynamic_length = log_a.shape[1] is None
    if not dynamic_length:
        log_decay, log_rest = ops.associative_scan(_combine, (log_a, log_b), axis=1)
    else:  # a length known only at run time (a traced TensorFlow function)
        log_decay, log_rest = _scan_dynamic_length(log_a, log_b)
    states = ops.exp(log_rest)
    if initial_state is not None:
        states = states + ops.exp(log_decay) * ops.expand_dims(initial_state, 1)
    return states


def masked_coefficients(log_a: Any, log_b: Any, mask: Any = None) -> tuple[Any, Any]:
    """``(log a, log b)`` with a masked step's ``a = 1`` and ``b = 0`` (``log_a = 0``,
    ``log_b =`` :data:`LOG_ZERO`): the state passes through it unchanged."""
    if mask is None:
        return log_a, log_b
    keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
    log_a = ops.where(keep, log_a, ops.zeros_like(log_a))
    log_b = ops.where(keep, log_b, ops.full_like(log_b, LOG_ZERO))
    return log_a, log_b


def chunked_linear_recurrence(
    log_a: Any,
    log_b: Any,
    initial_state: Any = None,
    mask: Any = None,
    *,
    cumulative_logsumexp: Callable[[Any, int], Any],
    chunk: int,
    dynamic_length: bool | None = None,
) -> Any:
    """The states of :func:`linear_recurrence` in one pass per chunk of ``chunk`` steps,
    with a backend's native cumulative log-sum-exp.

    Within a chunk, with ``A_t`` the cumulative sum of ``log a`` from the chunk's start,
    the states without the entering state are
    ``exp(A_t + cumulative_logsumexp(log b - A)_t)``; the state entering the chunk adds
    ``exp(A_t) * h_in`` (any sign). Chunks keep ``|A|`` bounded by ``chunk`` steps of
    decay, so the float32 rounding of ``A`` and of the log-sum-exp (relative to their
    magnitude) stays small at any sequence length. The states entering the chunks come
    from :func:`linear_recurrence` over the chunks' end points (one step per chunk).
    The time axis is padded to a multiple of ``chunk`` with steps that carry the state
    (``a = 1``, ``b = 0``), and the padding is cut from the result. Masks work as in
    :func:`linear_recurrence`. float16 and bfloat16 coefficients are computed in float32
    and the states cast back.

    Args:
        log_a, log_b, initial_state, mask: as in :func:`linear_recurrence`.
        cumulative_logsumexp: ``f(x, axis)``, the inclusive cumulative log-sum-exp of
            the backend (:mod:`rnnkit.backend`), differentiable.
        chunk: time steps per chunk (positive).
        dynamic_length: the length is known only at run time (the chunk count then is
            too); None: when the static length is unknown.

    Returns:
        ``(batch, timesteps, units)``: ``h_1 ... h_T``, in ``log_a``'s dtype.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of steps, got {chunk!r}.")
    dtype = keras.backend.standardize_dtype(log_a.dtype)
    compute = "float32" if dtype in ("float16", "bfloat16") else dtype
    log_a, log_b = masked_coefficients(ops.cast(log_a, compute), ops.cast(log_b, compute), mask)
    steps = log_a.shape[1]
    if dynamic_length is None:
        dynamic_length = steps is None
    batch = ops.shape(log_a)[0]
    units = log_a.shape[2]
    if not dynamic_length:
        chunks = -(-steps // chunk)
        pad = chunks * chunk - steps
        if pad:
            log_a = ops.pad(log_a, [[0, 0], [0, pad], [0, 0]])
            log_b = ops.pad(log_b, [[0, 0], [0, pad], [0, 0]], constant_values=LOG_ZERO)
    else:
        steps = ops.shape(log_a)[1]
        chunks = (steps + chunk - 1) // chunk
        pad = chunks * chunk - steps
        fill = ops.zeros((batch, pad, units), compute)
        log_a = ops.concatenate([log_a, fill], axis=1)
        log_b = ops.concatenate([log_b, fill + LOG_ZERO], axis=1)
    log_a = ops.reshape(log_a, (batch, chunks, chunk, units))
    log_b = ops.reshape(log_b, (batch, chunks, chunk, units))
    log_decay = ops.cumsum(log_a, axis=2)
    log_rest = log_decay + cumulative_logsumexp(log_b - log_decay, 2)
    states = ops.exp(log_rest)
    h0 = None if initial_state is None else ops.cast(initial_state, compute)
    if dynamic_length or chunks > 1:
        # the state at the end of each chunk: one step of the recurrence per chunk
        ends = linear_recurrence(
            log_decay[:, :, -1], log_rest[:, :, -1], h0, dynamic_length=dynamic_length
        )
        ends = ops.reshape(ends, (batch, chunks, units))  # (TensorFlow's scan loses it)
        first = ops.zeros_like(ends[:, :1]) if h0 is None else ops.expand_dims(h0, 1)
        entering = ops.concatenate([first, ends[:, :-1]], axis=1)
        states = states + ops.exp(log_decay) * ops.expand_dims(entering, 2)
    elif h0 is not None:
        states = states + ops.exp(log_decay) * ops.reshape(h0, (batch, 1, 1, units))
    states = ops.reshape(states, (batch, chunks * chunk, units))[:, :steps]
    return ops.cast(states, dtype)


def _combine(earlier: tuple, later: tuple) -> tuple:
    """The scan's operator on ``(log a, log b)`` pairs (associative)."""
    a1, b1 = earlier
    a2, b2 = later
    return a1 + a2, ops.logaddexp(b1 + a2, b2)


def _scan_dynamic_length(log_a: Any, log_b: Any) -> tuple[Any, Any]:
    """The same inclusive scan for a time length unknown when tracing: ``ceil(log2 T)``
    rounds, round ``k`` combining every step with the partial result ``2**k`` steps
    before it (Hillis and Steele), in a ``keras.ops.while_loop``."""
    steps = ops.shape(log_a)[1]
    position = ops.reshape(ops.arange(steps), (1, -1, 1))

    def body(offset: Any, a: Any, b: Any) -> tuple:
        valid = position >= offset
        before_a = ops.where(valid, ops.roll(a, offset, axis=1), 0.0)
        before_b = ops.where(valid, ops.roll(b, offset, axis=1), LOG_ZERO)
        a, b = _combine((before_a, before_b), (a, b))
        return offset * 2, a, b

    _, a, b = ops.while_loop(
        lambda offset, a, b: offset < steps, body, (ops.convert_to_tensor(1), log_a, log_b)
    )
    return a, b
