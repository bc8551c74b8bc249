"""The seq2seq backbone: an encoder-decoder model with or without attention.

:class:`Seq2Seq` is the Keras model (teacher-forced logits, :meth:`Seq2Seq.encode`,
:meth:`Seq2Seq.alignments`); :meth:`Seq2Seq.translate` runs the search of
:mod:`rnnkit.models.seq2seq.search` (greedy or beam).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from rnnkit.cells import GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, SimpleRNNCell
from rnnkit.layers.attention_decoder import AttentionDecoder, Decoded
from rnnkit.layers.factory import recurrent_layer
from rnnkit.layers.stacked_rnn import StackedRNN
from rnnkit.models.seq2seq.search import translate

#: the decoder cell of each of :data:`rnnkit.names.CELL_NAMES` (the encoder takes the layer)
CELLS = {
    "lstm": LSTMCell,
    "gru": GRUCell,
    "srnn": SimpleRNNCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
}


@keras.saving.register_keras_serializable(package="rnnkit")
class Seq2Seq(keras.Model):
    """Bidirectional stacked RNN encoder and an :class:`AttentionDecoder`.

    The encoder embeds the source ids (0 = padding, masked) and runs a stack of
    bidirectional recurrent layers; its summary is the forward direction's state at
    the last source token joined with the backward direction's state at the first.
    The decoder's initial states are ``tanh(W summary + b)`` (Bahdanau et al. 2015).

    * ``attention=True``: the decoder attends over all encoder outputs.
    * ``attention=False``: the decoder sees only the encoder summary: its memory is
      that one vector, so the context fed into every step is the summary (Cho et
      al. 2014's encoder-decoder). Everything else is the same model.

    Args:
        source_vocabulary_size, target_vocabulary_size: id counts.
        embedding_dim: size of the source and target embeddings.
        units: units of every encoder direction and of the decoder cell.
        encoder_layers: number of stacked bidirectional encoder layers.
        cell: ``"lstm"``, ``"gru"``, ``"srnn"``, or the parallel-scan ``"mingru"`` /
            ``"minlstm"`` (encoder and decoder: the encoder scans each source in
            parallel, the decoder steps through the target with the same equations).
        attention: attend over the source (True) or use the encoder summary only.
        attention_units: hidden size of the attention scorer (default ``units``).
        dropout: dropout between encoder layers and on the decoder readout.
        pad_id, start_id, end_id: the reserved target ids (source padding is 0).

    Call arguments:
        inputs: ``[source_ids (batch, S), target_in_ids (batch, T)]`` int tensors;
            ``target_in`` is the start id followed by the target (teacher forcing).
        training: whether dropout is active.

    Returns:
        Logits ``(batch, T, target_vocabulary_size)``; train with
        ``SparseCategoricalCrossentropy(from_logits=True, ignore_class=pad_id)``.

    Example:

    >>> model = Seq2Seq(1000, 1200, embedding_dim=64, units=128)
    >>> logits = model([keras.ops.ones((2, 9), "int32"), keras.ops.ones((2, 7), "int32")])
    >>> result = model.translate(np.ones((2, 9), "int32"), beam_width=4)
    """

    def __init__(
        self,
        source_vocabulary_size: int,
        target_vocabulary_size: int,
        embedding_dim: int = 64,
        units: int = 128,
        encoder_layers: int = 1,
        cell: str = "lstm",
        attention: bool = True,
        attention_units: int | None = None,
        dropout: float = 0.0,
        pad_id: int = 0,
        start_id: int = 2,
        end_id: int = 3,
        **kwargs: Any,
    ) -> None:
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {tuple(CELLS)}, got {cell!r}.")
        for name, value in (
            ("source_vocabulary_size", source_vocabulary_size),
            ("target_vocabulary_size", target_vocabulary_size),
            ("embedding_dim", embedding_dim),
            ("units", units),
            ("encoder_layers", encoder_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        super().__init__(**kwargs)
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.cell_kind = cell
        self.use_attention = bool(attention)
        self.attention_units = attention_units
        self.dropout = float(dropout)
        self.pad_id, self.start_id, self.end_id = pad_id, start_id, end_id
        self.source_embedding = keras.layers.Embedding(
            source_vocabulary_size, embedding_dim, name="source_embedding"
        )
        self.encoder = StackedRNN(
            [recurrent_layer(cell, units, return_sequences=True) for _ in range(encoder_layers)],
            bidirectional=True,
            dropout=dropout,
            name="encoder",
        )
        decoder_cell = CELLS[cell](units, name="decoder_cell")
        self.bridge = keras.layers.Dense(
            units * len(decoder_cell.state_size), activation="tanh", name="bridge"
        )
        self.decoder = AttentionDecoder(
            decoder_cell,
            target_vocabulary_size,
            embedding_dim,
            attention_units=attention_units,
            pad_id=pad_id,
            start_id=start_id,
            end_id=end_id,
            dropout=dropout,
            name="decoder",
        )

    def build(self, inputs_shape: Any) -> None:
        self.source_embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))
        self.bridge.build((None, 2 * self.units))
        self.decoder.build((None, None), (None, None, 2 * self.units))
        self.built = True

    def _check_inputs(self, inputs: Any) -> tuple[Any, Any]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "Seq2Seq expects inputs [source_ids (batch, S), target_in_ids (batch, T)], "
                f"got {type(inputs).__name__}."
            )
        return inputs[0], inputs[1]

    def encode(self, source_ids: Any, training: bool | None = False) -> tuple[Any, Any, list]:
        """``(memory (batch, Tm, 2 units), memory_mask or None, decoder initial states)``.

        With attention the memory is every encoder output (mask: source ids != 0);
        without, it is the encoder summary alone (``Tm = 1``, no mask).
        """
        source_ids = ops.cast(source_ids, "int32")
        if len(source_ids.shape) != 2:
            raise ValueError(
                f"Seq2Seq expected source ids of shape (batch, S), got {tuple(source_ids.shape)}."
            )
        mask = ops.not_equal(source_ids, 0)
        outputs = self.encoder(self.source_embedding(source_ids), mask=mask, training=training)
        steps = ops.shape(source_ids)[1]
        mask_int = ops.cast(mask, "int32")
        first = ops.argmax(mask_int, axis=1)
        last = steps - 1 - ops.argmax(ops.flip(mask_int, axis=1), axis=1)
        forward = ops.take_along_axis(outputs, ops.reshape(last, (-1, 1, 1)), axis=1)[:, 0]
        backward = ops.take_along_axis(outputs, ops.reshape(first, (-1, 1, 1)), axis=1)[:, 0]
        summary = ops.concatenate([forward[:, : self.units], backward[:, self.units :]], axis=-1)
        states = ops.split(self.bridge(summary), len(self.decoder.cell.state_size), axis=-1)
        if self.use_attention:
            return outputs, mask, list(states)
        return ops.expand_dims(summary, 1), None, list(states)

    def call(self, inputs: Any, training: bool | None = False) -> Any:
        source_ids, target_in = self._check_inputs(inputs)
        memory, memory_mask, states = self.encode(source_ids, training=training)
        return self.decoder(
            target_in, memory, values_mask=memory_mask, initial_state=states, training=training
        )

    def alignments(self, source_ids: Any, target_in: Any) -> Any:
        """Teacher-forced attention weights ``(batch, T, S)`` (attention models only)."""
        memory, memory_mask, states = self.encode(source_ids)
        _, weights = self.decoder(
            target_in, memory, values_mask=memory_mask, initial_state=states, return_alignments=True
        )
        return weights

    def translate(
        self,
        source_ids: Any,
        beam_width: int = 1,
        max_length: int = 50,
        length_penalty: float = 1.0,
    ) -> Decoded:
        """Decodes a batch of source id rows: greedy (``beam_width=1``) or beam search
        (:func:`rnnkit.models.seq2seq.search.translate`).

        Raises:
            ValueError: for a row with no source token (all padding).
        """
        return translate(
            self,
            source_ids,
            beam_width=beam_width,
            max_length=max_length,
            length_penalty=length_penalty,
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "encoder_layers": self.encoder_layers,
            "cell": self.cell_kind,
            "attention": self.use_attention,
            "attention_units": self.attention_units,
            "dropout": self.dropout,
            "pad_id": self.pad_id,
            "start_id": self.start_id,
            "end_id": self.end_id,
        }
