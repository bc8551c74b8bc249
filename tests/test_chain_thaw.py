"""Chain-thaw and the new / last / full baselines on a tiny model."""

import keras
import numpy as np
import pytest

from rnnkit.training.chain_thaw import chain_thaw, finetune

EAGER = {"run_eagerly": True}  # tiny models: skip graph compilation in every step


def make_model():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, activation="tanh", name="a")(inputs)
    x = keras.layers.Dropout(0.0, name="drop")(x)
    x = keras.layers.Dense(8, activation="tanh", name="b")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def make_data(seed=0, n=96, noisy=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = np.argmax(x[:, :3], axis=1)
    if noisy:
        y = rng.integers(0, 3, size=n)
    return x, y


class Probe(keras.callbacks.Callback):
    """Records, per step, the optimizer, its learning rate, and which layers changed."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def snapshot(self):
        return {
            layer.name: [np.array(w) for w in layer.get_weights()]
            for layer in self.model.layers
            if layer.weights
        }

    def on_train_begin(self, logs=None):
        self.start = self.snapshot()
        self.epoch_weights = []
        self.steps.append(
            {
                "optimizer": self.model.optimizer,
                "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                "trainable": [ly.name for ly in self.model.layers if ly.weights and ly.trainable],
            }
        )

    def on_epoch_end(self, epoch, logs=None):
        now = self.snapshot()
        changed = [
            name
            for name, ws in now.items()
            if any(not np.array_equal(a, b) for a, b in zip(ws, self.start[name]))
        ]
        self.steps[-1].setdefault("changed", set()).update(changed)
        self.epoch_weights.append(self.model.get_weights())


def test_chain_thaw_steps_trainable_layers_and_fresh_optimizers():
    keras.utils.set_random_seed(0)
    model = make_model()
    probe = Probe()
    result = chain_thaw(
        model,
        make_data(0),
        make_data(1),
        new_layers=["head"],
        epochs=2,
        patience=2,
        callbacks=[probe],
        compile_kwargs=EAGER,
    )
    assert [s.name for s in result.steps] == ["new_layers", "a", "b", "all"]
    assert [s.trainable for s in result.steps] == [["head"], ["a"], ["b"], ["a", "b", "head"]]
    assert [p["trainable"] for p in probe.steps] == [["head"], ["a"], ["b"], ["a", "b", "head"]]
    # only the trained layers' weights move
    assert [p["changed"] for p in probe.steps] == [{"head"}, {"a"}, {"b"}, {"a", "b", "head"}]
    np.testing.assert_allclose([p["lr"] for p in probe.steps], [1e-3, 1e-4, 1e-4, 1e-4])
    assert len({id(p["optimizer"]) for p in probe.steps}) == 4
    for step in result.steps:
        assert set(step.history) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
        assert step.best_val_loss == pytest.approx(min(step.history["val_loss"]))
    # trainable flags are restored
    assert all(layer.trainable for layer in model.layers)


def test_best_weights_are_restored():
    keras.utils.set_random_seed(1)
    model = make_model()
    probe = Probe()
    # a large learning rate on noisy validation labels: val loss rises after a while
    result = finetune(
        model,
        make_data(0),
        make_data(2, noisy=True),
        method="full",
        next_lr=0.05,
        epochs=12,
        patience=3,
        callbacks=[probe],
        compile_kwargs=EAGER,
    )
    step = result.steps[0]
    best = int(np.argmin(step.history["val_loss"]))
    assert step.best_epoch == best
    assert best < len(step.history["val_loss"]) - 1  # it did stop after a worse epoch
    for a, b in zip(model.get_weights(), probe.epoch_weights[best]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_weights(), probe.epoch_weights[-1]):
        if not np.array_equal(a, b):
            break
    else:
        pytest.fail("the final weights were not replaced by the best epoch's")


def test_last_full_new_methods():
    keras.utils.set_random_seed(2)
    model = make_model()
    before = model.get_weights()
    probe = Probe()
    last = finetune(
        model,
        make_data(0),
        make_data(1),
        method="last",
        epochs=1,
        callbacks=[probe],
        compile_kwargs=EAGER,
    )
    assert [s.trainable for s in last.steps] == [["head"]]
    assert probe.steps[-1]["changed"] == {"head"}
    full = finetune(
        model,
        make_data(0),
        make_data(1),
        method="full",
        epochs=1,
        callbacks=[probe],
        compile_kwargs=EAGER,
    )
    assert full.steps[0].trainable == ["a", "b", "head"] and full.steps[0].learning_rate == 1e-4
    # "new" starts from freshly initialised weights: the first layer is re-drawn
    model.get_layer("a").set_weights([np.full((6, 8), 3.0), np.zeros(8)])
    new = finetune(
        model,
        make_data(0),
        make_data(1),
        method="new",
        epochs=1,
        callbacks=[probe],
        compile_kwargs=EAGER,
    )
    assert probe.steps[-1]["lr"] == pytest.approx(1e-3)
    assert new.steps[0].trainable == ["a", "b", "head"]
    assert np.abs(model.get_layer("a").get_weights()[0]).max() < 2.0
    assert not np.array_equal(before[0], model.get_weights()[0])


def test_binary_default_loss_and_dataset_input():
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    inputs = keras.Input((6,))
    model = keras.Model(
        inputs,
        keras.layers.Dense(1, activation="sigmoid", name="out")(
            keras.layers.Dense(4, name="hidden")(inputs)
        ),
    )
    x, y = make_data(0)
    yb = (y == 0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, yb)).batch(16)
    result = chain_thaw(model, ds, (x, yb), epochs=1, compile_kwargs=EAGER)
    assert [s.name for s in result.steps] == ["new_layers", "hidden", "all"]
    assert result.steps[0].trainable == ["out"]


def test_bad_arguments():
    model = make_model()
    with pytest.raises(ValueError, match="Unknown method 'thaw'"):
        finetune(model, make_data(), make_data(), method="thaw")
    with pytest.raises(ValueError, match="`new_layers` must name layers with weights"):
        chain_thaw(model, make_data(), make_data(), new_layers=["softmax"])
    with pytest.raises(ValueError, match="needs validation_data"):
        chain_thaw(model, make_data(), None)
    with pytest.raises(ValueError, match=r"must be \(x, y\)"):
        chain_thaw(model, (1, 2, 3), make_data())
    x, y = make_data()
    with pytest.raises(ValueError, match=r"expected integer class ids in \[0, 3\) for the 3-way"):
        chain_thaw(model, (x, y + 1), make_data())
