"""Masked max / mean / max+mean pooling over time: one vector from a sequence."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

MODES = ("max", "mean", "max_mean")


@keras.saving.register_keras_serializable(package="rnnkit")
class MaskedPooling(keras.Layer):
    """Max, mean or concatenated ``[max, mean]`` over the unmasked time steps.

    Padding steps (mask False) never enter the result: the maximum is taken over
    unmasked steps only and the mean divides by their count. A fully masked row
    gives zeros (not ``-inf`` or NaN).

    Args:
        mode: ``"max"``, ``"mean"`` or ``"max_mean"`` (output ``2 * features``:
            the max first, then the mean).

    Call arguments:
        inputs: ``(batch, timesteps, features)`` float tensor.
        mask: optional boolean ``(batch, timesteps)``.

    Example:

    >>> pool = MaskedPooling("max_mean")
    >>> pool(keras.ops.ones((2, 5, 8))).shape
    (2, 16)
    """

    def __init__(self, mode: str = "max_mean", **kwargs: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
        super().__init__(**kwargs)
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")
        expanded = ops.expand_dims(mask, -1)
        weights = ops.cast(expanded, inputs.dtype)
        outputs = []
        if self.mode in ("max", "max_mean"):
            lowest = ops.min(inputs, axis=1, keepdims=True)  # any value below every step
            peak = ops.max(ops.where(expanded, inputs, lowest), axis=1)
            any_step = ops.any(mask, axis=1, keepdims=True)
            outputs.append(ops.where(any_step, peak, ops.zeros_like(peak)))
        if self.mode in ("mean", "max_mean"):
            count = ops.maximum(ops.sum(weights, axis=1), 1.0)
            outputs.append(ops.sum(inputs * weights, axis=1) / count)
        return outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        features = input_shape[-1]
        if self.mode == "max_mean" and features is not None:
            features = 2 * features
        return (input_shape[0], features)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}
