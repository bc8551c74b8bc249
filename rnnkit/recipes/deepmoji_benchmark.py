"""DeepMoji transfer benchmarks: new / last / full / chain-thaw, several seeds.

    rnnkit bench --quick                                   # SS-Twitter, 2 seeds
    rnnkit bench --config medium                           # all five data sets
    rnnkit bench --config demo --datasets SS-Twitter --jobs 2
    rnnkit finetune --quick                                # chain-thaw runs only

The paper's splits and metrics: accuracy for SS-Twitter and SS-Youtube, F1 (sarcasm
class) for SCv1, class-average F1 for SE0714 and PsychExp with one binary model per
class and its decision threshold tuned on the validation split. The target data's most
frequent new words are added to the pretraining vocabulary (new embedding rows appended,
pretrained rows kept; :mod:`rnnkit.models.deepmoji.transfer`). The pretrained model is
read from ``--pretrained`` (default ``RUNS/<config>``, ``--runs`` default
``runs/deepmoji``: where ``rnnkit pretrain`` writes it). Results are printed and saved as
CSV and Markdown under ``--out`` (default ``runs/deepmoji/results`` in the current
folder), with an attention view (PNG + text, :mod:`rnnkit.recipes.deepmoji_attention`) of
a few test texts of the first chain-thaw model and, per text, the top word's weight over
the uniform weight (1 / number of words). ``--jobs N`` fine-tunes N (method, seed) runs at
a time in separate processes; every run is seeded, so the scores do not depend on N.

Every finished run is recorded as it ends, in ``bench-record/`` beside the pretrained
model (with the first chain-thaw model, shown in the attention view): after a kill, the
same command goes on with the runs still to do, and a command asking for more data sets,
methods or seeds runs only the new ones. A record of another pretrained model (the folder
was pretrained again) is set aside; ``--no-checkpoint`` runs everything and records
nothing.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.metrics import f1_score

from rnnkit.models.deepmoji import (
    DEEPMOJI_BENCHMARKS,
    DeepMojiTokenizer,
    load_deepmoji_benchmark,
    load_vocabulary,
    save_vocabulary,
)
from rnnkit.models.deepmoji.attention import attention_ratios, token_attention
from rnnkit.models.deepmoji.transfer import (
    Config,
    encode,
    get_config,
    load_pretrained,
    target_vocabulary,
    transfer,
)
from rnnkit.recipes._deepmoji import (
    DEFAULT_RESULTS,
    DEFAULT_RUNS,
    add_config_arguments,
    artifacts_dir,
    chosen_config,
    positive_int,
    where,
)
from rnnkit.recipes.deepmoji_attention import as_text, attention_table, save_heatmap
from rnnkit.sklearn.base import framework_logs
from rnnkit.training import finetune
from rnnkit.training.checkpoint import RunRecord, fingerprint

__all__ = ["METHODS", "best_threshold", "evaluate", "main", "run", "write_tables"]

METHODS = ("new", "last", "full", "chain_thaw")
ATTENTION_TEXTS = 4  # texts shown in the attention view: the first test texts ...
ATTENTION_MIN_WORDS = 8  # ... with at least this many words (a readable heatmap row)
#: the folder, beside the pretrained model, of the record of finished runs
RECORD = "bench-record"
#: the files of a fine-tuned model saved by a run (``--save-model``)
SAVED_FILES = ("finetuned.keras", "vocabulary.json")


def best_threshold(y_val: np.ndarray, p_val: np.ndarray) -> float:
    """The decision threshold that maximises F1 on the validation split."""
    candidates = np.unique(np.concatenate([p_val, [0.5]]))
    scores = [f1_score(y_val, p_val >= t, zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


Split = tuple[np.ndarray, np.ndarray]


def run_binary(
    pretrained: keras.Model | None,
    config: Config,
    vocab_size: int,
    n_added: int,
    data: tuple[Split, Split, Split],
    method: str,
    seed: int,
    verbose: int,
) -> tuple[np.ndarray, np.ndarray, keras.Model]:
    """Fine-tunes one binary model on ``data`` (train, validation, test ``(x, y)``) with
    ``method``; returns (val probabilities, test probabilities, model)."""
    (x_tr, y_tr), (x_va, y_va), (x_te, _) = data
    model = transfer(None if method == "new" else pretrained, config, vocab_size, n_added, 2, seed)
    finetune(
        model,
        (x_tr, y_tr.astype("float32")),
        (x_va, y_va.astype("float32")),
        method=method,
        new_layers=["softmax"],
        epochs=config.finetune_epochs,
        patience=config.finetune_patience,
        batch_size=config.finetune_batch,
        verbose=verbose,
    )
    p_va = model.predict(x_va, verbose=0, batch_size=256)[:, 0]
    p_te = model.predict(x_te, verbose=0, batch_size=256)[:, 0]
    return p_va, p_te, model


def evaluate(
    name: str,
    pretrained: keras.Model,
    vocab: dict[str, int],
    config: Config,
    method: str,
    seed: int,
    verbose: int,
) -> tuple[float, float, keras.Model, dict[str, int]]:
    """Fine-tunes on the benchmark ``name`` with ``method`` and ``seed``; returns the test
    score, the validation score (the benchmark's metric), the (last) model and the
    extended vocabulary its ids come from."""
    bench = load_deepmoji_benchmark(name)
    texts = {s: bench.split(s)[0] for s in ("train", "val", "test")}
    if config.benchmark_train_subset:
        texts["train"] = texts["train"][: config.benchmark_train_subset]
    extended, n_added = target_vocabulary(vocab, texts["train"], config)
    x = {s: encode(extended, t, config.maxlen) for s, t in texts.items()}
    n_train = len(texts["train"])
    if bench.metric in ("accuracy", "f1"):
        y = {s: bench.split(s)[1] for s in x}
        y["train"] = y["train"][:n_train]
        data = tuple((x[s], y[s]) for s in ("train", "val", "test"))
        p_va, p_te, model = run_binary(
            pretrained, config, len(extended), n_added, data, method, seed, verbose
        )

        def metric(y_true, p):
            pred = (p >= 0.5).astype(int)
            if bench.metric == "accuracy":
                return float(np.mean(pred == y_true))
            return float(f1_score(y_true, pred, zero_division=0))

        return metric(y["test"], p_te), metric(y["val"], p_va), model, extended
    # class-average F1: one binary model per class, threshold tuned on validation
    y = {s: bench.one_vs_rest(s) for s in x}
    y["train"] = y["train"][:n_train]
    f1s, val_f1s = [], []
    for c in range(len(bench.classes)):
        data = tuple((x[s], y[s][:, c]) for s in ("train", "val", "test"))
        p_va, p_te, model = run_binary(
            pretrained, config, len(extended), n_added, data, method, seed, verbose
        )
        threshold = best_threshold(y["val"][:, c], p_va)
        f1s.append(f1_score(y["test"][:, c], p_te >= threshold, zero_division=0))
        val_f1s.append(f1_score(y["val"][:, c], p_va >= threshold, zero_division=0))
    return float(np.mean(f1s)), float(np.mean(val_f1s)), model, extended


def write_tables(
    rows: list[dict],
    config_name: str,
    info: dict,
    tag: str = "",
    out_dir: str | os.PathLike = DEFAULT_RESULTS,
) -> tuple[Path, Path]:
    """Writes the rows as CSV and Markdown (mean ± std per data set and method) under
    ``out_dir`` and prints the Markdown table; returns the two paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"deepmoji_benchmark_{config_name}{'_' + tag if tag else ''}"
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = [
        f"# DeepMoji transfer benchmarks ({config_name} configuration)",
        "",
        f"Pretraining: {info.get('corpus')}; {info.get('n_train')} texts, "
        f"{info.get('epochs')} epoch(s), final val top-1 {info.get('val_top1', float('nan')):.3f}."
        " Test scores, mean ± std over seeds "
        f"{rows[0]['seeds']}. Date {datetime.date.today().isoformat()}, {os.cpu_count()}-core "
        f"{platform.machine()} CPU, backend {info.get('backend')}, backbone cell "
        f"{info.get('cell', 'lstm')}.",
        "",
        "| dataset | metric | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
    ]
    for d in datasets:
        cells = []
        for m in methods:
            r = next(r for r in rows if r["dataset"] == d and r["method"] == m)
            cells.append(f"{r['mean']:.3f} ± {r['std']:.3f}")
        metric = next(r["metric"] for r in rows if r["dataset"] == d)
        lines.append(f"| {d} | {metric} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed (test / validation split):", ""]
    lines += ["| dataset | method | test per seed | validation per seed | validation mean |"]
    lines += ["|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['scores']} | {r['val_scores']} | "
            f"{r['val_mean']:.3f} |"
        )
    lines.append("")
    for d in datasets:
        by = {r["method"]: float(r["mean"]) for r in rows if r["dataset"] == d}
        if "chain_thaw" in by and "new" in by:
            std = {r["method"]: float(r["std"]) for r in rows if r["dataset"] == d}
            verdict = "beats" if by["chain_thaw"] > by["new"] else "does NOT beat"
            lines.append(
                f"- {d}: chain-thaw {by['chain_thaw']:.3f} ± {std['chain_thaw']:.3f} vs new "
                f"{by['new']:.3f} ± {std['new']:.3f}: chain-thaw {verdict} training from "
                "scratch here."
            )
    md_path.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines[4:]))
    return csv_path, md_path


_WORKER_CACHE: dict = {}


def _load_cached(folder: str | os.PathLike) -> tuple[keras.Model, dict[str, int]]:
    """:func:`load_pretrained` of ``folder``, kept for the next run of this process (a
    model saved there again since is loaded anew)."""
    stat = (Path(folder) / "pretrained.keras").stat()
    key = (str(folder), stat.st_mtime_ns, stat.st_size)
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        _WORKER_CACHE[key] = load_pretrained(Path(folder))
    return _WORKER_CACHE[key]


def _run_one(task: dict) -> dict:
    """One (data set, method, seed) fine-tuning run; used inline and in worker processes
    (TensorFlow's retracing warnings hidden unless ``task["verbose"]``).

    Saves the model (with its vocabulary) to ``task["save_to"]`` when that is given and
    returns the scores without the model (results cross process boundaries as plain data).
    """
    pretrained, vocab = _load_cached(task["pretrained"])
    config = dataclasses.replace(get_config(task["config"]), cell=task.get("cell", "lstm"))
    t0 = time.time()
    with framework_logs(task["verbose"]):
        score, val_score, model, extended = evaluate(
            task["dataset"], pretrained, vocab, config, task["method"], task["seed"],
            task["verbose"],
        )  # fmt: skip
    if task.get("save_to"):
        target = Path(task["save_to"])
        target.mkdir(parents=True, exist_ok=True)
        model.save(target / "finetuned.keras")
        save_vocabulary(extended, target / "vocabulary.json")
    return {**task, "score": score, "val_score": val_score, "seconds": time.time() - t0}


def _digest(folder: Path) -> str:
    """A SHA-256 of a pretrained model's weights and vocabulary (a record names the model
    it is for; the same weights saved again, as a rerun of the demo does, are the same
    model)."""
    model, vocab = _load_cached(folder)
    return fingerprint([sorted(vocab.items()), model.get_weights()])


class _Record(RunRecord):
    """The finished runs of a benchmark of one pretrained model, kept in
    ``<pretrained>/bench-record/state.json`` (a :class:`RunRecord`: written whole after
    every run, so a kill loses only the runs in progress)."""

    def __init__(self, folder: Path, settings: dict) -> None:
        super().__init__(folder, settings, ("dataset", "method", "seed"), "rnnkit bench")

    def done(self, task: dict) -> dict | None:
        """The recorded result of ``task``; None when it is still to do (a recorded run
        that saved the shown model counts only while that model is there)."""
        r = self.get(task)
        model_there = not task["save_to"] or (Path(task["save_to"]) / SAVED_FILES[0]).exists()
        if r is None or not model_there:
            return None
        return {**r, "save_to": task["save_to"]}

    def add(self, result: dict) -> None:
        super().add({**result, **{k: float(result[k]) for k in ("score", "val_score", "seconds")}})


def _open_record(pretrained: Path, config: Config) -> _Record:
    """The record of ``pretrained``'s finished runs; one of another pretrained model (the
    folder was pretrained again) or configuration is moved aside, with a line saying so."""
    folder = pretrained / RECORD
    settings = {"pretrained": _digest(pretrained), "config": config.name, "cell": config.cell}
    try:
        record = _Record(folder, settings)
    except ValueError:  # its runs are of another model: kept, but not mixed in
        old = folder.with_name(f"{RECORD}-old-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(folder, old)
        print(f"{folder}: a record of another pretrained model or configuration, moved to {old}")
        record = _Record(folder, settings)
    folder.mkdir(parents=True, exist_ok=True)
    return record


def run(
    argv: Sequence[str] | None = None,
    *,
    runs: str | os.PathLike = DEFAULT_RUNS,
    out: str | os.PathLike = DEFAULT_RESULTS,
    prog: str | None = None,
) -> dict[str, Any]:
    """The benchmark as a function: returns ``{"rows", "attention", "tables", "heatmap"}``
    (``attention``: one dict per shown text with its words, weights and ratio; ``heatmap``
    None when no chain-thaw model ran or matplotlib is missing). ``runs`` and ``out`` are
    the defaults of ``--runs`` and ``--out`` (a source checkout's script passes its own),
    ``prog`` the program name of the usage and error lines (``rnnkit bench``)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    add_config_arguments(parser, quick_help="config quick, SS-Twitter only", runs=runs)
    parser.add_argument("--datasets", nargs="+", help=f"subset of {list(DEEPMOJI_BENCHMARKS)}")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the config's)")
    parser.add_argument(
        "--pretrained",
        help="artifacts folder of `rnnkit pretrain` (default: RUNS/<config>)",
    )
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    parser.add_argument(
        "--out",
        default=str(out),
        help=f"folder for the tables and the attention view (default: {where(out)})",
    )
    parser.add_argument("--jobs", type=positive_int, default=1, help="fine-tuning runs at a time")
    parser.add_argument(
        "--verbose", type=int, default=0, help="Keras verbosity; > 0 also shows retracing warnings"
    )
    parser.add_argument(
        "--save-model",
        default=None,
        help="folder to save the first chain-thaw model in (finetuned.keras, its "
        "vocabulary.json and finetuned.json), e.g. for export",
    )
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help=f"run everything, record nothing (default: finished runs are recorded in "
        f"{RECORD}/ beside the pretrained model, and the same command goes on after a kill)",
    )
    args = parser.parse_args(argv)
    config = chosen_config(args)
    unknown = sorted(set(args.datasets or ()) - set(DEEPMOJI_BENCHMARKS))
    if unknown:
        parser.error(f"unknown data set(s) {unknown}, expected some of {list(DEEPMOJI_BENCHMARKS)}")
    folder = artifacts_dir(config, args.runs, args.pretrained)
    if not (folder / "pretrain.json").is_file():
        raise FileNotFoundError(
            f"no pretrained DeepMoji model in {folder} (no pretrain.json), expected the folder "
            f"`rnnkit pretrain --config {config.name}` writes: pretrain first, or pass "
            "--pretrained DIR (or --runs)"
        )
    with framework_logs(args.verbose):
        return _benchmark(args, config, folder)


def _benchmark(args: argparse.Namespace, config: Config, folder: Path) -> dict[str, Any]:
    datasets = args.datasets or (["SS-Twitter"] if args.quick else list(DEEPMOJI_BENCHMARKS))
    seeds = tuple(args.seeds or config.seeds)
    pre_info = json.loads((folder / "pretrain.json").read_text())
    pretrained_cell = pre_info.get("config", {}).get("cell", "lstm")
    if pretrained_cell != config.cell:
        raise ValueError(
            f"the model in {folder} was pretrained with cell {pretrained_cell!r}, but this "
            f"benchmark's backbone is {config.cell!r}: pass --cell {pretrained_cell} (the "
            "models trained from scratch must have the pretrained model's layers)"
        )
    out_dir = Path(args.out)

    scratch = tempfile.TemporaryDirectory(prefix="deepmoji_benchmark_")
    record = None if args.no_checkpoint else _open_record(folder, config)
    if record is not None:
        showcase_dir = record.folder / "showcase"
    else:
        showcase_dir = Path(args.save_model) if args.save_model else Path(scratch.name)
    tasks, showcase_name = [], None
    for name in datasets:
        for method in args.methods:
            for seed in seeds:
                task = {
                    "dataset": name,
                    "method": method,
                    "seed": seed,
                    "config": config.name,
                    "cell": config.cell,
                    "pretrained": str(folder),
                    "verbose": args.verbose,
                    "save_to": None,
                }
                if method == "chain_thaw" and showcase_name is None:
                    showcase_name, task["save_to"] = name, str(showcase_dir)
                tasks.append(task)
    start = time.time()
    results: list[dict] = []

    def report(r: dict) -> None:
        metric = DEEPMOJI_BENCHMARKS[r["dataset"]][2]
        print(
            f"{r['dataset']:<11} {r['method']:<10} seed {r['seed']}: test {metric} "
            f"{r['score']:.4f}, validation {r['val_score']:.4f} ({r['seconds']:.0f} s)",
            flush=True,
        )
        results.append(r)

    if record is not None:
        finished = [t for t in tasks if record.done(t)]
        if finished:
            print(f"Resuming from {record.folder}: {len(finished)} of {len(tasks)} run(s) done")
        results.extend(record.done(t) for t in finished)
        tasks = [t for t in tasks if not record.done(t)]

    def finish(r: dict) -> None:
        report(r)
        if record is not None:
            record.add(r)

    if args.jobs == 1:
        for task in tasks:
            finish(_run_one(task))
    elif tasks:
        # longest runs first (chain-thaw trains the most), so the workers finish together;
        # each run is reported (and recorded) as soon as it ends
        order = sorted(tasks, key=lambda t: t["method"] != "chain_thaw")
        context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
        with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
            for future in as_completed([pool.submit(_run_one, t) for t in order]):
                finish(future.result())
    if record is not None and args.save_model and showcase_name is not None:
        target = Path(args.save_model)
        target.mkdir(parents=True, exist_ok=True)
        for name in SAVED_FILES:
            shutil.copy2(showcase_dir / name, target / name)

    rows = []
    for name in datasets:
        metric = DEEPMOJI_BENCHMARKS[name][2]
        for method in args.methods:
            mine = [r for r in results if r["dataset"] == name and r["method"] == method]
            mine.sort(key=lambda r: seeds.index(r["seed"]))
            scores = [r["score"] for r in mine]
            val_scores = [r["val_score"] for r in mine]
            rows.append(
                {
                    "dataset": name,
                    "metric": metric,
                    "method": method,
                    "seeds": " ".join(map(str, seeds)),
                    "mean": float(np.mean(scores)),
                    "std": float(np.std(scores)),
                    "scores": " ".join(f"{s:.4f}" for s in scores),
                    "val_mean": float(np.mean(val_scores)),
                    "val_scores": " ".join(f"{s:.4f}" for s in val_scores),
                    "config": config.name,
                    "cell": config.cell,
                }
            )
    history = pre_info.get("history", [{}])
    info = {
        "corpus": pre_info.get("corpus"),
        "n_train": pre_info.get("n_train"),
        "epochs": len(history),
        "val_top1": history[-1].get("val_top1", float("nan")),
        "backend": keras.backend.backend(),
        "cell": config.cell,
    }
    csv_path, md_path = write_tables(rows, config.name, info, args.tag, out_dir)
    print(f"Saved {csv_path} and {md_path} ({time.time() - start:.0f} s).")
    result = {"rows": rows, "attention": [], "tables": (csv_path, md_path), "heatmap": None}
    if showcase_name is not None:
        model = keras.models.load_model(showcase_dir / "finetuned.keras", safe_mode=True)
        extended = load_vocabulary(showcase_dir / "vocabulary.json")
        if args.save_model:
            classes = list(DEEPMOJI_BENCHMARKS[showcase_name][1])
            meta = {"dataset": showcase_name, "classes": classes, "maxlen": config.maxlen}
            saved_to = Path(args.save_model)
            (saved_to / "finetuned.json").write_text(json.dumps(meta, indent=1) + "\n")
            print(f"Saved the chain-thaw {showcase_name} model (seed {seeds[0]}): {saved_to}")
        test_texts = load_deepmoji_benchmark(showcase_name).split("test")[0]
        tokenizer = DeepMojiTokenizer(extended)
        texts = [t for t in test_texts if len(tokenizer.words(t)) >= ATTENTION_MIN_WORDS]
        texts = texts[:ATTENTION_TEXTS]
        pairs = token_attention(model, extended, texts, config.maxlen)
        stem = f"deepmoji_attention_{config.name}{'_' + args.tag if args.tag else ''}"
        png: Path | None = out_dir / f"{stem}.png"
        try:
            save_heatmap(
                pairs,
                png,
                f"Attention of the chain-thaw model: the first {showcase_name} test texts "
                f"of >= {ATTENTION_MIN_WORDS} words",
            )
        except ImportError as e:
            print(f"warning: no attention heatmap: {e}", file=sys.stderr)
            png = None
        every = attention_ratios(token_attention(model, extended, test_texts, config.maxlen))
        table = attention_table(texts, pairs)
        summary = (
            f"All {len(every)} {showcase_name} test texts: top word / uniform weight median "
            f"{np.median(every):.2f}, at least 2x for {np.mean(every >= 2):.0%} of them."
        )
        view = "\n\n".join(f"{t}\n{as_text(p)}" for t, p in zip(texts, pairs))
        text_path = out_dir / f"{stem}.txt"
        text_path.write_text(f"{view}\n\n{table}\n\n{summary}\n")
        saved = f"{png} and {text_path}" if png else text_path
        print(f"\nAttention of the chain-thaw model (seed {seeds[0]}), saved as {saved}:\n{view}")
        print(f"\n{table}\n\n{summary}")
        ratios = attention_ratios(pairs)
        result["attention"] = [
            {"text": t, "pairs": p, "ratio": float(q)} for t, p, q in zip(texts, pairs, ratios)
        ]
        result["attention_all"] = every
        result["heatmap"] = png
    scratch.cleanup()
    return result


def main(
    argv: Sequence[str] | None = None,
    *,
    runs: str | os.PathLike = DEFAULT_RUNS,
    out: str | os.PathLike = DEFAULT_RESULTS,
    prog: str | None = None,
) -> list[dict]:
    """Runs the benchmark (see :func:`run`) and returns its rows."""
    return run(argv, runs=runs, out=out, prog=prog)["rows"]


if __name__ == "__main__":
    main(sys.argv[1:])
