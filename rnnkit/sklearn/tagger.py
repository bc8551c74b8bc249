"""``RNNSequenceTagger``: a recurrent sequence tagger (BIO/NER, POS) as a scikit-learn estimator."""

from __future__ import annotations

import math
import os
import random
import re
import warnings
from collections import Counter
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from rnnkit.layers.factory import CELL_NAMES as CELLS
from rnnkit.ops.crf import scheme_violations
from rnnkit.sklearn.base import (
    KerasEstimatorMixin,
    check_same_length,
    framework_logs,
    seed_everything,
    validate_token_lists,
)
from rnnkit.text.special_tokens import PAD, UNK
from rnnkit.text.vocabulary import Vocabulary
from rnnkit.training.checkpoint import (
    EpochCheckpoint,
    fingerprint,
    load_arrays,
    load_state,
    resume,
)

__all__ = ["RNNSequenceTagger", "repair_bio"]

#: characters kept per word (the first ones); fixed so batch shapes stay stable
CHAR_WIDTH = 20
_BIO_TAG = re.compile(r"^(O|[BI]-.+)$")


def _is_bio(tag_set: list[str]) -> bool:
    return all(_BIO_TAG.match(t) for t in tag_set) and any(t != "O" for t in tag_set)


def _bio_error(tags: list[str]) -> tuple[int, str] | None:
    """The first BIO violation ``(index, previous tag)`` of valid BIO tag names, or None
    (:func:`rnnkit.ops.crf.scheme_violations`)."""
    found = scheme_violations(tags, "BIO")
    if not found:
        return None
    j = found[0]
    return j, tags[j - 1] if j else "O"


def repair_bio(tags: list[str]) -> tuple[list[str], int]:
    """Make a BIO tag sequence valid: an ``I-x`` that does not follow ``B-x``/``I-x``
    starts a new entity and becomes ``B-x`` (the usual IOB1 -> IOB2 conversion).

    Returns:
        The repaired tags and the number of tags changed.

    Example:

    >>> repair_bio(["O", "I-PER", "I-PER", "I-LOC"])
    (['O', 'B-PER', 'I-PER', 'B-LOC'], 2)
    """
    out, changed, prev = [], 0, "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            tag = "B-" + tag[2:]
            changed += 1
        out.append(tag)
        prev = tag
    return out, changed


class _Batches(keras.utils.PyDataset):
    """Batches of sentences of similar length (less padding), reshuffled every epoch."""

    def __init__(self, encode, sentences, y_ids, batch_size, seed, shuffle=True):
        super().__init__()
        self.encode, self.sentences, self.y_ids = encode, sentences, y_ids
        self.batch_size, self.shuffle = batch_size, shuffle
        self.rng = np.random.default_rng(seed)
        self._make()

    def _make(self) -> None:
        n = len(self.sentences)
        lengths = np.array([len(s) for s in self.sentences])
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        # Sort within pools of 50 batches: similar lengths, still random batches.
        pool = 50 * self.batch_size
        batches = []
        for start in range(0, n, pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        if self.shuffle:
            batches = [batches[i] for i in self.rng.permutation(len(batches))]
        # On TensorFlow, Keras's PyDataset adapter reads the tf.data signature off the
        # first two batches: a width they share would become a fixed dimension and a
        # wider batch later would fail. Put a batch of another width second.
        widths = [self._width(rows) for rows in batches]
        other = next((j for j in range(2, len(batches)) if widths[j] != widths[0]), None)
        if len(batches) > 2 and widths[1] == widths[0] and other is not None:
            batches[1], batches[other] = batches[other], batches[1]
        self.batches = batches

    def _width(self, rows) -> int:
        """The padded length of a batch: its longest sentence, rounded up to 4."""
        return int(math.ceil(max(len(self.sentences[i]) for i in rows) / 4) * 4)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        rows = self.batches[index]
        width = self._width(rows)
        x = self.encode([self.sentences[i] for i in rows], width)
        y = np.full((len(rows), width), -1, "int32")
        for r, i in enumerate(rows):
            y[r, : len(self.y_ids[i])] = self.y_ids[i]
        return x, y

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._make()


class _BestOnValidation(keras.callbacks.Callback):
    """Scores the validation sentences after every epoch (entity F1 for BIO tags, else
    token accuracy), keeps the best weights, stops after ``patience`` epochs without
    improvement (counted from the first score above 0) and restores the best weights at
    the end."""

    def __init__(self, tagger, sentences, tags, patience, decay=None):
        super().__init__()
        self.tagger, self.sentences, self.tags = tagger, sentences, tags
        self.patience, self.decay = patience, decay
        self.best, self.best_weights, self.wait, self.best_epoch = -1.0, None, 0, 0
        self.stopped = False  # stopped early in an earlier process (set_state)

    def on_epoch_end(self, epoch, logs=None):
        value = self.tagger._validation_score(self.model, self.sentences, self.tags)
        if logs is not None:
            logs["val_score"] = value
        if value > self.best:
            self.best, self.best_weights, self.wait = value, self.model.get_weights(), 0
            self.best_epoch = epoch
        elif self.best > 0:
            # Patience counts only once something was learned: a tagger that still
            # predicts only "O" (entity F1 0) keeps training.
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True
            elif self.decay is not None:
                rate = self.model.optimizer.learning_rate
                rate.assign(float(keras.ops.convert_to_numpy(rate)) * self.decay)

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """What a checkpoint keeps of this callback: scores and counters, and the best
        weights as arrays."""
        state = {
            "best": self.best,
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "stopped": bool(self.model.stop_training),
        }
        arrays = {f"best_{i}": w for i, w in enumerate(self.best_weights or [])}
        return state, arrays

    def set_state(self, state: dict, arrays: dict[str, np.ndarray]) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self.best_epoch, self.stopped = int(state["best_epoch"]), bool(state["stopped"])
        n = len([k for k in arrays if k.startswith("best_")])
        self.best_weights = [arrays[f"best_{i}"] for i in range(n)] or None


class RNNSequenceTagger(KerasEstimatorMixin, BaseEstimator):
    """Neural sequence tagger (BIO/NER, POS): one tag per token (the sklearn-crfsuite convention).

    ``X`` is a list of token lists, ``y`` a list of tag lists of the same lengths
    (variable lengths; batches group sentences of similar length, nothing is
    truncated). The model is :class:`rnnkit.models.taggers.SequenceTagger` (the same
    builder as ``recipes/tagging_ner.py``): each token is a word embedding (of the
    lower-cased word with ``lowercase``; ids 0 padding, 1 ``<unk>``), a word-shape
    embedding (``case_features``: capitalisation, digits, ``@``/``#``/URL, which the
    lower-cased word ids lose) and a character CNN or BiLSTM over the word's original
    spelling (``chars``; characters unseen in fit map to an unknown-character id), then
    a bidirectional RNN and a linear-chain CRF (``crf=True``, Viterbi decoding) or a
    softmax per token.

    Training holds out ``validation_fraction`` of the sentences, scores them after every
    epoch (entity F1 when the tags are BIO, else token accuracy), stops after
    ``n_iter_no_change`` epochs without improvement (not counting epochs while the score
    is still 0, e.g. while only ``O`` is predicted) and keeps the best epoch's weights.

    Bad input: when the tags are BIO (every tag ``O``, ``B-x`` or ``I-x``), an ``I-x``
    that does not follow ``B-x``/``I-x`` raises a ``ValueError`` naming the sentence;
    with ``bio_errors="repair"`` it becomes ``B-x`` instead (:func:`repair_bio`) and a
    warning gives the count of changed tags.

    Args:
        cell: ``"lstm"``, ``"gru"``, ``"srnn"``, or the parallel-scan ``"mingru"`` /
            ``"minlstm"``.
        units: units per direction.
        num_layers: stacked recurrent layers.
        embedding_dim: word vector size (that of ``embeddings`` when given).
        crf: CRF output layer (Viterbi decoding) instead of independent softmaxes.
        chars: character features: ``"cnn"``, ``"lstm"`` or None.
        char_embedding_dim: character vector size.
        char_units: character CNN filters (or LSTM units per direction).
        case_features: add the word-shape embedding.
        lowercase: lower-case tokens before the word lookup.
        embeddings: optional pretrained word vectors: a ``{word: vector}`` mapping or a
            GloVe/word2vec text or ``.npy`` file (:mod:`rnnkit.text.embeddings`); words
            without a vector get random ones.
        max_vocabulary: most word ids, including padding and ``<unk>``.
        min_count: words seen fewer times in ``fit`` map to ``<unk>``.
        dropout: dropout on the character embeddings, token features and RNN output.
        word_dropout: probability of replacing a known word by ``<unk>`` in training.
        epochs, batch_size, learning_rate: training (Adam, gradient norm clipped to 5).
        ema_momentum: the weights kept and scored are an exponential moving average of
            the trained weights (Polyak averaging, Keras's ``use_ema``) with this
            momentum; None trains and keeps the raw weights.
        learning_rate_decay: with validation, multiply the learning rate by this
            factor after every epoch that does not improve the validation score (and
            does not stop training); None keeps it constant.
        validation_fraction: held-out fraction for early stopping (None disables).
        n_iter_no_change: early-stopping patience in epochs.
        bio_errors: ``"raise"`` or ``"repair"`` (see above).
        constrain: with ``crf=True`` and BIO tags, forbid the transitions BIO forbids
            (``O -> I-x``, ``B-x -> I-y``, starting with ``I-x``;
            :func:`rnnkit.ops.crf.transition_constraints`) in training and decoding, so
            no invalid span is predicted.
        random_state: seed for reproducible results on CPU.
        verbose: Keras verbosity.
        checkpoint_dir: optional folder: ``fit`` checkpoints every finished epoch there
            (weights, optimizer with its moving averages and learning rate, the early
            stopping state and best weights, :mod:`rnnkit.training.checkpoint`), and a
            ``fit`` with the same parameters and data goes on from the last one, with the
            batch order an uninterrupted fit would have. Needs an int ``random_state``
            (the validation split must be drawn again the same way); other parameters
            or data are a ValueError naming them. The folder is left in place (remove it
            to fit afresh).

    Fitted attributes:
        tags_: the tag set (index = tag id).
        vocabulary_: word list (index = id). chars_: character list (index = id; 0 and 1
            padding and unknown). model_: the Keras model. history_: training history
            (``loss`` and, with validation, ``val_score`` per epoch). best_epoch_: the
            epoch whose weights were kept (0-based). scheme_: ``"BIO"`` when every tag
            is ``O``, ``B-x`` or ``I-x``, else None. constraints_: the CRF's allowed
            transitions/start/end (a dict of arrays) or None.

    Example:

    >>> tagger = RNNSequenceTagger().fit(sentences, tags)  # doctest: +SKIP
    >>> tagger.predict([["Paris", "is", "nice"]])  # doctest: +SKIP
    [['B-geo-loc', 'O', 'O']]
    """

    # The CRF loss is computed by the model: unpickled models are used for prediction
    # only (fit always builds a new model), so they load uncompiled.
    _compile_on_load = False

    def __init__(
        self,
        cell: str = "lstm",
        units: int = 200,
        num_layers: int = 1,
        embedding_dim: int = 100,
        crf: bool = True,
        chars: str | None = "cnn",
        char_embedding_dim: int = 30,
        char_units: int = 100,
        case_features: bool = True,
        lowercase: bool = True,
        embeddings: Any = None,
        max_vocabulary: int = 50000,
        min_count: int = 1,
        dropout: float = 0.5,
        word_dropout: float = 0.1,
        epochs: int = 40,
        batch_size: int = 32,
        learning_rate: float = 5e-3,
        learning_rate_decay: float | None = None,
        ema_momentum: float | None = 0.99,
        validation_fraction: float | None = 0.1,
        n_iter_no_change: int = 5,
        bio_errors: str = "raise",
        constrain: bool = True,
        random_state: Any = None,
        verbose: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> None:
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.crf = crf
        self.chars = chars
        self.char_embedding_dim = char_embedding_dim
        self.char_units = char_units
        self.case_features = case_features
        self.lowercase = lowercase
        self.embeddings = embeddings
        self.max_vocabulary = max_vocabulary
        self.min_count = min_count
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.ema_momentum = ema_momentum
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.bio_errors = bio_errors
        self.constrain = constrain
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = True
        tags.non_deterministic = self.random_state is None
        return tags

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "vocabulary_" in self.__dict__:
            # pickled before the one Vocabulary type: "" and "[UNK]" at ids 0 and 1
            width = self.__dict__.get("char_width_", CHAR_WIDTH)
            self._set_vocabularies(self.vocabulary_, self.chars_)
            self.char_width_ = width

    # ----------------------------------------------------------- helpers
    def _set_vocabularies(self, vocabulary: list[str], chars: list[str]) -> None:
        """``vocabulary_`` and ``chars_`` (ids 0 and 1: padding, unknown) and the lookup
        tables derived from them; used by ``fit`` and by loaders of a saved tagger."""
        # Taggers saved before the one Vocabulary type hold "" and "[UNK]" at ids 0 and
        # 1: only the markers' names change, never an id.
        self.vocabulary_ = [PAD, UNK, *list(vocabulary)[2:]]
        self._token_index_ = {w: i for i, w in enumerate(self.vocabulary_) if i >= 2}
        self.chars_ = [PAD, UNK, *list(chars)[2:]]
        self.char_width_ = CHAR_WIDTH
        self._char_index_ = {c: i for i, c in enumerate(self.chars_) if i >= 2}

    def _norm(self, token: str) -> str:
        return token.lower() if self.lowercase else token

    def _encode(self, sentences: list[list[str]], width: int | None = None) -> dict:
        """The model inputs of ``sentences`` (see :func:`rnnkit.models.taggers.encode_tokens`)."""
        from rnnkit.models.taggers import encode_tokens

        x = encode_tokens(
            sentences,
            self._token_index_,
            self._char_index_ if self.chars else None,
            lowercase=self.lowercase,
            width=width,
            char_width=getattr(self, "char_width_", CHAR_WIDTH),
        )
        if not self.case_features:
            x.pop("case")
        return x

    def _ids(self, sentences: list[list[str]]) -> np.ndarray:
        """Word ids ``(n, longest)`` (0 padding, 1 ``<unk>``)."""
        return self._encode(sentences)["words"]

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

    def _check_scheme(
        self, sentences: list[list[str]], tags: list[list[str]], what: str = "y"
    ) -> list:
        """``tags`` checked (or repaired) against BIO when their tags are BIO; for
        ``what="y"`` (the training tags) this also sets ``scheme_``."""
        if self.bio_errors not in ("raise", "repair"):
            raise ValueError(f"bio_errors must be 'raise' or 'repair', got {self.bio_errors!r}.")
        tag_set = sorted({t for row in tags for t in row})
        if not _is_bio(tag_set):
            if what == "y":
                self.scheme_ = None
            return tags
        if what == "y":
            self.scheme_ = "BIO"
        if self.bio_errors == "repair":
            repaired = [repair_bio(row) for row in tags]
            changed = sum(n for _, n in repaired)
            if changed:
                warnings.warn(
                    f"bio_errors='repair' ({what}): {changed} tags in "
                    f"{sum(1 for _, n in repaired if n)} sentences changed from I-x to B-x "
                    "(an I-x not after B-x or I-x).",
                    stacklevel=3,
                )
            return [row for row, _ in repaired]
        for i, row in enumerate(tags):
            error = _bio_error(row)
            if error is not None:
                j, prev = error
                words = " ".join(sentences[i][:12]) + (" ..." if len(sentences[i]) > 12 else "")
                raise ValueError(
                    f"{what}[{i}] is not valid BIO: tag {j} ({sentences[i][j]!r}) is {row[j]!r} "
                    f"after {prev!r}; an I-{row[j][2:]} must follow B-{row[j][2:]} or "
                    f"I-{row[j][2:]}. Sentence {i}: {words!r}. Fix the data, or pass "
                    "bio_errors='repair' to turn such tags into B-x (e.g. IOB1 data)."
                )
        return tags

    def _pretrained(self) -> np.ndarray | None:
        if self.embeddings is None:
            return None
        from rnnkit.text.embeddings import embedding_matrix

        vectors = self.embeddings
        if not isinstance(vectors, Mapping) and not isinstance(vectors, (str, os.PathLike)):
            raise ValueError(
                "embeddings must be None, a {word: vector} mapping or a path, got "
                f"{type(vectors).__name__}."
            )
        index = {w: i for i, w in enumerate(self.vocabulary_)}
        result = embedding_matrix(vectors, index, oov="random", seed=0)
        self.embeddings_found_ = result.found
        return result.matrix

    def _build_model(self, matrix: np.ndarray | None) -> keras.Model:
        from rnnkit.models.taggers import SequenceTagger

        self.constraints_ = None
        if self.crf and self.constrain and self.scheme_ == "BIO":
            from rnnkit.ops.crf import transition_constraints

            self.constraints_ = transition_constraints(list(self.tags_), "BIO")

        model = SequenceTagger(
            len(self.vocabulary_),
            len(self.tags_),
            embedding_dim=int(matrix.shape[1] if matrix is not None else self.embedding_dim),
            units=int(self.units),
            num_layers=int(self.num_layers),
            cell=str(self.cell).lower(),
            dropout=float(self.dropout),
            crf=bool(self.crf),
            char_vocab_size=len(self.chars_) if self.chars else None,
            char_encoder=str(self.chars) if self.chars else "cnn",
            char_embedding_dim=int(self.char_embedding_dim),
            char_units=int(self.char_units),
            case_features=bool(self.case_features),
            word_dropout=float(self.word_dropout),
            embeddings=matrix,
            name="rnn_sequence_tagger",
            **(self.constraints_ or {}),
        )
        ema = self.ema_momentum
        number = isinstance(ema, (int, float)) and not isinstance(ema, bool)
        if ema is not None and not (number and 0.0 < ema < 1.0):
            raise ValueError(f"ema_momentum must be a number in (0, 1) or None, got {ema!r}.")
        decay = self.learning_rate_decay
        number = isinstance(decay, (int, float)) and not isinstance(decay, bool)
        if decay is not None and not (number and 0.0 < decay < 1.0):
            raise ValueError(
                f"learning_rate_decay must be a number in (0, 1) or None, got {decay!r}."
            )
        model.compile(
            optimizer=keras.optimizers.Adam(
                float(self.learning_rate),
                clipnorm=5.0,
                use_ema=ema is not None,
                ema_momentum=float(ema) if ema is not None else 0.99,
            ),
            jit_compile=False,
        )
        return model

    def _predict_ids(
        self, model: keras.Model, sentences: list[list[str]], marginals: bool = False
    ) -> list[np.ndarray]:
        """Best tag ids of each (non-empty) sentence (or with ``marginals`` its
        ``(length, num_tags)`` tag probabilities), predicted in length-sorted batches."""
        order = np.argsort([len(s) for s in sentences], kind="stable")
        out: list[Any] = [None] * len(sentences)
        step = 256
        for start in range(0, len(order), step):
            rows = order[start : start + step]
            batch = [sentences[i] for i in rows]
            x = self._encode(batch)
            with framework_logs(self.verbose):
                scores = model.predict_on_batch(x)
            if marginals:
                best = model.marginals(scores, x["words"])
            else:
                best = model.decode(scores, x["words"])
            for r, i in enumerate(rows):
                out[i] = best[r, : len(sentences[i])]
        return out

    def _validation_score(self, model, sentences, tags) -> float:
        pred = [[str(self.tags_[k]) for k in row] for row in self._predict_ids(model, sentences)]
        if self.scheme_ == "BIO":
            from seqeval.metrics import f1_score

            return float(f1_score(tags, pred))
        total = sum(len(t) for t in tags)
        return sum(a == b for t, p in zip(tags, pred) for a, b in zip(t, p)) / total

    # --------------------------------------------------------------- API
    def fit(self, X: Any, y: Any, validation_data: Any = None) -> RNNSequenceTagger:
        """Fit on token lists ``X`` and tag lists ``y``; returns ``self`` (refits from scratch).

        Args:
            X: token lists.
            y: tag lists, one tag per token.
            validation_data: optional ``(X_val, y_val)`` scored after every epoch for
                early stopping and the choice of the kept epoch, instead of holding out
                ``validation_fraction`` of ``X`` (all of ``X`` is then trained on).
                Its tags are checked like ``y``'s (scheme, ``bio_errors``); tags never
                seen in ``y`` can only count as errors.
        """
        if str(self.cell).lower() not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}.")
        if self.chars not in (None, "cnn", "lstm"):
            raise ValueError(f"chars must be 'cnn', 'lstm' or None, got {self.chars!r}.")
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
        tags = self._check_scheme(sentences, tags)
        given_val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(
                    "validation_data must be a pair (X_val, y_val) of token lists and tag "
                    f"lists, got {type(validation_data).__name__}."
                )
            val_s = validate_token_lists(validation_data[0], what="validation_data[0]")
            val_t = self._check_tags(val_s, validation_data[1], allow_unseen=True)
            keep = [i for i, row in enumerate(val_s) if row]
            if not keep:
                raise ValueError("Every sequence in validation_data is empty.")
            val_s, val_t = [val_s[i] for i in keep], [val_t[i] for i in keep]
            if self.scheme_ == "BIO":
                val_t = self._check_scheme(val_s, val_t, what="validation_data[1]")
            given_val = (val_s, val_t)
        seed_everything(self.random_state)
        self.tags_ = np.array(tag_set, dtype=object)
        # Validation split (sentences), drawn from the global NumPy state seeded above.
        train_idx = np.arange(len(sentences))
        val_idx = np.array([], dtype=int)
        if self.validation_fraction and given_val is None:
            if not 0.0 < float(self.validation_fraction) < 1.0:
                raise ValueError(
                    "validation_fraction must be in (0, 1) or None, got "
                    f"{self.validation_fraction!r}."
                )
            n_val = int(round(len(sentences) * float(self.validation_fraction)))
            if n_val >= 1 and len(sentences) - n_val >= 1:
                perm = np.random.permutation(len(sentences))
                val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        train_s = [sentences[i] for i in train_idx]
        train_t = [tags[i] for i in train_idx]

        # Vocabularies from the training part only (validation words stay unknown).
        def whole(value: Any) -> bool:
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

        if not (whole(self.min_count) and self.min_count >= 1) or not (
            whole(self.max_vocabulary) and self.max_vocabulary >= 3
        ):
            raise ValueError(
                "min_count must be an int >= 1 and max_vocabulary an int >= 3 (padding, "
                f"unknown and a word); got min_count={self.min_count!r}, "
                f"max_vocabulary={self.max_vocabulary!r}."
            )
        words = Vocabulary.from_counts(
            Counter(self._norm(t) for s in train_s for t in s),
            min_count=int(self.min_count),
            max_size=int(self.max_vocabulary),
        )
        chars = Vocabulary.from_counts(Counter(c for s in train_s for t in s for c in t))
        self._set_vocabularies(words.words, chars.words)
        tag_index = {t: i for i, t in enumerate(tag_set)}
        y_ids = [np.array([tag_index[t] for t in row], "int32") for row in train_t]
        self.model_ = self._build_model(self._pretrained())
        seed = int(np.random.randint(0, 2**31 - 1))
        data = _Batches(self._encode, train_s, y_ids, int(self.batch_size), seed)
        callbacks = []
        if given_val is None and len(val_idx):
            given_val = ([sentences[i] for i in val_idx], [tags[i] for i in val_idx])
        if given_val is not None:
            patience = max(int(self.n_iter_no_change), 1)
            if self.ema_momentum is not None:
                # The averaged weights are in the model while the epoch is scored.
                callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
            decay = self.learning_rate_decay
            callbacks.append(_BestOnValidation(self, *given_val, patience, decay))
        best = callbacks[-1] if callbacks else None
        initial_epoch, checkpointer = 0, None
        if self.checkpoint_dir is not None:
            train = (train_s, train_t)
            initial_epoch, checkpointer = self._resume(data, train, given_val, callbacks)
        with framework_logs(self.verbose):
            history = self.model_.fit(
                data,
                epochs=int(self.epochs),
                initial_epoch=initial_epoch,
                callbacks=callbacks,
                verbose=self.verbose,
            )
        if checkpointer is not None:  # this process's epochs and the earlier ones'
            self.history_ = checkpointer.keras_history()
        else:
            self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.best_epoch_ = best.best_epoch if best else len(self.history_["loss"]) - 1
        return self

    def _resume(
        self, data: Any, train: tuple, given_val: tuple | None, callbacks: list
    ) -> tuple[int, EpochCheckpoint]:
        """``checkpoint_dir``: loads its checkpoint, if any, into the new model and the
        callbacks, replays the batch shuffles of the finished epochs (the batches' own
        generator, and Python's random state, from which fit shuffles the batch order)
        and appends the checkpointing callback; returns the epoch to start from and that
        callback."""
        if isinstance(self.random_state, bool) or not isinstance(
            self.random_state, (int, np.integer)
        ):
            raise ValueError(
                "checkpoint_dir needs an int random_state (a fit that goes on must draw the "
                f"same validation split), got random_state={self.random_state!r}."
            )
        folder = os.fspath(self.checkpoint_dir)
        skip = ("checkpoint_dir", "verbose", "embeddings")
        settings = {k: v for k, v in self.get_params().items() if k not in skip}
        settings["embeddings"] = fingerprint(self.embeddings)
        settings["data_sha256"] = fingerprint([train, given_val])
        best = next((c for c in callbacks if isinstance(c, _BestOnValidation)), None)
        swap = next((c for c in callbacks if isinstance(c, keras.callbacks.SwapEMAWeights)), None)
        if not self.model_.built:  # built by a first call, for the checkpoint to load into
            self.model_(data[0][0], training=False)
        done = resume(self.model_, folder, settings, "RNNSequenceTagger")
        start = len(done)
        if done:
            saved = load_state(folder)["extra"]
            version, internal, gauss = saved["python_random"]
            random.setstate((version, tuple(internal), gauss))
            if best is not None:
                best.set_state(saved, load_arrays(folder))
                if best.stopped:  # early-stopped before the kill: nothing left to train
                    start = int(self.epochs)
            if swap is not None:
                # the checkpoint was taken after the epoch's swap to the averaged weights
                swap._ema_weights_in_model = True
            for _ in done:  # the batch order an uninterrupted fit would have
                data.on_epoch_end()

        def extra() -> tuple[dict, dict[str, np.ndarray]]:
            state, arrays = best.get_state() if best is not None else ({}, {})
            # fit shuffles the batch order from Python's global random state
            return {**state, "python_random": random.getstate()}, arrays

        checkpointer = EpochCheckpoint(folder, settings, done, extra=extra)
        callbacks.append(checkpointer)
        return min(start, int(self.epochs)), checkpointer

    def text_model(self, max_length: int | None = None) -> Any:
        """The export protocol: this fitted tagger as a :class:`rnnkit.serving.TextModel`
        (task ``"tagger"``): the input text is split on ASCII whitespace into at most
        ``max_length`` tokens (default 64), and the word, word-shape and character ids
        are built in-graph by :class:`rnnkit.text.token_features.TokenFeatures` exactly
        as :meth:`fit` and :meth:`predict` build them."""
        check_is_fitted(self, "model_")
        from rnnkit.serving.export import TextModel
        from rnnkit.text.pipeline import TextPipeline
        from rnnkit.text.token_features import TokenFeatures

        length = 64 if max_length is None else int(max_length)
        vocab = [PAD, UNK, *self.vocabulary_[2:]]
        pipe = TextPipeline(vocab, length, lowercase=False, replacements=[])
        features = TokenFeatures(
            list(self.vocabulary_),
            lowercase=bool(self.lowercase),
            chars=list(self.chars_) if self.chars else None,
            char_width=int(getattr(self, "char_width_", 20)),
            case_features=bool(self.case_features),
        )
        tags = [str(t) for t in self.tags_]
        return TextModel(self.model_, pipe, tags, "tagger", features=features)

    def predict(self, X: Any) -> list[list[str]]:
        """A list of tag lists, one tag per input token."""
        check_is_fitted(self, "model_")
        sentences = validate_token_lists(X)
        out: list[list[str]] = [[] for _ in sentences]
        kept = [i for i, s in enumerate(sentences) if s]
        if not kept:
            return out
        best = self._predict_ids(self.model_, [sentences[i] for i in kept])
        for row, i in zip(best, kept):
            out[i] = [str(self.tags_[k]) for k in row]
        return out

    def predict_marginals(self, X: Any) -> list[np.ndarray]:
        """Per token, per tag probabilities: one ``(len(sentence), len(tags_))`` float32
        array per sentence, columns in ``tags_`` order, rows summing to 1.

        With ``crf=True`` these are the CRF's marginals ``p(tag_t = k | sentence)``
        (forward-backward over the allowed paths), else the per-token softmax.

        Example:

        >>> probs = tagger.predict_marginals([["Paris", "is", "nice"]])  # doctest: +SKIP
        >>> probs[0].shape  # (3, len(tagger.tags_))
        """
        check_is_fitted(self, "model_")
        sentences = validate_token_lists(X)
        out = [np.zeros((0, len(self.tags_)), "float32") for _ in sentences]
        kept = [i for i, s in enumerate(sentences) if s]
        if kept:
            probs = self._predict_ids(self.model_, [sentences[i] for i in kept], marginals=True)
            for row, i in zip(probs, kept):
                out[i] = row
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
