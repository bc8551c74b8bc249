"""``RNNSequenceTagger``: a recurrent sequence tagger (BIO/NER, POS) as a scikit-learn estimator."""

from __future__ import annotations

from collections import Counter
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from rnnkit.sklearn.base import (
    KerasEstimatorMixin,
    check_same_length,
    seed_everything,
    validate_token_lists,
)

__all__ = ["RNNSequenceTagger"]


class RNNSequenceTagger(KerasEstimatorMixin, BaseEstimator):
    """Bidirectional recurrent tagger: one tag per token (the sklearn-crfsuite convention).

    ``X`` is a list of token lists, ``y`` a list of tag lists of the same lengths
    (variable lengths; each batch is padded, nothing is truncated). Tokens are
    lower-cased and mapped to ids (0 padding, 1 ``[UNK]``); the model is
    embedding -> stacked bidirectional RNN -> per-token softmax, or a linear-chain
    CRF on top (``crf=True``: :class:`rnnkit.layers.crf.CRF`, trained on its negative
    log-likelihood, decoded with Viterbi).

    Args:
        cell: ``"lstm"``, ``"gru"`` or ``"srnn"``.
        units: units per direction.
        num_layers: stacked recurrent layers.
        embedding_dim: word vector size.
        crf: CRF output layer (Viterbi decoding) instead of independent softmaxes.
        lowercase: lower-case tokens before the lookup.
        max_vocabulary: most token ids, including padding and ``[UNK]``.
        min_count: tokens seen fewer times in ``fit`` map to ``[UNK]``.
        dropout: dropout between layers.
        epochs, batch_size, learning_rate: training.
        validation_fraction: held-out fraction for early stopping (None disables).
        n_iter_no_change: early-stopping patience.
        random_state: seed for reproducible results on CPU.
        verbose: Keras verbosity.

    Fitted attributes:
        tags_: the tag set (index = tag id).
        vocabulary_: token list (index = id).
        model_: the Keras model. history_: training history.

    Example:

    >>> tagger = RNNSequenceTagger(epochs=5).fit(sentences, tags)  # doctest: +SKIP
    >>> tagger.predict([["Paris", "is", "nice"]])  # doctest: +SKIP
    [['B-geo-loc', 'O', 'O']]
    """

    # The CRF loss is a bound method of the CRF layer: unpickled models are used for
    # prediction only (fit always builds a new model), so they load uncompiled.
    _compile_on_load = False

    def __init__(
        self,
        cell: str = "lstm",
        units: int = 64,
        num_layers: int = 1,
        embedding_dim: int = 64,
        crf: bool = False,
        lowercase: bool = True,
        max_vocabulary: int = 30000,
        min_count: int = 1,
        dropout: float = 0.2,
        epochs: int = 10,
        batch_size: int = 32,
        learning_rate: float = 3e-3,
        validation_fraction: float | None = 0.1,
        n_iter_no_change: int = 2,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.crf = crf
        self.lowercase = lowercase
        self.max_vocabulary = max_vocabulary
        self.min_count = min_count
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        return tags

    # ----------------------------------------------------------- helpers
    def _norm(self, token: str) -> str:
        return token.lower() if self.lowercase else token

    def _ids(self, sentences: list[list[str]]) -> np.ndarray:
        lookup = self._token_index_
        width = max([len(s) for s in sentences] + [1])
        ids = np.zeros((len(sentences), width), dtype="int32")
        for i, sentence in enumerate(sentences):
            ids[i, : len(sentence)] = [lookup.get(self._norm(t), 1) for t in sentence]
        return ids

    def _check_tags(self, X: list, y: Any, allow_unseen: bool) -> list[list[str]]:
        tags = validate_token_lists(y, what="y")
        check_same_length(X, tags)
        for i, (tokens, row) in enumerate(zip(X, tags)):
            if len(tokens) != len(row):
                raise ValueError(
                    f"Sample {i} has {len(tokens)} tokens but {len(row)} tags: expected one "
                    "tag per token."
                )
        if not allow_unseen:
            known = set(self.tags_)
            unseen = sorted({t for row in tags for t in row} - known)
            if unseen:
                raise ValueError(
                    f"y holds tags not seen during fit: {unseen[:10]}; the tagger knows "
                    f"{list(self.tags_)}."
                )
        return tags

    def _build_model(self) -> keras.Model:
        from rnnkit.layers.factory import recurrent_layer
        from rnnkit.layers.stacked_rnn import StackedRNN

        n_tags = len(self.tags_)
        inputs = keras.Input((None,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(
            len(self.vocabulary_), int(self.embedding_dim), mask_zero=True, name="embedding"
        )(inputs)
        layers = [
            recurrent_layer(str(self.cell).lower(), int(self.units), name=f"{self.cell}_{i}")
            for i in range(int(self.num_layers))
        ]
        x = StackedRNN(
            layers,
            bidirectional=True,
            dropout=float(self.dropout),
            return_sequences=True,
            name="encoder",
        )(x)
        if self.dropout:
            x = keras.layers.Dropout(float(self.dropout), name="dropout")(x)
        optimizer = keras.optimizers.Adam(float(self.learning_rate))
        if self.crf:
            from rnnkit.layers.crf import CRF

            potentials = keras.layers.Dense(n_tags, name="potentials")(x)
            crf = CRF(n_tags, name="crf")
            model = keras.Model(inputs, crf(potentials), name="rnn_crf_tagger")
            model.compile(optimizer=optimizer, loss=crf.loss)
            return model
        outputs = keras.layers.Dense(n_tags, activation="softmax", name="tags")(x)
        model = keras.Model(inputs, outputs, name="rnn_tagger")
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        return model

    # --------------------------------------------------------------- API
    def fit(self, X: Any, y: Any) -> RNNSequenceTagger:
        """Fit on token lists ``X`` and tag lists ``y``; returns ``self`` (refits from scratch)."""
        if str(self.cell).lower() not in ("lstm", "gru", "srnn"):
            raise ValueError(f"cell must be 'lstm', 'gru' or 'srnn', got {self.cell!r}.")
        sentences = validate_token_lists(X)
        tags = self._check_tags(sentences, y, allow_unseen=True)
        # Empty sequences carry no tags: leave them out of training.
        kept = [i for i, s in enumerate(sentences) if s]
        if not kept:
            raise ValueError("Every sequence in X is empty: nothing to train on.")
        sentences = [sentences[i] for i in kept]
        tags = [tags[i] for i in kept]
        tag_set = sorted({t for row in tags for t in row})
        if len(tag_set) < 2:
            raise ValueError(
                f"y has a single tag ({tag_set[0] if tag_set else None!r}): a tagger needs at "
                "least 2 different tags to fit."
            )
        seed_everything(self.random_state)
        self.tags_ = np.array(tag_set, dtype=object)
        counts = Counter(self._norm(t) for s in sentences for t in s)
        ranked = sorted(
            (kv for kv in counts.items() if kv[1] >= int(self.min_count)),
            key=lambda kv: (-kv[1], kv[0]),
        )
        self.vocabulary_ = ["", "[UNK]"] + [w for w, _ in ranked[: int(self.max_vocabulary) - 2]]
        self._token_index_ = {w: i for i, w in enumerate(self.vocabulary_) if i >= 2}
        tag_index = {t: i for i, t in enumerate(tag_set)}
        ids = self._ids(sentences)
        # Padding: tag 0 under the softmax (masked by the loss), -1 for the CRF loss.
        y_ids = np.full(ids.shape, -1 if self.crf else 0, dtype="int32")
        for i, row in enumerate(tags):
            y_ids[i, : len(row)] = [tag_index[t] for t in row]
        self.model_ = self._build_model()
        self.history_ = self._train(
            self.model_,
            ids,
            y_ids,
            epochs=self.epochs,
            batch_size=self.batch_size,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            class_weight=None,
            verbose=self.verbose,
        )
        return self

    def predict(self, X: Any) -> list[list[str]]:
        """A list of tag lists, one tag per input token."""
        check_is_fitted(self, "model_")
        sentences = validate_token_lists(X)
        out: list[list[str]] = [[] for _ in sentences]
        kept = [i for i, s in enumerate(sentences) if s]
        if not kept:
            return out
        ids = self._ids([sentences[i] for i in kept])
        scores = np.asarray(self.model_.predict(ids, batch_size=256, verbose=0))
        if self.crf:
            best, _ = self.model_.get_layer("crf").decode(scores, mask=ids != 0)
            best = keras.ops.convert_to_numpy(best)
        else:
            best = scores.argmax(axis=-1)
        for row, i in enumerate(kept):
            out[i] = [str(self.tags_[k]) for k in best[row, : len(sentences[i])]]
        return out

    def score(self, X: Any, y: Any) -> float:
        """Token accuracy. Tags unseen in fit raise ValueError."""
        check_is_fitted(self, "model_")
        sentences = validate_token_lists(X)
        tags = self._check_tags(sentences, y, allow_unseen=False)
        pred = self.predict(sentences)
        total = sum(len(row) for row in tags)
        if total == 0:
            raise ValueError("y holds no tags at all (all sequences empty): nothing to score.")
        return sum(a == b for t, p in zip(tags, pred) for a, b in zip(t, p)) / total
