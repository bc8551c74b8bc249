"""Classification pretraining (DeepMoji's emoji distant supervision) with exact resume.

:func:`pretrain` trains a classifier from a ``tf.data`` pipeline with Adam and
global-norm gradient clipping (DeepMoji's Keras 2 ``clipnorm=1``), reports top-1 and
top-5 accuracy, writes a checkpoint every ``checkpoint_every`` batches and at the end
of every epoch, and resumes from the last checkpoint after an interruption without
losing or repeating work: the weights, the optimizer state (moments and iteration
count) and the position in the epoch (the shuffle order of an epoch is a function of
``seed`` and the epoch, so the resumed run skips exactly the batches already done).

With ``distribute=True`` the model is trained data-parallel on all local devices:
``keras.distribution.DataParallel`` on JAX, ``tf.distribute.MirroredStrategy`` on
TensorFlow (a ValueError on PyTorch).

Checkpoint layout (``checkpoint_dir``): ``state.json`` (epoch, batches done in it,
history, the checkpoint folder in use) and ``ckpt-<step>/`` with
``model.weights.h5`` and ``optimizer.npz``. ``state.json`` is replaced atomically
after the folder is complete, so a kill at any moment leaves a usable checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

STATE_FILE = "state.json"


@dataclass
class PretrainResult:
    """The trained model and one dict of metrics per completed epoch."""

    model: keras.Model
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: dict | None = None


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    epoch: int = 0,
    skip_batches: int = 0,
    drop_remainder: bool = False,
) -> Any:
    """The ``tf.data`` pipeline of one epoch: shuffled by ``(seed, epoch)``, batched,
    with the first ``skip_batches`` batches left out, prefetched."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed * 100_003 + epoch, reshuffle_each_iteration=False)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if skip_batches:
        ds = ds.skip(skip_batches)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_xy(name: str, data: Any, nb_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"`{name}` must be a tuple (x, y) of arrays, got {type(data).__name__}.")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"`{name}`: x and y must be non-empty with the same length, got {len(x)} and {len(y)}."
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`{name}`: labels must be integer class ids, got dtype {y.dtype}.")
    if nb_classes is not None and (y.min() < 0 or y.max() >= nb_classes):
        raise ValueError(
            f"`{name}`: labels must be class ids in [0, {nb_classes}) for the model's "
            f"{nb_classes} outputs, got values in [{y.min()}, {y.max()}]."
        )
    return x, y


def _distribution_scope(distribute: bool, batch_size: int) -> tuple[Any, int]:
    """A context for building/compiling/fitting and the number of replicas."""
    if not distribute:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        n = len(devices)
        scope = keras.distribution.DataParallel(devices=devices).scope()
    elif backend == "tensorflow":
        import tensorflow as tf

        names = [d.name for d in tf.config.list_logical_devices("GPU")]
        names = names or [d.name for d in tf.config.list_logical_devices("CPU")]
        n = len(names)
        scope = tf.distribute.MirroredStrategy(devices=names).scope()
    else:
        raise ValueError(
            f"distribute=True supports the jax and tensorflow backends, got {backend!r}."
        )
    if batch_size % n:
        raise ValueError(
            f"The global batch size {batch_size} must be divisible by the number of devices {n}."
        )
    return scope, n


class _Checkpointer(keras.callbacks.Callback):
    def __init__(
        self,
        save: Callable[[int, int], None],
        every: int,
        epoch: int,
        start: int,
        steps_per_epoch: int,
    ) -> None:
        super().__init__()
        self.save, self.every, self.epoch, self.start = save, every, epoch, start
        self.steps_per_epoch = steps_per_epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        done = self.start + batch + 1
        if self.every and done % self.every == 0 and done < self.steps_per_epoch:
            self.save(self.epoch, done)


def _save(
    model: keras.Model, directory: Path, epoch: int, step: int, history: list, extra: dict
) -> None:
    global_step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    folder = directory / f"ckpt-{global_step:09d}"
    tmp = directory / f"tmp-{global_step:09d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_weights(tmp / "model.weights.h5")
    arrays = {
        f"v{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.optimizer.variables)
    }
    np.savez(tmp / "optimizer.npz", **arrays)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    state = {
        "epoch": epoch,
        "step": step,
        "global_step": global_step,
        "folder": folder.name,
        "history": history,
        **extra,
    }
    with open(directory / (STATE_FILE + ".tmp"), "w") as f:
        json.dump(state, f, indent=1)
    os.replace(directory / (STATE_FILE + ".tmp"), directory / STATE_FILE)
    for old in directory.glob("ckpt-*"):
        if old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)


def load_state(checkpoint_dir: str | os.PathLike) -> dict | None:
    """The checkpoint state of ``checkpoint_dir`` (None when there is none)."""
    path = Path(checkpoint_dir) / STATE_FILE
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)


def _restore(model: keras.Model, directory: Path, state: dict) -> None:
    folder = directory / state["folder"]
    model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / "model.weights.h5")
    with np.load(folder / "optimizer.npz", allow_pickle=False) as data:
        values = [data[f"v{i}"] for i in range(len(data.files))]
    variables = model.optimizer.variables
    if len(values) != len(variables):
        raise ValueError(
            f"The checkpoint in {folder} holds {len(values)} optimizer variables, the model's "
            f"optimizer has {len(variables)}: it was written for another model or optimizer."
        )
    for var, value in zip(variables, values):
        var.assign(value)


def pretrain(
    build_model: Callable[[], keras.Model] | keras.Model,
    train_data: tuple[np.ndarray, np.ndarray],
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    checkpoint_dir: str | os.PathLike,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    global_clipnorm: float | None = 1.0,
    checkpoint_every: int = 100,
    seed: int = 0,
    distribute: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    compile_kwargs: dict | None = None,
    verbose: int = 1,
) -> PretrainResult:
    """Pretrains a classifier, resuming from ``checkpoint_dir`` if it holds a checkpoint.

    Args:
        build_model: A function returning a fresh, uncompiled classifier (softmax over
            ``nb_classes``), e.g. ``lambda: deepmoji(50000, 64, 30)``; it is called
            inside the distribution scope. A ready model is accepted without
            ``distribute``.
        train_data: ``(x, y)``: token ids and integer class ids.
        validation_data: optional ``(x, y)`` evaluated at the end of every epoch.
        checkpoint_dir: where checkpoints are written and resumed from.
        epochs: total number of epochs (a resumed run continues up to it).
        batch_size: global batch size (divisible by the number of devices).
        learning_rate: Adam's learning rate.
        global_clipnorm: global-norm gradient clipping (None for none).
        checkpoint_every: checkpoint every this many batches (0: only at epoch ends).
        seed: seed of the per-epoch shuffle order.
        distribute: data-parallel over all local devices (JAX / TensorFlow).
        callbacks: extra Keras callbacks.
        compile_kwargs: extra ``model.compile`` arguments.
        verbose: Keras verbosity (1 shows a progress bar).

    Returns:
        :class:`PretrainResult` with the model and the per-epoch metrics (loss, top1,
        top5 and their ``val_`` versions).

    Example:

    >>> result = pretrain(lambda: deepmoji(50000, 64, 30), (x, y), (xv, yv),
    ...                   checkpoint_dir="ckpt", epochs=3)  # doctest: +SKIP
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer, got {epochs!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    if not isinstance(checkpoint_every, int) or checkpoint_every < 0:
        raise ValueError(f"`checkpoint_every` must be an integer >= 0, got {checkpoint_every!r}.")
    if distribute and isinstance(build_model, keras.Model):
        raise ValueError(
            "distribute=True needs `build_model` to be a function that builds the model, "
            "so that its variables are created inside the distribution scope."
        )
    x, y = _check_xy("train_data", train_data)
    directory = Path(checkpoint_dir)
    directory.mkdir(parents=True, exist_ok=True)
    scope, _ = _distribution_scope(distribute, batch_size)
    with scope:
        model = build_model if isinstance(build_model, keras.Model) else build_model()
        nb_classes = int(model.outputs[0].shape[-1])
        if nb_classes < 2:
            raise ValueError(
                f"pretrain expects a softmax classifier with >= 2 outputs, got {nb_classes}."
            )
        _check_xy("train_data", (x, y), nb_classes)
        val = None
        if validation_data is not None:
            xv, yv = _check_xy("validation_data", validation_data, nb_classes)
            val = make_dataset(xv, yv, batch_size, shuffle=False)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=global_clipnorm),
            loss="sparse_categorical_crossentropy",
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, nb_classes), name="top5"),
            ],
            **(compile_kwargs or {}),
        )
        extra = {"seed": seed, "batch_size": batch_size, "n_train": len(x)}
        state = load_state(directory)
        history: list[dict[str, float]] = []
        start_epoch, start_step = 0, 0
        if state is not None:
            for key, value in extra.items():
                if state.get(key) != value:
                    raise ValueError(
                        f"The checkpoint in {directory} was written with {key}={state.get(key)}, "
                        f"this run has {key}={value}: resume with the same data and settings "
                        "or use another checkpoint_dir."
                    )
            _restore(model, directory, state)
            history = list(state["history"])
            start_epoch, start_step = state["epoch"], state["step"]
            if verbose:
                print(f"Resuming from {directory}: epoch {start_epoch + 1}, batch {start_step}.")
        steps_per_epoch = -(-len(x) // batch_size)

        def save(epoch: int, step: int) -> None:
            _save(model, directory, epoch, step, history, extra)

        for epoch in range(start_epoch, epochs):
            skip = start_step if epoch == start_epoch else 0
            ds = make_dataset(x, y, batch_size, seed=seed, epoch=epoch, skip_batches=skip)
            checkpointer = _Checkpointer(save, checkpoint_every, epoch, skip, steps_per_epoch)
            fit = model.fit(
                ds,
                validation_data=val,
                epochs=epoch + 1,
                initial_epoch=epoch,
                shuffle=False,
                callbacks=[checkpointer, *callbacks],
                verbose=verbose,
            )
            history.append({k: float(v[-1]) for k, v in fit.history.items()})
            save(epoch + 1, 0)
    return PretrainResult(model=model, history=history, resumed_from=state)
