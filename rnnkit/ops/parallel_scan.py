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

:func:`sequential_linear_recurrence` solves the same recurrence one step after another
from the coefficients in linear space (no scan, no logs: the cheapest form where there is
no parallel hardware to use, as on a CPU);
:func:`rnnkit.layers.planner.plan_parallel_scan` chooses between the two.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from rnnkit.ops.recurrence import recurrence
from rnnkit.ops.validation import static_shape

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
    check_coefficients("linear_recurrence", ("log_a", log_a), ("log_b", log_b), initial_state, mask)
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


def check_coefficients(
    op: str,
    a: tuple[str, Any],
    b: tuple[str, Any],
    initial_state: Any = None,
    mask: Any = None,
    time_major: bool = False,
) -> None:
    """The ValueError of a recurrence given coefficients that are not two tensors of one
    ``(batch, timesteps, units)`` shape (``(timesteps, batch, units)`` with
    ``time_major``), an initial state that is not ``(batch, units)`` or a mask that is
    not ``(batch, timesteps)``; dimensions unknown while tracing pass. ``a`` and ``b``
    are ``(name, tensor)`` pairs, named as the caller's arguments."""
    layout = "(timesteps, batch, units)" if time_major else "(batch, timesteps, units)"
    shapes = {}
    for name, x in (a, b):
        shapes[name] = static_shape(x)
        if len(shapes[name]) != 3:
            raise ValueError(f"{op}: {name} must be {layout}, got shape {shapes[name]}.")
    (name_a, shape), (name_b, shape_b) = shapes.items()
    if not _same(shape, shape_b):
        raise ValueError(
            f"{op}: {name_a} and {name_b} must have the same shape {layout}, got "
            f"{shape} and {shape_b}."
        )
    batch, steps = (shape[1], shape[0]) if time_major else (shape[0], shape[1])
    for what, x, want, names in (
        ("initial_state", initial_state, (batch, shape[2]), "(batch, units)"),
        ("mask", mask, (batch, steps), "(batch, timesteps)"),
    ):
        if x is not None and not _same(static_shape(x), want):
            raise ValueError(
                f"{op}: {what} must be {names} = {want} for {name_a} of shape {shape}, got "
                f"shape {static_shape(x)}."
            )


def _same(got: tuple, want: tuple) -> bool:
    """Whether two static shapes agree where both are known."""
    return len(got) == len(want) and all(
        g is None or w is None or g == w for g, w in zip(got, want)
    )


def masked_coefficients(
    a: Any, b: Any, mask: Any = None, log_space: bool = True
) -> tuple[Any, Any]:
    """The coefficients with a masked step's ``a = 1`` and ``b = 0``, so that the state
    passes through it unchanged: in log space (``log_space``) ``log a = 0`` and
    ``log b =`` :data:`LOG_ZERO`."""
    if mask is None:
        return a, b
    keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
    one, zero = (0.0, LOG_ZERO) if log_space else (1.0, 0.0)
    return ops.where(keep, a, ops.full_like(a, one)), ops.where(keep, b, ops.full_like(b, zero))


def sequential_linear_recurrence(
    a: Any,
    b: Any,
    initial_state: Any = None,
    mask: Any = None,
    loop: str = "auto",
    time_major: bool = False,
) -> Any:
    """The states of ``h_t = a_t * h_{t-1} + b_t`` one step after another, from the
    linear-space coefficients (the work-efficient form: one multiply-add per element and
    step, against the parallel scan's ``O(log T)`` transcendental passes).

    With ``0 <= a_t <= 1`` and ``b_t`` a convex weight times a candidate (minGRU,
    minLSTM: :mod:`rnnkit.ops.min_rnn`), every state is a convex combination of the
    initial state and the candidates, so it stays in range in any float type; there is no
    running product to overflow or underflow. Masked steps carry the state unchanged
    (``a = 1``, ``b = 0``), whatever the mask's pattern. The loop is
    :func:`rnnkit.ops.recurrence.recurrence`'s (``loop``: one of its loops), stepping
    through ``a`` and ``b`` side by side.

    Args:
        a: ``(batch, timesteps, units)`` decay factors, or ``(timesteps, batch, units)``
            with ``time_major``.
        b: inputs, shaped like ``a``.
        initial_state: ``(batch, units)`` ``h_0`` of any sign; None for zeros.
        mask: optional boolean ``(batch, timesteps)`` (batch-major in either case).
        loop: the loop of :func:`rnnkit.ops.recurrence.recurrence`.
        time_major: ``a`` and ``b`` are time-major (the layers compute them so: the loop
            then needs no transpose of either).

    Returns:
        ``(batch, timesteps, units)``: ``h_1 ... h_T``, batch-major in either case.

    Example:

    >>> a = keras.ops.full((1, 3, 1), 0.5)
    >>> h = sequential_linear_recurrence(a, keras.ops.ones((1, 3, 1)))  # 1, 1.5, 1.75
    """
    check_coefficients(
        "sequential_linear_recurrence", ("a", a), ("b", b), initial_state, mask, time_major
    )
    # masked by the coefficients, not by the loop's masking: the loop would emit its
    # previous output (zeros before the first real step) where the state is meant
    if mask is not None and time_major:
        mask = ops.moveaxis(mask, 1, 0)
    a, b = masked_coefficients(a, b, mask, log_space=False)
    units = a.shape[-1]
    if initial_state is None:
        batch = ops.shape(a)[1 if time_major else 0]
        initial_state = ops.zeros((batch, units), dtype=a.dtype)

    def step(ab: tuple, states: list) -> tuple[Any, list]:
        h = ab[0] * states[0] + ab[1]
        return h, [h]

    _, states, _ = recurrence(
        step, (a, b), [initial_state], units, loop=loop, time_major=time_major
    )
    return states


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
