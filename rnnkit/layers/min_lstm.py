"""minLSTM: an LSTM whose gates and candidate depend on the input alone (Feng et al. 2024)."""

from __future__ import annotations

import keras

from rnnkit.layers.parallel_rnn import ParallelRNN
from rnnkit.ops.min_rnn import min_lstm_coefficients, min_lstm_linear_coefficients


@keras.saving.register_keras_serializable(package="rnnkit")
class MinLSTM(ParallelRNN):
    """Minimal LSTM, trained in parallel over time.

    ``f_t = sigmoid(x_t W_f + b_f)``, ``i_t = sigmoid(x_t W_i + b_i)``,
    ``h~_t = g(x_t W_h + b_h)``, normalized gates ``f'_t = f_t / (f_t + i_t)`` and
    ``i'_t = i_t / (f_t + i_t)``, ``h_t = f'_t * h_{t-1} + i'_t * h~_t`` (the paper's
    length-independent form; ``g`` as in :class:`MinGRU`, and log space for the parallel
    scan as there). The sequence runs as one projection and one solve of the linear
    recurrence; :meth:`step` runs the same recurrence one step at a time. Masks of any
    pattern carry the state through masked steps.

    Every call runs one path, chosen by :func:`rnnkit.layers.planner.plan_parallel_scan`
    (``layer.execution_plan(x)``, :func:`rnnkit.explain`); the paths and their conditions
    are listed in :class:`rnnkit.layers.parallel_rnn.ParallelRNN`.

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

    >>> layer = MinLSTM(32)
    >>> y = layer(keras.ops.ones((2, 100, 8)))  # (2, 32)

    Weights: ``kernel`` ``(features, 3 * units)`` (forget, input, candidate) and ``bias``.
    """

    gates = 3

    log_coefficients = staticmethod(min_lstm_coefficients)
    linear_coefficients = staticmethod(min_lstm_linear_coefficients)
