"""DeepMoji transfer benchmarks: new / last / full / chain-thaw, several seeds.

    python recipes/deepmoji/benchmark.py --quick                  # SS-Twitter, 2 seeds
    python recipes/deepmoji/benchmark.py --config medium          # all five data sets

The paper's splits and metrics: accuracy for SS-Twitter and SS-Youtube, F1 (sarcasm
class) for SCv1, class-average F1 for SE0714 and PsychExp with one binary model per
class and its decision threshold tuned on the validation split. The target data's most
frequent new words are added to the pretraining vocabulary (new embedding rows appended,
pretrained rows kept). Results are printed and saved as CSV and Markdown under
recipes/results/, with an attention view (PNG + text) of a few test texts.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attention_view import as_text, save_heatmap, token_attention  # noqa: E402
from common import (  # noqa: E402
    RESULTS,
    artifacts_dir,
    encode,
    get_config,
    load_pretrained,
    target_vocabulary,
    transfer,
)

from rnnkit.data import DEEPMOJI_BENCHMARKS, load_deepmoji_benchmark  # noqa: E402
from rnnkit.text import save_vocabulary  # noqa: E402
from rnnkit.training import finetune  # noqa: E402

METHODS = ("new", "last", "full", "chain_thaw")


def best_threshold(y_val: np.ndarray, p_val: np.ndarray) -> float:
    """The decision threshold that maximises F1 on the validation split."""
    candidates = np.unique(np.concatenate([p_val, [0.5]]))
    scores = [f1_score(y_val, p_val >= t, zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def run_binary(pretrained, config, vocab_size, n_added, data, method, seed, verbose):
    """Fine-tunes one binary model; returns (val probabilities, test probabilities, model)."""
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


def evaluate(name, pretrained, vocab, config, method, seed, verbose):
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
        _, p_te, model = run_binary(
            pretrained, config, len(extended), n_added, data, method, seed, verbose
        )
        pred = (p_te >= 0.5).astype(int)
        score = (
            float(np.mean(pred == y["test"]))
            if bench.metric == "accuracy"
            else float(f1_score(y["test"], pred, zero_division=0))
        )
        return score, model, extended
    # class-average F1: one binary model per class, threshold tuned on validation
    y = {s: bench.one_vs_rest(s) for s in x}
    y["train"] = y["train"][:n_train]
    f1s = []
    for c in range(len(bench.classes)):
        data = tuple((x[s], y[s][:, c]) for s in ("train", "val", "test"))
        p_va, p_te, model = run_binary(
            pretrained, config, len(extended), n_added, data, method, seed, verbose
        )
        threshold = best_threshold(y["val"][:, c], p_va)
        f1s.append(f1_score(y["test"][:, c], p_te >= threshold, zero_division=0))
    return float(np.mean(f1s)), model, extended


def write_tables(
    rows: list[dict], config_name: str, info: dict, tag: str = ""
) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"deepmoji_benchmark_{config_name}{'_' + tag if tag else ''}"
    csv_path, md_path = RESULTS / f"{stem}.csv", RESULTS / f"{stem}.md"
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
        " Mean ± std over seeds "
        f"{rows[0]['seeds']}. Date {datetime.date.today().isoformat()}, {os.cpu_count()}-core "
        f"{platform.machine()} CPU, backend {info.get('backend')}.",
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
    lines.append("")
    for d in datasets:
        by = {r["method"]: float(r["mean"]) for r in rows if r["dataset"] == d}
        if "chain_thaw" in by and "new" in by:
            verdict = "beats" if by["chain_thaw"] > by["new"] else "does NOT beat"
            lines.append(
                f"- {d}: chain-thaw {by['chain_thaw']:.3f} vs new {by['new']:.3f}: chain-thaw "
                f"{verdict} training from scratch here."
            )
    md_path.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines[4:]))
    return csv_path, md_path


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="medium", help="quick, medium or full")
    parser.add_argument("--quick", action="store_true", help="config quick, SS-Twitter only")
    parser.add_argument("--datasets", nargs="+", help=f"subset of {list(DEEPMOJI_BENCHMARKS)}")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the config's)")
    parser.add_argument("--pretrained", help="artifacts folder of pretrain.py")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument(
        "--save-model",
        default=None,
        help="folder to save the first chain-thaw model in (finetuned.keras, its "
        "vocabulary.json and finetuned.json), e.g. for export",
    )
    args = parser.parse_args(argv)
    config = get_config("quick" if args.quick else args.config)
    datasets = args.datasets or (["SS-Twitter"] if args.quick else list(DEEPMOJI_BENCHMARKS))
    seeds = tuple(args.seeds or config.seeds)
    folder = artifacts_dir(config, args.pretrained)
    pretrained, vocab = load_pretrained(folder)
    pre_info = json.loads((folder / "pretrain.json").read_text())
    import keras

    rows, showcase = [], None
    start = time.time()
    for name in datasets:
        metric = DEEPMOJI_BENCHMARKS[name][2]
        for method in args.methods:
            scores = []
            for seed in seeds:
                t0 = time.time()
                score, model, extended = evaluate(
                    name, pretrained, vocab, config, method, seed, args.verbose
                )
                scores.append(score)
                print(
                    f"{name:<11} {method:<10} seed {seed}: {metric} {score:.4f} "
                    f"({time.time() - t0:.0f} s)",
                    flush=True,
                )
                if method == "chain_thaw" and showcase is None:
                    showcase = (name, model, extended)
            rows.append(
                {
                    "dataset": name,
                    "metric": metric,
                    "method": method,
                    "seeds": " ".join(map(str, seeds)),
                    "mean": float(np.mean(scores)),
                    "std": float(np.std(scores)),
                    "scores": " ".join(f"{s:.4f}" for s in scores),
                    "config": config.name,
                }
            )
    history = pre_info.get("history", [{}])
    info = {
        "corpus": pre_info.get("corpus"),
        "n_train": pre_info.get("n_train"),
        "epochs": len(history),
        "val_top1": history[-1].get("val_top1", float("nan")),
        "backend": keras.backend.backend(),
    }
    csv_path, md_path = write_tables(rows, config.name, info, args.tag)
    print(f"Saved {csv_path} and {md_path} ({time.time() - start:.0f} s).")
    if showcase is not None and args.save_model:
        name, model, extended = showcase
        target = Path(args.save_model)
        target.mkdir(parents=True, exist_ok=True)
        model.save(target / "finetuned.keras")
        save_vocabulary(extended, target / "vocabulary.json")
        meta = {"dataset": name, "classes": list(DEEPMOJI_BENCHMARKS[name][1])}
        meta["maxlen"] = config.maxlen
        (target / "finetuned.json").write_text(json.dumps(meta, indent=1) + "\n")
        print(f"Saved the chain-thaw {name} model in {target}.")
    if showcase is not None:
        name, model, extended = showcase
        texts = load_deepmoji_benchmark(name).split("test")[0][:4]
        pairs = token_attention(model, extended, texts, config.maxlen)
        stem = f"deepmoji_attention_{config.name}{'_' + args.tag if args.tag else ''}"
        png = RESULTS / f"{stem}.png"
        save_heatmap(pairs, png, f"Attention of the chain-thaw model on {name} test texts")
        text = "\n\n".join(f"{t}\n{as_text(p)}" for t, p in zip(texts, pairs))
        (RESULTS / f"{stem}.txt").write_text(text + "\n")
        print(f"\nAttention view ({png}):\n{text}")
    return rows


if __name__ == "__main__":
    main()
