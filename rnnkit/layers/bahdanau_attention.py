"""Additive (Bahdanau) attention of a query over a source sequence."""

from __future__ import annotations

from typing import Any

import keras
from keras import initializers, ops, regularizers

from rnnkit.layers.attention_pooling import masked_softmax
from rnnkit.ops.validation import check_float, static_shape


@keras.saving.register_keras_serializable(package="rnnkit")
class BahdanauAttention(keras.Layer):
    """Additive attention (Bahdanau et al. 2015).

    ``e_tj = v^T tanh(W q_t + U h_j)`` over the source states ``h``,
    ``alpha_tj = softmax_j(e_tj)`` over the unmasked source steps and
    ``context_t = sum_j alpha_tj h_j``.

    Weights: ``query_kernel`` ``W`` ``(Dq, units)``, ``key_kernel`` ``U``
    ``(Dv, units)``, ``bias`` ``(units,)`` (inside the tanh) and ``score_vector``
    ``v`` ``(units,)``.

    For a decoder, the source projection ``U h`` does not change from step to
    step: compute it once with :meth:`project_values` and pass it to
    :meth:`attend` at every step (``call`` does both).

    Args:
        units: Size of the hidden scoring layer.
        use_bias: Whether to add ``bias`` inside the tanh.
        kernel_initializer: Initializer of ``W``, ``U`` and ``v``.
        bias_initializer: Initializer of ``bias``.
        kernel_regularizer: Regularizer of ``W``, ``U`` and ``v``.

    Call arguments:
        query: ``(batch, Dq)`` for one decoder step or ``(batch, Tq, Dq)`` for all.
        values: ``(batch, Tv, Dv)`` source states.
        mask: optional boolean ``(batch, Tv)`` mask of the values; masked source
            steps get weight exactly 0 (their content cannot change the result).
        return_attention_scores: Also return the attention weights.

    Returns:
        context ``(batch, Dv)`` or ``(batch, Tq, Dv)``; with
        ``return_attention_scores=True`` a tuple ``(context, weights)`` with weights
        ``(batch, Tv)`` or ``(batch, Tq, Tv)`` (softmax-normalised over ``Tv``).

    Example:

    >>> attention = BahdanauAttention(32)
    >>> context, weights = attention(
    ...     keras.ops.ones((2, 16)), keras.ops.ones((2, 9, 24)), return_attention_scores=True
    ... )  # (2, 24), (2, 9)
    """

    def __init__(
        self,
        units: int,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(f"`units` must be a positive integer, got {units!r}.")
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def build(self, query_shape: tuple, values_shape: tuple | None = None) -> None:
        query_shape = tuple(query_shape)
        if values_shape is None:
            raise ValueError(
                f"Layer '{self.name}' needs both a query and values: call it as "
                "layer(query, values)."
            )
        values_shape = tuple(values_shape)
        self._check_shapes(query_shape, values_shape)
        self.query_dim = int(query_shape[-1])
        self.value_dim = int(values_shape[-1])
        self.query_kernel = self.add_weight(
            shape=(self.query_dim, self.units),
            name="query_kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.key_kernel = self.add_weight(
            shape=(self.value_dim, self.units),
            name="key_kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = (
            self.add_weight(shape=(self.units,), name="bias", initializer=self.bias_initializer)
            if self.use_bias
            else None
        )
        self.score_vector = self.add_weight(
            shape=(self.units,),
            name="score_vector",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.built = True

    def _check_shapes(self, query_shape: tuple, values_shape: tuple) -> None:
        if len(query_shape) not in (2, 3) or query_shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' expected a query of shape (batch, Dq) or "
                f"(batch, Tq, Dq) with a defined Dq, got shape {query_shape}."
            )
        if len(values_shape) != 3 or values_shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' expected values of shape (batch, Tv, Dv) with a "
                f"defined Dv, got shape {values_shape}."
            )
        qb, vb = query_shape[0], values_shape[0]
        if qb is not None and vb is not None and qb != vb:
            raise ValueError(
                f"Layer '{self.name}': query and values must have the same batch size, got "
                f"query {query_shape} and values {values_shape}."
            )
        if self.built:
            if query_shape[-1] != self.query_dim:
                raise ValueError(
                    f"Layer '{self.name}' was built for queries with {self.query_dim} "
                    f"features, got a query of shape {query_shape}."
                )
            if values_shape[-1] != self.value_dim:
                raise ValueError(
                    f"Layer '{self.name}' was built for values with {self.value_dim} "
                    f"features, got values of shape {values_shape}."
                )

    def project_values(self, values: Any) -> Any:
        """``U h_j (+ bias)`` for all source steps: ``(batch, Tv, units)``."""
        keys = ops.matmul(values, self.key_kernel)
        if self.bias is not None:
            keys = keys + self.bias
        return keys

    def attend(self, query: Any, keys: Any, values: Any, mask: Any = None) -> tuple[Any, Any]:
        """Context and weights from a query and precomputed keys (see class docstring).

        Args:
            query: ``(batch, Dq)`` or ``(batch, Tq, Dq)``.
            keys: ``project_values(values)``, ``(batch, Tv, units)``.
            values: ``(batch, Tv, Dv)``.
            mask: optional boolean ``(batch, Tv)``.

        Returns:
            ``(context, weights)``.
        """
        single = len(query.shape) == 2
        q = ops.matmul(query, self.query_kernel)
        if single:
            q = ops.expand_dims(q, 1)  # (B, 1, units)
        # (B, Tq, 1, units) + (B, 1, Tv, units)
        hidden = ops.tanh(ops.expand_dims(q, 2) + ops.expand_dims(keys, 1))
        scores = ops.einsum("bqvu,u->bqv", hidden, self.score_vector)
        if mask is not None:
            mask = ops.expand_dims(ops.cast(mask, "bool"), 1)
            mask = ops.broadcast_to(mask, ops.shape(scores))
        weights = masked_softmax(scores, mask, axis=-1)
        context = ops.einsum("bqv,bvd->bqd", weights, values)
        if single:
            return context[:, 0], weights[:, 0]
        return context, weights

    def call(
        self,
        query: Any,
        values: Any,
        mask: Any = None,
        return_attention_scores: bool = False,
    ) -> Any:
        if isinstance(mask, (list, tuple)):  # Keras-propagated [query_mask, values_mask]
            mask = mask[-1]
        qshape, vshape = static_shape(query), static_shape(values)
        self._check_shapes(qshape, vshape)
        check_float(self.name, query, "query")
        check_float(self.name, values, "values")
        if mask is not None:
            mshape = static_shape(mask)
            if len(mshape) != 2 or not all(
                a is None or b is None or a == b for a, b in zip(mshape, vshape[:2])
            ):
                raise ValueError(
                    f"Layer '{self.name}' expected a values mask of shape (batch, Tv) = "
                    f"{vshape[:2]}, got a mask of shape {mshape}."
                )
            mask = ops.cast(mask, "bool")
            values = ops.where(ops.expand_dims(mask, -1), values, ops.zeros_like(values))
        context, weights = self.attend(query, self.project_values(values), values, mask)
        if return_attention_scores:
            return context, weights
        return context

    def compute_output_shape(self, query_shape: tuple, values_shape: tuple) -> Any:
        return (*tuple(query_shape)[:-1], values_shape[-1])

    def compute_output_spec(
        self, query: Any, values: Any, mask: Any = None, return_attention_scores: bool = False
    ) -> Any:
        qshape, vshape = tuple(query.shape), tuple(values.shape)
        context = keras.KerasTensor((*qshape[:-1], vshape[-1]), dtype=self.compute_dtype)
        if return_attention_scores:
            weights = keras.KerasTensor((*qshape[:-1], vshape[1]), dtype=self.compute_dtype)
            return context, weights
        return context

    def compute_mask(self, query: Any, values: Any = None, mask: Any = None, **kwargs: Any) -> Any:
        return None

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
        }
