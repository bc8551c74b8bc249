"""Shared pieces of the rnnkit scikit-learn estimators.

* input checks for raw-text ``X`` and label ``y`` (clear ``ValueError`` messages);
* pickling of the fitted Keras model as ``.keras`` archive bytes (no live
  TensorFlow objects in the pickle; reloaded with ``safe_mode=True``);
* seeding (``keras.utils.set_random_seed``) and the Keras training loop with an
  optional validation split and early stopping.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = [
    "KerasEstimatorMixin",
    "validate_texts",
    "validate_token_lists",
    "check_same_length",
    "seed_everything",
]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, numbers.Real) and math.isnan(value)
    except TypeError:
        return False


def _as_sequence(X: Any, what: str) -> list:
    """X as a Python list: list, tuple, 1-D array, Series or one-column DataFrame."""
    if X is None:
        raise ValueError(f"Expected {what}, got None.")
    if isinstance(X, (str, bytes)):
        raise ValueError(
            f"Expected {what} (an iterable of strings, one per sample), got a single "
            f"{type(X).__name__}: {X[:40]!r}. Wrap it in a list."
        )
    # pandas without importing it when unused.
    if hasattr(X, "iloc") and hasattr(X, "columns"):
        if X.shape[1] != 1:
            raise ValueError(
                f"Expected {what}: a DataFrame must have exactly one text column, "
                f"got {X.shape[1]} columns {list(X.columns)[:5]}."
            )
        return X.iloc[:, 0].tolist()
    if hasattr(X, "iloc"):
        return X.tolist()
    if isinstance(X, np.ndarray):
        if X.ndim == 2 and X.shape[1] == 1:
            X = X[:, 0]
        if X.ndim != 1:
            raise ValueError(
                f"Expected {what}: a 1-D array or one column, got an array of shape {X.shape}."
            )
        return X.tolist()
    try:
        return list(X)
    except TypeError:
        raise ValueError(f"Expected {what}, got a {type(X).__name__}.") from None


def validate_texts(X: Any, allow_empty: bool = False) -> list[str]:
    """Raw texts as a list of ``str``.

    Accepts a list/tuple, a 1-D NumPy array (or ``(n, 1)``), a pandas Series or a
    one-column DataFrame. Raises ``ValueError`` for None/NaN entries, non-string
    entries and (unless ``allow_empty``) an empty ``X``.
    """
    texts = _as_sequence(X, "raw texts X")
    if not texts and not allow_empty:
        raise ValueError("X is empty: expected at least one text, got 0 samples.")
    for index, value in enumerate(texts):
        if isinstance(value, str):
            continue
        if _is_missing(value):
            raise ValueError(
                f"X[{index}] is {value!r}: expected a string for every sample, got a missing "
                "value. Drop or fill missing texts (e.g. with '') first."
            )
        raise ValueError(
            f"X[{index}] is a {type(value).__name__} ({value!r:.40}): expected raw text, i.e. "
            "a str for every sample. This estimator does its own tokenization; pass strings."
        )
    return texts


def validate_token_lists(X: Any, what: str = "X", allow_empty: bool = False) -> list[list[str]]:
    """A list of token lists (``list[list[str]]``), each entry checked."""
    rows = _as_sequence(X, f"{what}: a list of token lists")
    if not rows and not allow_empty:
        raise ValueError(f"{what} is empty: expected at least one sequence, got 0.")
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or row is None or _is_missing(row):
            raise ValueError(
                f"{what}[{i}] is {row!r:.40}: expected a list of strings (one per token), "
                f"got a {type(row).__name__}."
            )
        row = list(row)
        for j, token in enumerate(row):
            if not isinstance(token, str):
                raise ValueError(
                    f"{what}[{i}][{j}] is {token!r:.40}: expected every token to be a str, got "
                    f"a {type(token).__name__}."
                )
        out.append(row)
    return out


def check_same_length(X: Sequence, y: Sequence, x_name: str = "X", y_name: str = "y") -> None:
    if len(X) != len(y):
        raise ValueError(
            f"{x_name} and {y_name} have different numbers of samples: len({x_name})={len(X)}, "
            f"len({y_name})={len(y)}."
        )


def seed_everything(random_state: Any) -> None:
    """Seed Python, NumPy and the Keras backend (``keras.utils.set_random_seed``).

    ``random_state`` may be None (no seeding), an int or a ``np.random.RandomState``
    (an int is drawn from it). On CPU, a fixed seed makes training deterministic.
    """
    if random_state is None:
        return
    if isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(0, 2**31 - 1))
    if not isinstance(random_state, numbers.Integral) or isinstance(random_state, bool):
        raise ValueError(
            f"random_state must be None, an int or a numpy RandomState, got {random_state!r}."
        )
    keras.utils.set_random_seed(int(random_state))


def model_to_bytes(model: keras.Model) -> bytes:
    """The ``.keras`` archive of ``model`` as bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as handle:
            return handle.read()


def model_from_bytes(data: bytes, compile: bool = True) -> keras.Model:
    """Inverse of :func:`model_to_bytes` (``safe_mode=True``)."""
    import rnnkit.layers  # noqa: F401  (registers the serializable rnnkit layers)

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as handle:
            handle.write(io.BytesIO(data).getvalue())
        return keras.saving.load_model(path, safe_mode=True, compile=compile)


@contextlib.contextmanager
def framework_logs(verbose: Any) -> Iterator[None]:
    """Inside, TensorFlow's Python log messages below ERROR (its tf.function retracing
    warnings, printed when batches of new shapes arrive) are hidden unless ``verbose``;
    the estimators run fit and predict in it."""
    tf = sys.modules.get("tensorflow")
    if verbose or tf is None:
        yield
        return
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


class _EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping, whose state a checkpoint keeps (:meth:`get_state`) and a
    fit that goes on starts from (``resumed``: that state, set before ``fit``)."""

    resumed: tuple[dict, dict[str, np.ndarray]] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self.resumed is not None:
            values, arrays = self.resumed
            self.wait, self.best_epoch = int(values["wait"]), int(values["best_epoch"])
            self.best = None if values["best"] is None else float(values["best"])
            n = len([k for k in arrays if k.startswith("best_")])
            self.best_weights = [arrays[f"best_{i}"] for i in range(n)] or None

    def get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The counters and the best loss, and the best weights as arrays."""
        values = {
            "wait": int(self.wait),
            "best_epoch": int(self.best_epoch),
            "best": None if self.best is None else float(self.best),
            "stopped": bool(self.model.stop_training),
        }
        return values, {f"best_{i}": w for i, w in enumerate(self.best_weights or [])}


class KerasEstimatorMixin:
    """Pickle support and the training loop for estimators holding a Keras ``model_``.

    The pickled state holds ``model_`` as ``.keras`` bytes (key ``"model_keras_"``).
    """

    _keras_attributes = ("model_",)
    #: whether unpickling restores the compiled state (optimizer, loss) too
    _compile_on_load = True

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for name in self._keras_attributes:
            model = state.pop(name, None)
            if model is not None:
                state[name + "keras_bytes"] = model_to_bytes(model)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        for name in self._keras_attributes:
            data = state.pop(name + "keras_bytes", None)
            if data is not None:
                state[name] = model_from_bytes(data, compile=self._compile_on_load)
        self.__dict__.update(state)

    def _train(
        self,
        model: keras.Model,
        x: np.ndarray,
        y: np.ndarray,
        epochs: int,
        batch_size: int,
        validation_fraction: float | None,
        n_iter_no_change: int,
        class_weight: dict | None,
        verbose: int,
        stratify: np.ndarray | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        settings: dict | None = None,
    ) -> dict:
        """Fit ``model``; hold out ``validation_fraction`` (stratified when possible)
        and stop early after ``n_iter_no_change`` epochs without improvement of the
        validation loss, restoring the best weights. Returns the history dict.

        With ``checkpoint_dir`` (and the fit's ``settings``, JSON), every finished epoch
        is checkpointed there with the early-stopping state and the validation split
        (:class:`rnnkit.training.checkpoint.EpochCheckpoint`), and the end of the fit
        with its final weights: a later call with the same folder and settings goes on
        from the last finished epoch, or takes a finished fit as it is. A checkpoint of
        other settings is a ValueError naming them."""
        from rnnkit.training.checkpoint import (
            EpochCheckpoint,
            checked_state,
            keras_history,
            load_arrays,
            resume,
            save,
        )

        what = type(self).__name__
        saved = None if checkpoint_dir is None else checked_state(checkpoint_dir, settings, what)
        extra = {} if saved is None else saved.get("extra", {})
        callbacks = []
        validation_data = None
        if validation_fraction:
            if not 0.0 < float(validation_fraction) < 1.0:
                raise ValueError(
                    f"validation_fraction must be in (0, 1) or None, got {validation_fraction!r}."
                )
            from sklearn.model_selection import train_test_split

            n_val = int(round(len(x) * float(validation_fraction)))
            if n_val >= 1 and len(x) - n_val >= 1:
                indices = np.arange(len(x))
                strat = stratify
                if strat is not None:
                    _, counts = np.unique(strat, return_counts=True)
                    if counts.min() < 2 or n_val < len(counts):
                        strat = None
                seed = int(np.random.randint(0, 2**31 - 1))
                # a fit that goes on holds out what its first process held out
                seed = int(extra.get("split_seed", seed))
                train_idx, val_idx = train_test_split(
                    indices, test_size=n_val, random_state=seed, stratify=strat
                )
                validation_data = (x[val_idx], y[val_idx])
                x, y = x[train_idx], y[train_idx]
                extra = {**extra, "split_seed": seed}
                callbacks.append(
                    _EarlyStopping(
                        monitor="val_loss",
                        patience=max(int(n_iter_no_change), 1),
                        restore_best_weights=True,
                    )
                )
        stopping = callbacks[0] if callbacks else None
        done: list = []
        if checkpoint_dir is not None:
            done = resume(model, checkpoint_dir, settings, what)
            if stopping is not None and saved is not None:
                stopping.resumed = (extra, load_arrays(checkpoint_dir))
            if extra.get("finished"):  # the fit had ended: its final weights are loaded
                return keras_history(done)
            if extra.get("stopped"):
                # stopped early, killed before its end was saved: a fit of no more epochs
                # ends it (the best weights restored)
                epochs = len(done)

            def state() -> tuple[dict, dict[str, np.ndarray]]:
                values, arrays = stopping.get_state() if stopping is not None else ({}, {})
                return {**values, "split_seed": extra.get("split_seed")}, arrays

            checkpointer = EpochCheckpoint(checkpoint_dir, settings, done, extra=state)
            callbacks.append(checkpointer)
        with framework_logs(verbose):
            history = model.fit(
                x,
                y,
                epochs=int(epochs),
                initial_epoch=min(len(done), int(epochs)),
                batch_size=int(batch_size),
                validation_data=validation_data,
                callbacks=callbacks,
                class_weight=class_weight,
                verbose=verbose,
                shuffle=True,
            )
        if checkpoint_dir is None:
            return {k: [float(v) for v in values] for k, values in history.history.items()}
        ended = {
            "settings": settings,
            "extra": {"finished": True, "split_seed": extra.get("split_seed")},
        }
        save(
            model,
            Path(checkpoint_dir),
            len(checkpointer.history),
            0,
            checkpointer.history,
            ended,
            with_metrics=False,
        )
        return checkpointer.keras_history()
