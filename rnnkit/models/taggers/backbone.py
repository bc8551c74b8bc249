"""The taggers' backbones (transducers): one output per input token.

* :func:`build_transducer_tagger`: embedding -> stacked (Bi)RNN -> per-token softmax.
* :class:`SequenceTagger`: word embedding (optionally pretrained) [+ word-shape embedding]
  [+ character CNN (Ma and Hovy 2016) or character BiLSTM (Lample et al. 2016) over the
  word's original spelling] -> stacked (Bi)RNN -> CRF (Huang et al. 2015) or softmax.
  ``rnnkit.sklearn.RNNSequenceTagger`` and ``recipes/tagging_ner.py`` both use it; its
  training loss and decoding (Viterbi or argmax, marginals) are its own methods, part of
  the saved model. :func:`~rnnkit.models.taggers.preprocessor.encode_tokens` turns token
  lists into its inputs.
* :class:`BiLSTMCRFTagger`: a :class:`SequenceTagger` with a CRF and a character BiLSTM.

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
from rnnkit.text.token_features import CASE_CLASSES

__all__ = [
    "build_transducer_tagger",
    "SequenceTagger",
    "BiLSTMCRFTagger",
]


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
        cell: ``"lstm"``, ``"gru"``, ``"srnn"``, ``"mingru"`` or ``"minlstm"``.
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
class SequenceTagger(keras.Model):
    """Neural sequence tagger: word [+ case] [+ character] features -> (Bi)RNN -> CRF or softmax.

    Each token is represented by the concatenation of a word embedding (optionally
    initialised from pretrained vectors), with ``case_features`` an embedding of its
    word shape (:func:`case_class`), and with ``char_vocab_size`` a character-level
    representation of the word's original spelling: a character CNN with max pooling
    (``char_encoder="cnn"``, Ma and Hovy 2016) or the final states of a character
    BiLSTM (``"lstm"``, Lample et al. 2016). Dropout is applied to the character
    embeddings, to the token features and to the encoder output (0.5 in both papers);
    ``word_dropout`` replaces known word ids by the unknown id during training, so
    the model learns to tag unknown words from their characters and shape. A stacked
    (Bi)RNN then gives per-token scores: CRF potentials (``crf=True``, trained on the
    CRF negative log-likelihood and decoded with Viterbi) or softmax probabilities.

    Args:
        vocab_size: number of word ids (0 = padding, 1 = unknown).
        num_tags: number of tags.
        embedding_dim: word embedding size.
        units: recurrent units per direction.
        num_layers: stacked recurrent layers.
        cell: ``"lstm"``, ``"gru"``, ``"srnn"``, ``"mingru"`` or ``"minlstm"``.
        bidirectional: read both directions.
        dropout: dropout rate (see above).
        crf: CRF output (else a softmax per token).
        char_vocab_size: number of character ids (0 = padding, 1 = unknown); None: no
            character features.
        char_encoder: ``"cnn"`` or ``"lstm"``.
        char_embedding_dim: character embedding size.
        char_units: CNN filters, or character LSTM units per direction.
        char_kernel_size: CNN window.
        case_features: add the word-shape embedding (input ``"case"``).
        case_embedding_dim: its size.
        word_dropout: probability of replacing a known word id by 1 during training.
        embeddings: optional pretrained ``(vocab_size, embedding_dim)`` matrix (used
            to initialise the weights; it is not stored in the config).
        trainable_embeddings: fine-tune the word embeddings.
        allowed_transitions, allowed_start, allowed_end: optional CRF constraints
            (:class:`rnnkit.layers.CRF`; e.g. from
            :func:`rnnkit.ops.crf.transition_constraints`): forbidden transitions get
            no probability in training, decoding and marginals.

    Call arguments:
        inputs: ``(batch, timesteps)`` word ids, or a dict ``{"words": (batch,
            timesteps), "chars": (batch, timesteps, max_word_len), "case": (batch,
            timesteps)}`` (``chars`` and ``case`` when the tagger uses them).
        training: whether dropout is active.

    Returns:
        ``(batch, timesteps, num_tags)``: CRF potentials, or probabilities without CRF.
        :meth:`fit` trains against ``(batch, timesteps)`` tags with ``-1`` at padded
        steps; :meth:`predict` returns tag ids ``(batch, timesteps)`` int32 (0 at padded
        steps), or the scores with ``decode=False``.

    Example:

    >>> tagger = SequenceTagger(1000, 21, char_vocab_size=100, case_features=True)
    >>> tagger.compile("adam")
    >>> x = encode_tokens([["Paris", "is", "nice"]], word_index, char_index)
    >>> tagger.fit(x, tags)  # tags: (batch, timesteps), -1 = padding
    >>> best = tagger.predict(x)  # (batch, timesteps) tag ids
    """

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        embedding_dim: int = 64,
        units: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        dropout: float = 0.0,
        crf: bool = True,
        char_vocab_size: int | None = None,
        char_encoder: str = "cnn",
        char_embedding_dim: int = 25,
        char_units: int = 25,
        char_kernel_size: int = 3,
        case_features: bool = False,
        case_embedding_dim: int = 8,
        word_dropout: float = 0.0,
        embeddings: np.ndarray | None = None,
        trainable_embeddings: bool = True,
        allowed_transitions: Any = None,
        allowed_start: Any = None,
        allowed_end: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if char_encoder not in ("cnn", "lstm"):
            raise ValueError(f"char_encoder must be 'cnn' or 'lstm', got {char_encoder!r}.")
        self.vocab_size = int(vocab_size)
        self.num_tags = int(num_tags)
        self.embedding_dim = int(embedding_dim)
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.cell = str(cell).lower()
        self.bidirectional = bool(bidirectional)
        self.dropout_rate = float(dropout)
        self.use_crf = bool(crf)
        self.char_vocab_size = int(char_vocab_size) if char_vocab_size else None
        self.char_encoder_kind = char_encoder
        self.char_embedding_dim = int(char_embedding_dim)
        self.char_units = int(char_units)
        self.char_kernel_size = int(char_kernel_size)
        self.case_features = bool(case_features)
        self.case_embedding_dim = int(case_embedding_dim)
        self.word_dropout = float(word_dropout)
        self.trainable_embeddings = bool(trainable_embeddings)
        self.word_embedding, pretrained = _embedding(
            self.vocab_size, self.embedding_dim, embeddings, trainable_embeddings, "word_embedding"
        )
        if pretrained is not None:
            self.word_embedding.build((None, None))
            self.word_embedding.embeddings.assign(pretrained)
        if self.word_dropout:
            self.seed_generator = keras.random.SeedGenerator(0, name="word_dropout_seed")
        if self.case_features:
            self.case_embedding = keras.layers.Embedding(
                len(CASE_CLASSES), self.case_embedding_dim, name="case_embedding"
            )
        if self.char_vocab_size:
            self.char_embedding = keras.layers.Embedding(
                self.char_vocab_size, self.char_embedding_dim, name="char_embedding"
            )
            self.char_dropout = keras.layers.Dropout(self.dropout_rate)
            if char_encoder == "cnn":
                self.char_encoder = keras.layers.Conv1D(
                    self.char_units,
                    self.char_kernel_size,
                    padding="same",
                    activation="tanh",
                    name="char_cnn",
                )
            else:
                self.char_encoder = Bidirectional(LSTM(self.char_units), name="char_bilstm")
        self.feature_dropout = keras.layers.Dropout(self.dropout_rate)
        self.encoder = StackedRNN(
            [
                recurrent_layer(self.cell, self.units, return_sequences=True)
                for _ in range(self.num_layers)
            ],
            bidirectional=self.bidirectional,
            dropout=self.dropout_rate,
            name="encoder",
        )
        self.output_dropout = keras.layers.Dropout(self.dropout_rate)
        if self.use_crf:
            self.potentials = keras.layers.Dense(self.num_tags, name="potentials")
            self.crf = CRF(
                self.num_tags,
                allowed_transitions=allowed_transitions,
                allowed_start=allowed_start,
                allowed_end=allowed_end,
                name="crf",
            )
        elif any(c is not None for c in (allowed_transitions, allowed_start, allowed_end)):
            raise ValueError("Transition constraints need crf=True.")
        else:
            self.potentials = keras.layers.Dense(self.num_tags, activation="softmax", name="tags")

    # ------------------------------------------------------------------ inputs
    def _split(self, inputs: Any) -> tuple[Any, Any, Any]:
        if isinstance(inputs, dict):
            words, chars, case = inputs["words"], inputs.get("chars"), inputs.get("case")
        else:
            words, chars, case = inputs, None, None
        if self.char_vocab_size and chars is None:
            raise ValueError(
                "This tagger uses character features: call it with "
                "{'words': (batch, timesteps), 'chars': (batch, timesteps, max_word_len)}."
            )
        if self.case_features and case is None:
            raise ValueError(
                "This tagger uses case features: call it with "
                "{'words': (batch, timesteps), 'case': (batch, timesteps), ...}."
            )
        return words, chars, case

    def build(self, input_shape: Any) -> None:
        if self.built:
            return
        words_shape = input_shape["words"] if isinstance(input_shape, dict) else input_shape
        if not self.word_embedding.built:
            self.word_embedding.build(words_shape)
        # Create every sublayer's weights (needed before loading a saved model).
        words = np.ones((1, 2), "int32")
        dummy: dict[str, Any] = {"words": words}
        if self.char_vocab_size:
            chars_shape = input_shape.get("chars") if isinstance(input_shape, dict) else None
            width = chars_shape[-1] if chars_shape and chars_shape[-1] else 1
            dummy["chars"] = np.ones((1, 2, width), "int32")
        if self.case_features:
            dummy["case"] = np.ones((1, 2), "int32")
        self.call(dummy if len(dummy) > 1 else words)
        self.built = True

    def _char_features(self, chars: Any, batch: Any, steps: Any, training: Any) -> Any:
        chars = ops.cast(chars, "int32")
        flat = ops.reshape(chars, (-1, ops.shape(chars)[-1]))
        char_mask = ops.not_equal(flat, 0)
        e = self.char_dropout(self.char_embedding(flat), training=training)
        if self.char_encoder_kind == "cnn":
            h = self.char_encoder(e)
            # Max over the word's characters (padding excluded; empty rows give 0).
            h = ops.where(ops.expand_dims(char_mask, -1), h, -1e4)
            h = ops.max(h, axis=1)
            h = ops.where(h <= -1e3, 0.0, h)
            size = self.char_units
        else:
            h = self.char_encoder(e, mask=char_mask, training=training)
            size = 2 * self.char_units
        return ops.reshape(h, (batch, steps, size))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        words, chars, case = self._split(inputs)
        words = ops.cast(words, "int32")
        mask = ops.not_equal(words, 0)
        ids = words
        if self.word_dropout and training:
            drop = keras.random.uniform(ops.shape(words), seed=self.seed_generator)
            ids = ops.where(ops.logical_and(drop < self.word_dropout, words > 1), 1, words)
        features = [self.word_embedding(ids)]
        batch, steps = ops.shape(words)[0], ops.shape(words)[1]
        if self.case_features:
            features.append(self.case_embedding(ops.cast(case, "int32")))
        if self.char_vocab_size:
            features.append(self._char_features(chars, batch, steps, training))
        h = features[0] if len(features) == 1 else ops.concatenate(features, axis=-1)
        h = self.feature_dropout(h, training=training)
        h = self.encoder(h, mask=mask, training=training)
        h = self.output_dropout(h, training=training)
        scores = self.potentials(h)
        return self.crf(scores) if self.use_crf else scores

    # ------------------------------------------------------------ train/decode
    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        if self.use_crf:
            loss = self.crf.loss(y, y_pred)
        else:
            y = ops.cast(y, "int32")
            valid = ops.cast(ops.greater_equal(y, 0), y_pred.dtype)
            nll = keras.losses.sparse_categorical_crossentropy(ops.maximum(y, 0), y_pred)
            loss = ops.sum(nll * valid) / ops.maximum(ops.sum(valid), 1.0)
        if training and self.losses:
            loss = loss + ops.sum(ops.stack(self.losses))
        return loss

    def decode(self, scores: Any, words: Any) -> np.ndarray:
        """Tag ids ``(batch, timesteps)`` (0 at padding) from the model's output scores."""
        scores = ops.convert_to_numpy(scores)
        mask = np.asarray(ops.convert_to_numpy(words)) != 0
        if not self.use_crf:
            return np.where(mask, scores.argmax(-1), 0).astype("int32")
        # Rows with no word at all still decode their first step (then zeroed).
        safe = mask.copy()
        safe[:, 0] = True
        tags, _ = self.crf.decode(scores, safe)
        return np.where(mask, ops.convert_to_numpy(tags), 0).astype("int32")

    def marginals(self, scores: Any, words: Any) -> np.ndarray:
        """Per-token tag probabilities ``(batch, timesteps, num_tags)`` (0 at padding) from
        the model's output scores: CRF marginals (forward-backward), else the softmax."""
        scores = ops.convert_to_numpy(scores)
        mask = np.asarray(ops.convert_to_numpy(words)) != 0
        if not self.use_crf:
            return np.where(mask[..., None], scores, 0.0).astype("float32")
        safe = mask.copy()
        safe[:, 0] = True
        probs = ops.convert_to_numpy(self.crf.marginals(scores, safe))
        return np.where(mask[..., None], probs, 0.0).astype("float32")

    def predict(self, x: Any, decode: bool = True, **kwargs: Any) -> np.ndarray:
        """Tag ids ``(batch, timesteps)`` (0 at padding), or the scores with
        ``decode=False``; other arguments as ``keras.Model.predict``."""
        scores = super().predict(x, **kwargs)
        if not decode:
            return scores
        return self.decode(scores, self._split(x)[0])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "num_tags": self.num_tags,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "num_layers": self.num_layers,
                "cell": self.cell,
                "bidirectional": self.bidirectional,
                "dropout": self.dropout_rate,
                "crf": self.use_crf,
                "char_vocab_size": self.char_vocab_size,
                "char_encoder": self.char_encoder_kind,
                "char_embedding_dim": self.char_embedding_dim,
                "char_units": self.char_units,
                "char_kernel_size": self.char_kernel_size,
                "case_features": self.case_features,
                "case_embedding_dim": self.case_embedding_dim,
                "word_dropout": self.word_dropout,
                "trainable_embeddings": self.trainable_embeddings,
            }
        )
        if self.use_crf:
            for key in ("allowed_transitions", "allowed_start", "allowed_end"):
                value = getattr(self.crf, key)
                config[key] = None if value is None else np.asarray(value).tolist()
        return config


@keras.saving.register_keras_serializable(package="rnnkit")
class BiLSTMCRFTagger(SequenceTagger):
    """BiLSTM-CRF tagger (Huang et al. 2015) with optional character-BiLSTM features
    (Lample et al. 2016): a :class:`SequenceTagger` with ``crf=True`` and
    ``char_encoder="lstm"`` by default.

    Args:
        vocab_size, num_tags, embedding_dim, units, num_layers, dropout,
        char_vocab_size, char_embedding_dim, char_units, embeddings,
        trainable_embeddings: as :class:`SequenceTagger`; other keyword arguments too.

    Returns:
        As :class:`SequenceTagger`.

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
        kwargs.setdefault("crf", True)
        kwargs.setdefault("char_encoder", "lstm")
        super().__init__(
            vocab_size,
            num_tags,
            embedding_dim=embedding_dim,
            units=units,
            num_layers=num_layers,
            dropout=dropout,
            char_vocab_size=char_vocab_size,
            char_embedding_dim=char_embedding_dim,
            char_units=char_units,
            embeddings=embeddings,
            trainable_embeddings=trainable_embeddings,
            **kwargs,
        )
