"""Bidirectional wrapper for rnnkit recurrent layers."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from rnnkit.layers.parallel_rnn import ParallelRNN
from rnnkit.layers.rnn import RNN
from rnnkit.ops.validation import static_shape

MERGE_MODES = ("concat", "sum", "ave", "mul", None)


def clone_recurrent_layer(layer: RNN, **overrides: Any) -> RNN:
    """A fresh, unbuilt copy of an rnnkit recurrent layer with some config overridden;
    its runtime arguments (``use_fused``, ``loop`` ..., not in the config) are kept."""
    config = {**layer.get_config(), **overrides}
    clone = type(layer).from_config(config)
    for name, value in getattr(layer, "runtime_args", dict)().items():
        setattr(clone, name, value)
    return clone


@keras.saving.register_keras_serializable(package="rnnkit")
class Bidirectional(keras.Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges them.

    Same behaviour as ``keras.layers.Bidirectional`` (weights: forward layer first,
    then backward), for any rnnkit recurrent layer. When returning sequences, the
    backward outputs are flipped back into input order and both directions emit zeros
    at masked steps (as Keras does).

    Args:
        layer: An rnnkit recurrent layer (``RNN``, ``SimpleRNN``, ``LSTM``, ``GRU``).
            It is copied for the forward direction.
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"ave"``, ``"mul"`` or None
            (return ``[forward, backward]``).
        backward_layer: Optional recurrent layer for the backward direction; by default
            a copy of ``layer`` with ``go_backwards`` flipped.

    Call arguments:
        sequences: ``(batch, timesteps, features)``.
        initial_state: optional list: the forward layer's states, then the backward's.
        mask: optional boolean ``(batch, timesteps)``.
        training: whether dropout is active.

    Returns:
        The merged output (``(batch, [timesteps,] 2 * units)`` for concat); with the
        layer's ``return_state``, ``[output, *forward_states, *backward_states]``.

    Example:

    >>> from rnnkit.layers import LSTM
    >>> bi = Bidirectional(LSTM(16, return_sequences=True), merge_mode="sum")
    >>> y = bi(keras.ops.ones((2, 5, 8)))  # (2, 5, 16)
    """

    def __init__(
        self,
        layer: RNN,
        merge_mode: str | None = "concat",
        backward_layer: RNN | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if isinstance(backward_layer, dict):
            backward_layer = keras.saving.deserialize_keras_object(backward_layer)
        if not isinstance(layer, (RNN, ParallelRNN)):
            raise ValueError(
                "Bidirectional expects an rnnkit recurrent layer (rnnkit.layers.RNN, "
                f"SimpleRNN, LSTM, GRU, MinGRU or MinLSTM), got {type(layer).__name__}."
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Invalid merge_mode {merge_mode!r}: expected one of {MERGE_MODES}.")
        super().__init__(**kwargs)
        self.forward_layer = clone_recurrent_layer(
            layer, name=layer.name if layer.name.startswith("forward_") else f"forward_{layer.name}"
        )
        if backward_layer is None:
            self.backward_layer = clone_recurrent_layer(
                layer, name=f"backward_{layer.name}", go_backwards=not layer.go_backwards
            )
        else:
            if not isinstance(backward_layer, (RNN, ParallelRNN)):
                raise ValueError(
                    "`backward_layer` must be an rnnkit recurrent layer, got "
                    f"{type(backward_layer).__name__}."
                )
            for attr in ("return_sequences", "return_state"):
                if getattr(backward_layer, attr) != getattr(layer, attr):
                    raise ValueError(
                        f"Forward and backward layers must agree on `{attr}`: got "
                        f"{getattr(layer, attr)} and {getattr(backward_layer, attr)}."
                    )
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError(
                    "The backward layer must have the opposite `go_backwards` of the "
                    f"forward layer, got go_backwards={layer.go_backwards} for both."
                )
            self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = self.return_sequences
            # The two directions are already two independent loops: batch_split="auto"
            # leaves them whole (splitting each measured slower, rnnkit.ops.batch_split).
            sub.concurrent_loops = 2
        self.supports_masking = True

    def build(self, sequences_shape: tuple, initial_state_shape: Any = None) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(sequences_shape)
        self.built = True

    def _merge_shape(self, shape: tuple) -> tuple:
        if self.merge_mode == "concat":
            return (*shape[:-1], shape[-1] * 2)
        return tuple(shape)

    def compute_output_shape(self, sequences_shape: tuple, initial_state_shape: Any = None) -> Any:
        fwd = self.forward_layer.compute_output_shape(sequences_shape)
        states = []
        if self.return_state:
            fwd, states = fwd[0], list(fwd[1:])
        output = [fwd, fwd] if self.merge_mode is None else self._merge_shape(tuple(fwd))
        if self.return_state:
            outputs = output if isinstance(output, list) else [output]
            return outputs + states + states
        return output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            n_states = 2 * len(self.forward_layer.state_size)
            return masks + [None] * n_states
        return masks if self.merge_mode is None else output_mask

    def call(
        self,
        sequences: Any,
        initial_state: Any = None,
        mask: Any = None,
        training: bool | None = None,
    ) -> Any:
        n = len(self.forward_layer.state_size)
        fwd_state = bwd_state = None
        if initial_state is not None:
            initial_state = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            if len(initial_state) != 2 * n:
                raise ValueError(
                    f"Layer '{self.name}' expected {2 * n} initial states ({n} forward then "
                    f"{n} backward), got {len(initial_state)}."
                )
            fwd_state, bwd_state = initial_state[:n], initial_state[n:]
        y = self.forward_layer(sequences, initial_state=fwd_state, mask=mask, training=training)
        y_rev = self.backward_layer(
            sequences, initial_state=bwd_state, mask=mask, training=training
        )
        states_f = states_b = []
        if self.return_state:
            y, states_f = y[0], list(y[1:])
            y_rev, states_b = y_rev[0], list(y_rev[1:])
        # As keras.layers.Bidirectional: the merged output in this layer's compute dtype
        # (e.g. float16 under a mixed policy, whatever the wrapped layers compute in).
        y = ops.cast(y, self.compute_dtype)
        y_rev = ops.cast(y_rev, self.compute_dtype)
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = y + y_rev
        elif self.merge_mode == "ave":
            output = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            output = y * y_rev
        else:
            output = [y, y_rev]
        if self.return_state:
            outputs = output if isinstance(output, list) else [output]
            return outputs + states_f + states_b
        return output

    def execution_plan(
        self, inputs: Any, mask: Any = None, training: bool = False
    ) -> dict[str, Any]:
        """How each direction runs: ``{"forward": plan, "backward": plan}``, the
        :meth:`rnnkit.layers.RNN.execution_plan` of the two wrapped layers. Builds the
        layer if needed; computes nothing else."""
        if not self.built:
            self.build(tuple(static_shape(inputs)))
        return {
            "forward": self.forward_layer.execution_plan(inputs, mask, training),
            "backward": self.backward_layer.execution_plan(inputs, mask, training),
        }

    @property
    def stateful(self) -> bool:
        return bool(getattr(self.forward_layer, "stateful", False))

    def reset_state(self) -> None:
        """Zeroes both directions' states (stateful layers only, as in Keras)."""
        if not self.stateful:
            raise AttributeError(
                f"Layer '{self.name}' is not stateful: reset_state() needs a wrapped layer "
                "created with stateful=True."
            )
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    reset_states = reset_state

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.forward_layer),
            "backward_layer": keras.saving.serialize_keras_object(self.backward_layer),
            "merge_mode": self.merge_mode,
        }

    @classmethod
    def from_config(cls, config: dict) -> Bidirectional:
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = keras.saving.deserialize_keras_object(
                config["backward_layer"]
            )
        return cls(**config)
