"""Truncated backpropagation through time for stateful language models.

One epoch is one ``model.fit`` pass over the windows of
:func:`rnnkit.data.ptb.tbptt_arrays` in order (``shuffle=False``), after the
model's states are reset, so each of the ``batch_size`` streams is read from start
to end with the state carried between windows. The loss is Zaremba et al.'s: the
cross-entropy summed over the ``unroll`` steps and averaged over the batch, with
plain SGD (or Adam, ``optimizer="adam"``), gradient global-norm clipping and the
learning rate multiplied by ``decay`` after every epoch past ``decay_after``.

With a ``checkpoint_dir``, every finished epoch is saved there (weights, optimizer
variables, history) and a later call with the same folder and settings goes on from the
last finished epoch, so a kill loses at most the epoch in progress.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from rnnkit.data.ptb import num_windows, tbptt_arrays
from rnnkit.models.language_model import LanguageModel, perplexity
from rnnkit.training import checkpoint


@keras.saving.register_keras_serializable(package="rnnkit")
class SequenceCrossentropy(keras.losses.Loss):
    """Sparse cross-entropy from logits, summed over time and averaged over the batch.

    With ``unroll`` steps this is ``unroll`` times the mean per-token NLL, the
    scaling the learning rate 1 of Zaremba et al. (2014) assumes.

    Args:
        name: Loss name.

    Call arguments:
        y_true: int ``(batch, timesteps)`` targets.
        y_pred: ``(batch, timesteps, vocab)`` logits.

    Returns:
        The scalar loss.
    """

    def __init__(self, name: str = "sequence_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        losses = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        return ops.sum(losses, axis=-1)


def learning_rate_at(
    epoch: int, learning_rate: float = 1.0, decay: float = 0.5, decay_after: int = 4
) -> float:
    """Learning rate of 1-based ``epoch``: ``lr * decay ** max(epoch - decay_after, 0)``."""
    return learning_rate * decay ** max(epoch - decay_after, 0)


#: the optimizers of :func:`train_tbptt`, by name
OPTIMIZERS = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}


@dataclass
class EpochRecord:
    """One row of the training history."""

    epoch: int
    learning_rate: float
    train_perplexity: float
    valid_perplexity: float | None
    seconds: float


def train_tbptt(
    model: LanguageModel,
    train_ids: np.ndarray,
    valid_ids: np.ndarray | None = None,
    epochs: int = 13,
    unroll: int = 20,
    learning_rate: float = 1.0,
    decay: float = 0.5,
    decay_after: int = 4,
    clip_norm: float | None = 5.0,
    max_windows: int | None = None,
    verbose: int = 1,
    jit_compile: bool | str = "auto",
    optimizer: str = "sgd",
    checkpoint_dir: str | os.PathLike | None = None,
    run_settings: dict | None = None,
) -> list[EpochRecord]:
    """Trains a stateful :class:`LanguageModel` with truncated BPTT (SGD or Adam).

    Args:
        model: The model; its ``batch_size`` sets the number of parallel streams.
        train_ids: 1-D training token stream.
        valid_ids: Optional validation stream; its perplexity is reported per epoch.
        epochs: Number of epochs.
        unroll: BPTT window length.
        learning_rate, decay, decay_after: The schedule of :func:`learning_rate_at`.
        clip_norm: Gradient global-norm clipping (None: no clipping).
        max_windows: Use only the first ``max_windows`` windows of each epoch (for
            short runs).
        verbose: 0 silent, 1 a Keras progress bar per epoch and a summary line, 2
            one line per epoch (for logs).
        jit_compile: Passed to ``model.compile``.
        optimizer: ``"sgd"`` (Zaremba et al.'s, default) or ``"adam"`` (Keras's
            defaults besides ``learning_rate``, which it needs far smaller, e.g.
            ``2e-3``). Either with ``clip_norm`` and the schedule above. What each gave
            which cell on PTB is in ``recipes/results/ptb_lm.md``.
        checkpoint_dir: Optional folder. After every epoch it holds a checkpoint of
            :mod:`rnnkit.training.checkpoint` (weights, optimizer variables, random
            states, the history so far; a kill at any moment leaves the previous
            complete epoch's or the new one). A call with a folder that holds a
            checkpoint loads it and trains the epochs after it (none when it already
            holds ``epochs`` of them); the settings that shape the run (schedule,
            optimizer, clipping, window, batch, data length, model config) must match
            the checkpoint's, else a ValueError names the ones that differ. ``epochs``
            may be larger than the checkpoint's, to train on.
        run_settings: Optional JSON dict of what else shapes the run, stored with the
            checkpoint and compared like the settings above (e.g. ``{"seed": 1234}``:
            the seed of the initial weights, which a checkpoint of another seed must not
            continue). Its keys must not be the settings above.

    Returns:
        A list of :class:`EpochRecord`, one per epoch.
    """
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"`epochs` must be a positive integer, got {epochs!r}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}.")
    batch = model.batch_size
    if not model.stateful:
        raise ValueError("train_tbptt needs a stateful LanguageModel (stateful=True).")
    x, y = tbptt_arrays(train_ids, batch, unroll)
    windows = num_windows(len(train_ids), batch, unroll)
    if max_windows is not None:
        windows = min(windows, int(max_windows))
        x, y = x[: windows * batch], y[: windows * batch]
    optimizer = OPTIMIZERS[optimizer](learning_rate=learning_rate, global_clipnorm=clip_norm)
    model.compile(optimizer=optimizer, loss=SequenceCrossentropy(), jit_compile=jit_compile)
    history: list[EpochRecord] = []
    settings = checkpoint.plain(
        {
            "learning_rate": float(learning_rate),
            "decay": float(decay),
            "decay_after": int(decay_after),
            "clip_norm": None if clip_norm is None else float(clip_norm),
            "unroll": int(unroll),
            "batch_size": int(batch),
            "windows": int(windows),
            "train_tokens": len(train_ids),
            "optimizer": type(optimizer).__name__,
            "model": {k: v for k, v in model.get_config().items() if k != "name"},
        }
    )
    taken = sorted(set(run_settings or {}) & set(settings))
    if taken:
        raise ValueError(
            f"`run_settings` may not name the settings train_tbptt records itself: got "
            f"{', '.join(taken)}. Pass them as train_tbptt's own arguments."
        )
    settings.update(checkpoint.plain(run_settings or {}))
    folder = None if checkpoint_dir is None else Path(checkpoint_dir)
    if folder is not None:
        history = _resume(folder, settings, model)
        if verbose and history:
            print(f"Resuming from {folder}: {len(history)} epoch(s) done")
    for epoch in range(len(history) + 1, epochs + 1):
        lr = learning_rate_at(epoch, learning_rate, decay, decay_after)
        optimizer.learning_rate.assign(lr)
        model.reset_states()
        start = time.perf_counter()
        if verbose:
            print(f"Epoch {epoch}/{epochs}  learning rate {lr:.4g}")
        fit = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=verbose)
        train_ppl = math.exp(fit.history["loss"][-1] / unroll)
        valid_ppl = None
        if valid_ids is not None:
            valid_ppl = perplexity(model, valid_ids, unroll=unroll)
        seconds = time.perf_counter() - start
        record = EpochRecord(epoch, lr, train_ppl, valid_ppl, seconds)
        history.append(record)
        if verbose:
            valid_text = "" if valid_ppl is None else f"  valid perplexity {valid_ppl:.2f}"
            print(f"  train perplexity {train_ppl:.2f}{valid_text}  ({seconds:.1f} s)")
        if folder is not None:
            checkpoint.save(
                model,
                folder,
                epoch,
                0,
                [asdict(r) for r in history],
                {"settings": settings},
                with_metrics=False,
            )
    model.reset_states()
    return history


def _resume(folder: Path, settings: dict, model: Any) -> list[EpochRecord]:
    """Loads the checkpoint in ``folder`` into ``model`` and its optimizer; its history."""
    if not model.built:
        model.build((model.batch_size, None))
    return [EpochRecord(**row) for row in checkpoint.resume(model, folder, settings, "train_tbptt")]


def history_table(history: list[EpochRecord]) -> str:
    """The history as a Markdown table."""
    lines = [
        "| epoch | learning rate | train perplexity | valid perplexity | seconds |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in history:
        valid = "" if r.valid_perplexity is None else f"{r.valid_perplexity:.2f}"
        lines.append(
            f"| {r.epoch} | {r.learning_rate:.4g} | {r.train_perplexity:.2f} | {valid} "
            f"| {r.seconds:.1f} |"
        )
    return "\n".join(lines)


def history_rows(history: list[EpochRecord]) -> list[dict]:
    """The history as a list of dicts (for CSV)."""
    return [asdict(r) for r in history]
