"""minGRU: a GRU whose gate and candidate depend on the input alone (Feng et al. 2024)."""

from __future__ import annotations

import keras

from rnnkit.layers.parallel_rnn import ParallelRNN
from rnnkit.ops.min_rnn import min_gru_coefficients, min_gru_linear_coefficients


@keras.saving.register_keras_serializable(package="rnnkit")
class MinGRU(ParallelRNN):
    """Minimal GRU, trained in parallel over time.

    ``z_t = sigmoid(x_t W_z + b_z)``, ``h~_t = g(x_t W_h + b_h)``,
    ``h_t = (1 - z_t) * h_{t-1} + z_t * h~_t``, with ``g(v) = v + 0.5`` for ``v >= 0`` and
    ``sigmoid(v)`` below (the paper's log-space form: candidates stay positive). No state
    enters the gates, so the whole sequence is one projection and one solve of the linear
    recurrence: the parallel scan runs in log space (a linear-space parallel scan's running
    products overflow in low precision); the sequential form on a CPU steps in linear
    space, where each state is a convex combination and stays in range. :meth:`step`
    runs the same recurrence one step at a time.

    Every call runs one path, chosen by :func:`rnnkit.layers.planner.plan_parallel_scan`
    (``layer.execution_plan(x)``, :func:`rnnkit.explain`); the paths and their conditions
    are listed in :class:`rnnkit.layers.parallel_rnn.ParallelRNN`.

    Masks of any pattern (right- or left-padded, holes) carry the state through masked
    steps, so the outputs at real positions equal those of the unpadded sequence and the
    final state is the state after each row's last real step.

    Args:
        units: positive integer, dimensionality of the state and output.
        **kwargs: the arguments of :class:`rnnkit.layers.parallel_rnn.ParallelRNN`
            (use_bias, initializers, regularizers, constraints, dropout, seed,
            return_sequences, return_state, go_backwards, zero_output_for_mask,
            stateful) and of ``keras.Layer``.

    Call arguments:
        sequences: ``(batch, timesteps, features)`` float tensor.
        initial_state: optional ``(batch, units)`` tensor (or a list of one), any sign.
        mask: optional boolean ``(batch, timesteps)``.
        training: whether dropout is active.

    Returns:
        ``(batch, units)``, or ``(batch, timesteps, units)`` with ``return_sequences``;
        with ``return_state``, ``[output, final_state]``.

    Example:

    >>> layer = MinGRU(32, return_sequences=True)
    >>> y = layer(keras.ops.ones((2, 100, 8)))  # (2, 100, 32)

    Weights: ``kernel`` ``(features, 2 * units)`` (gate, then candidate) and ``bias``.
    """

    gates = 2

    log_coefficients = staticmethod(min_gru_coefficients)
    linear_coefficients = staticmethod(min_gru_linear_coefficients)
