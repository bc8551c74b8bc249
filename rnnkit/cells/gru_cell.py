"""The GRU cell."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from rnnkit.cells.base import GatedRecurrentCell
from rnnkit.ops.recurrent_matmul import Block, RecurrentMatmul


@keras.saving.register_keras_serializable(package="rnnkit")
class GRUCell(GatedRecurrentCell):
    """Gated recurrent unit (Cho et al. 2014).

    ``z = sigma(x W_z + h U_z)``, ``r = sigma(x W_r + h U_r)``,
    ``h~ = tanh(x W_h + (r * h) U_h)`` (``reset_after=False``, the textbook form) or
    ``h~ = tanh(x W_h + r * (h U_h + b'))`` (``reset_after=True``, Keras's and cuDNN's
    default), ``h' = z * h + (1 - z) * h~``.

    Weights are laid out as ``keras.layers.GRUCell``'s: ``kernel`` (d_in, 3 units),
    ``recurrent_kernel`` (units, 3 units), gate order z, r, h; ``bias`` is (3 units,)
    with ``reset_after=False`` and (2, 3 units) (input bias, recurrent bias) with
    ``reset_after=True``.

    Args:
        units: Positive integer, dimensionality of the state.
        activation: Candidate activation (default ``"tanh"``).
        recurrent_activation: Gate activation (default ``"sigmoid"``; also
            ``"keras2_hard_sigmoid"``).
        reset_after: Apply the reset gate after the recurrent matmul (default True).
        **kwargs: the common cell arguments of :class:`rnnkit.cells.RecurrentCell`.

    Call arguments:
        inputs: ``(batch, features)`` input of one step.
        states: ``[h]``, ``(batch, units)``.
        training: whether dropout is active.

    Returns:
        ``(h, [h])``.

    Example:

    >>> cell = GRUCell(8, reset_after=False)
    >>> h, [h] = cell(keras.ops.ones((2, 3)), cell.get_initial_state(2))
    """

    gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation=activation, recurrent_activation=recurrent_activation, **kwargs
        )
        self.reset_after = reset_after

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def recurrent_blocks(self) -> tuple[Block, ...]:
        if self.reset_after:
            return ((0, None),)
        return ((0, 2 * self.units), (2 * self.units, None))

    def input_bias(self) -> Any:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def step(
        self,
        projected: Any,
        states: list,
        recurrent_mask: Any = None,
        matmul: RecurrentMatmul | None = None,
    ) -> tuple[Any, list]:
        matmul = self.recurrent_matmul(matmul)
        h_prev = states[0]
        h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
        u = self.units
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
        if self.reset_after:
            inner = matmul(h_in)
            if self.bias is not None:
                inner = inner + self.bias[1]
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            inner = matmul(h_in, 0, 2 * u)
            r_z, r_r = ops.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + matmul(r * h_in, 2 * u))
        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]

    def fused_kind(self) -> str | None:
        return "gru" if (self.standard_activations() and self.reset_after) else None

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after}
