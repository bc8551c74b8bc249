"""Attention pooling: one vector from a sequence (DeepMoji / HAN attention)."""

from __future__ import annotations

from typing import Any

import keras
from keras import initializers, ops, regularizers

from rnnkit.ops.validation import check_float, check_rank, static_shape

SCORES = ("deepmoji", "han")


def masked_softmax(logits: Any, mask: Any = None, axis: int = -1) -> Any:
    """Softmax of ``logits`` over ``axis`` where ``mask`` False entries get weight 0.

    Masked logits never enter the result (neither the maximum used for stability nor
    the sum), so their values cannot change it; rows with every entry masked get all
    zero weights (not NaN). Gradients stay finite.
    """
    if logits.shape[axis] == 1:  # one item: weight 1 where unmasked
        ones = ops.ones_like(logits)
        return ones if mask is None else ones * ops.cast(mask, logits.dtype)
    if mask is None:
        return ops.softmax(logits, axis=axis)
    mask = ops.cast(mask, "bool")
    row_min = ops.min(logits, axis=axis, keepdims=True)
    row_max = ops.max(ops.where(mask, logits, row_min), axis=axis, keepdims=True)
    row_max = ops.stop_gradient(row_max)
    shifted = ops.where(mask, logits - row_max, ops.zeros_like(logits))
    exp = ops.exp(shifted) * ops.cast(mask, logits.dtype)
    total = ops.sum(exp, axis=axis, keepdims=True)
    total = ops.where(total > 0, total, ops.ones_like(total))
    return exp / total


@keras.saving.register_keras_serializable(package="rnnkit")
class AttentionPooling(keras.Layer):
    """Attention-weighted average of a sequence: ``sum_t alpha_t x_t``.

    ``alpha = softmax_t(score(x_t))`` over the unmasked time steps, with one of two
    score forms:

    * ``"deepmoji"`` (Felbo et al. 2017): ``score(x_t) = x_t . w`` with one weight
      vector ``attention_vector`` of shape ``(d,)``. This is torchMoji's
      ``attention_vector`` as is; DeepMoji's Keras layer ``AttentionWeightedAverage``
      ('attlayer') stored the same vector with shape ``(d, 1)``: import it with
      ``layer.attention_vector.assign(w.reshape(-1))`` (or
      ``layer.set_weights([w.reshape(-1)])``).
    * ``"han"`` (Yang et al. 2016): ``score(x_t) = u_w . tanh(W x_t + b)`` with
      weights ``kernel`` ``(d, units)``, ``bias`` ``(units,)`` and
      ``context_vector`` ``(units,)``.

    Masked steps get weight exactly 0 and are zeroed before anything else, so the
    padding content can never change the result (not even through the softmax's
    maximum); a fully masked row gives a zero vector and zero weights.

    Args:
        score: ``"deepmoji"`` or ``"han"``.
        units: Size of the HAN hidden projection ``W`` (default: the input
            dimension). Not used by ``"deepmoji"``.
        return_attention: Also return the attention weights ``(batch, timesteps)``.
        kernel_initializer: Initializer of ``kernel`` (HAN).
        bias_initializer: Initializer of ``bias`` (HAN).
        attention_initializer: Initializer of ``attention_vector`` (DeepMoji) or
            ``context_vector`` (HAN). Default uniform in [-0.05, 0.05], the Keras 2
            ``"uniform"`` that DeepMoji used.
        kernel_regularizer: Regularizer of ``kernel`` (HAN).
        attention_regularizer: Regularizer of ``attention_vector`` / ``context_vector``.

    Call arguments:
        inputs: ``(batch, timesteps, features)`` float tensor.
        mask: optional boolean ``(batch, timesteps)``; False steps get weight 0.
            Propagated automatically from an ``Embedding(mask_zero=True)`` or an RNN.

    Returns:
        ``(batch, features)``; with ``return_attention=True`` a tuple
        ``(vector (batch, features), weights (batch, timesteps))``.

    Example:

    >>> pool = AttentionPooling(score="han", units=32, return_attention=True)
    >>> vector, weights = pool(keras.ops.ones((2, 7, 16)))  # (2, 16), (2, 7)
    """

    def __init__(
        self,
        score: str = "deepmoji",
        units: int | None = None,
        return_attention: bool = False,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        attention_initializer: Any = None,
        kernel_regularizer: Any = None,
        attention_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if score not in SCORES:
            raise ValueError(f"`score` must be one of {SCORES}, got {score!r}.")
        if units is not None and (
            not isinstance(units, int) or isinstance(units, bool) or units <= 0
        ):
            raise ValueError(f"`units` must be a positive integer or None, got {units!r}.")
        super().__init__(**kwargs)
        self.score = score
        self.units = units
        self.return_attention = return_attention
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if attention_initializer is None:
            attention_initializer = initializers.RandomUniform(-0.05, 0.05)
        self.attention_initializer = initializers.get(attention_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.attention_regularizer = regularizers.get(attention_regularizer)
        self.supports_masking = True

    def build(self, input_shape: tuple) -> None:
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' expected inputs of rank 3 (batch, timesteps, features) "
                f"with a defined feature dimension, got shape {shape}."
            )
        self.input_dim = int(shape[-1])
        if self.score == "deepmoji":
            self.attention_vector = self.add_weight(
                shape=(self.input_dim,),
                name="attention_vector",
                initializer=self.attention_initializer,
                regularizer=self.attention_regularizer,
            )
        else:
            units = self.units or self.input_dim
            self.kernel = self.add_weight(
                shape=(self.input_dim, units),
                name="kernel",
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
            )
            self.bias = self.add_weight(
                shape=(units,), name="bias", initializer=self.bias_initializer
            )
            self.context_vector = self.add_weight(
                shape=(units,),
                name="context_vector",
                initializer=self.attention_initializer,
                regularizer=self.attention_regularizer,
            )
        self.built = True

    def scores(self, inputs: Any) -> Any:
        """Unnormalised scores ``(batch, timesteps)`` of the chosen form."""
        if self.score == "deepmoji":
            return ops.einsum("btd,d->bt", inputs, self.attention_vector)
        hidden = ops.tanh(ops.matmul(inputs, self.kernel) + self.bias)
        return ops.einsum("btu,u->bt", hidden, self.context_vector)

    def call(self, inputs: Any, mask: Any = None) -> Any:
        shape = check_rank(self.name, inputs, 3, "inputs", "(batch, timesteps, features)")
        check_float(self.name, inputs)
        if shape[-1] is not None and shape[-1] != self.input_dim:
            raise ValueError(
                f"Layer '{self.name}' was built for {self.input_dim} input features, "
                f"got inputs of shape {shape}."
            )
        if mask is not None:
            mshape = static_shape(mask)
            if len(mshape) != 2 or not all(
                a is None or b is None or a == b for a, b in zip(mshape, shape[:2])
            ):
                raise ValueError(
                    f"Layer '{self.name}' expected a mask of shape (batch, timesteps) = "
                    f"{shape[:2]}, got a mask of shape {mshape}."
                )
            mask = ops.cast(mask, "bool")
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, ops.zeros_like(inputs))
        weights = masked_softmax(self.scores(inputs), mask, axis=1)
        vector = ops.einsum("bt,btd->bd", weights, inputs)
        if self.return_attention:
            return vector, weights
        return vector

    def compute_output_shape(self, input_shape: tuple) -> Any:
        vector = (input_shape[0], input_shape[-1])
        if self.return_attention:
            return vector, (input_shape[0], input_shape[1])
        return vector

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return (None, None) if self.return_attention else None

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "score": self.score,
            "units": self.units,
            "return_attention": self.return_attention,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "attention_initializer": initializers.serialize(self.attention_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "attention_regularizer": regularizers.serialize(self.attention_regularizer),
        }
