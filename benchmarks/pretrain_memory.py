"""Peak memory of pretraining from a prepared corpus: it must not grow with the corpus.

For each corpus size (default 1M and 10M synthetic tweets) it

1. generates the raw corpus (``benchmarks/synthetic_corpus.py``, gzip JSONL shards; kept
   and reused by later runs, since the files are a function of size, shards and seed),
2. prepares it (:func:`rnnkit.models.deepmoji.prepare_corpus` with DeepMoji's vocabulary, all
   cores; reused when a complete prepared corpus is already there),
3. pretrains a tiny DeepMoji model (``--embed 16 --units 16``, batch 1024) for one
   full epoch over the training split, streaming from the shards, in a child process
   of its own: through :func:`rnnkit.training.pretrain` with the corpus directory
   (``--trainer pretrain``) or :func:`rnnkit.models.deepmoji.corpus_dataset` + ``model.fit``
   (``--trainer fit``; ``auto`` = ``pretrain`` when it accepts a corpus directory).

The child reports its own peak resident set size (``ru_maxrss``, the kernel's high-water
mark of that process alone) and its RSS along the epoch (after the first batch and at
every ``--log-every`` batches, from ``/proc/self/status``); the parent also samples the
child's RSS every second as a cross-check. The bar (issue 16): the peak RSS of the two
sizes differ by less than 20%.

Long-running: results are written after each size to ``<workdir>/pretrain_memory.md``
and ``.json`` (together with the rows of earlier runs in the same folder with the same
settings, for sizes not rerun), progress to stdout. Run it in the background::

    nohup python benchmarks/pretrain_memory.py --workdir runs/bench/memory \\
        > runs/bench/memory.log 2>&1 &
    python benchmarks/pretrain_memory.py --sizes 20000 --workdir /tmp/mem  # smoke test

Results are recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import synthetic_corpus  # benchmarks/synthetic_corpus.py

# the frameworks' start-up lines only with --verbose N > 0: read by the first `import rnnkit`
# (this process and the pretraining child import rnnkit before any framework)
os.environ.setdefault("RNNKIT_QUIET", "auto")

BAR = 0.20  # allowed relative difference of the peak RSS between the sizes


def rss_mib(pid: int | str = "self") -> float | None:
    """Current resident set size of a process in MiB (Linux ``/proc``), None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the child: one epoch of pretraining -------------------------------------------


def pretrain_accepts_corpus() -> bool:
    """Whether rnnkit.training.pretrain documents a corpus directory as training data."""
    from rnnkit.training import pretrain

    doc = inspect.getdoc(pretrain) or ""
    return "corpus" in doc.lower()


def child(args: argparse.Namespace) -> None:
    import keras

    import rnnkit
    from rnnkit.models.deepmoji import corpus_dataset, corpus_steps, load_corpus

    info = load_corpus(args.corpus)
    steps = corpus_steps(info, "train", args.batch)
    trainer = args.trainer
    if trainer == "auto":
        trainer = "pretrain" if pretrain_accepts_corpus() else "fit"
    samples: list[dict] = []
    start = time.perf_counter()

    class Progress(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch == 0 or (batch + 1) % args.log_every == 0 or batch + 1 == steps:
                rss = rss_mib()
                samples.append(
                    {"batch": batch + 1, "rss_mib": rss, "s": time.perf_counter() - start}
                )
                print(
                    f"  batch {batch + 1}/{steps}: rss {rss:.0f} MiB, peak {peak_rss_mib():.0f} "
                    f"MiB, {time.perf_counter() - start:.0f} s",
                    flush=True,
                )

    def build() -> keras.Model:
        return rnnkit.models.deepmoji(
            info.vocabulary_size,
            len(info.labels),
            info.maxlen,
            embedding_dim=args.embed,
            lstm_units=args.units,
        )

    rss_before = rss_mib()
    if trainer == "pretrain":
        from rnnkit.training import pretrain

        with tempfile.TemporaryDirectory(prefix="pretrain-memory-") as ckpt:
            pretrain(
                build,
                str(info.directory),
                checkpoint_dir=ckpt,
                epochs=1,
                batch_size=args.batch,
                checkpoint_every=0,
                callbacks=[Progress()],
                verbose=0,
            )
    else:
        model = build()
        model.compile(  # as rnnkit.training.pretrain compiles it
            optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1.0),
            loss="sparse_categorical_crossentropy",
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
            ],
        )
        ds = corpus_dataset(info, "train", batch_size=args.batch, seed=0, epoch=0)
        model.fit(ds, epochs=1, callbacks=[Progress()], verbose=0)
    result = {
        "trainer": trainer,
        "backend": keras.backend.backend(),
        "examples": info.splits["train"],
        "steps": steps,
        "seconds": time.perf_counter() - start,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "samples": samples,
    }
    with open(args.child_json, "w") as f:
        json.dump(result, f, indent=1)


# -- the parent: generate, prepare, run the child ----------------------------------


def generate(raw: Path, n: int, shards: int, workers: int) -> None:
    names = [synthetic_corpus.shard_name(k, shards) for k in range(shards)]
    if all((raw / name).exists() for name in names):
        log(f"raw corpus of {n:,} texts already in {raw}")
        return
    start = time.perf_counter()
    synthetic_corpus.write_corpus(raw, n, shards, seed=0, workers=workers)
    log(f"generated {n:,} texts in {time.perf_counter() - start:.0f} s -> {raw}")


def prepare(raw: Path, prepared: Path, workers: int) -> dict:
    from rnnkit.models.deepmoji import load_corpus, prepare_corpus

    try:
        info = load_corpus(prepared)
        log(f"prepared corpus already in {prepared} ({info.num_examples:,} examples)")
        return {"seconds": None, "examples": info.num_examples, "splits": info.splits}
    except Exception:  # absent or incomplete: (re)prepare
        pass
    start = time.perf_counter()
    info = prepare_corpus(
        str(raw / "*.jsonl.gz"),
        prepared,
        vocabulary=str(synthetic_corpus.DEFAULT_DATA / "vocabulary.json"),
        workers=workers,
        overwrite=True,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    log(f"prepared {info.num_examples:,} examples {info.splits} in {seconds:.0f} s -> {prepared}")
    return {"seconds": seconds, "examples": info.num_examples, "splits": info.splits}


def real_stderr() -> object | None:
    """Where the child's stderr goes: Python's ``sys.stderr``, which stays the terminal when
    this process is quiet (its file descriptor 2 is then the null device, and the child's
    own errors must still show); None (inherit) where ``sys.stderr`` has no descriptor."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


def run_child(args: argparse.Namespace, prepared: Path, out_json: Path) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--child", "--corpus", str(prepared)]
    command += ["--child-json", str(out_json), "--batch", str(args.batch)]
    command += ["--embed", str(args.embed), "--units", str(args.units)]
    command += ["--trainer", args.trainer, "--log-every", str(args.log_every)]
    command += ["--verbose", str(args.verbose)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stderr=real_stderr())
    sampled = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            rss = rss_mib(proc.pid)
            if rss is not None:
                sampled[0] = max(sampled[0], rss)
            time.sleep(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    sampler.join()
    if rc != 0:
        raise RuntimeError(f"the pretraining child for {prepared} failed with exit status {rc}")
    with open(out_json) as f:
        result = json.load(f)
    result["sampled_peak_rss_mib"] = sampled[0]
    result["wall_s"] = time.perf_counter() - start
    return result


def table(rows: list[dict]) -> str:
    head = [
        "raw tweets",
        "train examples",
        "batches",
        "trainer",
        "epoch s",
        "RSS after 1st batch",
        "RSS at end",
        "peak RSS (ru_maxrss)",
        "peak RSS (sampled)",
    ]
    lines = []
    for r in rows:
        t = r["train"]
        first = t["samples"][0]["rss_mib"] if t["samples"] else float("nan")
        last = t["samples"][-1]["rss_mib"] if t["samples"] else float("nan")
        lines.append(
            [
                f"{r['n']:,}",
                f"{t['examples']:,}",
                f"{t['steps']:,}",
                t["trainer"],
                f"{t['seconds']:.0f}",
                f"{first:.0f} MiB",
                f"{last:.0f} MiB",
                f"{t['peak_rss_mib']:.0f} MiB",
                f"{t['sampled_peak_rss_mib']:.0f} MiB",
            ]
        )
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])


def verdict(rows: list[dict]) -> str | None:
    if len(rows) < 2:
        return None
    peaks = [r["train"]["peak_rss_mib"] for r in rows]
    diff = max(peaks) / min(peaks) - 1
    return (
        f"peak RSS {min(peaks):.0f}-{max(peaks):.0f} MiB: the sizes differ by "
        f"{100 * diff:.1f}% ({'within' if diff < BAR else 'OVER'} the {100 * BAR:.0f}% bar)"
    )


def earlier_rows(path: Path, settings: dict, sizes: list[int]) -> list[dict]:
    """Rows of an earlier run in ``path`` with the same settings, for sizes not rerun now
    (so that the sizes can be run one at a time into one table)."""
    if not path.exists():
        return []
    with open(path) as f:
        rows = json.load(f).get("rows", [])
    defaults = {"batch": 1024, "embed": 16, "units": 16}  # rows written before "settings"
    return [r for r in rows if r.get("settings", defaults) == settings and r["n"] not in sizes]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--workdir",
        default="runs/bench/memory",
        help="corpora and results (kept: a rerun reuses them)",
    )
    parser.add_argument("--shards", type=int, default=16, help="raw corpus files per size")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes generating and preparing",
    )
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--embed", type=int, default=16)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--trainer", choices=["auto", "pretrain", "fit"], default="auto")
    parser.add_argument("--log-every", type=int, default=500, help="batches between RSS logs")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--child-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return []

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    header = (
        f"{date.today().isoformat()}, {platform.machine()} {os.cpu_count()} CPUs, python "
        f"{sys.version.split()[0]}, backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}"
        f", tiny DeepMoji (embedding {args.embed}, LSTM {args.units}), batch {args.batch}, "
        f"one epoch"
    )
    log(header)
    settings = {"batch": args.batch, "embed": args.embed, "units": args.units}
    rows = earlier_rows(work / "pretrain_memory.json", settings, args.sizes)
    for n in args.sizes:
        load = os.getloadavg()[0]
        log(f"== {n:,} tweets (load {load:.2f})")
        raw, prepared = work / f"raw-{n}", work / f"prepared-{n}"
        generate(raw, n, min(args.shards, n), args.workers)
        prep = prepare(raw, prepared, args.workers)
        log(f"pretraining one epoch in a child process ({args.trainer})")
        train = run_child(args, prepared, work / f"train-{n}.json")
        row = {"n": n, "prepare": prep, "train": train, "load_at_start": load}
        rows = sorted(
            [*rows, {**row, "settings": settings, "date": date.today().isoformat()}],
            key=lambda r: r["n"],
        )
        log(
            f"{n:,}: peak RSS {train['peak_rss_mib']:.0f} MiB (sampled "
            f"{train['sampled_peak_rss_mib']:.0f}), epoch {train['seconds']:.0f} s"
        )
        text = header + "\n\n" + table(rows) + "\n"
        if verdict(rows):
            text += "\n" + verdict(rows) + "\n"
        (work / "pretrain_memory.md").write_text(text)
        with open(work / "pretrain_memory.json", "w") as f:
            json.dump({"header": header, "rows": rows, "verdict": verdict(rows)}, f, indent=1)
    print()
    print(table(rows))
    if verdict(rows):
        print(verdict(rows))
    return rows


if __name__ == "__main__":
    main()
