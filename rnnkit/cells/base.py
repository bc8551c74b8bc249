"""The base of every rnnkit cell: s_i = R(s_{i-1}, x_i), y_i = O(s_i).

A cell is split into the two halves the runner needs to be fast:

* :meth:`RecurrentCell.project_inputs` computes ``x_i W^x + b`` for *all* time steps
  in one matmul (input dropout, fixed over time, applied first);
* :meth:`RecurrentCell.step` does the sequential part from the projected input and
  the previous states.

``cell(inputs, states, training=...)`` runs one whole step, as a Keras cell does.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import constraints, initializers, ops, regularizers

from rnnkit.backend import recurrent_matmul
from rnnkit.ops.activations import get_activation, serialize_activation
from rnnkit.ops.min_rnn import check_no_recurrent_dropout, linear_step
from rnnkit.ops.recurrent_matmul import Block, RecurrentMatmul


class RecurrentCell(keras.Layer):
    """Abstract base class for rnnkit cells (see module docstring).

    Args:
        units: Positive integer, dimensionality of the state and output.
        activation: Activation of the candidate state (default ``"tanh"``).
        use_bias: Whether the cell uses a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers
            for ``kernel`` (input weights), ``recurrent_kernel`` and ``bias``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints.
        dropout: Fraction of the input units to drop (mask fixed over time).
        recurrent_dropout: Fraction of the recurrent state units to drop (mask
            fixed over time).
        seed: Random seed for the dropout masks.
    """

    #: number of gate blocks stacked in ``kernel`` (columns = gates * units)
    gates: int = 1

    #: whether the state enters the step through a ``recurrent_kernel`` (False for the
    #: parallel-scan models' cells, :class:`LinearRecurrenceCell`)
    recurrent_weights: bool = True

    #: the methods that tell the fast paths what ``step`` computes. A subclass that
    #: redefines ``step`` without redefining one of them gets the base answer (no fused
    #: kernel, no closed-form backward, no lean JAX backward), so a fast path never runs
    #: its parent's equations in place of its own.
    STEP_DECLARATIONS = ("fused_kind", "closed_form_gates", "accumulates_projection")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            for name in cls.STEP_DECLARATIONS:
                if name not in cls.__dict__:
                    setattr(cls, name, getattr(RecurrentCell, name))

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                f"Received an invalid value for argument `units`, expected a positive "
                f"integer, got {units!r}."
            )
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {rate!r}.")
        super().__init__(**kwargs)
        self.units = units
        self.activation = get_activation(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

    # -- sizes -------------------------------------------------------------------------
    @property
    def state_size(self) -> list[int]:
        return [self.units]

    @property
    def output_size(self) -> int:
        return self.units

    # -- weights -----------------------------------------------------------------------
    def build(self, input_shape: tuple) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Cell '{self.name}' needs a defined last (feature) dimension, "
                f"got input shape {tuple(input_shape)}."
            )
        self.input_dim = int(input_dim)
        self.kernel = self.add_weight(
            shape=(self.input_dim, self.gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = None
        if self.recurrent_weights:
            self.recurrent_kernel = self.add_weight(
                shape=(self.units, self.gates * self.units),
                name="recurrent_kernel",
                initializer=self.recurrent_initializer,
                regularizer=self.recurrent_regularizer,
                constraint=self.recurrent_constraint,
            )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.make_bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def make_bias_initializer(self) -> Any:
        return self.bias_initializer

    def input_bias(self) -> Any:
        """The bias added to the input projection (None without bias)."""
        return self.bias

    # -- dropout -----------------------------------------------------------------------
    def dropout_masks(self, batch_size: Any, training: bool | None) -> tuple[Any, Any]:
        """Masks ``(input_mask (B, D) or None, recurrent_mask (B, units) or None)``.

        They are drawn once per sequence and reused at every step (Gal & Ghahramani),
        exactly as Keras does.
        """
        input_mask = recurrent_mask = None
        if training and 0.0 < self.dropout < 1.0:
            input_mask = keras.random.dropout(
                ops.ones((batch_size, self.input_dim), dtype=self.compute_dtype),
                rate=self.dropout,
                seed=self.seed_generator,
            )
        if training and 0.0 < self.recurrent_dropout < 1.0:
            recurrent_mask = keras.random.dropout(
                ops.ones((batch_size, self.units), dtype=self.compute_dtype),
                rate=self.recurrent_dropout,
                seed=self.seed_generator,
            )
        return input_mask, recurrent_mask

    # -- the two halves ----------------------------------------------------------------
    def project_inputs(
        self, inputs: Any, input_mask: Any = None, matmul: RecurrentMatmul | None = None
    ) -> Any:
        """``(x * mask) W^x + b`` for inputs ``(B, D)`` or time-major ``(T, B, D)``.

        All time steps are projected in one matmul. The dropout ``input_mask`` is
        ``(B, D)``, the same at every step. ``matmul``: the loop's recurrent matmul,
        when its fast path lays the projection out its own way
        (:meth:`RecurrentMatmul.project`); None: ``keras.ops.matmul``.
        """
        if input_mask is not None:
            inputs = inputs * input_mask  # (B, D) broadcasts over a leading T
        bias = self.input_bias()
        if matmul is not None:
            flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
            projected = matmul.project(flat, self.kernel, bias)
            return ops.reshape(projected, (*ops.shape(inputs)[:-1], -1))
        if len(inputs.shape) == 3:
            # one 2-D matmul (rather than a broadcast batched matmul, whose gradient
            # is slower on TensorFlow)
            steps, batch = ops.shape(inputs)[0], ops.shape(inputs)[1]
            flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
            projected = ops.reshape(ops.matmul(flat, self.kernel), (steps, batch, -1))
        else:
            projected = ops.matmul(inputs, self.kernel)
        if bias is not None:
            projected = projected + bias
        return projected

    def step(
        self,
        projected: Any,
        states: list,
        recurrent_mask: Any = None,
        matmul: RecurrentMatmul | None = None,
    ) -> tuple[Any, list]:
        """One recurrence step from the projected input; returns ``(output, new_states)``.

        ``matmul`` computes ``h @ recurrent_kernel[:, start:stop]``; the runner passes
        one made before its loop (:mod:`rnnkit.ops.recurrent_matmul`, TensorFlow's fast
        path), None means the generic ``keras.ops.matmul``.
        """
        raise NotImplementedError

    def recurrent_blocks(self) -> tuple[Block, ...]:
        """The column ranges ``(start, stop)`` of ``recurrent_kernel`` that ``step``
        multiplies states by (the whole kernel unless a cell says otherwise)."""
        return ((0, None),)

    def loop_matmul(self, fast_path: str | None = None) -> RecurrentMatmul:
        """The state matmul of a loop, with the ``recurrent_blocks`` sliced now:
        ``fast_path`` (a name of :data:`rnnkit.layers.planner.MATMUL_FAST_PATHS`, as the plan gives
        it; None or ``"generic"``: ``keras.ops.matmul``). Runners call it once, before
        their loop."""
        if fast_path == "generic":
            fast_path = None
        return recurrent_matmul(self.recurrent_kernel, fast_path, self.recurrent_blocks())

    def recurrent_matmul(self, matmul: RecurrentMatmul | None) -> RecurrentMatmul:
        """``matmul``, or the generic one (``loop_matmul()``) when None."""
        return matmul if matmul is not None else self.loop_matmul()

    # -- Keras cell API ----------------------------------------------------------------
    def call(self, inputs: Any, states: Any, training: bool = False) -> tuple[Any, list]:
        """One whole step, as a Keras cell: ``cell(x_t, states) -> (y_t, new_states)``."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        input_mask, recurrent_mask = self.dropout_masks(ops.shape(inputs)[0], training)
        return self.step(self.project_inputs(inputs, input_mask), states, recurrent_mask)

    def get_initial_state(self, batch_size: Any = None) -> list:
        return [ops.zeros((batch_size, n), dtype=self.compute_dtype) for n in self.state_size]

    # -- fused-kernel support ----------------------------------------------------------
    def fused_kind(self) -> str | None:
        """Name of the cuDNN/torch fused kernel this cell's configuration matches, if any."""
        return None

    def closed_form_gates(self) -> str | None:
        """The gate activation's name if the torch closed-form backward
        (:mod:`rnnkit.backend.torch`) can train this cell, else None (only
        :class:`rnnkit.cells.LSTMCell` can)."""
        return None

    def accumulates_projection(self) -> bool:
        """Whether ``step`` uses its projected input only through
        ``matmul.accumulate(projected, h)`` (then :mod:`rnnkit.backend.jax`'s
        forward pass keeps only the sums, not the projected inputs)."""
        return False

    def get_config(self) -> dict:
        config = {
            "units": self.units,
            "activation": serialize_activation(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


class GatedRecurrentCell(RecurrentCell):
    """A cell with a gate nonlinearity ``recurrent_activation`` (LSTM, GRU)."""

    def __init__(self, units: int, recurrent_activation: Any = "sigmoid", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.recurrent_activation = get_activation(recurrent_activation)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "recurrent_activation": serialize_activation(self.recurrent_activation),
        }

    def standard_activations(self) -> bool:
        return serialize_activation(self.activation) == "tanh" and (
            serialize_activation(self.recurrent_activation) == "sigmoid"
        )


class LinearRecurrenceCell(RecurrentCell):
    """Base of the step cells of the parallel-scan layers (:class:`rnnkit.cells.MinGRUCell`,
    :class:`rnnkit.cells.MinLSTMCell`): a ``kernel`` and a ``bias``, no recurrent
    weights, and a step ``h = a * h_prev + b`` whose ``(a, b)`` a subclass's
    :meth:`coefficients` computes from the projected input (in linear space: a step is a
    convex combination of the state and a candidate; :mod:`rnnkit.ops.min_rnn`).
    Weights are laid out as the layers' of the same kind, so a layer's weights load
    into its cell."""

    recurrent_weights = False

    def __init__(
        self,
        units: int,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        check_no_recurrent_dropout(type(self).__name__, recurrent_dropout)
        super().__init__(
            units,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            seed=seed,
            **kwargs,
        )

    def coefficients(self, projected: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def step(
        self,
        projected: Any,
        states: list,
        recurrent_mask: Any = None,
        matmul: RecurrentMatmul | None = None,
    ) -> tuple[Any, list]:
        a, b = self.coefficients(projected)
        h = linear_step(a, b, states[0])
        return h, [h]

    def loop_matmul(self, fast_path: str | None = None) -> RecurrentMatmul:
        """The generic matmul whatever ``fast_path`` names: no state is multiplied by a
        weight, so the loop's matmul only projects the inputs (``keras.ops.matmul``)
        and keeps the states as they are."""
        return RecurrentMatmul(None, blocks=())

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("activation", "recurrent_initializer", "recurrent_regularizer",
                    "recurrent_constraint"):  # fmt: skip
            config.pop(key)
        config.update(
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
            kernel_constraint=constraints.serialize(self.kernel_constraint),
            bias_constraint=constraints.serialize(self.bias_constraint),
        )
        return config
