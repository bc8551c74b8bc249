"""Default ``RNNClassifier()`` vs TF-IDF + logistic regression, side by side.

Data:
* tweets-sentiment (CrowdFlower, negative/neutral/positive): a stratified random
  sample of ``--sample`` distinct tweets, 80% train / 20% test, ``--repeats`` seeds.
* the DeepMoji benchmarks (paper's splits; the estimators train on train+val, since
  both do their own model selection: RNNClassifier holds out ``validation_fraction``
  for early stopping), scored with the paper's metric: accuracy (SS-Twitter,
  SS-Youtube), F1 of the positive class (SCv1), class-average F1 (SE0714 multi-label,
  PsychExp multiclass). For SE0714 both models are also scored with each label's
  training frequency as its decision threshold (rows ``@prevalence``), besides 0.5.

Both estimators take raw strings. Fit times are wall-clock seconds on this machine;
the ratio RNN / TF-IDF is taken within the same run. Results: a table on stdout,
CSV and Markdown next to ``--out``.

Usage::

    python benchmarks/sklearn_baseline.py --repeats 3 --out benchmarks/sklearn_baseline
"""

from __future__ import annotations

import argparse
import os
import time

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from rnnkit.data.tweets_sentiment import load_tweets_sentiment
from rnnkit.sklearn import RNNClassifier


def tfidf_lr(multilabel: bool = False):
    lr = LogisticRegression(max_iter=2000, C=4.0)
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
        OneVsRestClassifier(lr) if multilabel else lr,
    )


def metric(name: str, y_true, y_pred) -> float:
    if name == "accuracy":
        return accuracy_score(y_true, y_pred)
    if name == "f1":
        return f1_score(y_true, y_pred, pos_label=1)
    if name == "class_avg_f1":
        return f1_score(y_true, y_pred, average="macro", zero_division=0)
    raise ValueError(name)


def run_pair(dataset, metric_name, x_train, y_train, x_test, y_test, seed, multilabel=False):
    rows = []
    for model_name, estimator in (
        ("TF-IDF + LogisticRegression", tfidf_lr(multilabel)),
        ("RNNClassifier() default", RNNClassifier(random_state=seed)),
    ):
        start = time.perf_counter()
        estimator.fit(x_train, y_train)
        fit_s = time.perf_counter() - start
        predictions = [(model_name, estimator.predict(x_test))]
        if multilabel:
            # The 0.5 threshold predicts (almost) no rare label; also score both models
            # with each label's training frequency as its threshold.
            prevalence = np.asarray(y_train, dtype="float64").mean(axis=0)
            proba = np.asarray(estimator.predict_proba(x_test))
            predictions.append((model_name + " @prevalence", (proba >= prevalence).astype(int)))
        for name, pred in predictions:
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "model": name,
                    "metric": metric_name,
                    "score": metric(metric_name, y_test, pred),
                    "fit_s": fit_s,
                    "n_train": len(x_train),
                    "n_test": len(x_test),
                }
            )
            print(
                f"  {dataset:<18} seed={seed} {name:<28} {metric_name}={rows[-1]['score']:.3f}"
                f"  fit {fit_s:.1f}s",
                flush=True,
            )
    return rows


def tweet_splits(sample: int, seeds: list[int]):
    """(seed, x_train, y_train, x_test, y_test): stratified 80/20 splits of ``sample``
    CrowdFlower tweets, one per seed (also used by ``benchmarks/minrnn_quality.py``)."""
    frame = load_tweets_sentiment(sample=sample, random_state=0)
    for seed in seeds:
        x_tr, x_te, y_tr, y_te = train_test_split(
            frame.text.tolist(),
            frame.sentiment.to_numpy(),
            test_size=0.2,
            random_state=seed,
            stratify=frame.sentiment,
        )
        yield seed, x_tr, y_tr, x_te, y_te


def tweets(sample: int, repeats: int) -> list[dict]:
    rows = []
    for seed, x_tr, y_tr, x_te, y_te in tweet_splits(sample, list(range(repeats))):
        rows += run_pair(f"tweets-sentiment {sample}", "accuracy", x_tr, y_tr, x_te, y_te, seed)
    return rows


def deepmoji_benchmarks(names: list[str]) -> list[dict]:
    from rnnkit.models.deepmoji.benchmarks import load_deepmoji_benchmark

    rows = []
    for name in names:
        data = load_deepmoji_benchmark(name)
        x_tr, y_tr = data.split("train")
        x_va, y_va = data.split("val")
        x_te, y_te = data.split("test")
        x_train = list(x_tr) + list(x_va)
        y_train = np.concatenate([y_tr, y_va])
        rows += run_pair(
            name,
            data.metric,
            x_train,
            y_train,
            list(x_te),
            y_te,
            seed=0,
            multilabel=data.task == "multilabel",
        )
    return rows


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby(["dataset", "metric", "model"], sort=False)
    table = grouped.agg(
        score_mean=("score", "mean"),
        score_std=("score", "std"),
        fit_s_median=("fit_s", "median"),
        runs=("score", "size"),
        n_train=("n_train", "first"),
        n_test=("n_test", "first"),
    ).reset_index()
    tfidf = table[table.model == "TF-IDF + LogisticRegression"]
    anchor = tfidf.set_index("dataset")["fit_s_median"]
    table["fit_time_vs_tfidf"] = table.fit_s_median / table.dataset.map(anchor)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--sample", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--deepmoji",
        default="SS-Twitter,SS-Youtube,SCv1,SE0714,PsychExp",
        help="comma-separated DeepMoji benchmarks ('' to skip)",
    )
    parser.add_argument("--out", default="benchmarks/sklearn_baseline")
    args = parser.parse_args()

    rows = tweets(args.sample, args.repeats)
    names = [n for n in args.deepmoji.split(",") if n]
    if names:
        rows += deepmoji_benchmarks(names)
    frame = pd.DataFrame(rows)
    table = summarize(frame)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    frame.to_csv(args.out + "_runs.csv", index=False)
    table.to_csv(args.out + ".csv", index=False)
    with open(args.out + ".md", "w") as handle:
        handle.write(table.to_markdown(index=False, floatfmt=".3f"))
        handle.write("\n")


if __name__ == "__main__":
    main()
