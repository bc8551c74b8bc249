"""The language model's backbone: embedding -> stacked recurrent layers (LSTM by default)
-> softmax over the vocabulary.

The model is a transducer: it predicts token ``t+1`` from tokens ``<= t`` at every
position. For truncated backpropagation through time its recurrent layers are stateful
(rnnkit's layers with ``stateful=True``): the final states of a
batch are the initial states of the next, so a model fed consecutive windows of
:func:`rnnkit.data.ptb.tbptt_windows` sees unbroken streams. ``reset_states()``
zeroes them (at the start of each epoch and of each evaluation).

The model returns logits; the softmax is applied in the loss
(:class:`rnnkit.training.tbptt.SequenceCrossentropy`), in
:func:`~rnnkit.models.language_model.metrics.perplexity` and in
:func:`~rnnkit.models.language_model.generation.sample_logits`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from rnnkit.layers.factory import recurrent_layer
from rnnkit.names import CELL_NAMES
from rnnkit.ops.validation import static_shape


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


@keras.saving.register_keras_serializable(package="rnnkit")
class LanguageModel(keras.Model):
    """Word-level recurrent language model (Zaremba et al. 2014: LSTM by default).

    Args:
        vocab_size: Number of words (ids ``0 .. vocab_size-1``).
        units: Units per recurrent layer (also the embedding size unless
            ``embedding_dim`` is given).
        num_layers: Number of stacked recurrent layers.
        embedding_dim: Embedding size (default ``units``).
        dropout: Dropout rate on the embeddings, between layers and before the
            softmax (Zaremba's regularized configurations; 0 for the non-regularized).
        init_scale: Every weight (embedding, recurrent kernels and biases, softmax) is
            initialised uniform in ``[-init_scale, init_scale]``; ``None`` keeps
            Keras's default initializers.
        batch_size: The fixed batch size of a stateful model.
        stateful: Carry the recurrent states from one batch to the next (TBPTT).
        cell: The recurrent layer, one of :data:`rnnkit.names.CELL_NAMES`: ``"lstm"``
            (default), ``"gru"``, ``"srnn"``, or the parallel-scan ``"mingru"`` /
            ``"minlstm"`` (trained over each window with one scan, stateful across
            windows like the others).
        use_fused: Passed to the classic recurrent layers (fused cuDNN / torch kernels):
            a runtime choice of this object, kept by :meth:`with_batch_size`, not saved
            in the config (as the layers do not save it). The parallel-scan layers
            have no fused kernel and ignore it.

    Call arguments:
        inputs: int ``(batch_size, timesteps)`` token ids.
        training: whether dropout is active.

    Returns:
        Logits ``(batch_size, timesteps, vocab_size)``.

    Example:

    >>> model = LanguageModel(vocab_size=100, units=16, num_layers=2, batch_size=4)
    >>> logits = model(np.zeros((4, 5), "int32"))  # (4, 5, 100)
    >>> model.reset_states()
    """

    def __init__(
        self,
        vocab_size: int,
        units: int = 200,
        num_layers: int = 2,
        embedding_dim: int | None = None,
        dropout: float = 0.0,
        init_scale: float | None = 0.1,
        batch_size: int = 20,
        stateful: bool = True,
        cell: str = "lstm",
        use_fused: bool | str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.units = _positive_int("units", units)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.embedding_dim = _positive_int(
            "embedding_dim", units if embedding_dim is None else embedding_dim
        )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        if init_scale is not None and not float(init_scale) > 0:
            raise ValueError(f"`init_scale` must be positive or None, got {init_scale!r}.")
        self.dropout = float(dropout)
        self.init_scale = None if init_scale is None else float(init_scale)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.stateful = bool(stateful)
        if cell not in CELL_NAMES:
            raise ValueError(f"`cell` must be one of {', '.join(CELL_NAMES)}, got {cell!r}.")
        self.cell = cell
        self.use_fused = use_fused

        def init(default: str) -> Any:
            if self.init_scale is None:
                return default
            return keras.initializers.RandomUniform(-self.init_scale, self.init_scale)

        self.embedding = keras.layers.Embedding(
            self.vocab_size,
            self.embedding_dim,
            embeddings_initializer=init("uniform"),
            name="embedding",
        )
        options: dict[str, Any] = dict(
            return_sequences=True,
            stateful=self.stateful,
            kernel_initializer=init("glorot_uniform"),
            bias_initializer=init("zeros"),
        )
        if cell in ("lstm", "gru", "srnn"):
            options.update(recurrent_initializer=init("orthogonal"), use_fused=use_fused)
        if cell == "lstm":
            options.update(unit_forget_bias=self.init_scale is None)
        #: the stacked recurrent layers (named ``lstm_layers`` since the model was
        #: LSTM-only; they are of the kind ``cell`` says)
        self.lstm_layers = [
            recurrent_layer(cell, self.units, name=f"{cell}_{i}", **options)
            for i in range(self.num_layers)
        ]
        self.dropout_layers = [
            keras.layers.Dropout(self.dropout, name=f"dropout_{i}")
            for i in range(self.num_layers + 1)
        ]
        self.softmax_layer = keras.layers.Dense(
            self.vocab_size,
            kernel_initializer=init("glorot_uniform"),
            bias_initializer=init("zeros"),
            name="softmax",
        )

    def build(self, input_shape: tuple) -> None:
        batch = self.batch_size if self.stateful else input_shape[0]
        self.embedding.build((batch, None))
        shape = (batch, None, self.embedding_dim)
        for layer in self.lstm_layers:
            layer.build(shape)
            shape = (batch, None, self.units)
        self.softmax_layer.build(shape)
        self.built = True

    def _check_inputs(self, inputs: Any) -> None:
        shape = static_shape(inputs)
        if len(shape) != 2:
            raise ValueError(
                f"LanguageModel expected token ids of shape (batch, timesteps), got shape {shape}."
            )
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "int" not in dtype:
            raise ValueError(f"LanguageModel expected integer token ids, got dtype {dtype}.")
        if self.stateful and shape[0] is not None and shape[0] != self.batch_size:
            raise ValueError(
                f"This stateful LanguageModel was built for batch_size={self.batch_size}, got "
                f"a batch of {shape[0]}. Use `model.with_batch_size({shape[0]})` for a copy "
                "with the same weights and another batch size."
            )

    def call(self, inputs: Any, training: bool | None = False) -> Any:
        self._check_inputs(inputs)
        x = self.embedding(inputs)
        x = self.dropout_layers[0](x, training=training)
        for lstm, drop in zip(self.lstm_layers, self.dropout_layers[1:]):
            x = drop(lstm(x, training=training), training=training)
        return self.softmax_layer(x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape), self.vocab_size)

    def reset_states(self) -> None:
        """Zeroes the recurrent states (start of an epoch, an evaluation or a generation)."""
        for layer in self.lstm_layers:
            layer.reset_states()

    reset_state = reset_states

    def with_batch_size(self, batch_size: int) -> LanguageModel:
        """A copy with another batch size and the same trainable weights (fresh states)."""
        config = self.get_config()
        config["batch_size"] = batch_size
        config.pop("name", None)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        clone = LanguageModel(**config, use_fused=self.use_fused)
        clone.build((batch_size, None))
        for source, target in zip(self.trainable_weights, clone.trainable_weights):
            target.assign(ops.convert_to_numpy(source))
        return clone

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "units": self.units,
            "num_layers": self.num_layers,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout,
            "init_scale": self.init_scale,
            "batch_size": self.batch_size,
            "stateful": self.stateful,
            "cell": self.cell,
        }

    @classmethod
    def from_config(cls, config: dict) -> LanguageModel:
        config = dict(config)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        if config.get("use_fused", "auto") != "auto":
            # saved by rnnkit before 0.2; a runtime choice, not part of the model
            import warnings

            warnings.warn(
                f"LanguageModel '{config.get('name')}': its saved config holds "
                f"use_fused={config['use_fused']!r}, which rnnkit no longer saves (a runtime "
                "choice: it changes speed, not results); ignored.",
                stacklevel=2,
            )
        config.pop("use_fused", None)
        return cls(**config)
