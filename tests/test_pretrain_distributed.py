"""Multi-worker pretraining with 2 worker processes on 127.0.0.1 (CPU): TensorFlow's
MultiWorkerMirroredStrategy and multi-process JAX, against a 1-worker run on the same
global batches; every example of the corpus seen once; a crash and a resume."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rnnkit.models.deepmoji.corpus import corpus_dataset
from rnnkit.training import distributed

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TESTS)
from test_pretrain_corpus import make_corpus, rows  # noqa: E402

WORKER = textwrap.dedent(
    """
    import json, os, signal, sys
    import numpy as np
    from rnnkit.training import distributed
    cluster = distributed.init_from_env()
    import keras, tensorflow as tf
    sys.path.insert(0, {tests!r})
    from test_pretrain_corpus import build_for
    from rnnkit.models.deepmoji.corpus import load_corpus
    from rnnkit.training.pretrain import pretrain

    index = cluster.worker_index
    log = open({out!r} + f"/batches-{{index}}.jsonl", "a")

    def record(ds, epoch):
        def write(x, y):
            log.write(json.dumps([epoch, np.asarray(x).tolist(), np.asarray(y).tolist()]) + "\\n")
            log.flush()
            return np.int64(0)

        def hook(x, y):
            done = tf.numpy_function(write, [x, y], tf.int64)
            with tf.control_dependencies([done]):
                return tf.identity(x), tf.identity(y)

        return ds.map(hook)

    losses = []
    loss_log = open({out!r} + f"/losses-{{index}}.jsonl", "a")

    class Steps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(float(logs["loss"]))
            loss_log.write(json.dumps(losses[-1]) + "\\n")
            loss_log.flush()
            if {crash_after} and index == 0 and len(losses) == {crash_after}:
                os.kill(os.getpid(), signal.SIGKILL)

    info = load_corpus({corpus!r})
    r = pretrain(build_for(info), info, checkpoint_dir={out!r} + "/ckpt", epochs=1,
                 batch_size=8, seed=2, shuffle_buffer=8, checkpoint_every=2,
                 global_clipnorm=None, distribute=True, transform_dataset=record,
                 callbacks=[Steps()], verbose=0)
    result = dict(losses=losses, steps=r.steps_per_epoch, left_out=r.examples_left_out,
                  weights=[np.asarray(w).tolist() for w in r.model.get_weights()],
                  resumed=None if r.resumed_from is None else r.resumed_from["step"],
                  workers=cluster.num_workers)
    with open({out!r} + f"/result-{{index}}.json", "w") as f:
        json.dump(result, f)
    """
)

REFERENCE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    sys.path.insert(0, {tests!r})
    from test_pretrain_corpus import build_for
    from rnnkit.models.deepmoji.corpus import load_corpus

    with open({out!r} + "/global.json") as f:
        x, y = json.load(f)
    info = load_corpus({corpus!r})
    keras.utils.set_random_seed(2)  # pretrain(seed=2) seeds the initial weights so
    model = build_for(info)()
    model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=None),
                  loss="sparse_categorical_crossentropy")
    losses = []

    class Steps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(float(logs["loss"]))

    model.fit(np.array(x, "int32"), np.array(y, "int32"), batch_size=8, shuffle=False,
              callbacks=[Steps()], verbose=0)
    with open({out!r} + "/reference.json", "w") as f:
        json.dump(dict(losses=losses, weights=[w.tolist() for w in model.get_weights()]), f)
    """
)


def _launch(script, backend, log_dir):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    return distributed.launch_local(
        2, [sys.executable, "-c", script], env=env, timeout=240, log_dir=log_dir
    )


def _logs(log_dir):
    text = ""
    for name in sorted(os.listdir(log_dir)):
        with open(os.path.join(log_dir, name), errors="replace") as f:
            text += f"--- {name}\n" + f.read()[-3000:]
    return text


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_workers_match_one_worker_and_resume(tmp_path, backend):
    # 64 training examples in 4 shards of 16: each worker reads 2 shards, 8 steps of a
    # global batch 8 (4 per worker), nothing left out.
    info = make_corpus(tmp_path / "data", n=64, shard_size=16)
    out = tmp_path / "run"
    out.mkdir()
    fill = dict(tests=TESTS, out=str(out), corpus=str(info.directory))
    # a first launch: worker 0 is killed after step 5 (the last checkpoint is after step 4),
    # so the launcher ends worker 1
    codes = _launch(WORKER.format(crash_after=5, **fill), backend, out / "logs-1")
    assert codes[0] == -9, _logs(out / "logs-1")
    assert len((out / "losses-0.jsonl").read_text().split()) == 5, _logs(out / "logs-1")
    state = json.loads((out / "ckpt" / "state.json").read_text())
    assert (state["epoch"], state["step"], state["num_workers"]) == (0, 4, 2)
    first = [[json.loads(line) for line in open(out / f"batches-{i}.jsonl")] for i in (0, 1)]
    # the same command again resumes on both workers and finishes the epoch
    codes = _launch(WORKER.format(crash_after=0, **fill), backend, out / "logs-2")
    assert codes == [0, 0], _logs(out / "logs-2")
    results = [json.loads((out / f"result-{i}.json").read_text()) for i in (0, 1)]
    assert [r["resumed"] for r in results] == [4, 4]
    assert [r["steps"] for r in results] == [[8], [8]]
    assert [r["left_out"] for r in results] == [[0], [0]]
    np.testing.assert_allclose(results[0]["weights"][0], results[1]["weights"][0])
    # each worker's batches: the first 4 of the first launch, then the resumed launch's 4
    lines = [[json.loads(line) for line in open(out / f"batches-{i}.jsonl")] for i in (0, 1)]
    batches = [first[i][:4] + lines[i][len(first[i]) :] for i in (0, 1)]
    assert [len(b) for b in batches] == [8, 8]
    # the union of the examples seen is the corpus, each example once
    seen = sorted(r for b in batches for _, x, y in b for r in rows(x, y))
    everything = sorted(
        r for b in corpus_dataset(info, batch_size=64, shuffle=False) for r in rows(*b)
    )
    assert seen == everything
    # the reference: one process, Keras's fit on the same global batches (worker 0's 4
    # examples, then worker 1's, at every step)
    x = [row for s in range(8) for i in (0, 1) for row in batches[i][s][1]]
    y = [c for s in range(8) for i in (0, 1) for c in batches[i][s][2]]
    (out / "global.json").write_text(json.dumps([x, y]))
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", REFERENCE.format(**fill)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reference = json.loads((out / "reference.json").read_text())
    # the first steps' losses (running means over the epoch, as Keras logs them) of the
    # first launch on both workers, and the final weights after the resume
    for i in (0, 1):
        losses = [json.loads(line) for line in open(out / f"losses-{i}.jsonl")][:5]
        np.testing.assert_allclose(losses, reference["losses"][:5], rtol=1e-4, atol=1e-6)
    for a, b in zip(reference["weights"], results[0]["weights"]):
        np.testing.assert_allclose(np.array(b), np.array(a), rtol=1e-4, atol=1e-5)


def test_cluster_from_env():
    envs = distributed.worker_envs(2)
    assert [distributed.cluster_from_env(e) for e in envs] == [
        (2, i, envs[0]["RNNKIT_COORDINATOR"]) for i in (0, 1)
    ]
    tf_only = {"TF_CONFIG": envs[1]["TF_CONFIG"]}
    workers = json.loads(envs[1]["TF_CONFIG"])["cluster"]["worker"]
    assert all(w.startswith("127.0.0.1:") for w in workers)
    assert distributed.cluster_from_env(tf_only) == (2, 1, workers[0])
    assert distributed.cluster_from_env({}) == (1, 0, None)
    with pytest.raises(ValueError, match="RNNKIT_NUM_PROCESSES, RNNKIT_PROCESS_ID not set"):
        distributed.cluster_from_env({"RNNKIT_COORDINATOR": "127.0.0.1:1"})
    bad_index = {"RNNKIT_COORDINATOR": "h:1", "RNNKIT_NUM_PROCESSES": "2", "RNNKIT_PROCESS_ID": "2"}
    with pytest.raises(ValueError, match=r"RNNKIT_PROCESS_ID=2 must be in \[0, 2\)"):
        distributed.cluster_from_env(bad_index)
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON like"):
        distributed.cluster_from_env({"TF_CONFIG": "{not json"})
    with pytest.raises(ValueError, match="remove the 'chief'/'ps' entries"):
        distributed.cluster_from_env(
            {
                "TF_CONFIG": json.dumps(
                    {
                        "cluster": {"worker": ["a:1"], "ps": ["b:2"]},
                        "task": {"type": "worker", "index": 0},
                    }
                )
            }
        )


def test_torch_multi_worker_is_an_error():
    env = dict(os.environ, KERAS_BACKEND="torch", **distributed.worker_envs(2)[0])
    code = "from rnnkit.training import distributed; distributed.init_from_env()"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    assert "Multi-worker training supports the tensorflow and jax backends, got 'torch'" in (
        proc.stderr
    )
