"""Classification pretraining (DeepMoji's emoji distant supervision) with exact resume.

:func:`pretrain` trains a classifier with Adam and global-norm gradient clipping
(DeepMoji's Keras 2 ``clipnorm=1``), reports top-1 and top-5 accuracy, writes a checkpoint
every ``checkpoint_every`` batches and at the end of every epoch, and resumes from the last
checkpoint after an interruption (a SIGKILL included) without losing or repeating work.

Training data is either in-memory ``(x, y)`` arrays or a corpus prepared on disk by
:func:`rnnkit.models.deepmoji.prepare_corpus` (streamed from its TFRecord shards through
:func:`rnnkit.models.deepmoji.corpus_dataset`, so memory does not grow with the corpus). Both become
the same thing: a function ``(epoch, skip_batches) -> tf.data.Dataset`` whose order is a
function of ``seed`` and the epoch alone, and a number of batches per epoch. Resuming
rebuilds the epoch's dataset and skips the batches already trained on, so every example
of an epoch is seen exactly once.

A checkpoint holds everything the rest of the run depends on: the weights, the optimizer
state (moments and iteration count), the dropout random-generator states (Keras keeps them
in variables outside ``model.weights``), the epoch's running metrics, the position
(epoch, batches done), and the identity of the data (a corpus's content hash, vocabulary
hash and maxlen, or a hash of the arrays) with the settings that decide the order (seed,
batch size, shuffle buffer, balanced sampling, number of workers). Resuming with other data
or settings is a ValueError, never silent mixing.

Data parallelism (``distribute=True``):

- one process: all local devices (``keras.distribution.DataParallel`` on JAX,
  ``tf.distribute.MirroredStrategy`` on TensorFlow);
- several processes (after :func:`rnnkit.training.distributed.init_from_env`): every
  worker's devices, ``MultiWorkerMirroredStrategy`` on TensorFlow, multi-process
  ``DataParallel`` on JAX. Each worker reads its own shards (a corpus; arrays are cut
  batch by batch), with ``batch_size / num_workers`` examples per step; all workers run the
  same number of steps per epoch (the smallest worker's, whole batches only: the examples
  beyond it are left out of that epoch and reported). Worker 0 alone writes checkpoints;
  every worker resumes from them, so ``checkpoint_dir`` must be storage they all read.

PyTorch trains in one process on one device (``distribute=True`` is a ValueError).

Checkpoint layout (``checkpoint_dir``): ``state.json`` (position, history, data identity,
settings, the checkpoint folder in use) and ``ckpt-<step>/`` with ``model.weights.h5``,
``optimizer.npz`` and ``state.npz`` (random-generator and metric states). The folder is
complete before ``state.json`` is replaced (``os.replace``), so a kill at any moment leaves
the previous or the new checkpoint, both usable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rnnkit.training import distributed
from rnnkit.training.checkpoint import load_state
from rnnkit.training.checkpoint import restore as _restore
from rnnkit.training.checkpoint import save as _save


@dataclass
class PretrainResult:
    """The trained model, one dict of metrics per completed epoch, the checkpoint state
    the run resumed from (None for a fresh run), the batches per epoch of each epoch this
    run trained, and the training examples per epoch left out to give every worker the
    same number of whole batches (0 with one worker)."""

    model: keras.Model
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: dict | None = None
    steps_per_epoch: list[int | None] = field(default_factory=list)
    examples_left_out: list[int] = field(default_factory=list)


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
    """The ``tf.data`` pipeline of one epoch of in-memory arrays: shuffled by
    ``(seed, epoch)``, batched, with the first ``skip_batches`` batches left out, prefetched.

    Args:
        x: inputs (first axis: examples).
        y: targets.
        batch_size: examples per batch.
        shuffle: shuffle (the order is a function of ``seed`` and ``epoch``).
        seed: shuffle seed.
        epoch: the epoch (another order each epoch).
        skip_batches: batches left out at the start (resuming).
        drop_remainder: drop the last partial batch.

    Returns:
        A ``tf.data.Dataset`` of ``(x, y)`` batches.

    Example:

    >>> ds = make_dataset(np.zeros((10, 3)), np.zeros(10), 4, skip_batches=1)
    >>> [int(b[0].shape[0]) for b in ds]
    [4, 2]
    """
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
        raise ValueError(
            f"`{name}` must be a tuple (x, y) of arrays or a prepared corpus directory, "
            f"got {type(data).__name__}."
        )
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


# --------------------------------------------------------------------------- data sources


@dataclass
class _Source:
    """One epoch's batches for this worker, whatever the data is.

    ``dataset(epoch, skip)`` yields this worker's batches of ``epoch`` from batch ``skip``
    on; ``steps(epoch)`` is the number of batches of the epoch (the same on every worker;
    None when only reading can tell: class-balanced sampling in one process) and
    ``left_out(epoch)`` the examples of the epoch no worker trains on.
    """

    identity: dict
    nb_classes: int | None
    dataset: Callable[[int, int], Any]
    steps: Callable[[int], int | None]
    left_out: Callable[[int], int]
    validation: Callable[[], Any] | None
    validation_steps: int | None


def _is_corpus(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike)) or type(data).__name__ == "CorpusInfo"


def _array_hash(x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def _take(ds: Any, n: int | None) -> Any:
    return ds if n is None else ds.take(n)


def _array_source(
    data: Any, validation_data: Any, batch_size: int, seed: int, workers: int, index: int
) -> _Source:
    x, y = _check_xy("train_data", data)
    wb = batch_size // workers
    # One worker keeps the last partial batch; several keep whole global batches only.
    steps = -(-len(x) // batch_size) if workers == 1 else len(x) // batch_size
    if steps == 0:
        raise ValueError(
            f"`train_data` has {len(x)} examples, fewer than one global batch of {batch_size} "
            f"for {workers} workers."
        )

    def dataset(epoch: int, skip: int) -> Any:
        ds = make_dataset(
            x,
            y,
            batch_size,
            seed=seed,
            epoch=epoch,
            skip_batches=skip,
            drop_remainder=workers > 1,
        )
        if workers > 1:  # worker i takes rows [i*wb, (i+1)*wb) of every global batch
            lo, hi = index * wb, (index + 1) * wb
            ds = ds.map(lambda a, b: (a[lo:hi], b[lo:hi]))
        return _take(ds, steps - skip)

    val, val_steps = None, None
    if validation_data is not None:
        xv, yv = _check_xy("validation_data", validation_data)
        val_steps = -(-len(xv) // wb)

        def val() -> Any:
            return make_dataset(xv, yv, wb, shuffle=False)

    identity = {"kind": "arrays", "n_train": int(len(x)), "sha256": _array_hash(x, y)}
    source = _Source(
        identity=identity,
        nb_classes=None,
        dataset=dataset,
        steps=lambda epoch: steps,
        left_out=lambda epoch: len(x) - steps * batch_size if workers > 1 else 0,
        validation=val,
        validation_steps=val_steps,
    )
    source.arrays = (y, validation_data)  # label ranges are checked once the model is built
    return source


def _corpus_source(
    data: Any,
    validation_data: Any,
    batch_size: int,
    seed: int,
    workers: int,
    index: int,
    shuffle_buffer: int,
    balanced: bool,
    skip_bad_records: bool,
) -> _Source:
    from rnnkit.models.deepmoji.corpus import corpus_dataset, corpus_steps, load_corpus

    info = data if type(data).__name__ == "CorpusInfo" else load_corpus(data)
    manifest = info.manifest
    if not manifest.get("complete", False):
        raise ValueError(
            f"The corpus in {info.directory} is not complete (its preparation was interrupted): "
            "run prepare_corpus again to finish it."
        )
    wb = batch_size // workers
    drop = workers > 1
    if balanced and workers > 1:
        raise ValueError(
            "balanced=True keeps a random subset of each epoch whose size per worker is known "
            "only after reading it, and multi-worker training needs the same number of steps "
            "on every worker: use balanced=False with several workers, or one worker."
        )
    if info.splits.get("train", 0) == 0:
        raise ValueError(f"The corpus in {info.directory} has no training examples.")
    cache: dict[int, list[int]] = {}

    def per_worker(epoch: int) -> list[int]:
        if epoch not in cache:
            cache[epoch] = [
                corpus_steps(
                    info,
                    "train",
                    wb,
                    num_workers=workers,
                    worker_index=w,
                    drop_remainder=drop,
                    seed=seed,
                    epoch=epoch,
                )
                for w in range(workers)
            ]
        return cache[epoch]

    def steps(epoch: int) -> int | None:
        if balanced:
            return None
        n = min(per_worker(epoch))
        if n == 0:
            raise ValueError(
                f"A worker of {workers} gets no whole batch of {wb} from the corpus "
                f"{info.directory} in epoch {epoch + 1}: use fewer workers, a smaller batch or "
                "a corpus with more shards."
            )
        return n

    def left_out(epoch: int) -> int:
        if balanced:
            return 0
        return int(info.splits["train"]) - steps(epoch) * batch_size

    def dataset(epoch: int, skip: int) -> Any:
        return corpus_dataset(
            info,
            "train",
            batch_size=wb,
            seed=seed,
            epoch=epoch,
            shuffle=True,
            shuffle_buffer=shuffle_buffer,
            balanced=balanced,
            num_workers=workers,
            worker_index=index,
            skip_batches=skip,
            skip_bad_records=skip_bad_records,
            drop_remainder=drop,
            steps=steps(epoch),
        )

    val, val_steps = None, None
    if validation_data is None and info.splits.get("validation", 0) > 0:
        val_steps = corpus_steps(info, "validation", wb)

        def val() -> Any:
            return corpus_dataset(
                info,
                "validation",
                batch_size=wb,
                shuffle=False,
                skip_bad_records=skip_bad_records,
            )

    elif validation_data is not None:
        xv, yv = _check_xy("validation_data", validation_data, len(info.labels))
        val_steps = -(-len(xv) // wb)

        def val() -> Any:
            return make_dataset(xv, yv, wb, shuffle=False)

    identity = {
        "kind": "corpus",
        "directory": str(info.directory),
        "content_hash": manifest.get("content_hash"),
        "vocabulary_sha256": manifest.get("vocabulary_sha256"),
        "maxlen": int(info.maxlen),
        "labels": len(info.labels),
    }
    return _Source(
        identity=identity,
        nb_classes=len(info.labels),
        dataset=dataset,
        steps=steps,
        left_out=left_out,
        validation=val,
        validation_steps=val_steps,
    )


def _check_identity(directory: Path, state: dict, identity: dict, settings: dict) -> None:
    old = state.get("data")
    if old is None or old.get("kind") != identity["kind"]:
        raise ValueError(
            f"The checkpoint in {directory} was written for "
            f"{'unknown data' if old is None else old.get('kind')}, this run trains on "
            f"{identity['kind']}: resume with the same data or use another checkpoint_dir."
        )
    names = {
        "content_hash": "corpus content hash",
        "vocabulary_sha256": "vocabulary (sha256)",
        "maxlen": "maxlen",
        "labels": "number of labels",
        "n_train": "number of training examples",
        "sha256": "training arrays (sha256)",
    }
    for key, what in names.items():
        if key in identity and old.get(key) != identity[key]:
            where = f" (corpus {identity['directory']})" if "directory" in identity else ""
            raise ValueError(
                f"The checkpoint in {directory} was written for other training data: its "
                f"{what} is {old.get(key)!r}, this run's{where} is {identity[key]!r}. Resume "
                "with the same corpus, vocabulary and maxlen, or use another checkpoint_dir."
            )
    for key, value in settings.items():
        if state.get(key) != value:
            raise ValueError(
                f"The checkpoint in {directory} was written with {key}={state.get(key)}, "
                f"this run has {key}={value}: resume with the same data and settings "
                "or use another checkpoint_dir."
            )


# ------------------------------------------------------------------------- distribution


def _distribution_scope(
    distribute: bool, batch_size: int, cluster: distributed.Cluster | None
) -> tuple[Any, int]:
    """A context for building/compiling/fitting and the total number of devices."""
    if not distribute:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = jax.devices() if cluster is not None else keras.distribution.list_devices()
        n = len(devices)
        scope = keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=cluster is None
        ).scope()
    elif backend == "tensorflow":
        import tensorflow as tf

        if cluster is not None:
            strategy = cluster.strategy
        else:
            names = [d.name for d in tf.config.list_logical_devices("GPU")]
            names = names or [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices=names)
        n = strategy.num_replicas_in_sync
        scope = strategy.scope()
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
        steps_per_epoch: int | None,
        restore_metrics: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.save, self.every, self.epoch, self.start = save, every, epoch, start
        self.steps_per_epoch = steps_per_epoch
        self.restore_metrics = restore_metrics

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # called after fit has reset the metrics: a resumed epoch continues its averages
        if self.restore_metrics is not None:
            self.restore_metrics()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        done = self.start + batch + 1
        last = self.steps_per_epoch is not None and done >= self.steps_per_epoch
        if self.every and done % self.every == 0 and not last:
            self.save(self.epoch, done)


# ------------------------------------------------------------------------------ training


def _compile(
    model: keras.Model, learning_rate: float, global_clipnorm: float | None, extra: dict
) -> int:
    nb_classes = int(model.outputs[0].shape[-1])
    if nb_classes < 2:
        raise ValueError(
            f"pretrain expects a softmax classifier with >= 2 outputs, got {nb_classes}."
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=global_clipnorm),
        loss="sparse_categorical_crossentropy",
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, nb_classes), name="top5"),
        ],
        **extra,
    )
    return nb_classes


def _build_compiled(model: keras.Model, nb_classes: int) -> None:
    """Creates the compiled loss's and metrics' variables with one update on a dummy batch
    (``fit`` resets them before the epoch begins).

    Built before ``fit``, Keras does not pull a first batch to build them: with
    ``steps_per_epoch`` given, the iterator it pulled that batch from is the one the epoch
    then trains on, so the epoch would start at its second batch.
    """
    spec = model.inputs[0]
    x0 = np.zeros((2, *spec.shape[1:]), dtype=spec.dtype)
    y0 = np.zeros(2, "int32")
    p0 = np.full((2, nb_classes), 1.0 / nb_classes, "float32")
    model.compute_loss(x0, y0, p0)
    model.compute_metrics(x0, y0, p0)
    model.reset_metrics()


class _TFMultiWorkerLoop:
    """The training loop of TensorFlow multi-worker runs.

    Keras's ``fit`` under ``MultiWorkerMirroredStrategy`` reduces the first batch and the
    scalar logs with ``strategy.reduce`` in forms that strategy rejects when it spans more
    than one worker, so these runs step ``model.train_step`` through ``strategy.run``
    themselves; each worker feeds its own batches (``distribute_datasets_from_function``).
    """

    def __init__(self, model: keras.Model, strategy: Any) -> None:
        import tensorflow as tf

        self.model, self.strategy = model, strategy
        self.local_replicas = max(1, len(strategy.extended.worker_devices))

        def reduce(out: dict) -> dict:
            return {k: strategy.reduce("MEAN", v, axis=None) for k, v in out.items()}

        @tf.function
        def train(iterator: Any) -> dict:
            return reduce(strategy.run(model.train_step, args=(next(iterator),)))

        @tf.function
        def test(iterator: Any) -> dict:
            return reduce(strategy.run(model.test_step, args=(next(iterator),)))

        self.train, self.test = train, test

    def _distribute(self, make: Callable[[], Any]) -> Any:
        local = self.local_replicas

        def fn(ctx: Any) -> Any:
            ds = make()
            if local > 1:  # the worker's batch split between its replicas, in order
                ds = ds.rebatch(ds.element_spec[0].shape[0] // local, drop_remainder=False)
            return ds

        return iter(self.strategy.distribute_datasets_from_function(fn))

    def epoch(
        self,
        make: Callable[[], Any],
        steps: int,
        epoch: int,
        cbs: Any,
        val: Callable[[], Any] | None,
        val_steps: int | None,
    ) -> dict:
        model = self.model
        model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        iterator = self._distribute(make)
        logs: dict = {}
        with self.strategy.scope():
            for step in range(steps):
                cbs.on_train_batch_begin(step)
                logs = {k: float(v) for k, v in self.train(iterator).items()}
                cbs.on_train_batch_end(step, logs)
            if val is not None:
                model.reset_metrics()
                iterator = self._distribute(val)
                val_logs: dict = {}
                for _ in range(val_steps or 0):
                    val_logs = {k: float(v) for k, v in self.test(iterator).items()}
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, logs)
        return logs


def pretrain(
    build_model: Callable[[], keras.Model] | keras.Model,
    train_data: tuple[np.ndarray, np.ndarray] | str | os.PathLike | Any,
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
    shuffle_buffer: int = 10_000,
    balanced: bool = False,
    skip_bad_records: bool = False,
    transform_dataset: Callable[[Any, int], Any] | None = None,
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
        train_data: ``(x, y)`` (token ids and integer class ids), or a corpus prepared by
            :func:`rnnkit.models.deepmoji.prepare_corpus` (its directory or its ``CorpusInfo``).
        validation_data: optional ``(x, y)`` evaluated at the end of every epoch; with a
            corpus, its validation split when not given.
        checkpoint_dir: where checkpoints are written and resumed from.
        epochs: total number of epochs (a resumed run continues up to it).
        batch_size: global batch size (divisible by the number of workers and devices).
        learning_rate: Adam's learning rate.
        global_clipnorm: global-norm gradient clipping (None for none). Under TensorFlow
            with several devices Keras clips each replica's gradient before summing them.
        checkpoint_every: checkpoint every this many batches (0: only at epoch ends).
        seed: seed of the per-epoch order, of class-balanced sampling and, when
            ``build_model`` is a function, of the initial weights (Keras's global seeds are
            set with ``keras.utils.set_random_seed(seed)`` just before it is called), so
            two runs of the same command give the same model.
        distribute: data-parallel over all local devices, or over every worker's devices
            when this process joined a cluster (:mod:`rnnkit.training.distributed`).
        shuffle_buffer: a corpus's shuffle buffer (records), bounding memory.
        balanced: a corpus read with DeepMoji's class-balanced sampling (each epoch keeps
            an example of class ``c`` with probability ``min_count / count_c``).
        skip_bad_records: skip (and count) corrupt corpus records instead of raising.
        transform_dataset: ``(dataset, epoch) -> dataset`` applied to every epoch's
            training dataset of this worker (its batches after the resume skip), e.g. to
            inspect or augment batches.
        callbacks: extra Keras callbacks.
        compile_kwargs: extra ``model.compile`` arguments.
        verbose: Keras verbosity (1 shows a progress bar; only worker 0 shows one).

    Returns:
        :class:`PretrainResult` with the model and the per-epoch metrics (loss, top1,
        top5 and their ``val_`` versions).

    Raises:
        ValueError: bad arguments or data, or a checkpoint written for other data or
            settings.

    Example:

    >>> result = pretrain(lambda: deepmoji(50000, 64, 30), "corpus/",
    ...                   checkpoint_dir="ckpt", epochs=3)  # doctest: +SKIP
    """
    for name, value, low in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 1),
        ("checkpoint_every", checkpoint_every, 0),
        ("shuffle_buffer", shuffle_buffer, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}.")
    if distribute and isinstance(build_model, keras.Model):
        raise ValueError(
            "distribute=True needs `build_model` to be a function that builds the model, "
            "so that its variables are created inside the distribution scope."
        )
    cluster = distributed.current_cluster()
    if cluster is None and distribute:
        cluster = distributed.init_from_env()
    if cluster is not None and not distribute:
        raise ValueError(
            f"This process is worker {cluster.worker_index} of a cluster of "
            f"{cluster.num_workers}: pass distribute=True (otherwise every worker would "
            "train its own model and write the same checkpoints)."
        )
    workers = cluster.num_workers if cluster is not None else 1
    index = cluster.worker_index if cluster is not None else 0
    chief = index == 0
    if batch_size % workers:
        raise ValueError(
            f"The global batch size {batch_size} must be divisible by the number of workers "
            f"{workers}."
        )
    if _is_corpus(train_data):
        source = _corpus_source(
            train_data,
            validation_data,
            batch_size,
            seed,
            workers,
            index,
            shuffle_buffer,
            balanced,
            skip_bad_records,
        )
    else:
        if balanced:
            raise ValueError("balanced=True applies to a prepared corpus, not to (x, y) arrays.")
        source = _array_source(train_data, validation_data, batch_size, seed, workers, index)
    directory = Path(checkpoint_dir)
    if chief:
        directory.mkdir(parents=True, exist_ok=True)
    scope, _ = _distribution_scope(distribute, batch_size, cluster)
    tf_multi = cluster is not None and cluster.backend == "tensorflow"
    with scope:
        if isinstance(build_model, keras.Model):
            model = build_model
        else:
            keras.utils.set_random_seed(seed)  # the initial weights are a function of seed
            model = build_model()
        nb_classes = _compile(model, learning_rate, global_clipnorm, compile_kwargs or {})
        if source.nb_classes is not None and source.nb_classes != nb_classes:
            raise ValueError(
                f"The corpus has {source.nb_classes} labels, the model {nb_classes} outputs: "
                "build the model with the corpus's number of labels."
            )
        if hasattr(source, "arrays"):
            y, val_data = source.arrays
            _check_xy("train_data", (y, y), nb_classes)
            if val_data is not None:
                _check_xy("validation_data", val_data, nb_classes)
        settings = {
            "seed": seed,
            "batch_size": batch_size,
            "num_workers": workers,
            "shuffle_buffer": shuffle_buffer if source.identity["kind"] == "corpus" else None,
            "balanced": balanced,
        }
        extra = {"data": source.identity, **settings}
        state = load_state(directory)
        history: list[dict[str, float]] = []
        start_epoch, start_step = 0, 0
        restore_metrics = None
        if workers > 1:
            seen = distributed.allgather_int(-1 if state is None else int(state["global_step"]))
            if len(set(seen)) > 1:
                raise ValueError(
                    f"The workers read different checkpoints in {directory} (global steps "
                    f"{seen}, -1 = none): checkpoint_dir must be one folder all workers read."
                )
        model.optimizer.build(model.trainable_variables)
        _build_compiled(model, nb_classes)
        if state is not None:
            _check_identity(directory, state, source.identity, settings)
            restore_metrics = _restore(model, directory, state)
            history = list(state["history"])
            start_epoch, start_step = state["epoch"], state["step"]
            if verbose and chief:
                print(f"Resuming from {directory}: epoch {start_epoch + 1}, batch {start_step}.")
        # Metric accumulators of TensorFlow multi-worker runs are synchronised on read
        # (reading them is a collective), so only the chief could not save them.
        with_metrics = not tf_multi

        def save(epoch: int, step: int) -> None:
            if chief:
                _save(model, directory, epoch, step, history, extra, with_metrics)
            elif workers > 1:
                # Reading some variables of a multi-worker run is a collective (an
                # all-gather or all-reduce) that every worker must join: the others write
                # the same checkpoint to a scratch folder.
                with tempfile.TemporaryDirectory() as scratch:
                    _save(model, Path(scratch), epoch, step, history, extra, with_metrics)

        loop = _TFMultiWorkerLoop(model, cluster.strategy) if tf_multi else None
        val = source.validation
        shown = verbose if chief else 0
        result = PretrainResult(model=model, history=history, resumed_from=state)
        for epoch in range(start_epoch, epochs):
            skip = start_step if epoch == start_epoch else 0
            steps = source.steps(epoch)
            left = source.left_out(epoch)
            result.steps_per_epoch.append(steps)
            result.examples_left_out.append(left)
            if left and shown:
                print(
                    f"Epoch {epoch + 1}: {steps} steps of {batch_size} examples on {workers} "
                    f"workers; {left} training examples are left out of this epoch."
                )

            def make(epoch: int = epoch, skip: int = skip) -> Any:
                ds = source.dataset(epoch, skip)
                return ds if transform_dataset is None else transform_dataset(ds, epoch)

            restore = restore_metrics if epoch == start_epoch else None
            checkpointer = _Checkpointer(save, checkpoint_every, epoch, skip, steps, restore)
            if loop is not None:
                cbs = keras.callbacks.CallbackList(
                    [checkpointer, *callbacks],
                    add_progbar=bool(shown),
                    model=model,
                    verbose=shown,
                    epochs=epochs,
                    steps=steps - skip,
                )
                logs = loop.epoch(make, steps - skip, epoch, cbs, val, source.validation_steps)
            else:
                with warnings.catch_warnings():
                    if steps is None:
                        # a stream whose length only reading tells (class-balanced
                        # sampling) ends the epoch by running out, which Keras warns about
                        warnings.filterwarnings("ignore", message="Your input ran out of data")
                    fit = model.fit(
                        make(),
                        validation_data=None if val is None else val(),
                        validation_steps=None if val is None else source.validation_steps,
                        epochs=epoch + 1,
                        initial_epoch=epoch,
                        steps_per_epoch=None if steps is None else steps - skip,
                        shuffle=False,
                        callbacks=[checkpointer, *callbacks],
                        verbose=shown,
                    )
                logs = {k: v[-1] for k, v in fit.history.items()}
            history.append({k: float(v) for k, v in logs.items()})
            save(epoch + 1, 0)
    return result
