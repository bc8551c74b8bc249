"""Named-entity tagging of tweets: softmax tagger vs the default CRF tagger (char CNN + case).

Data: ../shared/data/ner-tweets/train.bio (2,394 tweets, BIO over 10 entity types).
Both models are :class:`rnnkit.sklearn.RNNSequenceTagger`, i.e. the model builder
:class:`rnnkit.models.taggers.SequenceTagger` the estimator uses:

* ``softmax``: word ids only, a softmax per token (``crf=False, chars=None,
  case_features=False``);
* ``crf-chars``: the estimator's defaults (word + word-shape + character-CNN features,
  BiLSTM, CRF), with ``--no-chars`` without the character CNN.

Evaluation: entity-level precision / recall / F1 with seqeval on a fixed held-out split
(``--test-fraction``, split seed 0) or k-fold cross-validation (``--folds k``), over
several seeds; invalid BIO transitions (an ``I-x`` not after ``B-x``/``I-x``) counted
in each model's predictions. Training early-stops on a validation part of the training
sentences. The table is printed and saved as CSV and Markdown under
``recipes/results/``.

Every finished run (split, seed, model) is recorded as it ends (``--checkpoint``, default
``runs/tagging_ner/<results name>/`` in this checkout): after a kill, the same command
goes on with the runs still to do; ``--seeds`` may grow, other settings than the
recorded ones are refused by name.

Usage::

    python recipes/tagging_ner.py --quick        # small CPU run (minutes)
    python recipes/tagging_ner.py --seeds 3      # full run
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# the frameworks' start-up lines only with --verbose N > 0 (read by `import rnnkit`)
os.environ.setdefault("RNNKIT_QUIET", "auto")

import numpy as np
import pandas as pd
from seqeval.metrics import f1_score, precision_score, recall_score

from rnnkit.data.ner import bio_violations, load_bio
from rnnkit.recipes._common import add_checkpoint_arguments, checkpoint_dir
from rnnkit.sklearn import RNNSequenceTagger
from rnnkit.training.checkpoint import RunRecord, fingerprint

RESULTS = Path(__file__).parent / "results"
#: this checkout (the default run record goes under its git-ignored ``runs/``)
REPO = Path(__file__).resolve().parents[1]
#: the arguments that do not change a run's result (``seeds`` only adds runs)
NOT_SETTINGS = ("verbose", "out", "checkpoint", "no_checkpoint", "seeds")
#: the fields of a result row that name its run
KEY = ("split", "seed", "model")


def splits(n: int, test_fraction: float, folds: int | None):
    order = np.random.default_rng(0).permutation(n)
    if not folds:
        cut = int(round(n * (1 - test_fraction)))
        yield "held-out", order[:cut], order[cut:]
        return
    for k, test in enumerate(np.array_split(order, folds)):
        yield f"fold{k}", np.setdiff1d(order, test), test


def make_tagger(kind: str, args, seed: int) -> RNNSequenceTagger:
    params = dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        embedding_dim=args.embedding_dim,
        units=args.units,
        dropout=args.dropout,
        learning_rate=args.lr,
        random_state=seed,
        verbose=args.verbose,
    )
    if kind == "softmax":
        return RNNSequenceTagger(crf=False, chars=None, case_features=False, **params)
    return RNNSequenceTagger(chars="cnn" if args.chars else None, **params)


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="BIO file (default: the shared tweets)")
    parser.add_argument("--quick", action="store_true", help="small CPU run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=None, help="k-fold instead of held-out")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    defaults = RNNSequenceTagger()
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="most epochs")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim)
    parser.add_argument("--units", type=int, default=defaults.units)
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--no-chars", dest="chars", action="store_false")
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS))
    add_checkpoint_arguments(
        parser, "the record of finished runs", "runs/tagging_ner/<results name>/ in this checkout"
    )
    args = parser.parse_args(argv)
    if args.seeds <= 0:
        parser.error(f"--seeds must be a positive integer, got {args.seeds}")
    if args.folds is not None and args.folds < 2:
        parser.error(f"--folds must be 2 or more, got {args.folds}")
    if not 0 < args.test_fraction < 1:
        parser.error(f"--test-fraction must be between 0 and 1, got {args.test_fraction}")
    sentences = load_bio(args.data)
    if args.quick:
        sentences = [sentences[i] for i in np.random.default_rng(1).permutation(len(sentences))]
        sentences = sentences[:800]
        args.seeds, args.epochs = min(args.seeds, 2), min(args.epochs, 20)
        args.embedding_dim, args.units = 32, 32
    stem = "tagging_ner_quick" if args.quick else "tagging_ner"
    folder = checkpoint_dir(args, REPO / "runs" / "tagging_ner" / stem)
    settings = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
    settings.update(
        data=fingerprint([(s.tokens, s.tags) for s in sentences]), sentences=len(sentences)
    )
    record = None if folder is None else RunRecord(folder, settings, KEY, "tagging_ner")
    if record is not None and len(record):
        print(f"Resuming from {folder}: {len(record)} run(s) done")
    rows = []
    for split_name, train_idx, test_idx in splits(len(sentences), args.test_fraction, args.folds):
        train_s = [sentences[i] for i in train_idx]
        test_s = [sentences[i] for i in test_idx]
        gold = [s.tags for s in test_s]
        for seed in range(args.seeds):
            for kind in ("softmax", "crf-chars" if args.chars else "crf"):
                run = {"split": split_name, "seed": seed, "model": kind}
                done = None if record is None else record.get(run)
                if done is not None:
                    rows.append(done)
                    continue
                start = time.perf_counter()
                print(f"== {split_name} seed {seed} {kind} ({len(train_s)} train sentences)")
                tagger = make_tagger(kind, args, seed)
                tagger.fit([s.tokens for s in train_s], [s.tags for s in train_s])
                pred = tagger.predict([s.tokens for s in test_s])
                rows.append(
                    {
                        **run,
                        "precision": precision_score(gold, pred),
                        "recall": recall_score(gold, pred),
                        "f1": f1_score(gold, pred),
                        "invalid_bio": sum(bio_violations(p) for p in pred),
                        "train_s": time.perf_counter() - start,
                    }
                )
                print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format="%.4f"))
                if record is not None:
                    record.add(rows[-1])
    table = pd.DataFrame(rows)
    summary = (
        table.groupby("model", sort=False)
        .agg(
            f1_mean=("f1", "mean"),
            f1_std=("f1", "std"),
            precision=("precision", "mean"),
            recall=("recall", "mean"),
            invalid_bio_mean=("invalid_bio", "mean"),
            runs=("f1", "size"),
        )
        .reset_index()
    )
    print("\nPer run:\n" + table.to_string(index=False, float_format="%.4f"))
    print("\nSummary (entity-level seqeval, mean over runs):")
    print(summary.to_string(index=False, float_format="%.4f"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{stem}.csv", index=False)
    with open(out / f"{stem}.md", "w", encoding="utf-8") as f:
        f.write(
            f"# NER tweets: softmax tagger vs CRF tagger ({'quick' if args.quick else 'full'})\n\n"
        )
        protocol = f"{args.folds}-fold" if args.folds else f"held-out {args.test_fraction}"
        f.write(
            f"{len(sentences)} sentences, {protocol}, {args.seeds} seeds, at most {args.epochs} "
            "epochs (early stopping on a validation part of the training sentences), "
            f"emb {args.embedding_dim}, units {args.units}, char features {args.chars}.\n\n"
        )
        f.write(summary.to_markdown(index=False, floatfmt=".4f") + "\n\n")
        f.write(table.to_markdown(index=False, floatfmt=".4f") + "\n")
    print(f"saved {out / (stem + '.csv')} and {out / (stem + '.md')}")
    return table


if __name__ == "__main__":
    main()
