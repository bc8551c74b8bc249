"""Taggers side by side: sklearn-crfsuite with standard word features vs ``RNNSequenceTagger``.

Same splits for every model:

* ``ner``: tweet NER (``ner-tweets/train.bio``), random 80/20 sentence split per seed;
  entity F1 (seqeval, BIO).
* ``pos``: the Brown corpus (``brown/`` under the data root, 92 simplified tags; fetch it
  with ``python -m rnnkit.data.brown fetch``), per seed a random sample of
  ``--pos-train`` training and ``--pos-test`` test sentences; token accuracy.

With ``--validation`` every score is measured on a validation split taken from the
training part (20%, the model fits on the other 80%) and the test part is not touched:
use it to choose defaults. Results (one row per task, model and seed, fit time beside
it, and the mean over seeds) are printed and written to ``--out`` as ``tagging.md`` and
``tagging.csv``.

Every finished fit is recorded as it ends (``--checkpoint``, default ``<out>/record/``;
``--no-checkpoint`` records nothing): after a kill the same command fits only the runs
still to do. A run is named by its task, split, model, seed, the tagger's parameters and a
digest of its data, so other settings or data are run afresh, never taken from the record.

Usage::

    pip install sklearn-crfsuite
    python benchmarks/tagging.py --out runs/tagging            # ner + pos, seeds 0 1 2
    python benchmarks/tagging.py --tasks ner --models crfsuite rnn --validation
    python benchmarks/tagging.py --models rnn --rnn-param crf=False --rnn-param chars=None
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

from rnnkit.data.brown import load_brown  # noqa: E402
from rnnkit.data.ner import load_bio  # noqa: E402
from rnnkit.recipes._common import add_checkpoint_arguments  # noqa: E402
from rnnkit.training.checkpoint import RunRecord, fingerprint  # noqa: E402

#: the fields of a result row that name its run
KEY = ("task", "split", "model", "seed", "params", "data")


def word_features(tokens: list[str], i: int) -> dict:
    """Standard feature-CRF features of token ``i`` (and its neighbours)."""
    w = tokens[i]
    low = w.lower()
    f = {
        "bias": 1.0,
        "w": low,
        "p2": low[:2],
        "p3": low[:3],
        "s2": low[-2:],
        "s3": low[-3:],
        "upper": w.isupper(),
        "title": w.istitle(),
        "lower": w.islower(),
        "digit": w.isdigit(),
        "has_digit": any(c.isdigit() for c in w),
        "at": w.startswith("@"),
        "hash": w.startswith("#"),
        "url": low.startswith("http") or low.startswith("www."),
        "shape": "".join(
            "X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in w[:8]
        ),
    }
    for off in (-2, -1, 1, 2):
        j = i + off
        if 0 <= j < len(tokens):
            f[f"{off}:w"] = tokens[j].lower()
            if abs(off) == 1:
                f[f"{off}:title"] = tokens[j].istitle()
                f[f"{off}:upper"] = tokens[j].isupper()
        else:
            f[f"{off}:w"] = "<s>" if j < 0 else "</s>"
    return f


def crfsuite_model():
    import sklearn_crfsuite

    class FeatureCRF:
        """sklearn-crfsuite (L-BFGS, c1=c2=0.1) over :func:`word_features`."""

        def fit(self, X, y):
            self.crf = sklearn_crfsuite.CRF(
                algorithm="lbfgs",
                c1=0.1,
                c2=0.1,
                max_iterations=100,
                all_possible_transitions=True,
            )
            self.crf.fit([[word_features(s, i) for i in range(len(s))] for s in X], y)
            return self

        def predict(self, X):
            return self.crf.predict([[word_features(s, i) for i in range(len(s))] for s in X])

    return FeatureCRF()


def rnn_model(params: dict, seed: int):
    from rnnkit.sklearn import RNNSequenceTagger

    return RNNSequenceTagger(random_state=seed, **params)


def ner_splits(seed: int, validation: bool):
    sentences = load_bio()
    order = np.random.default_rng(seed).permutation(len(sentences))
    cut = int(round(0.8 * len(sentences)))
    train, test = order[:cut], order[cut:]
    if validation:
        vcut = int(round(0.8 * len(train)))
        train, test = train[:vcut], train[vcut:]
    pick = lambda idx: ([sentences[i].tokens for i in idx], [sentences[i].tags for i in idx])
    return pick(train), pick(test)


_BROWN: list | None = None


def pos_splits(seed: int, validation: bool, n_train: int, n_test: int):
    global _BROWN
    if _BROWN is None:
        _BROWN = load_brown()
    order = np.random.default_rng(seed).permutation(len(_BROWN))
    train, test = order[:n_train], order[n_train : n_train + n_test]
    if validation:
        vcut = int(round(0.8 * len(train)))
        train, test = train[:vcut], train[vcut:]
    pick = lambda idx: ([_BROWN[i].tokens for i in idx], [_BROWN[i].tags for i in idx])
    return pick(train), pick(test)


def score(task: str, gold: list, pred: list) -> float:
    if task == "ner":
        from seqeval.metrics import f1_score

        return float(f1_score(gold, pred))
    total = sum(len(g) for g in gold)
    return sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p)) / total


def parse_params(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--tasks", nargs="+", default=["ner", "pos"], choices=["ner", "pos"])
    parser.add_argument("--models", nargs="+", default=["crfsuite", "rnn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--pos-seeds",
        nargs="+",
        type=int,
        default=None,
        help="seeds of the POS task (default: --seeds)",
    )
    parser.add_argument("--pos-train", type=int, default=10000)
    parser.add_argument("--pos-test", type=int, default=2000)
    parser.add_argument(
        "--validation", action="store_true", help="score on a validation split of the training part"
    )
    parser.add_argument(
        "--rnn-param",
        action="append",
        default=[],
        help="RNNSequenceTagger parameter key=value (repeatable)",
    )
    parser.add_argument("--label", default=None, help="name of the rnn row (default: rnn)")
    parser.add_argument("--out", default="runs/tagging")
    add_checkpoint_arguments(parser, "the record of finished fits", "OUT/record/")
    args = parser.parse_args(argv)
    import keras

    from rnnkit.sklearn import RNNSequenceTagger

    rnn_params = parse_params(args.rnn_param)
    label = args.label or ("rnn" + (f" {rnn_params}" if rnn_params else ""))
    load = os.getloadavg()
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, load {load[0]:.2f}, "
        f"backend {keras.backend.backend()}, rnn params {rnn_params or 'defaults'}"
    )
    record = None
    if not args.no_checkpoint:
        folder = Path(args.checkpoint or Path(args.out) / "record")
        record = RunRecord(folder, {"backend": keras.backend.backend()}, KEY, "tagging")
        if len(record):
            print(f"Resuming from {folder}: {len(record)} fit(s) recorded", flush=True)
    # what a fit of each model depends on besides its data and seed
    params = {
        "crfsuite": "crfsuite",
        "rnn": fingerprint([RNNSequenceTagger(**rnn_params).get_params()]),
    }
    rows = []
    for task in args.tasks:
        seeds = args.pos_seeds if (task == "pos" and args.pos_seeds) else args.seeds
        for seed in seeds:
            if task == "ner":
                (xtr, ytr), (xte, yte) = ner_splits(seed, args.validation)
            else:
                (xtr, ytr), (xte, yte) = pos_splits(
                    seed, args.validation, args.pos_train, args.pos_test
                )
            data = fingerprint([xtr, ytr, xte, yte])
            for name in args.models:
                run = {
                    "task": task,
                    "split": "validation" if args.validation else "test",
                    "model": name if name == "crfsuite" else label,
                    "seed": seed,
                    "params": params["crfsuite" if name == "crfsuite" else "rnn"],
                    "data": data,
                }
                row = None if record is None else record.get(run)
                if row is not None:
                    rows.append(row)
                    continue
                model = crfsuite_model() if name == "crfsuite" else rnn_model(rnn_params, seed)
                start = time.perf_counter()
                model.fit(xtr, ytr)
                fit_s = time.perf_counter() - start
                pred = model.predict(xte)
                value = score(task, yte, pred)
                row = {
                    **run,
                    "metric": "entity F1" if task == "ner" else "token accuracy",
                    "score": value,
                    "fit_s": fit_s,
                    "epochs": len(getattr(model, "history_", {}).get("loss", [])) or None,
                    "train": len(xtr),
                    "eval": len(xte),
                    "load": os.getloadavg()[0],
                }
                rows.append(row)
                if record is not None:
                    record.add(row)
                shown = {k: v for k, v in row.items() if k not in ("params", "data")}
                print(pd.DataFrame([shown]).to_string(index=False, float_format="%.4f"), flush=True)
    columns = ["task", "metric", "split", "model", "seed", "score", "fit_s", "epochs", "train"]
    table = pd.DataFrame(rows)[[*columns, "eval", "load"]]
    summary = (
        table.groupby(["task", "metric", "split", "model"], sort=False)
        .agg(
            mean=("score", "mean"),
            std=("score", "std"),
            seeds=("seed", "size"),
            fit_s_mean=("fit_s", "mean"),
        )
        .reset_index()
    )
    print("\nPer run:\n" + table.to_string(index=False, float_format="%.4f"))
    print("\nMean over seeds:\n" + summary.to_string(index=False, float_format="%.4f"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "tagging.csv", index=False)
    with open(out / "tagging.md", "w", encoding="utf-8") as f:
        f.write(
            f"# Taggers: feature CRF vs RNNSequenceTagger\n\n{platform.node()}, "
            f"{os.cpu_count()} CPUs, load at start {load[0]:.2f}, backend "
            f"{keras.backend.backend()}, rnn params {rnn_params or 'defaults'}.\n\n"
        )
        f.write(summary.to_markdown(index=False, floatfmt=".4f") + "\n\n")
        f.write(table.to_markdown(index=False, floatfmt=".4f") + "\n")
    print(f"saved {out / 'tagging.md'} and {out / 'tagging.csv'}")
    return table


if __name__ == "__main__":
    main()
