"""The Elman simple RNN cell."""

from __future__ import annotations

from typing import Any

import keras

from rnnkit.cells.base import RecurrentCell
from rnnkit.ops.recurrent_matmul import RecurrentMatmul


@keras.saving.register_keras_serializable(package="rnnkit")
class SimpleRNNCell(RecurrentCell):
    """Elman S-RNN cell: ``s_i = g(s_{i-1} W^s + x_i W^x + b)``, ``y_i = s_i``.

    Weights are laid out as ``keras.layers.SimpleRNNCell``'s: ``kernel`` (d_in, units),
    ``recurrent_kernel`` (units, units), ``bias`` (units,).

    Args:
        units: Positive integer, dimensionality of the state.
        activation: ``g``; ``"tanh"`` (default), ``"relu"`` or any Keras activation.
        **kwargs: the common cell arguments of :class:`rnnkit.cells.RecurrentCell`
            (use_bias, initializers, regularizers, constraints, dropout,
            recurrent_dropout, seed).

    Call arguments:
        inputs: ``(batch, features)`` input of one step.
        states: list with the previous state ``(batch, units)``.
        training: whether dropout is active.

    Returns:
        ``(output, [new_state])``, both ``(batch, units)``.

    Example:

    >>> cell = SimpleRNNCell(4)
    >>> y, [s] = cell(keras.ops.ones((2, 3)), [keras.ops.zeros((2, 4))])
    """

    gates = 1

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        super().__init__(units, activation=activation, **kwargs)

    def step(
        self,
        projected: Any,
        states: list,
        recurrent_mask: Any = None,
        matmul: RecurrentMatmul | None = None,
    ) -> tuple[Any, list]:
        prev = states[0]
        if recurrent_mask is not None:
            prev = prev * recurrent_mask
        output = self.activation(self.recurrent_matmul(matmul).accumulate(projected, prev))
        return output, [output]

    def fused_kind(self) -> str | None:
        name = keras.activations.serialize(self.activation)
        return {"tanh": "rnn_tanh", "relu": "rnn_relu"}.get(name) if isinstance(name, str) else None
