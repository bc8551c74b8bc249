"""Pretraining: exact resume after an interruption, and data-parallel training on 2 CPU devices."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from rnnkit.models.deepmoji import deepmoji
from rnnkit.training.pretrain import load_state, pretrain


def build():
    return deepmoji(30, 5, 8, embedding_dim=6, lstm_units=4, gate="sigmoid")


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, size=n)
    x = np.zeros((n, 8), "int32")
    for i, k in enumerate(lengths):
        x[i, :k] = rng.integers(1, 30, size=k)
    y = (x[:, 0] % 5).astype("int64")
    return x, y


class Crash(keras.callbacks.Callback):
    def __init__(self, after):
        super().__init__()
        self.after, self.seen = after, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.after:
            raise KeyboardInterrupt("simulated kill")


def run(directory, callbacks=(), epochs=2):
    keras.utils.set_random_seed(0)
    return pretrain(
        build,
        data(),
        data(16, 1),
        checkpoint_dir=directory,
        epochs=epochs,
        batch_size=8,
        checkpoint_every=3,
        seed=7,
        callbacks=callbacks,
        verbose=0,
        compile_kwargs={"run_eagerly": True},  # tiny model: no graph tracing per run
    )


def test_resume_after_interruption_loses_no_progress(tmp_path):
    reference = run(tmp_path / "ref")
    # 8 batches per epoch; killed at batch 7 of epoch 2 (global batch 15), last checkpoint
    # after batch 6 of epoch 2.
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", callbacks=[Crash(15)])
    state = load_state(tmp_path / "cut")
    assert (state["epoch"], state["step"], state["global_step"]) == (1, 6, 14)
    resumed = run(tmp_path / "cut")
    assert resumed.resumed_from["step"] == 6
    for a, b in zip(reference.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(resumed.model.optimizer.iterations) == 16
    for a, b in zip(reference.model.optimizer.variables, resumed.model.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    assert len(resumed.history) == 2
    assert {"loss", "top1", "top5", "val_loss", "val_top1", "val_top5"} <= set(resumed.history[-1])
    assert resumed.history[0] == reference.history[0]
    # a finished run resumes to nothing more
    again = run(tmp_path / "cut")
    assert int(again.model.optimizer.iterations) == 16


def test_bad_input(tmp_path):
    x, y = data()
    with pytest.raises(ValueError, match=r"labels must be class ids in \[0, 5\)"):
        pretrain(build, (x, y + 3), checkpoint_dir=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="labels must be integer class ids"):
        pretrain(build, (x, y.astype(float)), checkpoint_dir=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="needs `build_model` to be a function"):
        pretrain(build(), (x, y), checkpoint_dir=tmp_path, distribute=True, verbose=0)
    run(tmp_path / "a", epochs=1)
    with pytest.raises(ValueError, match="was written with seed=7, this run has seed=8"):
        pretrain(build, data(), checkpoint_dir=tmp_path / "a", batch_size=8, seed=8, verbose=0)


SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    {setup}
    import keras
    sys.path.insert(0, {tests!r})
    from test_pretrain import build, data
    from rnnkit.training.pretrain import pretrain

    out = {{}}
    for distribute in (False, True):
        keras.utils.set_random_seed(0)
        r = pretrain(build, data(), checkpoint_dir={tmp!r} + f"/{{distribute}}", epochs=1,
                     batch_size=8, checkpoint_every=0, distribute=distribute, verbose=0)
        out[str(distribute)] = [np.asarray(w).tolist() for w in r.model.get_weights()]
    out["devices"] = {devices}
    print("RESULT" + json.dumps(out))
    """
)

SETUPS = {
    "jax": (
        "import os; os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'",
        "len(keras.distribution.list_devices())",
    ),
    "tensorflow": (
        "import tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(\n"
        "    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)",
        "len(tf.config.list_logical_devices('CPU'))",
    ),
}


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_data_parallel_on_two_cpu_devices_matches_one_device(tmp_path, backend):
    setup, devices = SETUPS[backend]
    script = SCRIPT.format(
        setup=setup, tests=os.path.dirname(__file__), tmp=str(tmp_path), devices=devices
    )
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    out = json.loads(line[0][len("RESULT") :])
    assert out["devices"] == 2
    for a, b in zip(out["False"], out["True"]):
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-4, atol=1e-5)
