"""Chain-thaw fine-tuning (Felbo et al. 2017) and its baselines, for any Keras model.

Chain-thaw trains the new layers first (typically the freshly initialised output
layer), then each other layer alone, from the first to the last, and finally all
layers together. Every step gets a fresh optimizer (Adam; ``initial_lr`` for the new
layers, ``next_lr`` afterwards, with global-norm gradient clipping) and early
stopping on the validation loss, and ends with the best weights of the step restored.
The baselines of the paper use the same interface:

* ``"last"``: only the new layers are trained (``initial_lr``);
* ``"full"``: all layers at once (``next_lr``);
* ``"new"``: all weights re-initialised, then all layers trained (``initial_lr``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

METHODS = ("new", "last", "full", "chain_thaw")


@dataclass
class StepHistory:
    """What one training step of a fine-tuning method did.

    Attributes:
        name: ``"new_layers"``, a layer name, ``"all"``.
        trainable: names of the layers trained in this step.
        learning_rate: the step's learning rate.
        history: per-epoch metrics from ``model.fit`` (``loss``, ``val_loss``, ...).
        best_epoch: index of the epoch whose weights were restored.
        best_val_loss: its validation loss.
    """

    name: str
    trainable: list[str]
    learning_rate: float
    history: dict[str, list[float]]
    best_epoch: int
    best_val_loss: float


@dataclass
class FinetuneResult:
    """The outcome of :func:`finetune`: the method and one :class:`StepHistory` per step."""

    method: str
    steps: list[StepHistory] = field(default_factory=list)

    @property
    def best_val_loss(self) -> float:
        return self.steps[-1].best_val_loss if self.steps else float("nan")


class RestoreBestWeights(keras.callbacks.Callback):
    """Early stopping on ``monitor`` that always restores the best epoch's weights."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3) -> None:
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.best = np.inf
        self.best_epoch = -1
        self.best_weights: list | None = None
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"Early stopping monitors {self.monitor!r}, which the training logs lack "
                f"(got {sorted(logs or {})}); pass validation_data."
            )
        if np.isfinite(value) and value < self.best:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def _weighted_layers(model: keras.Model) -> list[keras.Layer]:
    return [layer for layer in model.layers if layer.weights]


def _default_loss(model: keras.Model) -> str:
    out = model.outputs[0] if getattr(model, "outputs", None) else None
    if out is not None and out.shape[-1] == 1:
        return "binary_crossentropy"
    return "sparse_categorical_crossentropy"


def _check_labels(model: keras.Model, data: Any, what: str) -> None:
    """Array labels must fit the output layer (clear error instead of a backend crash)."""
    if not isinstance(data, (tuple, list)) or len(data) != 2 or not getattr(model, "outputs", None):
        return
    y = np.asarray(data[1])
    units = model.outputs[0].shape[-1]
    if y.ndim != 1 or units is None:
        return
    allowed = 2 if units == 1 else units
    if y.size and (np.any(y < 0) or np.any(y >= allowed) or np.any(y != np.round(y))):
        kind = (
            "0/1 labels for the one-unit sigmoid output"
            if units == 1
            else (f"integer class ids in [0, {units}) for the {units}-way output")
        )
        raise ValueError(
            f"{what} labels don't match the model: expected {kind}, got values in "
            f"[{y.min()}, {y.max()}]."
        )


def _reinitialize(model: keras.Model) -> None:
    """Fresh initial values for every weight (via a clone of the model)."""
    fresh = keras.models.clone_model(model)
    model.set_weights(fresh.get_weights())


def _fit_data(data: Any, batch_size: int) -> tuple[dict, Any]:
    """``model.fit`` arguments for ``(x, y)`` tuples or a ready dataset."""
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(
                f"Training data as a tuple must be (x, y), got a {type(data).__name__} of "
                f"length {len(data)}."
            )
        return {"x": data[0], "y": data[1], "batch_size": batch_size, "shuffle": True}, data
    return {"x": data, "shuffle": False}, data


def _train_step(
    model: keras.Model,
    name: str,
    trainable: Sequence[str],
    learning_rate: float,
    train_data: Any,
    validation_data: Any,
    *,
    loss: Any,
    metrics: Sequence[Any],
    epochs: int,
    patience: int,
    batch_size: int,
    global_clipnorm: float | None,
    optimizer_fn: Callable[[float], keras.optimizers.Optimizer] | None,
    callbacks: Sequence[keras.callbacks.Callback],
    compile_kwargs: dict | None,
    verbose: int,
) -> StepHistory:
    active = set(trainable)
    for layer in _weighted_layers(model):
        layer.trainable = layer.name in active
    if optimizer_fn is not None:
        optimizer = optimizer_fn(learning_rate)
    else:
        optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=global_clipnorm)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics), **(compile_kwargs or {}))
    best = RestoreBestWeights("val_loss", patience)
    fit_kwargs, _ = _fit_data(train_data, batch_size)
    if verbose:
        print(f"-- step {name}: training {sorted(active)} at lr {learning_rate:g}")
    history = model.fit(
        **fit_kwargs,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=[best, *callbacks],
        verbose=verbose,
    )
    return StepHistory(
        name=name,
        trainable=[layer.name for layer in _weighted_layers(model) if layer.name in active],
        learning_rate=learning_rate,
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        best_epoch=best.best_epoch,
        best_val_loss=best.best,
    )


def finetune(
    model: keras.Model,
    train_data: Any,
    validation_data: Any,
    method: str = "chain_thaw",
    new_layers: Sequence[str] | None = None,
    *,
    loss: Any = None,
    metrics: Sequence[Any] = ("accuracy",),
    initial_lr: float = 1e-3,
    next_lr: float = 1e-4,
    epochs: int = 50,
    patience: int = 5,
    batch_size: int = 32,
    global_clipnorm: float | None = 1.0,
    thaw_layers: Sequence[str] | None = None,
    optimizer_fn: Callable[[float], keras.optimizers.Optimizer] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    compile_kwargs: dict | None = None,
    verbose: int = 0,
) -> FinetuneResult:
    """Fine-tunes ``model`` in place with one of ``"new"``, ``"last"``, ``"full"``,
    ``"chain_thaw"``.

    Args:
        model: Any built Keras model (functional, sequential or subclassed).
        train_data: ``(x, y)`` arrays or a batched ``tf.data.Dataset`` / PyDataset.
        validation_data: the same, for early stopping (required).
        method: ``"new"``, ``"last"``, ``"full"`` or ``"chain_thaw"``
            (``"chain-thaw"`` accepted).
        new_layers: names of the newly added layers (default: the last layer with
            weights, i.e. the output layer).
        loss: loss (default: binary cross-entropy for a one-unit output, else sparse
            categorical cross-entropy).
        metrics: metrics to compile with.
        initial_lr: learning rate of the new layers' step (and of ``last``/``new``).
        next_lr: learning rate of the later chain-thaw steps and of ``full``.
        epochs: maximum epochs per step.
        patience: early-stopping patience (epochs without a better val loss).
        batch_size: batch size for array data.
        global_clipnorm: global-norm gradient clipping of the default Adam.
        thaw_layers: chain-thaw order of the non-new layers (default: every layer
            with weights, in model order).
        optimizer_fn: ``lr -> optimizer`` to replace the default Adam (a fresh one is
            made for every step).
        callbacks: extra Keras callbacks, passed to every step.
        compile_kwargs: extra ``model.compile`` arguments (e.g. ``jit_compile``).
        verbose: Keras verbosity.

    Returns:
        A :class:`FinetuneResult` with one :class:`StepHistory` per step. Every
        layer's ``trainable`` flag is restored on return (recompile before further
        training).

    Example:

    >>> result = finetune(model, (x, y), (x_val, y_val), method="chain_thaw",
    ...                   new_layers=["softmax"])  # doctest: +SKIP
    >>> [step.name for step in result.steps]  # doctest: +SKIP
    ['new_layers', 'embedding', 'bi_lstm_0', 'bi_lstm_1', 'attlayer', 'all']
    """
    method = method.replace("-", "_")
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: expected one of {METHODS}.")
    if validation_data is None:
        raise ValueError("Fine-tuning needs validation_data (early stopping on val loss).")
    if not isinstance(epochs, int) or epochs < 1 or not isinstance(patience, int) or patience < 1:
        raise ValueError(
            f"`epochs` and `patience` must be positive integers, got {epochs!r}, {patience!r}."
        )
    _fit_data(train_data, batch_size)
    _check_labels(model, train_data, "Training")
    _check_labels(model, validation_data, "Validation")
    weighted = [layer.name for layer in _weighted_layers(model)]
    if not weighted:
        raise ValueError("The model has no layers with weights to train (is it built?).")
    new = list(new_layers) if new_layers is not None else [weighted[-1]]
    unknown = [n for n in new if n not in weighted]
    if unknown or not new:
        raise ValueError(
            f"`new_layers` must name layers with weights of the model, got {new!r}; "
            f"the layers with weights are {weighted}."
        )
    if thaw_layers is None:
        thaw = [n for n in weighted if n not in new]
    else:
        thaw = list(thaw_layers)
        bad = [n for n in thaw if n not in weighted]
        if bad:
            raise ValueError(f"`thaw_layers` {bad} are not layers with weights: {weighted}.")
    loss = loss if loss is not None else _default_loss(model)
    common = dict(
        loss=loss,
        metrics=metrics,
        epochs=epochs,
        patience=patience,
        batch_size=batch_size,
        global_clipnorm=global_clipnorm,
        optimizer_fn=optimizer_fn,
        callbacks=callbacks,
        compile_kwargs=compile_kwargs,
        verbose=verbose,
    )
    flags = {layer.name: layer.trainable for layer in _weighted_layers(model)}
    result = FinetuneResult(method=method)
    try:
        if method == "new":
            _reinitialize(model)
            plan = [("all", weighted, initial_lr)]
        elif method == "last":
            plan = [("new_layers", new, initial_lr)]
        elif method == "full":
            plan = [("all", weighted, next_lr)]
        else:
            plan = [("new_layers", new, initial_lr)]
            plan += [(name, [name], next_lr) for name in thaw]
            plan += [("all", weighted, next_lr)]
        for name, trainable, lr in plan:
            result.steps.append(
                _train_step(model, name, trainable, lr, train_data, validation_data, **common)
            )
    finally:
        for layer in _weighted_layers(model):
            layer.trainable = flags[layer.name]
    return result


def chain_thaw(
    model: keras.Model,
    train_data: Any,
    validation_data: Any,
    new_layers: Sequence[str] | None = None,
    **kwargs: Any,
) -> FinetuneResult:
    """Chain-thaw fine-tuning: :func:`finetune` with ``method="chain_thaw"``.

    Example:

    >>> result = chain_thaw(model, (x, y), (x_val, y_val), new_layers=["softmax"])  # doctest: +SKIP
    """
    return finetune(model, train_data, validation_data, "chain_thaw", new_layers, **kwargs)
