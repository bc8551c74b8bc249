"""The LSTM cell."""

from __future__ import annotations

from typing import Any

import keras
from keras import initializers, ops

from rnnkit.backend.torch import GATES as CLOSED_FORM_GATES
from rnnkit.cells.base import GatedRecurrentCell
from rnnkit.ops.activations import serialize_activation
from rnnkit.ops.recurrent_matmul import RecurrentMatmul


@keras.saving.register_keras_serializable(package="rnnkit")
class LSTMCell(GatedRecurrentCell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997, with forget gate).

    ``i, f, o = sigma(x W^x + h W^h + b)`` per gate, ``z = tanh(...)``,
    ``c' = f * c + i * z``, ``h' = o * tanh(c')``; state ``[h, c]``, output ``h``.

    Weights are laid out exactly as ``keras.layers.LSTMCell``'s: ``kernel``
    (d_in, 4 units), ``recurrent_kernel`` (units, 4 units), ``bias`` (4 units,), gate
    order i, f, c, o; so ``layer.set_weights(keras_layer.get_weights())`` works.

    Args:
        units: Positive integer, dimensionality of the state.
        activation: Activation of the candidate and the output (default ``"tanh"``).
        recurrent_activation: Gate activation (default ``"sigmoid"``). Also takes
            ``"keras2_hard_sigmoid"``, the Keras 2 ``clip(0.2 x + 0.5, 0, 1)`` used by
            DeepMoji (Keras 3's ``"hard_sigmoid"`` is a different function).
        unit_forget_bias: Initialise the forget-gate bias to 1 (Jozefowicz et al. 2015).
        **kwargs: the common cell arguments of :class:`rnnkit.cells.RecurrentCell`.

    Call arguments:
        inputs: ``(batch, features)`` input of one step.
        states: ``[h, c]``, each ``(batch, units)``.
        training: whether dropout is active.

    Returns:
        ``(h, [h, c])``.

    Example:

    >>> cell = LSTMCell(8, recurrent_activation="keras2_hard_sigmoid")
    >>> h, (h, c) = cell(keras.ops.ones((2, 3)), cell.get_initial_state(2))
    """

    gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation=activation, recurrent_activation=recurrent_activation, **kwargs
        )
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def make_bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        base = self.bias_initializer
        units = self.units

        def bias_initializer(shape: Any, dtype: Any = None) -> Any:
            return ops.concatenate(
                [
                    base((units,), dtype=dtype),
                    initializers.get("ones")((units,), dtype=dtype),
                    base((units * 2,), dtype=dtype),
                ]
            )

        return bias_initializer

    def step(
        self,
        projected: Any,
        states: list,
        recurrent_mask: Any = None,
        matmul: RecurrentMatmul | None = None,
    ) -> tuple[Any, list]:
        h_prev, c_prev = states[0], states[1]
        if recurrent_mask is not None:
            h_prev = h_prev * recurrent_mask
        z = self.recurrent_matmul(matmul).accumulate(projected, h_prev)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def fused_kind(self) -> str | None:
        return "lstm" if self.standard_activations() else None

    def accumulates_projection(self) -> bool:
        return True

    def closed_form_gates(self) -> str | None:
        """The gate activation's name when the torch closed-form backward
        (:mod:`rnnkit.backend.torch`) can train this cell: a ``tanh`` activation
        and a gate activation it knows the derivative of; else None."""
        gate = serialize_activation(self.recurrent_activation)
        if serialize_activation(self.activation) != "tanh" or gate not in CLOSED_FORM_GATES:
            return None
        return gate

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
