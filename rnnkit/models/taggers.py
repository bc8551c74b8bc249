"""Sequence taggers (transducers): one output per input token.

* :func:`build_transducer_tagger`: embedding -> stacked (Bi)RNN -> per-token softmax.
* :class:`BiLSTMCRFTagger`: embedding (optionally pretrained) [+ character-level BiLSTM
  word features, Lample et al. 2016] -> stacked BiLSTM -> per-token potentials -> CRF
  (Huang et al. 2015), trained with the CRF negative log-likelihood.

Word id 0 is padding; gold tags use ``-1`` at padded steps for the CRF tagger (the
softmax tagger masks padded steps through Keras's mask, any label value works there).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.crf import CRF
from rnnkit.layers.factory import recurrent_layer
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.stacked_rnn import StackedRNN


def _embedding(vocab_size, dim, embeddings, trainable, name):
    if embeddings is not None:
        embeddings = np.asarray(embeddings, "float32")
        if embeddings.shape != (vocab_size, dim):
            raise ValueError(
                f"Pretrained embeddings must have shape (vocab_size, embedding_dim) = "
                f"({vocab_size}, {dim}), got {embeddings.shape}."
            )
    layer = keras.layers.Embedding(vocab_size, dim, mask_zero=True, trainable=trainable, name=name)
    return layer, embeddings


def build_transducer_tagger(
    vocab_size: int,
    num_tags: int,
    embedding_dim: int = 64,
    cell: str = "lstm",
    units: int = 64,
    num_layers: int = 1,
    bidirectional: bool = True,
    dropout: float = 0.0,
    embeddings: np.ndarray | None = None,
    trainable_embeddings: bool = True,
    name: str = "transducer_tagger",
) -> keras.Model:
    """Embedding -> stacked (Bi)RNN -> per-token softmax over tags.

    Args:
        vocab_size: number of word ids (0 = padding, masked).
        num_tags: number of tags.
        embedding_dim: word embedding size.
        cell: ``"lstm"``, ``"gru"`` or ``"srnn"``.
        units: units per direction and layer.
        num_layers: number of stacked recurrent layers.
        bidirectional: read both directions.
        dropout: dropout on the embeddings and between layers.
        embeddings: optional pretrained ``(vocab_size, embedding_dim)`` matrix.
        trainable_embeddings: fine-tune the embeddings.
        name: model name.

    Returns:
        A functional ``keras.Model`` ``(batch, timesteps)`` int ids ->
        ``(batch, timesteps, num_tags)`` probabilities; compile it with
        ``sparse_categorical_crossentropy`` (padded steps are masked).

    Example:

    >>> model = build_transducer_tagger(1000, 21)
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    """
    inputs = keras.Input((None,), dtype="int32", name="words")
    emb_layer, matrix = _embedding(
        vocab_size, embedding_dim, embeddings, trainable_embeddings, "embedding"
    )
    h = emb_layer(inputs)
    if matrix is not None:
        emb_layer.set_weights([matrix])
    if dropout:
        h = keras.layers.Dropout(dropout)(h)
    layers = [recurrent_layer(cell, units, return_sequences=True) for _ in range(num_layers)]
    h = StackedRNN(layers, bidirectional=bidirectional, dropout=dropout, name="encoder")(h)
    if dropout:
        h = keras.layers.Dropout(dropout)(h)
    outputs = keras.layers.Dense(num_tags, activation="softmax", name="tags")(h)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="rnnkit")
class BiLSTMCRFTagger(keras.Model):
    """BiLSTM-CRF tagger (Huang et al. 2015) with optional character features.

    Words are embedded (optionally from a pretrained matrix); with ``char_vocab_size``
    each word's characters run through a character BiLSTM whose final states are
    concatenated to the word embedding (Lample et al. 2016). A stacked BiLSTM then
    gives per-token potentials for a :class:`rnnkit.layers.CRF`.

    Args:
        vocab_size: number of word ids (0 = padding).
        num_tags: number of tags.
        embedding_dim: word embedding size.
        units: LSTM units per direction.
        num_layers: number of stacked BiLSTM layers.
        dropout: dropout on the token features and between layers.
        char_vocab_size: number of character ids (0 = padding); None: no char features.
        char_embedding_dim: character embedding size.
        char_units: character LSTM units per direction.
        embeddings: optional pretrained ``(vocab_size, embedding_dim)`` matrix (used
            to initialise the weights; it is not stored in the config).
        trainable_embeddings: fine-tune the word embeddings.

    Call arguments:
        inputs: ``(batch, timesteps)`` word ids, or with character features a dict
            ``{"words": (batch, timesteps), "chars": (batch, timesteps, max_word_len)}``.
        training: whether dropout is active.

    Returns:
        ``(batch, timesteps, num_tags)`` CRF potentials. :meth:`fit` trains with the
        CRF negative log-likelihood (mean over the batch) against ``(batch, timesteps)``
        tags with ``-1`` at padded steps; :meth:`predict` returns Viterbi tags
        ``(batch, timesteps)`` int32 (0 at padded steps), or the potentials with
        ``decode=False``.

    Example:

    >>> tagger = BiLSTMCRFTagger(1000, 21, char_vocab_size=100)
    >>> tagger.compile("adam")
    >>> tagger.fit({"words": w, "chars": c}, tags)  # tags: -1 = padding
    >>> best = tagger.predict({"words": w, "chars": c})
    """

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        embedding_dim: int = 64,
        units: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        char_vocab_size: int | None = None,
        char_embedding_dim: int = 25,
        char_units: int = 25,
        embeddings: np.ndarray | None = None,
        trainable_embeddings: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.num_tags = num_tags
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.dropout_rate = dropout
        self.char_vocab_size = char_vocab_size
        self.char_embedding_dim = char_embedding_dim
        self.char_units = char_units
        self.trainable_embeddings = trainable_embeddings
        self.word_embedding, pretrained = _embedding(
            vocab_size, embedding_dim, embeddings, trainable_embeddings, "word_embedding"
        )
        if pretrained is not None:
            self.word_embedding.build((None, None))
            self.word_embedding.embeddings.assign(pretrained)
        if char_vocab_size:
            self.char_embedding = keras.layers.Embedding(
                char_vocab_size, char_embedding_dim, mask_zero=True, name="char_embedding"
            )
            self.char_encoder = Bidirectional(LSTM(char_units), name="char_bilstm")
        self.feature_dropout = keras.layers.Dropout(dropout)
        self.encoder = StackedRNN(
            [LSTM(units, return_sequences=True) for _ in range(num_layers)],
            bidirectional=True,
            dropout=dropout,
            name="encoder",
        )
        self.output_dropout = keras.layers.Dropout(dropout)
        self.potentials = keras.layers.Dense(num_tags, name="potentials")
        self.crf = CRF(num_tags, name="crf")

    def _split(self, inputs: Any) -> tuple[Any, Any]:
        if isinstance(inputs, dict):
            words, chars = inputs["words"], inputs.get("chars")
        else:
            words, chars = inputs, None
        if self.char_vocab_size and chars is None:
            raise ValueError(
                "This tagger uses character features: call it with "
                "{'words': (batch, timesteps), 'chars': (batch, timesteps, max_word_len)}."
            )
        return words, chars

    def build(self, input_shape: Any) -> None:
        if self.built:
            return
        words_shape = input_shape["words"] if isinstance(input_shape, dict) else input_shape
        if not self.word_embedding.built:
            self.word_embedding.build(words_shape)
        # Create every sublayer's weights (needed before loading a saved model).
        words = np.ones((1, 2), "int32")
        if self.char_vocab_size:
            chars_shape = input_shape.get("chars") if isinstance(input_shape, dict) else None
            width = chars_shape[-1] if chars_shape and chars_shape[-1] else 1
            self.call({"words": words, "chars": np.ones((1, 2, width), "int32")})
        else:
            self.call(words)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        words, chars = self._split(inputs)
        words = ops.cast(words, "int32")
        mask = ops.not_equal(words, 0)
        h = self.word_embedding(words)
        if self.char_vocab_size:
            chars = ops.cast(chars, "int32")
            batch, steps = ops.shape(words)[0], ops.shape(words)[1]
            flat = ops.reshape(chars, (-1, ops.shape(chars)[-1]))
            c = self.char_encoder(
                self.char_embedding(flat), mask=ops.not_equal(flat, 0), training=training
            )
            c = ops.reshape(c, (batch, steps, 2 * self.char_units))
            h = ops.concatenate([h, c], axis=-1)
        h = self.feature_dropout(h, training=training)
        h = self.encoder(h, mask=mask, training=training)
        h = self.output_dropout(h, training=training)
        return self.crf(self.potentials(h))

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        loss = self.crf.loss(y, y_pred)
        if training and self.losses:
            loss = loss + ops.sum(ops.stack(self.losses))
        return loss

    def predict(self, x: Any, decode: bool = True, **kwargs: Any) -> np.ndarray:
        """Viterbi tags ``(batch, timesteps)`` (0 at padding), or potentials with
        ``decode=False``; other arguments as ``keras.Model.predict``."""
        potentials = super().predict(x, **kwargs)
        if not decode:
            return potentials
        words, _ = self._split(x)
        mask = np.asarray(words) != 0
        # Rows with no word at all still decode their first step (then zeroed).
        safe = mask.copy()
        safe[:, 0] = True
        tags, _ = self.crf.decode(potentials, safe)
        return np.where(mask, ops.convert_to_numpy(tags), 0).astype("int32")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "num_tags": self.num_tags,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "num_layers": self.num_layers,
                "dropout": self.dropout_rate,
                "char_vocab_size": self.char_vocab_size,
                "char_embedding_dim": self.char_embedding_dim,
                "char_units": self.char_units,
                "trainable_embeddings": self.trainable_embeddings,
            }
        )
        return config
