"""Pretraining from a prepared corpus: the stream it trains on, exact resume after SIGKILL,
and resuming against other data."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnkit.models.deepmoji import corpus_dataset, deepmoji, prepare_corpus
from rnnkit.training.pretrain import load_state, pretrain

TESTS = os.path.dirname(os.path.abspath(__file__))
MAXLEN = 8


def make_corpus(
    directory,
    n=64,
    seed=0,
    validation_fraction=0.0,
    shard_size=16,
    maxlen=MAXLEN,
    words=20,
    labels=("a", "b", "c"),
):
    """A small corpus of ``n`` distinct texts with 3 labels (``shard_size`` examples a shard)."""
    rng = np.random.default_rng(seed)
    vocab = [f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(words)]
    inputs = os.path.join(directory, "raw.jsonl")
    os.makedirs(directory, exist_ok=True)
    with open(inputs, "w") as f:
        for i in range(n):
            text = " ".join(rng.choice(vocab, rng.integers(2, 7))) + f" tag{i}"
            f.write(json.dumps({"text": text, "label": labels[i % len(labels)]}) + "\n")
    return prepare_corpus(
        inputs,
        os.path.join(directory, "corpus"),
        label_field="label",
        workers=1,
        shard_size=shard_size,
        validation_fraction=validation_fraction,
        maxlen=maxlen,
        min_count=1,
        seed=seed,
        verbose=0,
    )


def build_for(info, dropout=0.0):
    return lambda: deepmoji(
        info.vocabulary_size,
        len(info.labels),
        info.maxlen,
        embedding_dim=6,
        lstm_units=4,
        gate="sigmoid",
        embed_dropout=dropout,
        final_dropout=dropout,
    )


def rows(ids, labels):
    """Examples as hashable tuples (ids..., label)."""
    return [tuple(int(v) for v in r) + (int(c),) for r, c in zip(np.asarray(ids), labels)]


def test_trains_on_the_corpus_stream_of_each_epoch(tmp_path):
    """The corpus path trains on exactly corpus_dataset's batches of (seed, epoch): the
    reference is Keras's fit on those batches, in order, from the same initial weights."""
    info = make_corpus(tmp_path, validation_fraction=0.2)
    assert info.splits["validation"] > 0
    result = pretrain(
        build_for(info),
        info.directory,
        checkpoint_dir=tmp_path / "ckpt",
        epochs=2,
        batch_size=8,
        seed=3,
        shuffle_buffer=16,
        checkpoint_every=0,
        global_clipnorm=None,
        verbose=0,
    )
    keras.utils.set_random_seed(3)  # pretrain seeds the initial weights with its seed
    reference = build_for(info)()
    reference.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    for epoch in range(2):
        batches = list(corpus_dataset(info, batch_size=8, seed=3, epoch=epoch, shuffle_buffer=16))
        x = np.concatenate([b[0] for b in batches])
        y = np.concatenate([b[1] for b in batches])
        reference.fit(x, y, batch_size=8, shuffle=False, epochs=1, verbose=0)
    assert result.steps_per_epoch == [-(-info.splits["train"] // 8)] * 2
    for a, b in zip(reference.get_weights(), result.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert {"loss", "top1", "top5", "val_loss", "val_top1", "val_top5"} <= set(result.history[1])
    # the validation metrics are the corpus's validation split
    val = corpus_dataset(info, "validation", batch_size=8, shuffle=False)
    steps = -(-info.splits["validation"] // 8)
    metrics = result.model.evaluate(val, steps=steps, verbose=0, return_dict=True)
    assert metrics["loss"] == pytest.approx(result.history[1]["val_loss"], rel=1e-5)


SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np
    import keras, tensorflow as tf
    sys.path.insert(0, {tests!r})
    from test_pretrain_corpus import build_for
    from rnnkit.models.deepmoji.corpus import load_corpus
    from rnnkit.training.pretrain import pretrain

    log = open({log!r}, "a")
    log.write(json.dumps(["start"]) + "\\n")
    log.flush()

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

    class Slow(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep({sleep})

    info = load_corpus({corpus!r})
    keras.utils.set_random_seed(0)
    r = pretrain(build_for(info, dropout=0.3), info, checkpoint_dir={ckpt!r}, epochs=2,
                 batch_size=4, seed=5, shuffle_buffer=8, checkpoint_every=2,
                 transform_dataset=record, callbacks=[Slow()], verbose=0)
    np.savez({out!r}, *[np.asarray(w) for w in r.model.get_weights()])
    with open({out!r} + ".json", "w") as f:
        json.dump(r.history, f)
    """
)


def _script(tmp_path, name, corpus, sleep):
    return SCRIPT.format(
        tests=TESTS,
        log=str(tmp_path / f"{name}.log"),
        corpus=str(corpus),
        ckpt=str(tmp_path / f"{name}-ckpt"),
        out=str(tmp_path / f"{name}.npz"),
        sleep=sleep,
    )


def _run(script, kill_when=None, timeout=240):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    killed = None
    while proc.poll() is None and time.monotonic() < deadline:
        if kill_when is not None:
            state = kill_when()
            if state is not None:
                os.kill(proc.pid, signal.SIGKILL)
                killed = state
                break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=60)
    if killed is None:
        assert proc.returncode == 0, err[-3000:]
    else:
        assert proc.returncode == -signal.SIGKILL
    return killed


def _segments(path):
    """The batches each epoch's dataset yielded, as lists of example rows."""
    by_epoch = {}
    with open(path) as f:
        for line in f:
            item = json.loads(line)
            if item == ["start"]:
                continue
            epoch, x, y = item
            by_epoch.setdefault(epoch, []).append(rows(x, y))
    return by_epoch


def test_sigkill_at_any_checkpoint_then_rerun_matches_an_uninterrupted_run(tmp_path):
    """Killed with SIGKILL twice (in the first and in the second epoch), the same command run
    again ends with the uninterrupted run's weights, and every epoch trains on the same
    batches: none seen twice, none skipped. The model has dropout (its random-generator
    states are part of the checkpoint)."""
    info = make_corpus(tmp_path, n=64)  # 4 shards, 16 batches of 4 per epoch
    _run(_script(tmp_path, "ref", info.directory, 0.0))
    ckpt = tmp_path / "cut-ckpt"
    script = _script(tmp_path, "cut", info.directory, 0.15)
    kills = []
    for epoch, step in ((0, 6), (1, 4)):

        def reached(epoch=epoch, step=step):
            state = load_state(ckpt) if (ckpt / "state.json").exists() else None
            if state and (state["epoch"], state["step"]) >= (epoch, step):
                return state
            return None

        kills.append(_run(script, kill_when=reached))
    _run(script)
    assert [(k["epoch"], k["step"]) for k in kills][0][0] == 0
    assert kills[1]["epoch"] == 1 and 0 < kills[1]["step"] < 16
    reference = np.load(tmp_path / "ref.npz")
    resumed = np.load(tmp_path / "cut.npz")
    for key in reference.files:
        np.testing.assert_allclose(resumed[key], reference[key], rtol=0, atol=1e-6)
    with open(tmp_path / "ref.npz.json") as f, open(tmp_path / "cut.npz.json") as g:
        ref_history, cut_history = json.load(f), json.load(g)
    for a, b in zip(ref_history, cut_history):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5)
    # the batches: each run trained on its epochs' streams from where the previous run's
    # checkpoint stopped up to where its own last checkpoint stopped
    ref = _segments(tmp_path / "ref.log")
    runs = []
    with open(tmp_path / "cut.log") as f:
        for line in f:
            item = json.loads(line)
            if item == ["start"]:
                runs.append({})
            else:
                runs[-1].setdefault(item[0], []).append(rows(item[1], item[2]))
    assert len(runs) == 3
    positions = [
        (0, 0),
        (kills[0]["epoch"], kills[0]["step"]),
        (kills[1]["epoch"], kills[1]["step"]),
        (2, 0),
    ]
    stitched = {}
    for r, streams in enumerate(runs):
        (e0, s0), (e1, s1) = positions[r], positions[r + 1]
        for e in range(e0, e1 + (1 if s1 else 0)):
            first = s0 if e == e0 else 0
            last = s1 if e == e1 else 16
            stitched.setdefault(e, []).extend(streams[e][: last - first])
    assert stitched == ref
    everything = sorted(
        r for b in corpus_dataset(info, batch_size=64, shuffle=False) for r in rows(*b)
    )
    for epoch in (0, 1):
        seen = sorted(r for batch in ref[epoch] for r in batch)
        assert seen == everything  # each example once per epoch
    assert ref[0] != ref[1]  # another order each epoch


def test_resume_against_another_corpus_vocabulary_or_maxlen_is_an_error(tmp_path):
    info = make_corpus(tmp_path / "a", n=32)
    keras.utils.set_random_seed(0)
    common = dict(checkpoint_dir=tmp_path / "ckpt", batch_size=8, checkpoint_every=0, verbose=0)
    pretrain(build_for(info), info, epochs=1, **common)
    other_texts = make_corpus(tmp_path / "b", n=32, seed=1, words=20)
    other_vocab = make_corpus(tmp_path / "c", n=32, words=24)
    other_maxlen = make_corpus(tmp_path / "d", n=32, maxlen=MAXLEN + 2)
    assert other_vocab.manifest["vocabulary_sha256"] != info.manifest["vocabulary_sha256"]
    with pytest.raises(ValueError, match="corpus content hash"):
        pretrain(build_for(other_texts), other_texts, epochs=2, **common)
    with pytest.raises(ValueError, match="vocabulary|content hash"):
        pretrain(build_for(other_vocab), other_vocab, epochs=2, **common)
    with pytest.raises(ValueError, match="maxlen|content hash"):
        pretrain(build_for(other_maxlen), other_maxlen, epochs=2, **common)
    x = np.ones((32, MAXLEN), "int32")
    with pytest.raises(ValueError, match="written for corpus, this run trains on arrays"):
        pretrain(build_for(info), (x, np.zeros(32, "int64")), epochs=2, **common)
    with pytest.raises(
        ValueError, match="written with shuffle_buffer=10000, this run has shuffle_buffer=5"
    ):
        pretrain(build_for(info), info, epochs=2, shuffle_buffer=5, **common)
    # the same corpus resumes
    done = pretrain(build_for(info), info, epochs=2, **common)
    assert len(done.history) == 2


def test_bad_input(tmp_path):
    info = make_corpus(tmp_path, n=32)
    wrong = lambda: deepmoji(info.vocabulary_size, 5, MAXLEN, embedding_dim=6, lstm_units=4)
    with pytest.raises(ValueError, match="The corpus has 3 labels, the model 5 outputs"):
        pretrain(wrong, info, checkpoint_dir=tmp_path / "x", verbose=0)
    x, y = np.ones((32, MAXLEN), "int32"), np.zeros(32, "int64")
    with pytest.raises(ValueError, match="balanced=True applies to a prepared corpus"):
        pretrain(build_for(info), (x, y), checkpoint_dir=tmp_path / "y", balanced=True, verbose=0)
    with pytest.raises(ValueError, match="`shuffle_buffer` must be an integer >= 1"):
        pretrain(build_for(info), info, checkpoint_dir=tmp_path / "z", shuffle_buffer=0, verbose=0)
    with pytest.raises(FileNotFoundError, match="holds no corpus"):
        pretrain(
            build_for(info), str(tmp_path / "missing"), checkpoint_dir=tmp_path / "w", verbose=0
        )


def test_balanced_sampling_trains_on_the_balanced_stream(tmp_path):
    info = make_corpus(tmp_path, n=64, labels=("a", "a", "a", "b", "c"))
    seen = []

    def record(ds, epoch):
        def write(y):
            seen.append(np.asarray(y).tolist())
            return np.int64(0)

        def hook(x, y):
            done = tf.numpy_function(write, [y], tf.int64)
            with tf.control_dependencies([done]):
                return tf.identity(x), tf.identity(y)

        return ds.map(hook)

    result = pretrain(
        build_for(info),
        info,
        checkpoint_dir=tmp_path / "ckpt",
        batch_size=8,
        balanced=True,
        transform_dataset=record,
        verbose=0,
    )
    labels = [c for batch in seen for c in batch]
    expected = [
        int(c) for _, y in corpus_dataset(info, batch_size=8, balanced=True) for c in np.asarray(y)
    ]
    assert labels == expected
    counts = info.split_label_counts("train")
    rare, common = int(np.argmin(counts)), int(np.argmax(counts))
    assert labels.count(rare) == counts[rare]  # the rarest class is kept whole
    assert labels.count(common) < counts[common]
    assert result.steps_per_epoch == [None]


def test_two_runs_of_the_same_command_give_the_same_model(tmp_path):
    """The initial weights come from ``seed`` (set before build_model is called)."""
    info = make_corpus(tmp_path / "data")
    weights = []
    for run in ("a", "b"):
        result = pretrain(
            build_for(info, dropout=0.2),
            info.directory,
            checkpoint_dir=tmp_path / run,
            epochs=1,
            batch_size=8,
            seed=3,
            verbose=0,
        )
        weights.append(result.model.get_weights())
    for w1, w2 in zip(*weights):
        np.testing.assert_array_equal(w1, w2)
