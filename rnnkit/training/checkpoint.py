"""Checkpoints of a compiled Keras model in training: weights, optimizer variables and
the model's other variables (random-generator states, optionally metric accumulators),
with a ``state.json`` that names the complete checkpoint folder and holds the caller's
position and history.

Layout of a checkpoint directory: ``state.json`` and ``ckpt-<global step>/`` with
``model.weights.h5``, ``optimizer.npz`` and ``state.npz`` (NumPy archives, no pickle). The
folder is complete before ``state.json`` is replaced (``os.replace``), so a kill at any
moment leaves the previous or the new checkpoint, both usable. Used by
:func:`rnnkit.training.pretrain` and :func:`rnnkit.training.tbptt.train_tbptt`, and through
:class:`EpochCheckpoint` and :func:`resume` by any ``fit`` (the translation recipe).
:class:`RunRecord` keeps the finished runs of a job of many runs (the benchmarks, the NER
recipe) in the same ``state.json`` form.

A checkpoint of :func:`resume` carries the caller's ``settings`` (a JSON dict: schedule,
data identity, the model's config): resuming with other settings is a ValueError that
names the ones that differ, never a silent mix of two runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rnnkit.atomic import atomic_path

__all__ = [
    "STATE_FILE",
    "EpochCheckpoint",
    "RunRecord",
    "check_settings",
    "checked_state",
    "extra_state",
    "fingerprint",
    "keras_history",
    "load_arrays",
    "load_state",
    "numpy_value",
    "plain",
    "restore",
    "resume",
    "save",
    "sync",
    "write_json",
]

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
    arrays: dict[str, np.ndarray] | None = None,
) -> None:
    """Writes a checkpoint of the compiled ``model`` into ``directory``: the folder
    ``ckpt-<global step>/`` complete first, then ``state.json`` (``epoch``, ``step``,
    ``history``, the folder's name, and the caller's ``extra`` keys), then the older
    folders are removed. ``with_metrics`` also saves the metric accumulators (a
    checkpoint within an epoch); ``arrays``, the caller's own arrays, go into the same
    folder (``arrays.npz``, read back by :func:`load_arrays`)."""
    sync(model)
    global_step = int(numpy_value(model.optimizer.iterations))
    folder = directory / f"ckpt-{global_step:09d}"
    tmp = directory / f"tmp-{global_step:09d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_weights(tmp / "model.weights.h5")
    optimizer = {f"v{i}": numpy_value(v) for i, v in enumerate(model.optimizer.variables)}
    np.savez(tmp / "optimizer.npz", **optimizer)
    states = {f"v{i}": numpy_value(v) for i, v in enumerate(extra_state(model, with_metrics))}
    np.savez(tmp / "state.npz", **states)
    if arrays:
        np.savez(tmp / "arrays.npz", **arrays)
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
    write_json(directory / STATE_FILE, state)
    for old in directory.glob("ckpt-*"):
        if old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Writes ``value`` as JSON to ``path`` whole or not at all (:func:`rnnkit.atomic.atomic_path`:
    a temporary sibling, flushed to disk, then renamed; a kill leaves the old file or the
    new one)."""
    with atomic_path(path, replace=True) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


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


def load_arrays(checkpoint_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The caller's arrays saved with the checkpoint of ``checkpoint_dir`` (:func:`save`'s
    ``arrays``; empty when none were saved)."""
    directory = Path(checkpoint_dir)
    state = load_state(directory)
    path = directory / state["folder"] / "arrays.npz" if state else None
    if path is None or not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


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


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples as lists, other objects as text): the form
    settings are stored and compared in."""
    return json.loads(json.dumps(value, default=str))


def check_settings(directory: Path, state: Any, settings: dict, what: str) -> dict:
    """``state`` (of ``directory``'s ``state.json``) when it is a checkpoint of ``what``
    made with ``settings``; else a ValueError: not such a checkpoint, or the settings that
    differ, by name (a ``"model"`` setting, a model's config, is named as a whole).

    Args:
        directory: the checkpoint folder (for the messages).
        state: its parsed ``state.json``, None when unreadable.
        settings: this run's settings (compared after a JSON round trip).
        what: the writer's name, e.g. ``"train_tbptt"``.

    Returns:
        ``state``.

    Example:

    >>> check_settings(Path("c"), {"settings": {"lr": 1}, "history": []}, {"lr": 1}, "x")
    {'settings': {'lr': 1}, 'history': []}
    """
    if not isinstance(state, dict) or "settings" not in state or "history" not in state:
        raise ValueError(
            f"{directory / STATE_FILE} is not a {what} checkpoint; remove the folder or pass "
            "another checkpoint."
        )
    saved, now = state["settings"], plain(settings)
    differ = sorted(k for k in now.keys() | saved.keys() if now.get(k) != saved.get(k))
    if differ:
        detail = [
            f"{k}: checkpoint {saved.get(k)!r}, now {now.get(k)!r}" for k in differ if k != "model"
        ]
        if "model" in differ:
            detail.append("the model's config")
        raise ValueError(
            f"The checkpoint in {directory} was made with other settings ({'; '.join(detail)}). "
            "Resume with the same settings, or remove that folder (or choose another) to "
            "start afresh."
        )
    return state


def checked_state(checkpoint_dir: str | os.PathLike, settings: dict, what: str) -> dict | None:
    """The ``state.json`` of ``checkpoint_dir`` once :func:`check_settings` accepts it for
    ``settings``; None when the folder holds none (a fresh start).

    Raises:
        ValueError: the file is unreadable or not a checkpoint of ``what``, or it was made
            with other settings (named).
    """
    folder = Path(checkpoint_dir)
    if not (folder / STATE_FILE).exists():
        return None
    try:
        state = load_state(folder)
    except (OSError, ValueError):  # unreadable, or not JSON
        state = None
    return check_settings(folder, state, settings, what)


def resume(
    model: keras.Model, checkpoint_dir: str | os.PathLike, settings: dict, what: str
) -> list[dict]:
    """Loads the checkpoint in ``checkpoint_dir``, if there is one, into ``model``.

    Args:
        model: the compiled and built model (the same architecture as the checkpoint's).
        checkpoint_dir: a folder written by :func:`save` with ``{"settings": ...}`` (by
            :class:`EpochCheckpoint`, or :func:`rnnkit.training.tbptt.train_tbptt`); a
            missing folder or one without ``state.json`` is a fresh start.
        settings: this run's settings; they must equal the checkpoint's
            (:func:`check_settings`).
        what: the writer's name, for the messages.

    Returns:
        The checkpoint's history, one dict per finished epoch (``[]`` for a fresh start):
        ``fit(..., initial_epoch=len(history))`` goes on after them.

    Raises:
        ValueError: the folder holds something else, or a checkpoint of other settings.

    Example:

    >>> history = resume(model, "runs/x", settings, "my recipe")  # doctest: +SKIP
    >>> model.fit(x, y, epochs=10, initial_epoch=len(history),
    ...           callbacks=[EpochCheckpoint("runs/x", settings, history)])  # doctest: +SKIP
    """
    folder = Path(checkpoint_dir)
    if not (folder / STATE_FILE).exists():
        return []
    if not model.built:
        raise ValueError(f"Build the model before resuming it from {folder}.")
    state = checked_state(folder, settings, what)
    restore(model, folder, state)
    return list(state["history"])


class EpochCheckpoint(keras.callbacks.Callback):
    """Checkpoints the model after every epoch of ``fit`` (:func:`save`, with ``settings``
    and one history row per epoch: the epoch's logs and its seconds), so that
    :func:`resume` and ``fit(initial_epoch=len(history))`` go on after a kill from the
    last finished epoch.

    Unlike ``keras.callbacks.BackupAndRestore`` it stores the settings (a checkpoint of
    other settings is refused by name) and the per-epoch history of the earlier processes.
    The order of a shuffled ``fit``'s later epochs is drawn anew in the resumed process
    (unless the caller replays its data's shuffles, as the sequence tagger does).

    Args:
        checkpoint_dir: the folder (created).
        settings: what shapes the run, JSON-serializable (schedule, data identity, the
            model's config).
        history: the rows :func:`resume` returned (the new epochs are appended).
        extra: optional; called after every epoch (after the callbacks before this one),
            it returns the state of other callbacks as ``(JSON dict, {name: array})``,
            saved with the checkpoint (``state.json``'s ``"extra"`` and
            :func:`load_arrays`).

    Example:

    >>> callback = EpochCheckpoint("runs/x", {"learning_rate": 1e-3})  # doctest: +SKIP
    """

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike,
        settings: dict,
        history: list | None = None,
        extra: Callable[[], tuple[dict, dict[str, np.ndarray]]] | None = None,
    ) -> None:
        super().__init__()
        self.checkpoint_dir = Path(checkpoint_dir)
        self.settings = plain(settings)
        self.history = list(history or [])
        self.extra = extra
        self._start = time.perf_counter()

    def keras_history(self) -> dict[str, list[float]]:
        """The rows of every epoch, earlier processes' included, in the form of
        ``fit(...).history`` (:func:`keras_history`)."""
        return keras_history(self.history)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["seconds"] = time.perf_counter() - self._start
        self.history.append(row)
        state, arrays = self.extra() if self.extra is not None else ({}, {})
        save(
            self.model,
            self.checkpoint_dir,
            epoch + 1,
            0,
            self.history,
            {"settings": self.settings, "extra": plain(state)},
            with_metrics=False,
            arrays=arrays,
        )


def keras_history(rows: list[dict]) -> dict[str, list[float]]:
    """Checkpoint history rows (``{"epoch", "seconds", metric: value}`` per epoch) in the
    form of ``fit(...).history``: ``{metric: [one value per epoch]}``."""
    keys = [k for k in rows[0] if k not in ("epoch", "seconds")] if rows else []
    return {k: [float(row[k]) for row in rows] for k in keys}


def fingerprint(value: Any) -> str | None:
    """The identity of a run's data for its settings: a SHA-256 of nested lists, tuples
    and mappings of strings, numbers and arrays (training sentences, pretrained vectors);
    a path as its text; None stays None.

    Example:

    >>> fingerprint([["a", "b"], ("c",)]) == fingerprint([["a", "b"], ["c"]])
    True
    """
    if value is None or isinstance(value, (str, os.PathLike)):
        return None if value is None else os.fspath(value)
    digest = hashlib.sha256()

    def feed(item: Any) -> None:
        if isinstance(item, Mapping):
            for key in sorted(item, key=str):
                digest.update(str(key).encode("utf-8", "surrogatepass") + b"\x1d")
                feed(item[key])
        elif isinstance(item, np.ndarray) and item.dtype != object:
            digest.update(f"{item.shape}{item.dtype.str}".encode())
            digest.update(np.ascontiguousarray(item).tobytes())
        elif isinstance(item, (list, tuple, np.ndarray)):
            digest.update(b"[")
            for x in item:
                feed(x)
            digest.update(b"]")
        else:
            digest.update(str(item).encode("utf-8", "surrogatepass") + b"\x1f")

    feed(value)
    return digest.hexdigest()


class RunRecord:
    """The finished runs of a job made of independent runs (a benchmark's grid of data
    sets, methods and seeds), kept in ``folder/state.json`` with the job's settings and
    written whole, atomically, after every run: a kill loses only the run in progress,
    and the job started again does only the runs still to do (more seeds or methods add
    runs to the record).

    Args:
        folder: the record's folder (created at the first :meth:`add`).
        settings: what every run of the job shares (JSON-serializable: the data's
            :func:`fingerprint`, the estimator's parameters); a record of other settings
            is a ValueError naming them (:func:`check_settings`).
        key: the fields of a row that name its run, e.g. ``("dataset", "seed", "cell")``
            (strings or numbers).
        what: the job's name, for the messages.

    Raises:
        ValueError: the folder holds a record of other settings (named), or a file that
            is not such a record.

    Example:

    >>> record = RunRecord("runs/job", {"data": "..."}, ("seed",), "job")  # doctest: +SKIP
    >>> if record.get({"seed": 0}) is None:  # doctest: +SKIP
    ...     record.add({"seed": 0, "score": 0.9})
    """

    def __init__(
        self, folder: str | os.PathLike, settings: dict, key: tuple[str, ...], what: str
    ) -> None:
        self.folder = Path(folder)
        self.settings = plain(settings)
        self.key = tuple(key)
        state = checked_state(self.folder, settings, what)
        self.runs = {self._key(r): r for r in ([] if state is None else state["history"])}

    def _key(self, row: Mapping) -> tuple:
        return tuple(plain(row[k]) for k in self.key)

    def __len__(self) -> int:
        return len(self.runs)

    def get(self, run: Mapping) -> dict | None:
        """The recorded row of the run that ``run``'s key fields name; None when it is
        still to do."""
        found = self.runs.get(self._key(run))
        return None if found is None else dict(found)

    def add(self, row: Mapping) -> None:
        """Records a finished run's row (JSON-serializable; NumPy scalars are stored as
        Python numbers) and writes the record."""
        row = plain({k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()})
        self.runs[self._key(row)] = row
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(
            self.folder / STATE_FILE,
            {"settings": self.settings, "history": list(self.runs.values())},
        )
