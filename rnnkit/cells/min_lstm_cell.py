"""The minLSTM step cell (Feng et al. 2024), for decoders that run token by token
(:class:`rnnkit.layers.AttentionDecoder`, :class:`rnnkit.models.Seq2Seq`): the equations
:class:`rnnkit.layers.MinLSTM` scans over whole sequences, one step at a time."""

from __future__ import annotations

from typing import Any

import keras

from rnnkit.cells.base import LinearRecurrenceCell
from rnnkit.ops.min_rnn import min_lstm_linear_coefficients


@keras.saving.register_keras_serializable(package="rnnkit")
class MinLSTMCell(LinearRecurrenceCell):
    """minLSTM step: ``f``, ``i`` sigmoid gates normalised to ``f' = f / (f + i)``,
    ``i' = i / (f + i)``; ``h = f' * h_prev + i' * g(x W_h + b_h)``.

    Args:
        units: Positive integer, dimensionality of the state.
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint, dropout, seed: as
            :class:`rnnkit.cells.RecurrentCell`'s. ``recurrent_dropout`` must be 0.

    Call arguments:
        inputs: ``(batch, features)`` input of one step.
        states: list with the previous state ``(batch, units)`` (any sign).
        training: whether dropout is active.

    Returns:
        ``(output, [new_state])``, both ``(batch, units)``.

    Example:

    >>> cell = MinLSTMCell(4)
    >>> y, [h] = cell(keras.ops.ones((2, 3)), [keras.ops.zeros((2, 4))])
    """

    gates = 3

    def coefficients(self, projected: Any) -> tuple[Any, Any]:
        return min_lstm_linear_coefficients(projected, self.units)
