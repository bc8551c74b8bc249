"""Linear-chain conditional random field layer."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from rnnkit.ops.crf import (
    crf_decode,
    crf_log_likelihood,
    crf_marginals,
    validate_crf_inputs,
)
from rnnkit.ops.validation import static_shape


@keras.saving.register_keras_serializable(package="rnnkit")
class CRF(keras.Layer):
    """Linear-chain CRF over per-token tag potentials (pytorch-crf's convention).

    Holds ``transitions`` ``(K, K)`` (``transitions[i, j]`` scores a move from tag ``i``
    to tag ``j``), ``start_transitions`` ``(K,)`` and ``end_transitions`` ``(K,)``, so
    pytorch-crf weights port directly. Calling the layer returns the potentials
    unchanged (it is where the CRF weights live in a model); train with :meth:`loss`
    (the mean negative log-likelihood over the batch) and decode with :meth:`decode`.
    Masks must be right-padded; see :mod:`rnnkit.ops.crf` for what is checked eagerly
    and what cannot be checked inside compiled code.

    Args:
        num_tags: number of tags ``K``.
        transitions_initializer: initializer of the three weights (pytorch-crf uses
            ``uniform(-0.1, 0.1)``, the default).
        transitions_regularizer: optional regularizer of ``transitions``.

    Call arguments:
        potentials: ``(batch, timesteps, num_tags)`` float emission scores.
        mask: optional ``(batch, timesteps)`` boolean mask (propagated).

    Returns:
        The potentials, unchanged.

    Example:

    >>> crf = CRF(5)
    >>> potentials = keras.ops.ones((2, 7, 5))
    >>> ll = crf.log_likelihood(potentials, keras.ops.zeros((2, 7), "int32"))  # (2,)
    >>> tags, scores = crf.decode(potentials)  # (2, 7) int32, (2,)

    In a model::

        x = keras.Input((None,), dtype="int32")
        h = keras.layers.Embedding(1000, 32)(x)
        potentials = keras.layers.Dense(5)(rnnkit.layers.LSTM(32, return_sequences=True)(h))
        crf = CRF(5)
        model = keras.Model(x, crf(potentials))
        model.compile("adam", loss=crf.loss)  # y: (batch, timesteps) tags, -1 = padding
        tags, _ = crf.decode(model.predict(x_test), mask=x_test != 0)
    """

    def __init__(
        self,
        num_tags: int,
        transitions_initializer: Any = None,
        transitions_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"CRF expected a positive integer num_tags, got {num_tags!r}.")
        self.num_tags = num_tags
        if transitions_initializer is None:
            transitions_initializer = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions_initializer = keras.initializers.get(transitions_initializer)
        self.transitions_regularizer = keras.regularizers.get(transitions_regularizer)
        self.supports_masking = True

    def build(self, potentials_shape: tuple | None = None) -> None:
        if potentials_shape is not None:
            shape = tuple(potentials_shape)
            if len(shape) != 3:
                raise ValueError(
                    f"Layer '{self.name}' expected potentials of rank 3 "
                    f"(batch, timesteps, num_tags), got shape {shape}."
                )
            if shape[-1] is not None and shape[-1] != self.num_tags:
                raise ValueError(
                    f"Layer '{self.name}' has num_tags={self.num_tags} but the potentials' "
                    f"last axis is {shape[-1]} (shape {shape})."
                )
        k = self.num_tags
        self.transitions = self.add_weight(
            name="transitions",
            shape=(k, k),
            initializer=self.transitions_initializer,
            regularizer=self.transitions_regularizer,
        )
        self.start_transitions = self.add_weight(
            name="start_transitions", shape=(k,), initializer=self.transitions_initializer
        )
        self.end_transitions = self.add_weight(
            name="end_transitions", shape=(k,), initializer=self.transitions_initializer
        )

    def _ensure_built(self, potentials: Any) -> None:
        if not self.built:
            self.build(static_shape(potentials))

    def compute_output_shape(self, potentials_shape: tuple) -> tuple:
        return tuple(potentials_shape)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def call(self, potentials: Any, mask: Any = None) -> Any:
        validate_crf_inputs(potentials, None, None, self.num_tags, self.name)
        return potentials

    def _weights(self) -> tuple:
        return self.transitions, self.start_transitions, self.end_transitions

    def log_likelihood(self, potentials: Any, tags: Any, mask: Any = None) -> Any:
        """Per-sequence ``log p(tags | potentials)``, shape ``(batch,)``.

        Args:
            potentials: ``(batch, timesteps, num_tags)``.
            tags: ``(batch, timesteps)`` integer gold tags.
            mask: optional right-padded ``(batch, timesteps)`` mask.
        """
        self._ensure_built(potentials)
        validate_crf_inputs(potentials, tags, mask, self.num_tags, self.name)
        return crf_log_likelihood(potentials, tags, *self._weights(), mask=mask, validate=False)

    def decode(self, potentials: Any, mask: Any = None) -> tuple[Any, Any]:
        """Viterbi: ``(best_tags (batch, timesteps) int32, best_scores (batch,))``."""
        self._ensure_built(potentials)
        validate_crf_inputs(potentials, None, mask, self.num_tags, self.name)
        return crf_decode(potentials, *self._weights(), mask=mask, validate=False)

    def marginals(self, potentials: Any, mask: Any = None) -> Any:
        """Per-token tag marginals ``(batch, timesteps, num_tags)`` by forward-backward."""
        self._ensure_built(potentials)
        validate_crf_inputs(potentials, None, mask, self.num_tags, self.name)
        return crf_marginals(potentials, *self._weights(), mask=mask, validate=False)

    def loss(self, y_true: Any, y_pred: Any) -> Any:
        """Mean negative log-likelihood over the batch, for ``model.compile(loss=crf.loss)``.

        Args:
            y_true: ``(batch, timesteps)`` gold tags; ``-1`` marks padded steps (the rows
                must be right-padded and keep at least their first step).
            y_pred: ``(batch, timesteps, num_tags)`` potentials (the layer's output).

        Returns:
            A scalar.
        """
        y_true = ops.cast(y_true, "int32")
        if len(static_shape(y_true)) == 3 and static_shape(y_true)[-1] == 1:
            y_true = ops.squeeze(y_true, -1)
        mask = ops.greater_equal(y_true, 0)
        tags = ops.maximum(y_true, 0)
        return -ops.mean(self.log_likelihood(y_pred, tags, mask))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_tags": self.num_tags,
                "transitions_initializer": keras.initializers.serialize(
                    self.transitions_initializer
                ),
                "transitions_regularizer": keras.regularizers.serialize(
                    self.transitions_regularizer
                ),
            }
        )
        return config
