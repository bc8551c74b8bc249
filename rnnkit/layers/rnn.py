"""The one recurrent runner for every rnnkit cell."""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import ops

from rnnkit import backend, config
from rnnkit.cells.base import RecurrentCell
from rnnkit.layers import planner
from rnnkit.layers.planner import ExecutionPlan, plan_call
from rnnkit.layers.stateful import StatefulStates
from rnnkit.ops.batch_split import check_batch_split, run_split
from rnnkit.ops.recurrence import recurrence
from rnnkit.ops.validation import cast_integer_inputs, check_sequences, static_shape

#: what the layer's constructor takes but does not save (runtime choices, rnnkit.config)
RUNTIME_ARGS = ("use_fused", "loop", "projection", "batch_split")


@keras.saving.register_keras_serializable(package="rnnkit")
class RNN(StatefulStates, keras.Layer):
    """Runs an rnnkit cell over a sequence: ``s_i = R(s_{i-1}, x_i), y_i = O(s_i)``.

    The inputs of all time steps are projected in one matmul before the recurrence
    (see ``projection``);
    the recurrence then runs in the backend's best loop (``lax.scan`` on JAX, whose
    backward pass on a CPU computes a gated cell's weight gradients after the loop:
    :mod:`rnnkit.backend.jax`; a ``tf.while_loop`` on TensorFlow,
    whose backward pass multiplies by a recurrent kernel transposed once before the
    loop: :mod:`rnnkit.backend.tensorflow`; a loop
    over ``torch.unbind`` views on torch), or in a fused kernel (torch's native RNN kernels
    on the torch backend, cuDNN on a GPU) when the cell's configuration allows it and
    the sequence is unmasked (on torch also right-padded: :mod:`rnnkit.backend.torch`).
    On torch, while gradients are recorded, an LSTM whose gates torch's kernel lacks
    (the hard sigmoids) runs as one autograd Function with a closed-form backward
    (:mod:`rnnkit.backend.torch`), under any mask and recurrent dropout.
    Masking follows Keras: states are carried through masked steps and the output
    there is the previous output (zeros with ``zero_output_for_mask=True``); right,
    left and fully masked rows all work.

    Args:
        cell: An :class:`rnnkit.cells.RecurrentCell` instance.
        return_sequences: Return the full output sequence instead of the last output.
        return_state: Also return the final states.
        go_backwards: Process the input backwards; returned sequences are then in
            reverse time order, as in Keras.
        stateful: Keep the final states of a batch as the initial states of the
            next (needs a fixed batch size); ``reset_states()`` zeroes them.
        unroll: Unroll the loop in Python (static time dimension only).
        zero_output_for_mask: Emit zeros at masked steps instead of the previous
            output (set by :class:`Bidirectional` when returning sequences).
        use_fused: ``"auto"`` uses a fused kernel when possible, ``False`` never,
            ``True`` requires one (ValueError if none applies). Like ``loop``,
            ``projection`` and ``batch_split`` below, a runtime choice of this layer
            object: it changes speed, never results, and is not saved in the config
            (which holds keras.layers' keys only, as Keras does not save ``use_cudnn``).
            For the other three, ``"auto"`` follows :mod:`rnnkit.config`
            (``rnnkit.config.execution(...)``, ``RNNKIT_LOOP`` ...), which sets them for
            every layer at once.
        loop: ``"auto"`` or a specific loop of :mod:`rnnkit.ops.recurrence`
            (``"unrolled"``, ``"scan"``, ``"tf_while"``); mainly for tests.
        projection: where the input projection ``x_i W^x + b`` runs. ``"hoisted"``:
            for all time steps in one matmul before the recurrence; ``"per_step"``:
            inside each step (as keras.layers does). ``"auto"`` hoists, except with
            XLA on a CPU (JAX's CPU backend), where the per-step matmul overlaps with
            the recurrent one on a second core and measures faster (see
            ``benchmarks/RESULTS.md``). Both give the same function.
        batch_split: the number of independent loops the batch's rows run in (they
            never interact; 1 never splits). ``"auto"`` runs two halves on the
            TensorFlow backend on a multi-core CPU outside training (batches of 8 rows
            or more), where the two loops run on different cores at once and
            inference measured faster (:mod:`rnnkit.ops.batch_split`); elsewhere one
            loop. Needs a static batch size. The same function either way.

    Call arguments:
        sequences: ``(batch, timesteps, features)`` float tensor.
        initial_state: optional list of initial state tensors ``(batch, n)``.
        mask: optional boolean ``(batch, timesteps)``; False steps are skipped.
        training: whether dropout is active.

    Returns:
        ``(batch, units)`` or, with ``return_sequences``, ``(batch, timesteps, units)``;
        with ``return_state``, a list ``[output, *states]``.

    Example:

    >>> from rnnkit.cells import LSTMCell
    >>> layer = RNN(LSTMCell(16), return_sequences=True)
    >>> y = layer(keras.ops.ones((2, 5, 8)))  # (2, 5, 16)
    """

    def __init__(
        self,
        cell: RecurrentCell,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_fused: bool | str = "auto",
        loop: str = "auto",
        projection: str = "auto",
        batch_split: int | str = "auto",
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not isinstance(cell, RecurrentCell):
            raise ValueError(
                "RNN expects an rnnkit cell (rnnkit.cells.SimpleRNNCell, LSTMCell, GRUCell "
                f"or a RecurrentCell subclass), got {type(cell).__name__}."
            )
        if use_fused not in ("auto", True, False):
            raise ValueError(f"`use_fused` must be 'auto', True or False, got {use_fused!r}.")
        config.check_setting("loop", loop)
        config.check_setting("projection", projection)
        check_batch_split(kwargs.get("name") or type(self).__name__, batch_split)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.use_fused = use_fused
        self.loop = loop
        self.projection = projection
        self.batch_split = batch_split
        # Loops that run beside this layer's (2 inside Bidirectional), for
        # batch_split="auto"; set by the wrapper, not part of the config.
        self.concurrent_loops = 1
        self.supports_masking = True
        self.states = None

    # -- shapes ------------------------------------------------------------------------
    @property
    def state_size(self) -> list[int]:
        return list(self.cell.state_size)

    def build(self, sequences_shape: tuple, initial_state_shape: Any = None) -> None:
        shape = tuple(sequences_shape)
        if len(shape) != 3:
            raise ValueError(
                f"Layer '{self.name}' expected inputs of rank 3 (batch, timesteps, features), "
                f"got shape {shape} (rank {len(shape)})."
            )
        if shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' needs a defined feature dimension, got shape {shape}."
            )
        if not self.cell.built:
            self.cell.build((shape[0], shape[-1]))
        if self.stateful:
            self.build_states(shape[0], self.state_size)
        self.built = True

    def compute_output_shape(self, sequences_shape: tuple, initial_state_shape: Any = None) -> Any:
        batch, steps = sequences_shape[0], sequences_shape[1]
        units = self.cell.output_size
        output = (batch, steps, units) if self.return_sequences else (batch, units)
        if self.return_state:
            return [output] + [(batch, n) for n in self.state_size]
        return output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    # -- checks ------------------------------------------------------------------------
    def _check_call_inputs(self, sequences: Any, initial_state: Any, mask: Any) -> list | None:
        shape = check_sequences(self.name, sequences, self.cell.input_dim, mask)
        if initial_state is None:
            return None
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        expected = self.state_size
        if len(initial_state) != len(expected):
            raise ValueError(
                f"Layer '{self.name}' expected {len(expected)} initial state(s) of shapes "
                f"{[(shape[0], n) for n in expected]}, got {len(initial_state)}."
            )
        for i, (state, n) in enumerate(zip(initial_state, expected)):
            sshape = static_shape(state)
            ok = (
                len(sshape) == 2
                and sshape[-1] in (None, n)
                and (sshape[0] is None or shape[0] is None or sshape[0] == shape[0])
            )
            if not ok:
                raise ValueError(
                    f"Layer '{self.name}' expected initial state {i} of shape "
                    f"{(shape[0], n)}, got {sshape}."
                )
        return list(initial_state)

    # -- the run -----------------------------------------------------------------------
    def execution_plan(
        self, inputs: Any, mask: Any = None, training: bool = False
    ) -> ExecutionPlan:
        """How ``layer(inputs, mask=mask, training=training)`` runs on this backend and
        device now: an :class:`rnnkit.layers.planner.ExecutionPlan` with the path's
        ``.name`` and, in ``.not_taken``, why each faster path does not apply. On torch
        it follows whether gradients are being recorded where it is called (use it
        inside ``torch.no_grad()`` to see inference's plan). Builds the layer if needed;
        computes nothing else.

        Example:

        >>> LSTM(8).execution_plan(keras.ops.ones((2, 5, 3))).name  # doctest: +SKIP
        'loop.tf_while'
        """
        sequences = cast_integer_inputs(inputs, self.compute_dtype)
        if not self.built:
            self.build(tuple(static_shape(sequences)))
        check_sequences(self.name, sequences, self.cell.input_dim, mask)
        recurrent = bool(training) and 0.0 < getattr(self.cell, "recurrent_dropout", 0.0) < 1.0
        return plan_call(self, sequences, mask, training, recurrent)

    def call(
        self,
        sequences: Any,
        initial_state: Any = None,
        mask: Any = None,
        training: bool | None = False,
    ) -> Any:
        sequences = cast_integer_inputs(sequences, self.compute_dtype)
        initial_state = self._check_call_inputs(sequences, initial_state, mask)
        batch = ops.shape(sequences)[0]
        if initial_state is None:
            if self.stateful:
                initial_state = self.stored_states()
            else:
                initial_state = self.cell.get_initial_state(batch)
        states = [ops.cast(s, self.cell.compute_dtype) for s in initial_state]
        input_mask, recurrent_mask = self.cell.dropout_masks(batch, training)

        plan = plan_call(self, sequences, mask, training, recurrent_mask is not None)
        result = None
        if plan.fused:
            x = sequences if input_mask is None else sequences * ops.expand_dims(input_mask, 1)
            result = backend.run_fused(
                plan,
                self.cell,
                x,
                states,
                self.go_backwards,
                self.return_sequences,
                zero_output_for_mask=self.zero_output_for_mask,
            )
            if result is None:  # Keras's cuDNN kernel declined this configuration
                plan = plan.fallback
        planner.record(self, plan)
        if result is None:
            if self.use_fused is True:
                raise ValueError(
                    f"Layer '{self.name}': use_fused=True but no fused kernel applies on "
                    f"{keras.backend.backend()}: {plan.reasons().get('fused kernel')}."
                )
            run = functools.partial(self._run_loop, plan)
            if plan.batch_parts > 1:
                # Independent loops over parts of the batch (rnnkit.ops.batch_split).
                batch_size = static_shape(sequences)[0]
                result = run_split(
                    run,
                    plan.batch_parts,
                    batch_size,
                    sequences,
                    states,
                    mask,
                    input_mask,
                    recurrent_mask,
                )
            else:
                result = run(sequences, states, mask, input_mask, recurrent_mask)
        last, outputs, new_states = result
        if self.stateful:
            self.store_states(new_states)
        output = outputs if self.return_sequences else last
        if self.return_state:
            return [output, *new_states]
        return output

    def _run_loop(
        self,
        plan: ExecutionPlan,
        sequences: Any,
        states: list,
        mask: Any,
        input_mask: Any,
        recurrent_mask: Any,
    ) -> tuple[Any, Any, list]:
        """The generic path: projection and ``recurrence`` over the whole batch."""
        # Time-major before the projection: transposing (B, T, D) is cheaper than
        # transposing the projected (B, T, gates * units).
        sequences_tm = ops.moveaxis(sequences, 1, 0)
        loop_mask = mask
        if self.go_backwards:
            # Reversed here, before the projection, rather than by the loop after
            # it: the raw (T, B, D) input is usually much smaller than the projected
            # (T, B, gates * units) one.
            sequences_tm = ops.flip(sequences_tm, axis=0)
            if mask is not None:
                loop_mask = ops.flip(mask, axis=1)
        whole_sequence = {
            "jax.scan_batched_grads": backend.jax.scan_with_batched_weight_grads,
            "torch.lstm_closed_form": backend.torch.lstm_sequence,
        }.get(plan.name)
        if whole_sequence is not None:
            # The loop with its weight gradients after the loop: JAX on a CPU
            # (rnnkit.backend.jax), torch training of an LSTM
            # (rnnkit.backend.torch). Both project the raw inputs themselves.
            x = sequences_tm if input_mask is None else sequences_tm * input_mask
            mask_tm = None if loop_mask is None else ops.moveaxis(ops.cast(loop_mask, "bool"), 1, 0)
            last, outputs_tm, new_states = whole_sequence(
                self.cell, x, states, mask_tm, self.zero_output_for_mask, recurrent_mask
            )
            outputs = ops.moveaxis(outputs_tm, 0, 1) if self.return_sequences else None
            return last, outputs, new_states
        # Made once, before the loop (TensorFlow's loop: a pre-transposed kernel for
        # the backward pass; torch inference: column-major products; see
        # rnnkit.backend).
        matmul = self.cell.loop_matmul(plan.matmul)
        if plan.projection == "hoisted":
            projected = self.cell.project_inputs(sequences_tm, input_mask, matmul)

            def step(x_t: Any, st: list) -> tuple[Any, list]:
                return self.cell.step(x_t, st, recurrent_mask, matmul)

        else:
            projected = sequences_tm

            def step(x_t: Any, st: list) -> tuple[Any, list]:
                x_t = self.cell.project_inputs(x_t, input_mask, matmul)
                return self.cell.step(x_t, st, recurrent_mask, matmul)

        return recurrence(
            step,
            projected,
            [matmul.layout_state(s) for s in states],
            self.cell.output_size,
            mask=loop_mask,
            go_backwards=False,  # already reversed above
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
            unroll=self.unroll,
            loop=plan.loop,
            time_major=True,
        )

    # -- config ------------------------------------------------------------------------
    def _runner_config(self) -> dict:
        return {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self._runner_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
        }

    @classmethod
    def from_config(cls, config: dict) -> RNN:
        config = drop_runtime_args(dict(config))
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)

    def runtime_args(self) -> dict[str, Any]:
        """The constructor arguments this layer keeps out of its config (``use_fused``,
        ``loop``, ``projection``, ``batch_split``); wrappers that rebuild a layer from
        its config (``Bidirectional``) pass them on."""
        return {name: getattr(self, name) for name in RUNTIME_ARGS}


def drop_runtime_args(config: dict) -> dict:
    """``config`` without the runtime arguments that rnnkit before 0.2 saved; a warning
    names them (they are ignored: set them with rnnkit.config or on the layer)."""
    found = {k: config.pop(k) for k in RUNTIME_ARGS if k in config}
    changed = {k: v for k, v in found.items() if v != "auto"}
    if changed:
        import warnings

        warnings.warn(
            f"Layer '{config.get('name')}': its saved config holds {changed}, which rnnkit no "
            "longer saves (runtime choices: they change speed, not results); ignored. Set "
            "them with rnnkit.config.execution(...) or the layer's arguments.",
            stacklevel=3,
        )
    return config


_LAYER_KEYS = ("name", "trainable", "dtype")


class CellLayer(RNN):
    """Base of the ready-made layers (SimpleRNN, LSTM, GRU): a cell built from arguments.

    The config is flat (the cell's arguments beside the runner's), as in Keras.
    """

    cell_class: type[RecurrentCell] = RecurrentCell
    cell_name: str = "cell"

    def __init__(self, cell_kwargs: dict, rnn_kwargs: dict) -> None:
        kwargs = dict(rnn_kwargs.pop("kwargs", {}))
        kwargs.pop("cell", None)
        use_cudnn = kwargs.pop("use_cudnn", "auto")
        if use_cudnn != "auto":
            # keras.layers.LSTM / GRU's name for the fused kernel, so Keras code runs as is
            if use_cudnn not in (True, False):
                raise ValueError(
                    f"`use_cudnn` (Keras's name for use_fused) must be 'auto', True or "
                    f"False, got {use_cudnn!r}."
                )
            if rnn_kwargs["use_fused"] not in ("auto", use_cudnn):
                raise ValueError(
                    f"use_cudnn={use_cudnn!r} (Keras's name for use_fused) contradicts "
                    f"use_fused={rnn_kwargs['use_fused']!r}: give one of them."
                )
            rnn_kwargs["use_fused"] = use_cudnn
        cell = self.cell_class(
            **cell_kwargs,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name=self.cell_name,
        )
        super().__init__(cell, **rnn_kwargs, **kwargs)

    #: cell arguments that keras.layers' counterpart does not save (SimpleRNN: seed)
    config_omits: tuple[str, ...] = ()

    def get_config(self) -> dict:
        cell_config = self.cell.get_config()
        for key in (*_LAYER_KEYS, "dtype", *self.config_omits):
            cell_config.pop(key, None)
        base = keras.Layer.get_config(self)
        regularizer = keras.regularizers.serialize(self.activity_regularizer)
        return {
            **base,
            **self._runner_config(),
            **cell_config,
            "activity_regularizer": regularizer,
        }

    @classmethod
    def from_config(cls, config: dict) -> CellLayer:
        return cls(**drop_runtime_args(dict(config)))


_CELL_ATTRS = {
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "unit_forget_bias",
    "reset_after",
    "dropout",
    "recurrent_dropout",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
}


class KerasCudnnNames:
    """Keras's names on the layers that have a cuDNN kernel there (LSTM, GRU): the
    ``use_cudnn`` attribute (``use_fused`` under Keras's name: Keras code that reads or
    sets it, such as ``keras.layers.Bidirectional``, works) and the legacy
    ``implementation`` argument (accepted and kept, as Keras does; it changes nothing)."""

    @property
    def use_cudnn(self) -> bool | str:
        return self.use_fused

    @use_cudnn.setter
    def use_cudnn(self, value: bool | str) -> None:
        if value not in ("auto", True, False):
            raise ValueError(f"`use_cudnn` must be 'auto', True or False, got {value!r}.")
        self.use_fused = value


def _cell_property(name: str) -> property:
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


for _name in sorted(_CELL_ATTRS):
    setattr(CellLayer, _name, _cell_property(_name))
