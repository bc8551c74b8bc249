"""``RNNClassifier``: a recurrent text classifier on raw strings, as a scikit-learn estimator."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from rnnkit.layers.factory import CELL_NAMES as CELLS
from rnnkit.models.acceptor import POOLINGS
from rnnkit.sklearn.base import (
    KerasEstimatorMixin,
    _is_missing,
    check_same_length,
    framework_logs,
    seed_everything,
    validate_texts,
)
from rnnkit.text.vectorizer import LEGACY_SPECIALS, TextVectorizer

__all__ = ["RNNClassifier"]

#: ``max_length=None``: the tokens kept per text are this percentile of the training
#: texts' token counts (rounded up), clipped to [LENGTH_MIN, LENGTH_CAP].
LENGTH_PERCENTILE = 95.0
LENGTH_MIN = 8
LENGTH_CAP = 150


def data_max_length(texts: list[str]) -> int:
    """The ``max_length`` that ``max_length=None`` picks for these training texts:
    the ``LENGTH_PERCENTILE`` th percentile of their token counts (the tokens of
    :func:`rnnkit.text.vectorizer.tokenize`), rounded up, clipped to
    ``[LENGTH_MIN, LENGTH_CAP]``."""
    from rnnkit.text.vectorizer import tokenize

    counts = np.array([len(row) for row in tokenize(texts)], dtype="float64")
    if counts.size == 0:
        return LENGTH_MIN
    length = int(np.ceil(np.percentile(counts, LENGTH_PERCENTILE)))
    return int(min(max(length, LENGTH_MIN), LENGTH_CAP))


def _validate_labels(y: Any) -> tuple[np.ndarray, str]:
    """y as an array and its kind: "binary", "multiclass" or "multilabel-indicator"."""
    if y is None:
        raise ValueError("y is None: expected one label per sample.")
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = np.asarray(y, dtype=object if not isinstance(y, np.ndarray) else None)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1:
        for index, value in enumerate(y):
            if _is_missing(value):
                raise ValueError(
                    f"y[{index}] is {value!r}: expected a label for every sample, got a "
                    "missing value."
                )
        if y.dtype == object:
            kinds = {type(v) for v in y}
            if len(kinds) > 1:
                raise ValueError(
                    "y mixes label types "
                    f"{sorted(k.__name__ for k in kinds)}: expected labels of one type."
                )
            if kinds and next(iter(kinds)) in (int, np.int64, bool, np.bool_):
                y = y.astype("int64")
            elif kinds and next(iter(kinds)) in (float, np.float64, np.float32):
                y = y.astype("float64")
        kind = type_of_target(y)
        if kind in ("continuous", "continuous-multioutput"):
            raise ValueError(
                "y looks continuous (floats that are not whole numbers): RNNClassifier expects "
                "class labels. Use a regressor or convert y to classes."
            )
        kind = "binary" if kind == "binary" else "multiclass"
        return y, kind
    if y.ndim == 2:
        try:
            values = np.unique(y.astype("float64"))
        except (TypeError, ValueError):
            values = None
        if values is None or not set(values.tolist()) <= {0.0, 1.0}:
            raise ValueError(
                f"2-D y of shape {y.shape} must be a multi-label indicator matrix of 0/1 "
                "values (one column per label)."
            )
        return y.astype("float32"), "multilabel-indicator"
    raise ValueError(f"y must be 1-D labels or a 2-D indicator matrix, got shape {y.shape}.")


class RNNClassifier(ClassifierMixin, KerasEstimatorMixin, BaseEstimator):
    """Recurrent neural network text classifier on raw strings.

    Raw texts are tokenized and mapped to ids by :class:`rnnkit.text.vectorizer.TextVectorizer`
    (a :class:`rnnkit.text.TextPipeline` of core TF string ops, which the SavedModel
    export runs in-graph as it is), then
    classified by the model of :func:`rnnkit.models.acceptor.build_acceptor`
    (embedding -> stacked (bidirectional) RNN -> pooling / attention -> softmax).
    Binary, multiclass (labels of any hashable type) and multi-label (2-D 0/1
    indicator ``y``, sigmoid outputs) problems.

    The defaults are chosen for small data (a few hundred to a few thousand short
    texts, trained from scratch on a CPU in about a minute; measured against TF-IDF +
    logistic regression in ``benchmarks/RESULTS.md``, section scikit-learn): the
    average of 3 bidirectional GRUs (``ensemble_size=3``, each with its own
    initialization, validation split and early stopping), whose output sequences
    are max- and mean-pooled (``pooling="max_mean"``), tokens seen once in training
    mapped to ``<unk>`` (``min_count=2``), the text length taken from the data
    (``max_length=None``), Adam 1e-3 with early stopping (patience 3, at most 20
    epochs). Before 2026-11-30 the defaults were one model, last-state pooling,
    ``max_length=40``, ``min_count=1``, Adam 3e-3, patience 2, 8 epochs; set those
    to get the old behaviour.

    Args:
        cell: ``"lstm"``, ``"gru"``, ``"srnn"``, or the parallel-scan ``"mingru"`` /
            ``"minlstm"`` (:class:`rnnkit.layers.MinGRU`, trained in parallel over time).
        units: units of each recurrent layer (per direction).
        num_layers: number of stacked recurrent layers.
        bidirectional: run each layer in both directions.
        attention: shorthand for ``pooling="attention"`` (kept for compatibility;
            when True it overrides ``pooling``).
        pooling: how the recurrent output sequence becomes one vector:
            ``"max_mean"`` (masked max and mean over time, concatenated),
            ``"max"``, ``"mean"``, ``"attention"`` (DeepMoji attention pooling) or
            ``"last"`` (the final state only; the default before 2026-11-30).
        skip: skip connections of the recurrent stack, ``"none"``, ``"concat"``
            (the pooled features also see the embeddings, as in DeepMoji) or
            ``"residual"``; needs a pooling over time (not ``"last"``).
        embedding_dim: size of the word vectors (ignored with ``embeddings``).
        embeddings: optional path to pretrained word vectors (word2vec/GloVe text
            format, read by :mod:`rnnkit.text.embeddings`).
        max_length: tokens kept per text (the first ``max_length``). None: chosen
            from the training texts at ``fit``: the 95th percentile of their token
            counts, rounded up, clipped to [8, 150] (``LENGTH_PERCENTILE``,
            ``LENGTH_MIN``, ``LENGTH_CAP`` in this module); the value used is
            ``max_length_``.
        max_vocabulary: most word ids, including padding and ``<unk>``.
        min_count: tokens seen fewer times than this in the training texts are not
            in the vocabulary (they read as ``<unk>``, which the model then learns
            from instead of from one-off word vectors).
        embedding_dropout: SpatialDropout1D rate on the word vectors (whole
            embedding channels dropped per text).
        dropout: dropout before the classifier (and between stacked layers).
        ensemble_size: number of networks trained one after the other (each from
            its own initialization, with its own validation split and early
            stopping) whose predicted probabilities are averaged; ``model_`` is
            one Keras model holding them (``rnn_classifier_0``, ...) and an
            ``Average`` layer. 1: a single network ``rnn_classifier``. Fit time
            grows linearly with it.
        epochs: maximum number of training epochs.
        batch_size: mini-batch size.
        learning_rate: Adam learning rate.
        validation_fraction: fraction of the training data held out for early
            stopping on the validation loss (None or 0 disables it).
        n_iter_no_change: early-stopping patience in epochs.
        class_weight: None, ``"balanced"`` or a dict ``{label: weight}``.
        threshold: multi-label only (ignored otherwise): ``predict`` sets a label
            where its probability is at least this float, or with
            ``"prevalence"`` at least the label's frequency in the training ``y``
            (``label_prevalence_``), which predicts rare labels far more often
            than 0.5 does (better class-average F1 on SE0714, see
            ``benchmarks/RESULTS.md``; worse subset accuracy).
        warm_start: reuse the fitted vocabulary and model on the next ``fit``
            (continue training) instead of starting from scratch (an ensemble is
            then trained further as one model, on the averaged output).
        random_state: seed (int) for reproducible results on CPU.
        verbose: Keras verbosity (0 silent, 1 progress bar, 2 one line per epoch).
        checkpoint_dir: optional folder: ``fit`` checkpoints every finished epoch of each
            network there (``member-<i>/``: weights, optimizer, early-stopping state and
            validation split, :mod:`rnnkit.training.checkpoint`) and each network's end,
            so that after a kill the same ``fit`` goes on from the last finished epoch
            and takes the finished networks as they are. The later epochs' shuffles and
            the networks not started yet draw anew, so the result is not bit-identical
            to an uninterrupted fit. It needs an int ``random_state``; a checkpoint of
            other parameters or data is a ValueError naming them; a ``warm_start``
            continued fit is not checkpointed. The folder is left for the caller.

    Fitted attributes:
        classes_: the class labels (for multi-label, ``arange(n_labels)``).
        vocabulary_: the token list (index = id; 0 ``<pad>``, 1 ``<unk>``: the markers of
            :mod:`rnnkit.text.special_tokens`; a classifier pickled by an earlier
            version, whose list started ``"", "[UNK]"``, is given these on load).
        vectorizer_: the fitted :class:`~rnnkit.text.vectorizer.TextVectorizer`.
        max_length_: the tokens kept per text (``max_length`` or the one chosen
            from the data).
        model_: the Keras model (pickled as ``.keras`` bytes).
        history_: the Keras training history (dict of lists) of the first network.
        label_prevalence_: multi-label only: the frequency of each label in ``y``.
        member_histories_: the histories of every network (with ``warm_start``'s
            continued fit: of the whole ensemble model).
        n_features_in_: not set (input is raw text, not a feature matrix).

    Example:

    >>> clf = RNNClassifier(epochs=3, random_state=0).fit(texts, labels)  # doctest: +SKIP
    >>> clf.predict(["what a great day"])  # doctest: +SKIP
    """

    def __init__(
        self,
        cell: str = "gru",
        units: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        attention: bool = False,
        pooling: str = "max_mean",
        skip: str = "none",
        embedding_dim: int = 64,
        embeddings: str | None = None,
        max_length: int | None = None,
        max_vocabulary: int = 20000,
        min_count: int = 2,
        embedding_dropout: float = 0.0,
        dropout: float = 0.2,
        ensemble_size: int = 3,
        epochs: int = 20,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        validation_fraction: float | None = 0.1,
        n_iter_no_change: int = 3,
        class_weight: Any = None,
        threshold: Any = 0.5,
        warm_start: bool = False,
        random_state: Any = None,
        verbose: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
    ) -> None:
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.attention = attention
        self.pooling = pooling
        self.skip = skip
        self.embedding_dim = embedding_dim
        self.embeddings = embeddings
        self.max_length = max_length
        self.max_vocabulary = max_vocabulary
        self.min_count = min_count
        self.embedding_dropout = embedding_dropout
        self.dropout = dropout
        self.ensemble_size = ensemble_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.threshold = threshold
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("checkpoint_dir", None)  # pickled before the parameter
        vocabulary = self.__dict__.get("vocabulary_")
        if vocabulary is not None and list(vocabulary[:2]) == LEGACY_SPECIALS:
            # pickled before the one text stage: same ids, the markers renamed
            self.vocabulary_ = list(self.vectorizer_.vocabulary_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.classifier_tags.multi_label = True
        tags.non_deterministic = self.random_state is None
        return tags

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        if str(self.cell).lower() not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}.")
        names = ["units", "num_layers", "embedding_dim", "ensemble_size", "epochs", "batch_size"]
        names += ["min_count"] + ([] if self.max_length is None else ["max_length"])
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                hint = " or None (chosen from the data)" if name == "max_length" else ""
                raise ValueError(f"{name} must be a positive integer{hint}, got {value!r}.")
        for name in ("dropout", "embedding_dropout"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}.")
        threshold_ok = self.threshold == "prevalence" or (
            isinstance(self.threshold, (float, int, np.floating, np.integer))
            and not isinstance(self.threshold, bool)
            and 0.0 < float(self.threshold) < 1.0
        )
        if not threshold_ok:
            raise ValueError(
                f"threshold must be a float in (0, 1) or 'prevalence', got {self.threshold!r}."
            )
        if self.skip not in ("none", "concat", "residual"):
            raise ValueError(f"skip must be 'none', 'concat' or 'residual', got {self.skip!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}.")
        pooling = "attention" if self.attention else self.pooling
        if self.skip != "none" and pooling == "last":
            raise ValueError(f"skip={self.skip!r} needs a pooling over time, not 'last'.")
        if float(self.learning_rate) <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}.")

    def _resolve_max_length(self, texts: list[str]) -> int:
        if self.max_length is None:
            return data_max_length(texts)
        return int(self.max_length)

    def _class_weights(self, y_int: np.ndarray) -> dict | None:
        if self.class_weight is None or self._kind_ == "multilabel-indicator":
            if self.class_weight is not None:
                raise ValueError("class_weight is not supported for multi-label y.")
            return None
        if isinstance(self.class_weight, str):
            if self.class_weight != "balanced":
                raise ValueError(
                    f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}."
                )
            from sklearn.utils.class_weight import compute_class_weight

            weights = compute_class_weight(
                "balanced", classes=np.arange(len(self.classes_)), y=y_int
            )
            return {i: float(w) for i, w in enumerate(weights)}
        if isinstance(self.class_weight, dict):
            unknown = [k for k in self.class_weight if k not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(
                    f"class_weight has labels {unknown} that are not in y's classes "
                    f"{self.classes_.tolist()}."
                )
            lookup = {c: i for i, c in enumerate(self.classes_.tolist())}
            weights = {i: 1.0 for i in range(len(self.classes_))}
            for label, weight in self.class_weight.items():
                weights[lookup[label]] = float(weight)
            return weights
        raise ValueError(
            f"class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}."
        )

    def _compile(self, model: keras.Model, multilabel: bool) -> None:
        model.compile(
            optimizer=keras.optimizers.Adam(float(self.learning_rate)),
            loss="binary_crossentropy" if multilabel else "sparse_categorical_crossentropy",
            metrics=["accuracy"] if not multilabel else ["binary_accuracy"],
        )

    def _build_model(
        self, n_outputs: int, multilabel: bool, name: str = "rnn_classifier"
    ) -> keras.Model:
        from rnnkit.models.acceptor import build_acceptor

        matrix = None
        if self.embeddings is not None:
            from rnnkit.text.embeddings import embedding_matrix

            index = {word: i for i, word in enumerate(self.vocabulary_)}
            matrix = np.asarray(embedding_matrix(self.embeddings, index).matrix, "float32")
            embedding_dim = int(matrix.shape[1])
        else:
            embedding_dim = int(self.embedding_dim)
        model = build_acceptor(
            vocab_size=len(self.vocabulary_),
            num_classes=n_outputs,
            embedding_dim=embedding_dim,
            cell=str(self.cell).lower(),
            units=int(self.units),
            num_layers=int(self.num_layers),
            bidirectional=bool(self.bidirectional),
            pooling="attention" if self.attention else str(self.pooling),
            dropout=float(self.dropout),
            embedding_dropout=float(self.embedding_dropout),
            skip=str(self.skip),
            multi_label=multilabel,
            name=name,
        )
        if matrix is not None:
            # Set after building (not via an initializer) so the .keras config stays small.
            model.get_layer("embedding").set_weights([matrix])
        self._compile(model, multilabel)
        return model

    def fit(self, X: Any, y: Any) -> RNNClassifier:
        """Fit on raw texts ``X`` and labels ``y``; returns ``self``.

        Refits from scratch (new vocabulary, new model) unless ``warm_start``.
        """
        self._check_params()
        texts = validate_texts(X)
        y, kind = _validate_labels(y)
        check_same_length(texts, y)
        warm = self.warm_start and hasattr(self, "model_")
        if kind == "multilabel-indicator":
            classes = np.arange(y.shape[1])
            y_fit = y
            label_prevalence = y.mean(axis=0).astype("float64")
            stratify = None
        else:
            classes, y_fit = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    f"y has a single class ({classes[0]!r}): a classifier needs at least 2 "
                    "classes to fit."
                )
            y_fit = y_fit.astype("int32")
            stratify = y_fit
        if warm:
            if kind != self._kind_ or not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start=True needs the same classes as the previous fit: "
                    f"had {self.classes_.tolist()}, got {classes.tolist()}."
                )
        seed_everything(self.random_state)
        self._kind_ = kind
        self.classes_ = classes
        if kind == "multilabel-indicator" and not warm:
            self.label_prevalence_ = label_prevalence
        if not warm:
            self.max_length_ = self._resolve_max_length(texts)
            self.vectorizer_ = TextVectorizer(
                max_length=self.max_length_,
                max_vocabulary=int(self.max_vocabulary),
                min_count=int(self.min_count),
            ).fit(texts)
            self.vocabulary_ = list(self.vectorizer_.vocabulary_)
        class_weight = self._class_weights(y_fit) if kind != "multilabel-indicator" else None
        ids = self.vectorizer_.transform(texts)
        multilabel = kind == "multilabel-indicator"

        checkpoint = None
        if self.checkpoint_dir is not None and not warm:
            checkpoint = self._checkpoint_settings(texts, y)

        def train(model: keras.Model, member: int | None = None) -> dict:
            folder = None
            if checkpoint is not None and member is not None:
                folder = Path(self.checkpoint_dir) / f"member-{member}"
            return self._train(
                model,
                ids,
                y_fit,
                epochs=self.epochs,
                batch_size=self.batch_size,
                validation_fraction=self.validation_fraction,
                n_iter_no_change=self.n_iter_no_change,
                class_weight=class_weight,
                verbose=self.verbose,
                stratify=stratify,
                checkpoint_dir=folder,
                settings=checkpoint,
            )

        if warm:
            self.member_histories_ = [train(self.model_)]
        else:
            # Each member: its own initialization, validation split and early stopping
            # (the random streams continue from one seed, so a fixed random_state
            # reproduces the whole ensemble).
            size = int(self.ensemble_size)
            members = []
            self.member_histories_ = []
            for i in range(size):
                name = "rnn_classifier" if size == 1 else f"rnn_classifier_{i}"
                member = self._build_model(len(classes), multilabel=multilabel, name=name)
                self.member_histories_.append(train(member, i))
                members.append(member)
            self.model_ = members[0] if size == 1 else self._average(members, multilabel)
        self.history_ = self.member_histories_[0]
        return self

    def _checkpoint_settings(self, texts: list[str], y: np.ndarray) -> dict:
        """What a checkpoint of ``fit`` must have been made with: the parameters and the
        data (a digest of the texts and labels)."""
        from rnnkit.training.checkpoint import fingerprint

        if isinstance(self.random_state, bool) or not isinstance(
            self.random_state, (int, np.integer)
        ):
            raise ValueError(
                "checkpoint_dir needs an int random_state (a fit that goes on must draw the "
                f"same validation split), got random_state={self.random_state!r}."
            )
        skip = ("checkpoint_dir", "verbose", "warm_start", "embeddings")
        settings = {k: v for k, v in self.get_params().items() if k not in skip}
        settings["embeddings"] = fingerprint(self.embeddings)
        settings["data_sha256"] = fingerprint([texts, np.asarray(y)])
        return settings

    def _average(self, members: list[keras.Model], multilabel: bool) -> keras.Model:
        """One Keras model: the mean of the members' probabilities."""
        inputs = keras.Input((None,), dtype="int32", name="token_ids")
        outputs = keras.layers.Average(name="average")([m(inputs) for m in members])
        model = keras.Model(inputs, outputs, name="rnn_classifier_ensemble")
        self._compile(model, multilabel)
        # Built now, so that its (fresh) state is saved and restored like a trained one's.
        model.optimizer.build(model.trainable_variables)
        return model

    # -------------------------------------------------------------- predict
    def text_model(self, max_length: int | None = None) -> Any:
        """The export protocol: this fitted classifier as a
        :class:`rnnkit.serving.TextModel` (its Keras model, its text stage
        ``vectorizer_.pipeline_`` as it is, its classes), what
        :func:`rnnkit.serving.export` writes. ``max_length`` is ignored: the pipeline's
        own length is used."""
        check_is_fitted(self, "model_")
        if self._kind_ == "multilabel-indicator":
            raise ValueError(
                "export: multi-label estimators are not supported yet (the signature returns "
                "one label per text); export a single-label RNNClassifier."
            )
        from rnnkit.serving.export import TextModel

        pipe = self.vectorizer_.pipeline_
        return TextModel(self.model_, pipe, [str(c) for c in self.classes_], "classifier")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_samples, n_classes)`` in the order of ``classes_``
        (for multi-label: the probability of each label)."""
        check_is_fitted(self, "model_")
        texts = validate_texts(X)
        ids = self.vectorizer_.transform(texts)
        with framework_logs(self.verbose):
            proba = self.model_.predict(ids, batch_size=256, verbose=0)
        return np.asarray(proba, dtype="float64")

    def predict(self, X: Any) -> np.ndarray:
        """Labels (from ``classes_``), or a 0/1 indicator matrix for multi-label."""
        proba = self.predict_proba(X)
        if self._kind_ == "multilabel-indicator":
            if isinstance(self.threshold, str):
                threshold = self.label_prevalence_
            else:
                threshold = float(self.threshold)
            return (proba >= threshold).astype("int64")
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (subset accuracy for multi-label). Labels unseen in fit raise ValueError."""
        check_is_fitted(self, "model_")
        y_checked, kind = _validate_labels(y)
        if self._kind_ != "multilabel-indicator":
            known = set(self.classes_.tolist())
            unseen = sorted({str(v) for v in y_checked.tolist() if v not in known})
            if unseen:
                raise ValueError(
                    f"y holds labels not seen during fit: {unseen[:10]}; the classifier knows "
                    f"{self.classes_.tolist()}."
                )
        elif y_checked.ndim != 2 or y_checked.shape[1] != len(self.classes_):
            raise ValueError(
                f"y must be an indicator matrix with {len(self.classes_)} columns, got "
                f"shape {np.shape(y_checked)}."
            )
        return super().score(X, y, sample_weight=sample_weight)
