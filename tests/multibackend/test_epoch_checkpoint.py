"""rnnkit.training.checkpoint's EpochCheckpoint and resume, on every backend: a ``fit``
stopped after an epoch and resumed in a fresh model ends with the weights and optimizer
state of the uninterrupted run, and a checkpoint of other settings is refused by name."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from rnnkit.training.checkpoint import STATE_FILE, EpochCheckpoint, resume

RNG = np.random.default_rng(3)
X = RNG.normal(size=(64, 6)).astype("float32")
Y = RNG.integers(0, 3, size=64)
SETTINGS = {"learning_rate": 0.01, "epochs": 3, "shape": (6, 8, 3)}


def make_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


class StopAfterFirstEpoch(keras.callbacks.Callback):
    """Stands for a kill after the first epoch's checkpoint was written."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def fit(model: keras.Model, callbacks: list, initial_epoch: int = 0) -> None:
    model.fit(
        X,
        Y,
        epochs=3,
        batch_size=16,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
        initial_epoch=initial_epoch,
    )


def test_a_stopped_fit_resumes_to_the_uninterrupted_weights(tmp_path):
    folder = tmp_path / "ckpt"
    full = make_model(1)
    fit(full, [])

    stopped = make_model(1)
    with pytest.raises(KeyboardInterrupt):
        fit(stopped, [EpochCheckpoint(folder, SETTINGS), StopAfterFirstEpoch()])
    assert json.loads((folder / STATE_FILE).read_text())["epoch"] == 1

    resumed = make_model(2)  # other initial weights: the checkpoint must replace them
    assert resume(resumed, tmp_path / "none", SETTINGS, "test run") == []
    history = resume(resumed, folder, SETTINGS, "test run")
    assert [row["epoch"] for row in history] == [1]
    assert {"loss", "seconds"} <= set(history[0])
    callback = EpochCheckpoint(folder, SETTINGS, history)
    fit(resumed, [callback], initial_epoch=len(history))

    assert [row["epoch"] for row in callback.history] == [1, 2, 3]
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 12
    for got, want in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    saved = json.loads((folder / STATE_FILE).read_text())
    assert saved["epoch"] == 3 and len(saved["history"]) == 3


def test_a_checkpoint_of_other_settings_or_none_at_all_is_refused(tmp_path):
    folder = tmp_path / "ckpt"
    model = make_model(1)
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[EpochCheckpoint(folder, SETTINGS)])
    other = dict(SETTINGS, learning_rate=0.02, epochs=5)
    with pytest.raises(
        ValueError,
        match=r"other settings \(epochs: checkpoint 3, now 5; "
        r"learning_rate: checkpoint 0\.01, now 0\.02\)",
    ):
        resume(make_model(1), folder, other, "test run")
    (folder / STATE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"state\.json is not a test run checkpoint"):
        resume(make_model(1), folder, SETTINGS, "test run")
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="Build the model before resuming"):
        resume(unbuilt, folder, SETTINGS, "test run")


def test_the_state_of_other_callbacks_is_kept_with_each_epoch(tmp_path):
    """``extra``: what it returns after an epoch (a JSON dict and arrays) is saved with
    that epoch's checkpoint, apart from the optimizer's own arrays."""
    from rnnkit.training.checkpoint import load_arrays, load_state

    folder = tmp_path / "ckpt"
    epochs_seen = []

    class Counter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs_seen.append(epoch)

    def extra():
        n = len(epochs_seen)
        return {"seen": n}, {"best_0": np.full((2, 3), float(n)), "best_1": np.arange(n)}

    fit(make_model(1), [Counter(), EpochCheckpoint(folder, SETTINGS, extra=extra)])
    assert load_state(folder)["extra"] == {"seen": 3}
    arrays = load_arrays(folder)
    assert sorted(arrays) == ["best_0", "best_1"]
    np.testing.assert_array_equal(arrays["best_0"], np.full((2, 3), 3.0))
    np.testing.assert_array_equal(arrays["best_1"], np.arange(3))
    assert load_arrays(tmp_path / "none") == {}
