"""Pretraining throughput: corpus preparation, reading, and the DeepMoji training step.

Three measurements, each with the projection "hours for one pass over 1.2 billion
tweets" (DeepMoji's corpus) at the measured rate:

* ``prepare``: texts/s of :func:`rnnkit.models.deepmoji.prepare_corpus` on a
  synthetic corpus (``benchmarks/synthetic_corpus.py``, ``--n`` texts in gzip JSONL
  shards, generated first and not timed), with one worker process and with all cores
  (``os.cpu_count()``), with DeepMoji's vocabulary given (``--vocabulary given``) or
  built from the corpus (``build``: the counting pass too). Texts/s counts the raw
  texts read; examples/s the training examples written (a text with two class emoji
  gives two, dropped retweets and duplicates none).
* ``read`` (needs TensorFlow): the training input pipeline alone,
  :func:`rnnkit.models.deepmoji.corpus_dataset` over the prepared shards (shuffled, batch
  ``--batch``), iterated to the end: batches/s and tweets/s, to show whether reading keeps
  up with training.
* ``train`` (any backend; no TensorFlow needed: the batch is fed as NumPy arrays): the
  median seconds of one ``model.train_on_batch`` of the full DeepMoji model
  (``rnnkit.models.deepmoji(50000, 64, 30, gate=...)``: 256-d embedding, two
  bidirectional LSTMs of 512 units, attention, softmax over 64) at batch 256, compiled as
  :func:`rnnkit.training.pretrain` compiles it (Adam with global-norm clipping 1,
  sparse cross-entropy, top-1/top-5 accuracy), for the ``hard_sigmoid`` (DeepMoji's
  Keras 2 gates) and ``sigmoid`` gates, after ``--warmup`` steps, timed in rotation
  with the matmul peak (below). The batch is right-padded ids of tweet-like lengths
  (median 12 of 30 tokens), as the prepared corpus gives.

The matmul floor: a training step's useful FLOPs are the LSTMs' matmuls (per layer,
direction and time step ``2 * B * (D_in + H) * 4H``: input projection and recurrent
product; every one of the 30 steps counted, as in ``benchmarks/rnn.py --padded``), the
attention score (``2 * B * T * 2304``) and the softmax layer (``2 * B * 2304 * 64``),
times 3 for forward + backward. The peak is the GFLOP/s of one matmul of each LSTM
layer's fused shape, ``(B*T, D_in + H) x (D_in + H, 4H)`` for ``D_in = 256`` and
``1024`` (``benchmarks/rnn.py``'s ``peak_matmul``), timed in the same rotation as the
training steps (3 timed pairs per turn, the median of all) so that it is measured in the
same phase of a shared machine; ``x floor`` = step time / (FLOPs at that peak).

Usage::

    KERAS_BACKEND=tensorflow python benchmarks/pretrain_throughput.py --markdown
    KERAS_BACKEND=jax python benchmarks/pretrain_throughput.py --skip-prepare --json jax.json
    KERAS_BACKEND=torch python benchmarks/pretrain_throughput.py --skip-prepare --repeats 5
    python benchmarks/pretrain_throughput.py --skip-train --n 200000 --workers 1 2

Results are recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

import keras
import numpy as np
import synthetic_corpus  # benchmarks/synthetic_corpus.py
from rnn import peak_matmul  # benchmarks/rnn.py
from timing import interleaved_medians  # benchmarks/timing.py


CORPUS_TWEETS = 1.2e9  # DeepMoji's pretraining corpus
VOCAB, CLASSES, MAXLEN, EMBED, UNITS = 50_000, 64, 30, 256, 512
GATES = ("hard_sigmoid", "sigmoid")
PEAK_CALLS = 3  # timed matmul pairs per rotation slot


def hours(rate: float) -> float:
    """Hours for one pass over the DeepMoji corpus at ``rate`` tweets (texts) per second."""
    return CORPUS_TWEETS / rate / 3600


def have_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


# -- training ----------------------------------------------------------------------


def step_flops(batch: int, maxlen: int = MAXLEN, embed: int = EMBED, units: int = UNITS) -> int:
    """Useful FLOPs of one DeepMoji training step (see the module docstring)."""
    forward = 0
    for d_in in (embed, 2 * units):  # bi_lstm_0, bi_lstm_1
        forward += 2 * 2 * batch * maxlen * (d_in + units) * 4 * units  # 2 directions
    features = 4 * units + embed  # [lstm_1, lstm_0, embedding]: 2304 in DeepMoji
    forward += 2 * batch * maxlen * features + 2 * batch * features * CLASSES
    return 3 * forward


def tweet_batch(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded ids (lengths log-normal around 12, 1..30) and random class ids."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.rint(rng.lognormal(np.log(12), 0.5, batch)), 1, MAXLEN).astype(int)
    x = rng.integers(10, VOCAB, (batch, MAXLEN)).astype(np.int32)
    x[np.arange(MAXLEN)[None, :] >= lengths[:, None]] = 0
    return x, rng.integers(0, CLASSES, batch).astype(np.int32)


def build_deepmoji(gate: str, embed: int = EMBED, units: int = UNITS) -> keras.Model:
    model = rnnkit.models.deepmoji(
        VOCAB, CLASSES, MAXLEN, gate=gate, embedding_dim=embed, lstm_units=units
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1.0),
        loss="sparse_categorical_crossentropy",
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
    )
    return model


def bench_train(
    gates: list[str],
    batch: int,
    repeats: int,
    warmup: int,
    embed: int = EMBED,
    units: int = UNITS,
) -> dict:
    """Median train_on_batch seconds per gate and of the peak matmuls, in one rotation."""
    x, y = tweet_batch(batch)
    fns, models = [], {}
    for gate in gates:
        start = time.perf_counter()
        model = models[gate] = build_deepmoji(gate, embed, units)
        for _ in range(warmup):  # compilation / tracing; interleaved_medians warms once more
            model.train_on_batch(x, y)
        print(
            f"  {gate}: built and {warmup} warm-up step(s) in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        fns.append(lambda model=model: model.train_on_batch(x, y))
    m = batch * MAXLEN
    mm = [peak_matmul(m, d_in + units, 4 * units) for d_in in (embed, 2 * units)]
    peak_work = sum(2 * m * (d_in + units) * 4 * units for d_in in (embed, 2 * units))
    peak_times: list[float] = []

    def peak_slot() -> None:  # PEAK_CALLS samples per slot: the matmuls take much less time
        for _ in range(PEAK_CALLS):
            start = time.perf_counter()
            for f in mm:
                f()
            peak_times.append(time.perf_counter() - start)

    start = time.perf_counter()
    times = interleaved_medians([*fns, peak_slot], repeats)
    print(f"  timed {repeats} rounds in {time.perf_counter() - start:.0f} s", flush=True)
    peak = peak_work / float(np.median(peak_times[PEAK_CALLS:])) / 1e9  # after the warm-up
    flops = step_flops(batch, MAXLEN, embed, units)
    rows = []
    for gate, t in zip(gates, times):
        rows.append(
            {
                "gate": gate,
                "batch": batch,
                "embed": embed,
                "units": units,
                "step_ms": t * 1e3,
                "tweets_per_s": batch / t,
                "gflops": flops / t / 1e9,
                "peak_gflops": peak,
                "x_floor": t / (flops / (peak * 1e9)),
                "hours_1.2B": hours(batch / t),
            }
        )
    return {"rows": rows, "step_gflop": flops / 1e9, "peak_gflops": peak}


# -- preparation and reading (reading needs TensorFlow) ----------------------------


def bench_prepare(
    inputs: str, out: Path, workers: list[int], vocabularies: list[str], maxlen: int
) -> list[dict]:
    """Seconds and rates of prepare_corpus per (vocabulary mode, workers)."""
    from rnnkit.models.deepmoji import prepare_corpus

    given = synthetic_corpus.DEFAULT_DATA / "vocabulary.json"
    rows = []
    for mode in vocabularies:
        for w in workers:
            target = out / f"prepared-{mode}-w{w}"
            start = time.perf_counter()
            info = prepare_corpus(
                inputs,
                target,
                vocabulary=str(given) if mode == "given" else None,
                maxlen=maxlen,
                workers=w,
                overwrite=True,
                verbose=0,
            )
            seconds = time.perf_counter() - start
            stats = info.manifest.get("stats", {})
            texts = stats.get("texts") or stats.get("texts_read") or stats.get("read")
            rows.append(
                {
                    "vocabulary": mode,
                    "workers": w,
                    "seconds": seconds,
                    "texts": texts,
                    "examples": info.num_examples,
                    "texts_per_s": texts / seconds if texts else None,
                    "examples_per_s": info.num_examples / seconds,
                    "hours_1.2B": hours(texts / seconds) if texts else None,
                    "directory": str(target),
                }
            )
            r = rows[-1]
            print(
                f"  prepare ({mode} vocabulary, {w} worker(s)): {seconds:.1f} s, "
                f"{r['texts_per_s'] or 0:,.0f} texts/s, {r['examples_per_s']:,.0f} examples/s",
                flush=True,
            )
    return rows


def bench_read(directory: str, batch: int, repeats: int) -> dict:
    """Batches/s of corpus_dataset over the train split, iterated to the end (median)."""
    from rnnkit.models.deepmoji import corpus_dataset, load_corpus

    info = load_corpus(directory)
    times, batches = [], 0
    for epoch in range(repeats + 1):  # epoch 0: warm-up (file cache, graph building)
        ds = corpus_dataset(info, "train", batch_size=batch, seed=0, epoch=epoch)
        start = time.perf_counter()
        batches = sum(1 for _ in ds)
        if epoch:
            times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    examples = info.splits["train"]
    return {
        "batch": batch,
        "batches": batches,
        "seconds": seconds,
        "batches_per_s": batches / seconds,
        "tweets_per_s": examples / seconds,
        "hours_1.2B": hours(examples / seconds),
    }


# -- output ------------------------------------------------------------------------


def render(head: list[str], lines: list[list[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines])


def tables(result: dict, markdown: bool) -> str:
    parts = []
    if result.get("prepare"):
        head = ["vocabulary", "workers", "texts", "s", "texts/s", "examples/s", "h per 1.2B"]
        lines = [
            [
                r["vocabulary"],
                str(r["workers"]),
                f"{r['texts']:,}" if r["texts"] else "?",
                f"{r['seconds']:.1f}",
                f"{r['texts_per_s']:,.0f}" if r["texts_per_s"] else "?",
                f"{r['examples_per_s']:,.0f}",
                f"{r['hours_1.2B']:.1f}" if r["hours_1.2B"] else "?",
            ]
            for r in result["prepare"]
        ]
        parts.append("Preparation (prepare_corpus):\n\n" + render(head, lines, markdown))
    if result.get("read"):
        r = result["read"]
        head = ["batch", "batches", "batches/s", "tweets/s", "h per 1.2B"]
        line = [
            str(r["batch"]),
            str(r["batches"]),
            f"{r['batches_per_s']:,.1f}",
            f"{r['tweets_per_s']:,.0f}",
            f"{r['hours_1.2B']:.2f}",
        ]
        parts.append("Reading (corpus_dataset, train split):\n\n" + render(head, [line], markdown))
    if result.get("train"):
        t = result["train"]
        head = [
            "backend",
            "gate",
            "batch",
            "step ms",
            "tweets/s",
            "GFLOP/s",
            "peak",
            "x floor",
            "h per 1.2B",
        ]
        lines = [
            [
                result["backend"],
                r["gate"],
                str(r["batch"]),
                f"{r['step_ms']:.0f}",
                f"{r['tweets_per_s']:.1f}",
                f"{r['gflops']:.1f}",
                f"{r['peak_gflops']:.0f}",
                f"{r['x_floor']:.2f}",
                f"{r['hours_1.2B']:,.0f}",
            ]
            for r in t["rows"]
        ]
        parts.append(
            f"Training step (train_on_batch, {t['step_gflop']:.1f} GFLOP per step):\n\n"
            + render(head, lines, markdown)
        )
    if result.get("train") and (result.get("read") or result.get("prepare")):
        slowest = min(r["tweets_per_s"] for r in result["train"]["rows"])
        notes = []
        if result.get("read"):
            notes.append(f"reading {result['read']['tweets_per_s'] / slowest:,.0f}x")
        rates = [r["examples_per_s"] for r in result.get("prepare") or []]
        if rates:
            notes.append(f"preparation (best) {max(rates) / slowest:,.0f}x")
        parts.append("Rate over the training step's (slower gate): " + ", ".join(notes))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument(
        "--skip-prepare",
        action="store_true",
        help="skip the corpus preparation and reading parts (they need the DeepMoji data "
        "folder; reading needs TensorFlow)",
    )
    parser.add_argument("--skip-train", action="store_true", help="skip the training step")
    parser.add_argument("--n", type=int, default=100_000, help="synthetic corpus size")
    parser.add_argument("--shards", type=int, default=8, help="synthetic corpus files")
    parser.add_argument(
        "--corpus", help="existing raw corpus (glob/folder) instead of generating one"
    )
    parser.add_argument(
        "--workdir", help="where corpora are written (default: a temp dir, removed at the end)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="prepare_corpus worker counts (default: 1 and os.cpu_count())",
    )
    parser.add_argument(
        "--vocabulary",
        nargs="+",
        default=["given"],
        choices=["given", "build"],
        help="prepare with DeepMoji's vocabulary given and/or built from the corpus",
    )
    parser.add_argument("--gates", nargs="+", default=list(GATES), choices=list(GATES))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument(
        "--embed",
        type=int,
        default=EMBED,
        help="embedding size (DeepMoji: 256; smaller for a smoke test)",
    )
    parser.add_argument(
        "--units", type=int, default=UNITS, help="LSTM units per direction (DeepMoji: 512)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed training steps per gate")
    parser.add_argument("--warmup", type=int, default=1, help="untimed training steps first")
    parser.add_argument("--read-repeats", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    backend = keras.backend.backend()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    result: dict = {
        "date": date.today().isoformat(),
        "backend": backend,
        "keras": keras.__version__,
        "rnnkit": rnnkit.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "python": sys.version.split()[0],
        "load_avg_1min_at_start": load,
        "notes": [],
    }
    print(
        f"rnnkit {rnnkit.__version__}, keras {keras.__version__}, backend {backend}, "
        f"{result['machine']}, python {result['python']}, load {load:.2f}, {result['date']}",
        flush=True,
    )
    if not args.skip_prepare:
        own = args.workdir is None
        work = Path(args.workdir or tempfile.mkdtemp(prefix="pretrain-throughput-"))
        try:
            inputs = args.corpus
            if inputs is None:
                raw = work / f"raw-{args.n}"
                start = time.perf_counter()
                synthetic_corpus.write_corpus(raw, args.n, min(args.shards, args.n))
                print(
                    f"generated {args.n:,} synthetic tweets in "
                    f"{time.perf_counter() - start:.0f} s -> {raw}",
                    flush=True,
                )
                inputs = str(raw / "*.jsonl.gz")
            workers = args.workers or sorted({1, os.cpu_count() or 1})
            result["prepare"] = bench_prepare(inputs, work, workers, args.vocabulary, MAXLEN)
            if have_tensorflow():
                result["read"] = bench_read(
                    result["prepare"][-1]["directory"], args.batch, args.read_repeats
                )
                r = result["read"]
                print(
                    f"  read: {r['batches_per_s']:.1f} batches/s, "
                    f"{r['tweets_per_s']:,.0f} tweets/s",
                    flush=True,
                )
            else:
                note = (
                    "reading skipped: TensorFlow is not installed (corpus_dataset reads the "
                    "TFRecord shards with tf.data)"
                )
                print(note, flush=True)
                result["notes"].append(note)
        finally:
            if own:
                shutil.rmtree(work, ignore_errors=True)
        save(result, args.json)
    if not args.skip_train:
        print(
            f"training step: DeepMoji {VOCAB} words, {args.embed}-d, 2x{args.units} BiLSTM, batch "
            f"{args.batch}, gates {args.gates}, {args.repeats} timed after {args.warmup} "
            "warm-up",
            flush=True,
        )
        result["train"] = bench_train(
            args.gates, args.batch, args.repeats, args.warmup, args.embed, args.units
        )
    result["tensorflow_imported"] = "tensorflow" in sys.modules
    save(result, args.json)
    print()
    print(tables(result, args.markdown))
    return result


def save(result: dict, path: str | None) -> None:
    """Writes the results so far (after each part: a later part may be cut off)."""
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, path)


if __name__ == "__main__":
    main()
