"""Quality of the parallel-scan cells in the sentiment classifier: ``RNNClassifier()`` with
its default settings and ``cell`` in {gru, mingru, lstm, minlstm}, side by side in one run.

Data as ``benchmarks/sklearn_baseline.py``: 4,000 CrowdFlower tweets (3 classes,
stratified 80/20 splits, ``--seeds`` seeds) and the DeepMoji benchmarks SS-Twitter and
SS-Youtube (the paper's splits, train+val for training, one seed). Prints a table (score,
fit seconds) and writes it as CSV with ``--out``.

Every finished fit is recorded as it ends (``--checkpoint``, default
``runs/minrnn_quality/<backend>/`` in this checkout; ``--no-checkpoint`` records nothing):
after a kill the same command fits only the runs still to do, and more ``--seeds`` or
``--cells`` add runs. A run is named by a digest of its data as well, so a fit recorded on
other data is done again; a record made with other ``RNNClassifier`` defaults or another
backend is refused by name.

Usage::

    python benchmarks/minrnn_quality.py --seeds 0 1 2 --out runs/minrnn_quality.csv

Results are recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date
from pathlib import Path

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn_baseline import tweet_splits  # benchmarks/sklearn_baseline.py

from rnnkit.models.deepmoji.benchmarks import load_deepmoji_benchmark
from rnnkit.recipes._common import add_checkpoint_arguments, checkpoint_dir
from rnnkit.sklearn import RNNClassifier
from rnnkit.training.checkpoint import RunRecord, fingerprint

CELLS = ("gru", "mingru", "lstm", "minlstm")
#: this checkout (the default record goes under its git-ignored ``runs/``)
REPO = Path(__file__).resolve().parents[1]


def splits(seeds: list[int]):
    """(dataset, seed, x_train, y_train, x_test, y_test) for every run."""
    for seed, x_tr, y_tr, x_te, y_te in tweet_splits(4000, seeds):
        yield "tweets-sentiment 4000", seed, x_tr, y_tr, x_te, y_te
    for name in ("SS-Twitter", "SS-Youtube"):
        data = load_deepmoji_benchmark(name)
        x_tr, y_tr = data.split("train")
        x_va, y_va = data.split("val")
        x_te, y_te = data.split("test")
        yield name, 0, list(x_tr) + list(x_va), np.concatenate([y_tr, y_va]), list(x_te), y_te


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cells", nargs="+", default=list(CELLS), choices=CELLS)
    parser.add_argument("--out", default=None, help="also write the rows as CSV")
    add_checkpoint_arguments(
        parser, "the record of finished fits", "runs/minrnn_quality/<backend>/ in this checkout"
    )
    args = parser.parse_args(argv)
    print(
        f"{date.today()} {platform.node()} {os.cpu_count()} CPUs, keras {keras.__version__}, "
        f"backend {keras.backend.backend()}",
        flush=True,
    )
    folder = checkpoint_dir(args, REPO / "runs" / "minrnn_quality" / keras.backend.backend())
    record = None
    if folder is not None:
        settings = {"backend": keras.backend.backend(), "classifier": RNNClassifier().get_params()}
        # a run is named by its data's digest too: a fit on other data is never taken
        key = ("dataset", "seed", "cell", "data")
        record = RunRecord(folder, settings, key, "minrnn_quality")
        if len(record):
            print(f"Resuming from {folder}: {len(record)} fit(s) recorded", flush=True)
    rows = []
    for dataset, seed, x_tr, y_tr, x_te, y_te in splits(args.seeds):
        data = fingerprint([list(x_tr), y_tr, list(x_te), y_te])
        for cell in args.cells:
            run = {"dataset": dataset, "seed": seed, "cell": cell}
            done = None if record is None else record.get({**run, "data": data})
            if done is None:
                start = time.perf_counter()
                model = RNNClassifier(cell=cell, random_state=seed).fit(x_tr, y_tr)
                fit_s = time.perf_counter() - start
                score = accuracy_score(y_te, model.predict(x_te))
                done = {**run, "accuracy": score, "fit_s": fit_s}
                if record is not None:
                    record.add({**done, "data": data})
                print(f"  {dataset} seed {seed} {cell}: {score:.4f} ({fit_s:.0f} s)", flush=True)
            rows.append({k: done[k] for k in (*run, "accuracy", "fit_s")})
    frame = pd.DataFrame(rows)
    table = frame.groupby(["dataset", "cell"], sort=False).agg(
        accuracy=("accuracy", "mean"),
        std=("accuracy", "std"),
        fit_s=("fit_s", "median"),
        runs=("seed", "count"),
    )
    print(table.to_markdown(floatfmt=".4f"))
    if args.out:
        frame.to_csv(args.out, index=False)
    return frame


if __name__ == "__main__":
    main()
