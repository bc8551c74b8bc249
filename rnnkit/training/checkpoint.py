"""Checkpoints of a compiled Keras model in training: weights, optimizer variables and
the model's other variables (random-generator states, optionally metric accumulators),
with a ``state.json`` that names the complete checkpoint folder and holds the caller's
position and history.

Layout of a checkpoint directory: ``state.json`` and ``ckpt-<global step>/`` with
``model.weights.h5``, ``optimizer.npz`` and ``state.npz`` (NumPy archives, no pickle). The
folder is complete before ``state.json`` is replaced (``os.replace``), so a kill at any
moment leaves the previous or the new checkpoint, both usable. Used by
:func:`rnnkit.training.pretrain` and :func:`rnnkit.training.tbptt.train_tbptt`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

__all__ = ["STATE_FILE", "extra_state", "load_state", "numpy_value", "restore", "save", "sync"]

#: the file that names the complete checkpoint (written last)
STATE_FILE = "state.json"


def numpy_value(v: Any) -> np.ndarray:
    value = v.value if isinstance(v, keras.Variable) else v
    if hasattr(value, "read_value"):  # TensorFlow (distributed) variables
        value = value.read_value()
    return np.array(keras.ops.convert_to_numpy(value))


def sync(model: keras.Model) -> None:
    # JAX's fit keeps the state outside the variables between steps.
    if hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def extra_state(model: keras.Model, with_metrics: bool) -> list:
    """Variables outside weights and optimizer: random-generator states (dropout), then
    the metric accumulators."""
    weights = {id(v) for v in model.weights}
    rng = [v for v in model.variables if id(v) not in weights]
    return rng + (list(model.metrics_variables) if with_metrics else [])


def save(
    model: keras.Model,
    directory: Path,
    epoch: int,
    step: int,
    history: list,
    extra: dict,
    with_metrics: bool,
) -> None:
    """Writes a checkpoint of the compiled ``model`` into ``directory``: the folder
    ``ckpt-<global step>/`` complete first, then ``state.json`` (``epoch``, ``step``,
    ``history``, the folder's name, and the caller's ``extra`` keys), then the older
    folders are removed. ``with_metrics`` also saves the metric accumulators (a
    checkpoint within an epoch)."""
    sync(model)
    global_step = int(numpy_value(model.optimizer.iterations))
    folder = directory / f"ckpt-{global_step:09d}"
    tmp = directory / f"tmp-{global_step:09d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_weights(tmp / "model.weights.h5")
    arrays = {f"v{i}": numpy_value(v) for i, v in enumerate(model.optimizer.variables)}
    np.savez(tmp / "optimizer.npz", **arrays)
    states = {f"v{i}": numpy_value(v) for i, v in enumerate(extra_state(model, with_metrics))}
    np.savez(tmp / "state.npz", **states)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    state = {
        "epoch": epoch,
        "step": step,
        "global_step": global_step,
        "folder": folder.name,
        "history": history,
        "metrics_saved": with_metrics,
        **extra,
    }
    with open(directory / (STATE_FILE + ".tmp"), "w") as f:
        json.dump(state, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(directory / (STATE_FILE + ".tmp"), directory / STATE_FILE)
    for old in directory.glob("ckpt-*"):
        if old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)


def load_state(checkpoint_dir: str | os.PathLike) -> dict | None:
    """The checkpoint state of ``checkpoint_dir`` (None when there is none).

    Args:
        checkpoint_dir: a folder written by :func:`save` (:func:`rnnkit.training.pretrain`,
            :func:`rnnkit.training.tbptt.train_tbptt`).

    Returns:
        The parsed ``state.json`` (epoch, step, global_step, history, and what the caller
        added: data identity, settings, ...).

    Example:

    >>> load_state("no/such/folder") is None
    True
    """
    path = Path(checkpoint_dir) / STATE_FILE
    if not path.exists():
        return None
    with open(path) as f:
        return json.load(f)


def _load_npz(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return [data[f"v{i}"] for i in range(len(data.files))]


def _assign_all(variables: list, values: list, what: str, folder: Path) -> None:
    if len(values) != len(variables):
        raise ValueError(
            f"The checkpoint in {folder} holds {len(values)} {what} variables, the model has "
            f"{len(variables)}: it was written for another model or optimizer."
        )
    for var, value in zip(variables, values):
        var.assign(value)


def restore(model: keras.Model, directory: Path, state: dict) -> Callable[[], None] | None:
    """Restores weights, optimizer and random states; returns the function that restores
    the epoch's metric accumulators (to call once fit has reset them), if saved."""
    folder = directory / state["folder"]
    model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / "model.weights.h5")
    _assign_all(model.optimizer.variables, _load_npz(folder / "optimizer.npz"), "optimizer", folder)
    values = _load_npz(folder / "state.npz") if (folder / "state.npz").exists() else []
    rng = extra_state(model, with_metrics=False)
    if values:
        _assign_all(rng, values[: len(rng)], "random-generator", folder)
    metric_values = values[len(rng) :]
    if not state.get("metrics_saved") or not metric_values or state["step"] == 0:
        return None

    def restore_metrics() -> None:
        _assign_all(list(model.metrics_variables), metric_values, "metric", folder)

    return restore_metrics
