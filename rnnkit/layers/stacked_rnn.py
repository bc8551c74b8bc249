"""Stacked (deep) recurrent block with optional bidirectionality and skip connections."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from rnnkit.layers.bidirectional import MERGE_MODES, Bidirectional, clone_recurrent_layer
from rnnkit.layers.parallel_rnn import ParallelRNN
from rnnkit.layers.rnn import RNN
from rnnkit.ops.validation import static_shape

SKIPS = ("none", "residual", "concat")


@keras.saving.register_keras_serializable(package="rnnkit")
class StackedRNN(keras.Layer):
    """N recurrent layers on top of each other (a deep RNN).

    Each layer reads the previous layer's output sequence; dropout is applied between
    layers. Skip connections:

    * ``"none"``: the output is the last layer's output.
    * ``"residual"``: each layer's output is added to its input (``y_i = RNN_i(x) + x``);
      layers whose output size differs from their input size (typically the first)
      are not residual, a mismatch past the first layer is an error.
    * ``"concat"``: DeepMoji's skip connections: the block outputs the concatenation
      of every layer's output sequence, last first, and the block input
      (``concat[y_N, ..., y_1, x]``).

    Args:
        layers: list of rnnkit recurrent layers (``SimpleRNN``, ``LSTM``, ``GRU``,
            ``RNN``); they are copied with ``return_sequences=True``.
        bidirectional: wrap every layer in :class:`Bidirectional`.
        merge_mode: merge mode of the bidirectional wrappers.
        dropout: dropout rate between layers.
        skip: ``"none"``, ``"residual"`` or ``"concat"``.
        return_sequences: return the whole sequence (default) or, with
            ``skip="none"``, only the last layer's final output.

    Call arguments:
        sequences: ``(batch, timesteps, features)``.
        mask: optional boolean ``(batch, timesteps)``, passed to every layer.
        training: whether dropout is active.

    Returns:
        ``(batch, timesteps, features_out)`` (or ``(batch, features_out)``).

    Example:

    >>> from rnnkit.layers import LSTM
    >>> block = StackedRNN([LSTM(64), LSTM(64)], bidirectional=True, skip="concat")
    >>> y = block(keras.ops.ones((2, 7, 32)))  # (2, 7, 128 + 128 + 32)
    """

    def __init__(
        self,
        layers: list,
        bidirectional: bool = False,
        merge_mode: str | None = "concat",
        dropout: float = 0.0,
        skip: str = "none",
        return_sequences: bool = True,
        **kwargs: Any,
    ) -> None:
        layers = [
            keras.saving.deserialize_keras_object(lay) if isinstance(lay, dict) else lay
            for lay in layers
        ]
        if not layers:
            raise ValueError("StackedRNN needs at least one recurrent layer, got none.")
        for i, lay in enumerate(layers):
            if not isinstance(lay, (RNN, ParallelRNN)):
                raise ValueError(
                    f"StackedRNN layer {i} must be an rnnkit recurrent layer (SimpleRNN, LSTM, "
                    f"GRU, RNN, MinGRU or MinLSTM), got {type(lay).__name__}."
                )
        if skip not in SKIPS:
            raise ValueError(f"Invalid skip {skip!r}: expected one of {SKIPS}.")
        if merge_mode not in MERGE_MODES or (bidirectional and merge_mode is None):
            raise ValueError(
                f"Invalid merge_mode {merge_mode!r}: expected 'concat', 'sum', 'ave' or 'mul'."
            )
        if not return_sequences and skip != "none":
            raise ValueError(
                f"skip={skip!r} needs return_sequences=True (pool the sequence afterwards, "
                "e.g. with AttentionPooling)."
            )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        super().__init__(**kwargs)
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.dropout = float(dropout)
        self.skip = skip
        self.return_sequences = return_sequences
        last = len(layers) - 1
        self.rnn_layers = []
        for i, lay in enumerate(layers):
            copy = clone_recurrent_layer(
                lay, return_sequences=return_sequences or i < last, return_state=False
            )
            if bidirectional:
                copy = Bidirectional(copy, merge_mode=merge_mode, name=f"bidirectional_{i}")
            self.rnn_layers.append(copy)
        self.dropout_layers = [
            keras.layers.Dropout(self.dropout, name=f"dropout_{i}") for i in range(1, len(layers))
        ]
        self._residual: list[bool] = []
        self.supports_masking = True

    def _layer_shapes(self, sequences_shape: tuple) -> list[tuple]:
        shapes, shape = [], tuple(sequences_shape)
        for lay in self.rnn_layers:
            out = tuple(lay.compute_output_shape(shape))
            shapes.append(out)
            shape = out
        return shapes

    def build(self, sequences_shape: tuple) -> None:
        shape = tuple(sequences_shape)
        if len(shape) != 3:
            raise ValueError(
                f"Layer '{self.name}' expected inputs of rank 3 (batch, timesteps, features), "
                f"got shape {shape}."
            )
        self._residual = []
        for i, lay in enumerate(self.rnn_layers):
            lay.build(shape)
            out = tuple(lay.compute_output_shape(shape))
            residual = self.skip == "residual" and out[-1] == shape[-1]
            if self.skip == "residual" and i > 0 and not residual:
                raise ValueError(
                    f"Layer '{self.name}': residual connection around layer {i} needs its "
                    f"output size {out[-1]} to equal its input size {shape[-1]}."
                )
            self._residual.append(residual)
            shape = out
        self.built = True

    def compute_output_shape(self, sequences_shape: tuple) -> tuple:
        shapes = self._layer_shapes(sequences_shape)
        if self.skip == "concat":
            features = sum(s[-1] for s in shapes) + sequences_shape[-1]
            return (*shapes[-1][:-1], features)
        return shapes[-1]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    def call(self, sequences: Any, mask: Any = None, training: bool | None = None) -> Any:
        x = sequences
        outputs = []
        for i, lay in enumerate(self.rnn_layers):
            inp = x if i == 0 else self.dropout_layers[i - 1](x, training=training)
            y = lay(inp, mask=mask, training=training)
            if self._residual and self._residual[i]:
                y = y + x
            outputs.append(y)
            x = y
        if self.skip == "concat":
            return ops.concatenate([*reversed(outputs), sequences], axis=-1)
        return x

    def execution_plan(self, inputs: Any, mask: Any = None, training: bool = False) -> list:
        """How each stacked layer runs, in order: each one's ``execution_plan`` (a plan,
        or a dict for a Bidirectional layer) for an input of the shape it receives (the
        batch and length of ``inputs``, the previous layer's features) and the same
        mask. Builds the layer if needed; runs no recurrence."""
        shape = tuple(static_shape(inputs))
        if not self.built:
            self.build(shape)
        plans, x = [], inputs
        for lay in self.rnn_layers:
            plans.append(lay.execution_plan(x, mask, training))
            out = tuple(lay.compute_output_shape(tuple(static_shape(x))))
            if len(out) == 3:  # the next layer's input: only its shape and dtype matter
                dtype = keras.backend.standardize_dtype(x.dtype)
                x = ops.zeros((ops.shape(x)[0], ops.shape(x)[1], out[-1]), dtype=dtype)
        return plans

    def get_config(self) -> dict:
        layers = []
        for lay in self.rnn_layers:
            inner = lay.forward_layer if isinstance(lay, Bidirectional) else lay
            layers.append(keras.saving.serialize_keras_object(inner))
        return {
            **super().get_config(),
            "layers": layers,
            "bidirectional": self.bidirectional,
            "merge_mode": self.merge_mode,
            "dropout": self.dropout,
            "skip": self.skip,
            "return_sequences": self.return_sequences,
        }
