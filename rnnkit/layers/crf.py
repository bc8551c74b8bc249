"""Linear-chain conditional random field layer."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from rnnkit.ops.crf import (
    check_constraints,
    crf_decode,
    crf_log_likelihood,
    crf_log_partition,
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
    (the mean negative log-likelihood over the batch), decode with :meth:`decode` (best
    path or ``top_k`` best paths), get confidences with :meth:`marginals` (per token)
    and :meth:`sequence_log_probability` (per sequence). Masks may have any layout: a
    row's sequence is its masked-in steps in order (left- or right-padded, a masked
    first step, holes). Optional constraints (fixed, not trained) forbid transitions,
    first tags and last tags in every method; build them from tag names with
    :func:`rnnkit.ops.transition_constraints`. See :mod:`rnnkit.ops.crf` for the
    semantics and for what is checked eagerly and what cannot be checked inside
    compiled code.

    Args:
        num_tags: number of tags ``K``.
        allowed_transitions: optional boolean ``(K, K)`` array-like, ``[i, j]`` True when
            tag ``i`` may be followed by tag ``j``.
        allowed_start: optional boolean ``(K,)``: tags a sequence may start with.
        allowed_end: optional boolean ``(K,)``: tags a sequence may end with.
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
    >>> tags3, scores3 = crf.decode(potentials, top_k=3)  # (2, 3, 7), (2, 3)

    With BIO constraints (no ``I-X`` after ``O`` or at the start)::

        tag_names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
        crf = CRF(5, **rnnkit.ops.transition_constraints(tag_names, "BIO"))

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
        allowed_transitions: Any = None,
        allowed_start: Any = None,
        allowed_end: Any = None,
        transitions_initializer: Any = None,
        transitions_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"CRF expected a positive integer num_tags, got {num_tags!r}.")
        self.num_tags = num_tags
        given = (allowed_transitions, allowed_start, allowed_end)
        cons = check_constraints(*given, num_tags=num_tags, name=self.name)
        # the given arrays (None where not given), validated; ``_constraints`` is complete
        self.allowed_transitions, self.allowed_start, self.allowed_end = (
            None if g is None else c for g, c in zip(given, cons or (None, None, None))
        )
        self._constraints = cons
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

    def _constraint_kwargs(self) -> dict:
        if self._constraints is None:
            return {}
        names = ("allowed_transitions", "allowed_start", "allowed_end")
        return dict(zip(names, self._constraints))

    def log_likelihood(self, potentials: Any, tags: Any, mask: Any = None) -> Any:
        """Per-sequence ``log p(tags | potentials)``, shape ``(batch,)``.

        Args:
            potentials: ``(batch, timesteps, num_tags)``.
            tags: ``(batch, timesteps)`` integer gold tags.
            mask: optional ``(batch, timesteps)`` mask, any layout.

        Returns:
            ``(batch,)`` log-likelihoods; about ``-1e4`` per move of ``tags`` that the
            constraints forbid.
        """
        self._ensure_built(potentials)
        validate_crf_inputs(potentials, tags, mask, self.num_tags, self.name)
        return crf_log_likelihood(
            potentials,
            tags,
            *self._weights(),
            mask=mask,
            validate=False,
            **self._constraint_kwargs(),
        )

    def sequence_log_probability(self, potentials: Any, tags: Any, mask: Any = None) -> Any:
        """``log p(tags | potentials)`` of given (e.g. decoded) paths: their score minus
        ``log Z``, the same value as :meth:`log_likelihood`.

        Args:
            potentials: ``(batch, timesteps, num_tags)``.
            tags: ``(batch, timesteps)`` integer tags.
            mask: optional ``(batch, timesteps)`` mask, any layout.

        Returns:
            ``(batch,)`` log-probabilities (``exp`` of them: the sequence confidences).
        """
        return self.log_likelihood(potentials, tags, mask)

    def decode(
        self,
        potentials: Any,
        mask: Any = None,
        top_k: int = 1,
        return_log_probability: bool = False,
    ) -> tuple:
        """Best path (Viterbi) or the ``top_k`` best paths.

        Args:
            potentials: ``(batch, timesteps, num_tags)``.
            mask: optional ``(batch, timesteps)`` mask, any layout.
            top_k: number of paths per row.
            return_log_probability: also return each path's ``log p(path |
                potentials)`` (its score minus ``log Z``: one forward pass more).

        Returns:
            ``(tags, scores)``: with ``top_k=1`` ``(batch, timesteps)`` int32 (0 at
            masked steps) and ``(batch,)`` unnormalized scores; with ``top_k=k > 1``
            ``(batch, k, timesteps)`` and ``(batch, k)``, best first. Missing paths
            (fewer than ``k`` allowed paths in a row) have score ``-inf`` and tags 0.
            With ``return_log_probability``, ``(tags, scores, log_probabilities)``, the
            last shaped like ``scores`` (``-inf`` for missing paths).
        """
        self._ensure_built(potentials)
        validate_crf_inputs(potentials, None, mask, self.num_tags, self.name)
        kwargs = self._constraint_kwargs()
        tags, scores = crf_decode(
            potentials, *self._weights(), mask=mask, validate=False, top_k=top_k, **kwargs
        )
        if not return_log_probability:
            return tags, scores
        log_z = crf_log_partition(potentials, *self._weights(), mask=mask, **kwargs)
        log_z = ops.cast(log_z, scores.dtype)
        if top_k != 1:
            log_z = ops.expand_dims(log_z, -1)
        return tags, scores, scores - log_z

    def marginals(self, potentials: Any, mask: Any = None) -> Any:
        """Per-token tag marginals ``(batch, timesteps, num_tags)`` by forward-backward
        (0 at masked steps)."""
        self._ensure_built(potentials)
        validate_crf_inputs(potentials, None, mask, self.num_tags, self.name)
        return crf_marginals(
            potentials, *self._weights(), mask=mask, validate=False, **self._constraint_kwargs()
        )

    def loss(self, y_true: Any, y_pred: Any) -> Any:
        """Mean negative log-likelihood over the batch, for ``model.compile(loss=crf.loss)``.

        Args:
            y_true: ``(batch, timesteps)`` gold tags; ``-1`` marks padded steps (any
                layout; every row needs at least one tag).
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
                "allowed_transitions": _as_list(self.allowed_transitions),
                "allowed_start": _as_list(self.allowed_start),
                "allowed_end": _as_list(self.allowed_end),
                "transitions_initializer": keras.initializers.serialize(
                    self.transitions_initializer
                ),
                "transitions_regularizer": keras.regularizers.serialize(
                    self.transitions_regularizer
                ),
            }
        )
        return config


def _as_list(x: Any) -> list | None:
    """A boolean array as nested lists of Python bools (JSON-friendly), or None."""
    return None if x is None else x.tolist()
