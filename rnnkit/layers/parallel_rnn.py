"""The base of the parallel-in-time recurrent layers (:class:`MinGRU`, :class:`MinLSTM`).

Their gates depend on the input alone, so the state follows a linear recurrence
``h_t = a_t * h_{t-1} + b_t`` whose coefficients come from one projection of the whole
sequence, and one call solves it over the whole sequence at once, the way
:func:`rnnkit.layers.planner.plan_parallel_scan` decides (:meth:`ParallelRNN.execution_plan`).
:meth:`ParallelRNN.step` is the same function one step at a time, for generation token by
token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import constraints, initializers, ops, regularizers

from rnnkit.backend import run_linear_recurrence
from rnnkit.layers import planner
from rnnkit.layers.planner import ExecutionPlan
from rnnkit.layers.stateful import StatefulStates
from rnnkit.ops.min_rnn import check_no_recurrent_dropout, linear_step
from rnnkit.ops.validation import cast_integer_inputs, check_sequences, static_shape


class ParallelRNN(StatefulStates, keras.Layer):
    """Base class: a recurrent layer whose recurrence is linear in the state.

    Subclasses set ``gates`` (blocks of ``units`` columns in ``kernel``) and the pure
    functions ``log_coefficients`` and ``linear_coefficients`` (``staticmethod``s:
    ``f(projected, units)`` -> ``(log a, log b)`` / ``(a, b)``), which
    :meth:`coefficients` calls; or override :meth:`coefficients` itself (then the
    coefficients' fast paths below, TensorFlow's XLA cluster and torch's compiled graph,
    do not apply).

    Every call runs one path, chosen by :func:`rnnkit.layers.planner.plan_parallel_scan`
    (see it with ``layer.execution_plan(x)`` or :func:`rnnkit.explain`); both give the
    same outputs and gradients up to float rounding:

    - ``linear_loop``: computing on a CPU (every backend; any mask, length, dtype,
      initial state and direction, training or not): the sequential form, one
      multiply-add per element and step on the coefficients in linear space
      (:func:`rnnkit.ops.parallel_scan.sequential_linear_recurrence`), projected from the
      time-major inputs so that the loop steps through ``a`` and ``b`` with no transpose
      or concatenation of either; on TensorFlow the coefficients run as one XLA cluster
      (``coefficients=tf_xla_fused`` in the plan), on torch as one ``torch.compile``
      graph for a large enough call where a C++ compiler is there
      (``coefficients=torch_compiled``). A CPU has no parallel hardware for
      the scan to use, and the scan's transcendental passes cost more than the loop;
      each state is a convex combination, so low precision is safe;
    - otherwise (a GPU, or the path turned off with
      ``rnnkit.layers.planner.excluding("linear_loop")``) the generic associative scan
      in log space (:func:`rnnkit.ops.parallel_scan.linear_recurrence`):
      ``parallel_scan``, or ``parallel_scan.dynamic_length`` for a time length known
      only at run time.

    Args:
        units: positive integer, dimensionality of the state and output.
        use_bias: whether the projection has a bias.
        kernel_initializer, bias_initializer: initializers of ``kernel`` and ``bias``.
        kernel_regularizer, bias_regularizer: their regularizers.
        kernel_constraint, bias_constraint: their constraints.
        dropout: fraction of the input features dropped in training (one mask per
            sequence, the same at every step, as in Keras's recurrent layers).
        seed: seed of the dropout mask.
        return_sequences: return every step's output (else the last one).
        return_state: also return the final state.
        go_backwards: process the sequence in reverse (outputs in processing order, as
            Keras's layers return them).
        zero_output_for_mask: emit zeros at masked steps instead of the carried state.
        stateful: keep the final state of a batch as the initial state of the next
            (truncated backpropagation through time; needs a fixed batch size);
            ``reset_states()`` zeroes it.
        recurrent_dropout: accepted for the interface of the other recurrent layers; it
            must be 0 (no state enters the gates).
    """

    gates: int = 1

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
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
        recurrent_dropout: float = 0.0,
        stateful: bool = False,
        **kwargs: Any,
    ) -> None:
        check_no_recurrent_dropout(type(self).__name__, recurrent_dropout)
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive "
                f"integer, got {units!r}."
            )
        if not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"`dropout` must be in [0, 1], got {dropout!r}.")
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.zero_output_for_mask = zero_output_for_mask
        self.stateful = bool(stateful)
        self.states: list | None = None
        self.supports_masking = True

    @property
    def state_size(self) -> list[int]:
        return [self.units]

    def build(self, sequences_shape: tuple, initial_state_shape: Any = None) -> None:
        input_dim = sequences_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Layer '{self.name}' needs a defined last (feature) dimension, got input "
                f"shape {tuple(sequences_shape)}."
            )
        self.input_dim = int(input_dim)
        self.kernel = self.add_weight(
            shape=(self.input_dim, self.gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(self.gates * self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        if self.stateful:
            self.build_states(sequences_shape[0], self.state_size)

    def compute_output_shape(self, sequences_shape: tuple, initial_state_shape: Any = None) -> Any:
        batch, steps = sequences_shape[0], sequences_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output, (batch, self.units)]
        return output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, None]
        return output_mask

    # -- the recurrence ----------------------------------------------------------------
    #: subclasses: ``f(projected, units) -> (log a, log b)`` and ``-> (a, b)``, pure
    #: functions of the projected inputs (``staticmethod``s; see :meth:`coefficients`)
    log_coefficients: Callable[[Any, int], tuple[Any, Any]] | None = None
    linear_coefficients: Callable[[Any, int], tuple[Any, Any]] | None = None

    def coefficients(self, projected: Any, log_space: bool = True) -> tuple[Any, Any]:
        """``(a, b)`` of ``h_t = a_t h_{t-1} + b_t`` from the projected inputs
        ``(..., gates * units)``, or ``(log a, log b)`` with ``log_space`` (for the
        parallel scan); each ``(..., units)``. From the class's ``log_coefficients`` /
        ``linear_coefficients``; a subclass may override this method instead (its
        coefficients then never run as the fast paths' XLA cluster or compiled graph)."""
        fn = self.log_coefficients if log_space else self.linear_coefficients
        if fn is None:
            raise NotImplementedError(
                f"{type(self).__name__} defines neither log_coefficients and "
                "linear_coefficients nor its own coefficients()."
            )
        return fn(projected, self.units)

    def pure_linear_coefficients(self) -> Callable[[Any, int], tuple[Any, Any]] | None:
        """The pure function ``f(projected, units) -> (a, b)`` behind
        :meth:`coefficients` in linear space, or None when a subclass overrides
        :meth:`coefficients` (what the planner looks at for ``tf_xla_fused`` and
        ``torch_compiled``)."""
        if type(self).coefficients is not ParallelRNN.coefficients:
            return None
        return self.linear_coefficients

    def _project(self, x: Any, input_mask: Any, time_major: bool = False) -> Any:
        # the dropout mask is (batch, features): it broadcasts over a time-major x as is
        if input_mask is not None:
            broadcasts = time_major or len(x.shape) == 2
            x = x * (input_mask if broadcasts else ops.expand_dims(input_mask, 1))
        projected = ops.matmul(x, self.kernel)
        return projected if self.bias is None else projected + self.bias

    def _dropout_mask(self, batch: Any, training: bool | None) -> Any:
        if training and 0.0 < self.dropout < 1.0:
            return keras.random.dropout(
                ops.ones((batch, self.input_dim), dtype=self.compute_dtype),
                rate=self.dropout,
                seed=self.seed_generator,
            )
        return None

    def step(self, inputs: Any, states: Any, training: bool | None = False) -> tuple[Any, list]:
        """One step of the same recurrence: ``(batch, features)`` inputs and ``[h]`` ->
        ``(h_new, [h_new])``, for generating token by token.

        Example:

        >>> layer = MinGRU(8)
        >>> layer.build((None, None, 4))
        >>> y, [h] = layer.step(keras.ops.ones((2, 4)), [keras.ops.zeros((2, 8))])
        """
        if not self.built:
            self.build((None, None, inputs.shape[-1]))
        h = states[0] if isinstance(states, (list, tuple)) else states
        a, b = self.coefficients(
            self._project(inputs, self._dropout_mask(ops.shape(inputs)[0], training)),
            log_space=False,
        )
        h = linear_step(a, b, h)
        return h, [h]

    def get_initial_state(self, batch_size: Any) -> list:
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def _check_call_inputs(self, sequences: Any, initial_state: Any, mask: Any) -> Any:
        shape = check_sequences(self.name, sequences, self.input_dim, mask)
        if initial_state is None:
            return None
        if isinstance(initial_state, (list, tuple)):
            if len(initial_state) != 1:
                raise ValueError(
                    f"Layer '{self.name}' expected 1 initial state of shape "
                    f"{(shape[0], self.units)}, got {len(initial_state)}."
                )
            initial_state = initial_state[0]
        sshape = static_shape(initial_state)
        if len(sshape) != 2 or sshape[-1] not in (None, self.units):
            raise ValueError(
                f"Layer '{self.name}' expected an initial state of shape "
                f"{(shape[0], self.units)}, got {sshape}."
            )
        return initial_state

    def execution_plan(
        self, inputs: Any, mask: Any = None, training: bool = False
    ) -> ExecutionPlan:
        """How ``layer(inputs, mask=mask, training=training)`` runs on this backend and
        device now (:func:`rnnkit.layers.planner.plan_parallel_scan`; see the class
        docstring for the paths). Computes nothing.

        Example:

        >>> MinGRU(8).execution_plan(keras.ops.ones((2, 5, 3))).name  # doctest: +SKIP
        'linear_loop'
        """
        return planner.plan_parallel_scan(self, inputs, mask, training)

    def call(
        self,
        sequences: Any,
        initial_state: Any = None,
        mask: Any = None,
        training: bool | None = False,
    ) -> Any:
        sequences = cast_integer_inputs(sequences, self.compute_dtype)
        h0 = self._check_call_inputs(sequences, initial_state, mask)
        if h0 is None and self.stateful:
            h0 = self.stored_states()[0]
        plan = self.execution_plan(sequences, mask, training)
        planner.record(self, plan)
        if self.go_backwards:
            sequences = ops.flip(sequences, axis=1)
            if mask is not None:
                mask = ops.flip(mask, axis=1)
        batch, steps = ops.shape(sequences)[0], ops.shape(sequences)[1]
        input_mask = self._dropout_mask(batch, training)
        # a time-major path (the loop) steps through time-major coefficients: project the
        # time-major inputs (fewer features to transpose than the projection's outputs)
        if plan.time_major:
            sequences = ops.moveaxis(sequences, 1, 0)
        projected = self._project(sequences, input_mask, plan.time_major)
        if h0 is not None:
            h0 = ops.cast(h0, projected.dtype)
        outputs = run_linear_recurrence(plan, projected, self, h0, mask)
        # the static shape (TensorFlow's scan can lose it inside a traced train step)
        outputs = ops.reshape(outputs, (batch, steps, self.units))
        last = outputs[:, -1]
        if self.stateful:
            self.store_states([last])
        if self.return_sequences and self.zero_output_for_mask and mask is not None:
            outputs = ops.where(ops.expand_dims(ops.cast(mask, "bool"), -1), outputs, 0.0)
        output = outputs if self.return_sequences else last
        if self.return_state:
            return [output, last]
        return output

    def get_config(self) -> dict:
        config = {
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "zero_output_for_mask": self.zero_output_for_mask,
            "stateful": self.stateful,
        }
        return {**super().get_config(), **config}
