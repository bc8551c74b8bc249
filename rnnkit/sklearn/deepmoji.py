"""``DeepMojiClassifier``: DeepMoji fine-tuned on raw texts, as a scikit-learn estimator."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from rnnkit.names import CELL_NAMES
from rnnkit.sklearn.base import (
    KerasEstimatorMixin,
    check_same_length,
    framework_logs,
    seed_everything,
    validate_texts,
)
from rnnkit.sklearn.classifier import _validate_labels

__all__ = ["DeepMojiClassifier"]

FINETUNE_METHODS = ("chain-thaw", "last", "full", "new")


class DeepMojiClassifier(ClassifierMixin, KerasEstimatorMixin, BaseEstimator):
    """DeepMoji (Felbo et al. 2017) on raw texts: binary or multiclass.

    Texts go through DeepMoji's own preprocessing
    (:class:`rnnkit.models.deepmoji.DeepMojiTokenizer` with DeepMoji's 50,000-word vocabulary),
    the model is :func:`rnnkit.models.deepmoji.deepmoji` with a new output layer, and
    it is fine-tuned with :func:`rnnkit.training.chain_thaw.finetune`:

    * ``"chain-thaw"``: train the new output layer, then each layer alone (embedding,
      bi_lstm_0, bi_lstm_1, attlayer), then all, each step with early stopping;
    * ``"last"``: only the new output layer;
    * ``"full"``: all layers at once;
    * ``"new"``: all layers from a fresh initialisation (no transfer).

    Multi-label tasks (the paper trains one binary model per label): wrap it in
    ``sklearn.multiclass.OneVsRestClassifier``.

    Args:
        finetune: one of ``"chain-thaw"``, ``"last"``, ``"full"``, ``"new"``.
        weights: optional path of pretrained DeepMoji weights: the original Keras 2
            ``.hdf5`` or a torchMoji state dict (``.bin``/``.pt``); every layer but the
            output layer is loaded. Without it, the encoder starts from random weights.
        vocabulary: path of DeepMoji's ``vocabulary.json`` (default: the data root's
            ``deepmoji/vocabulary.json``); must match ``weights``.
        maxlen: tokens per text (DeepMoji: 30).
        embedding_dim, lstm_units: model sizes (256 and 512 in the released model).
        gate: ``"hard_sigmoid"`` (needed for the released weights) or ``"sigmoid"``.
        embed_dropout, final_dropout: dropout rates (paper: 0.25 on the embedding, 0.5).
        epochs: maximum epochs per fine-tuning step.
        patience: early-stopping patience per step.
        batch_size: mini-batch size.
        learning_rate: learning rate of the new layer's step (and of ``"last"``/``"new"``).
        next_learning_rate: learning rate of the later chain-thaw steps and of ``"full"``.
        validation_fraction: held-out fraction of the training data for early stopping
            (fine-tuning needs it).
        random_state: seed for reproducible results on CPU.
        verbose: Keras verbosity.
        cell: the recurrent layer of both bidirectional layers, one of
            :data:`rnnkit.names.CELL_NAMES`: ``"lstm"`` (the original) or an
            alternative such as the parallel-scan ``"mingru"`` / ``"minlstm"``; the
            released ``weights`` fit only ``"lstm"``.

    Fitted attributes:
        classes_, vocabulary_ (word -> id), model_, history_ (one entry per fine-tuning
        step: ``{"name", "learning_rate", "best_epoch", "best_val_loss", "history"}``).

    Example:

    >>> clf = DeepMojiClassifier(finetune="chain-thaw", weights="deepmoji.hdf5")  # doctest: +SKIP
    >>> clf.fit(texts, labels).predict(["so happy today"])  # doctest: +SKIP
    """

    def __init__(
        self,
        finetune: str = "chain-thaw",
        weights: str | None = None,
        vocabulary: str | None = None,
        maxlen: int = 30,
        embedding_dim: int = 256,
        lstm_units: int = 512,
        gate: str = "hard_sigmoid",
        embed_dropout: float = 0.25,
        final_dropout: float = 0.5,
        epochs: int = 10,
        patience: int = 2,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        next_learning_rate: float = 1e-4,
        validation_fraction: float = 0.1,
        random_state: Any = None,
        verbose: int = 0,
        cell: str = "lstm",
    ) -> None:
        self.finetune = finetune
        self.weights = weights
        self.vocabulary = vocabulary
        self.maxlen = maxlen
        self.embedding_dim = embedding_dim
        self.lstm_units = lstm_units
        self.gate = gate
        self.embed_dropout = embed_dropout
        self.final_dropout = final_dropout
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.next_learning_rate = next_learning_rate
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose
        self.cell = cell

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None
        return tags

    def _tokenizer(self):
        from rnnkit.models.deepmoji import DeepMojiTokenizer

        return DeepMojiTokenizer(self.vocabulary_)

    def _load_weights(self, model) -> None:
        from rnnkit.models.deepmoji import load_keras2_weights, load_torchmoji_weights

        path = str(self.weights)
        if not os.path.exists(path):
            raise ValueError(f"weights file not found: {path!r}.")
        if path.endswith((".hdf5", ".h5")):
            load_keras2_weights(model, path, exclude=("softmax",))
        else:
            load_torchmoji_weights(model, path, exclude=("softmax",))

    def fit(self, X: Any, y: Any) -> DeepMojiClassifier:
        """Fine-tune on raw texts ``X`` and labels ``y``; returns ``self`` (from scratch)."""
        from sklearn.model_selection import train_test_split

        from rnnkit.data.paths import resolve
        from rnnkit.models.deepmoji import deepmoji, load_vocabulary
        from rnnkit.training.chain_thaw import finetune

        method = str(self.finetune).replace("_", "-")
        if method not in FINETUNE_METHODS:
            raise ValueError(f"finetune must be one of {FINETUNE_METHODS}, got {self.finetune!r}.")
        if not self.validation_fraction or not 0 < float(self.validation_fraction) < 1:
            raise ValueError(
                "validation_fraction must be in (0, 1): fine-tuning stops early on a held-out "
                f"split; got {self.validation_fraction!r}."
            )
        texts = validate_texts(X)
        y, kind = _validate_labels(y)
        check_same_length(texts, y)
        if kind == "multilabel-indicator":
            raise ValueError(
                "DeepMojiClassifier takes binary or multiclass y, got a multi-label indicator "
                "matrix; wrap it in sklearn.multiclass.OneVsRestClassifier (one binary model "
                "per label, as in the DeepMoji paper)."
            )
        classes, y_int = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y has a single class ({classes[0]!r}): a classifier needs at least 2 classes."
            )
        if self.cell not in CELL_NAMES:
            raise ValueError(f"cell must be one of {', '.join(CELL_NAMES)}, got {self.cell!r}.")
        if self.weights is not None and self.cell != "lstm":
            raise ValueError(
                f"weights={self.weights!r} are the original DeepMoji's, whose recurrent layers "
                f"are LSTMs; they cannot load into cell={self.cell!r}. Use cell='lstm' with "
                "them, or weights=None to train this cell from scratch."
            )
        seed_everything(self.random_state)
        self.classes_ = classes
        self.vocabulary_ = load_vocabulary(resolve(self.vocabulary, "deepmoji/vocabulary.json"))
        ids = self._tokenizer().encode(texts, maxlen=int(self.maxlen))
        y_int = y_int.astype("int32")
        n_val = max(1, int(round(len(ids) * float(self.validation_fraction))))
        _, counts = np.unique(y_int, return_counts=True)
        stratify = y_int if counts.min() >= 2 and n_val >= len(classes) else None
        x_tr, x_val, y_tr, y_val = train_test_split(
            ids,
            y_int,
            test_size=n_val,
            random_state=int(np.random.randint(0, 2**31 - 1)),
            stratify=stratify,
        )
        model = deepmoji(
            nb_tokens=max(self.vocabulary_.values()) + 1,
            nb_classes=len(classes),
            maxlen=int(self.maxlen),
            embed_dropout=float(self.embed_dropout),
            final_dropout=float(self.final_dropout),
            gate=self.gate,
            embedding_dim=int(self.embedding_dim),
            lstm_units=int(self.lstm_units),
            name="deepmoji_classifier",
            cell=self.cell,
        )
        if self.weights is not None:
            self._load_weights(model)
        with framework_logs(self.verbose):
            result = finetune(
                model,
                (x_tr, y_tr),
                (x_val, y_val),
                method=method,
                new_layers=["softmax"],
                initial_lr=float(self.learning_rate),
                next_lr=float(self.next_learning_rate),
                epochs=int(self.epochs),
                patience=int(self.patience),
                batch_size=int(self.batch_size),
                verbose=self.verbose,
            )
        self.model_ = model
        self.history_ = [
            {
                "name": step.name,
                "learning_rate": float(step.learning_rate),
                "best_epoch": int(step.best_epoch),
                "best_val_loss": float(step.best_val_loss),
                "history": {k: [float(v) for v in vs] for k, vs in step.history.items()},
            }
            for step in result.steps
        ]
        return self

    def text_model(self, max_length: int | None = None) -> Any:
        """The export protocol: this fitted classifier as a
        :class:`rnnkit.serving.TextModel` whose pipeline is DeepMoji's tokenizer in-graph
        (:func:`rnnkit.models.deepmoji.deepmoji_pipeline`, exact, so the SavedModel
        gives this estimator's predictions). ``max_length`` is ignored: ``maxlen`` is
        used."""
        check_is_fitted(self, "model_")
        if getattr(self, "_kind_", None) == "multilabel-indicator" or np.ndim(self.classes_) > 1:
            raise ValueError("export: multi-label DeepMojiClassifier is not supported yet.")
        from rnnkit.models.deepmoji import deepmoji_pipeline
        from rnnkit.serving.export import TextModel

        pipe = deepmoji_pipeline(dict(self.vocabulary_), int(self.maxlen))
        return TextModel(self.model_, pipe, [str(c) for c in self.classes_], "classifier")

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n_samples, n_classes)`` probabilities in the order of ``classes_``."""
        check_is_fitted(self, "model_")
        texts = validate_texts(X)
        ids = self._tokenizer().encode(texts, maxlen=int(self.maxlen))
        with framework_logs(self.verbose):
            proba = self.model_.predict(ids, batch_size=256, verbose=0)
        proba = np.asarray(proba, dtype="float64")
        if proba.shape[1] == 1:  # DeepMoji's binary head: one sigmoid unit
            proba = np.concatenate([1.0 - proba, proba], axis=1)
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """Class labels from ``classes_``."""
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy. Labels unseen in fit raise ValueError."""
        check_is_fitted(self, "model_")
        y_checked, _ = _validate_labels(y)
        known = set(self.classes_.tolist())
        unseen = sorted({str(v) for v in np.ravel(y_checked).tolist() if v not in known})
        if unseen:
            raise ValueError(
                f"y holds labels not seen during fit: {unseen[:10]}; the classifier knows "
                f"{self.classes_.tolist()}."
            )
        return super().score(X, y, sample_weight=sample_weight)
