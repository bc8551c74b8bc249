"""Pretrain DeepMoji: on an emoji corpus if you have one, else on the sentiment stand-in.

    rnnkit pretrain --quick
    rnnkit pretrain --config medium
    rnnkit pretrain --config full --emoji-corpus 'tweets/*.jsonl.gz'
    rnnkit pretrain --config full --corpus CORPUS_DIR     # from `rnnkit prepare-corpus`

Without ``--emoji-corpus`` or ``--corpus`` the model is pretrained on the tweets-sentiment
data set of the data root (38k tweets, negative / neutral / positive; ``--samples N`` for
fewer): no emoji corpus of useful size is available to the project (see
recipes/deepmoji/README.md). The model, its vocabulary and ``pretrain.json`` go to
``--out`` (default ``runs/deepmoji/<config>/`` in the current folder; ``--runs`` moves
``runs/deepmoji``), checkpoints to its ``checkpoints/``. Interrupt it at any time and run
the same command again: it resumes from the checkpoint where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.tweets_sentiment import LABELS, load_tweets_sentiment
from rnnkit.models.deepmoji import DeepMojiTokenizer, build_vocabulary
from rnnkit.models.deepmoji.transfer import Config, build, save_pretrained
from rnnkit.recipes._deepmoji import (
    DEFAULT_RUNS,
    add_config_arguments,
    artifacts_dir,
    chosen_config,
    positive_int,
)
from rnnkit.training import pretrain

__all__ = ["emoji_corpus", "main", "pretrain_corpus", "stand_in_corpus"]


def stand_in_corpus(samples: int | None, seed: int) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, label ids and label names of the tweets-sentiment stand-in (``samples``
    tweets drawn with ``seed``; all when None)."""
    frame = load_tweets_sentiment(sample=samples, random_state=seed)
    labels = frame["sentiment"].map({name: i for i, name in enumerate(LABELS)}).to_numpy()
    return frame["text"].tolist(), labels.astype("int64"), list(LABELS)


def emoji_corpus(pattern: str, per_class: int, seed: int) -> tuple[list[str], np.ndarray, list]:
    """Texts, label ids and classes of DeepMoji's 64 emoji extracted from the raw texts of
    ``pattern`` (a glob), at most ``per_class`` per class."""
    from rnnkit.data import iter_texts
    from rnnkit.models.deepmoji import (
        EmojiCorpusStats,
        balanced_sample,
        extract_examples,
        load_emoji_classes,
    )

    classes = load_emoji_classes()
    stats = EmojiCorpusStats()
    examples = balanced_sample(
        extract_examples(iter_texts(pattern), classes, stats=stats),
        per_class=per_class,
        seed=seed,
        num_classes=len(classes),
    )
    print(stats.as_table())
    if not examples:
        raise ValueError(f"no emoji examples found in {pattern}, expected texts with emoji")
    return [e.text for e in examples], np.array([e.label for e in examples]), list(classes)


def pretrain_corpus(
    args: argparse.Namespace, config: Config, out: Path, start: float
) -> dict[str, Any]:
    """Pretrains on a prepared corpus (``--corpus DIR``): the model is built with the
    corpus's vocabulary, labels and maxlen; validation is the corpus's validation split.
    In a cluster (TF_CONFIG or RNNKIT_COORDINATOR, see docs/pretraining.md) pass
    ``--distribute``."""
    from rnnkit.models.deepmoji import load_corpus
    from rnnkit.training import distributed

    cluster = distributed.init_from_env()  # before any model or tensor exists
    info = load_corpus(args.corpus)
    config = dataclasses.replace(config, maxlen=info.maxlen)
    chief = cluster is None or cluster.is_chief
    if chief:
        print(
            f"Pretraining corpus: {info.directory}; {info.splits['train']:,} train / "
            f"{info.splits['validation']:,} validation examples, {len(info.labels)} labels, "
            f"vocabulary {info.vocabulary_size:,}, maxlen {info.maxlen}, config {config.name}."
        )
    result = pretrain(
        lambda: build(config, info.vocabulary_size, len(info.labels)),
        info,
        checkpoint_dir=out / "checkpoints",
        epochs=args.epochs or config.pretrain_epochs,
        batch_size=args.batch_size or config.pretrain_batch,
        learning_rate=config.pretrain_lr,
        checkpoint_every=50,
        seed=args.seed,
        distribute=args.distribute,
        shuffle_buffer=args.shuffle_buffer,
        balanced=args.balanced,
        skip_bad_records=args.skip_bad_records,
        verbose=args.verbose,
    )
    info_out = {
        "corpus": str(info.directory),
        "content_hash": info.manifest.get("content_hash"),
        "classes": list(info.labels),
        "n_train": int(info.splits["train"]),
        "n_val": int(info.splits["validation"]),
        "history": result.history,
        "examples_left_out": result.examples_left_out,
        "seconds": round(time.time() - start, 1),
    }
    if chief:
        save_pretrained(result.model, info.vocabulary(), config, out, info_out)
        for i, h in enumerate(result.history, 1):
            print(f"epoch {i}: " + ", ".join(f"{k} {v:.4f}" for k, v in h.items()))
        print(f"Saved {out / 'pretrained.keras'} ({info_out['seconds']} s).")
    return info_out


def main(
    argv: Sequence[str] | None = None,
    *,
    runs: str | os.PathLike = DEFAULT_RUNS,
    prog: str | None = None,
) -> dict[str, Any]:
    """Pretrains (see the module docstring); returns what ``pretrain.json`` records besides
    the configuration: the corpus, classes, split sizes, per-epoch history, seconds.
    ``runs`` is the default of ``--runs`` (a source checkout's script passes its own),
    ``prog`` the program name of the usage and error lines (``rnnkit pretrain``)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    add_config_arguments(parser, runs=runs)
    parser.add_argument("--emoji-corpus", help="glob of raw emoji-bearing text shards")
    parser.add_argument("--per-class", type=int, default=100_000, help="emoji examples/class")
    parser.add_argument(
        "--samples",
        type=positive_int,
        help="stand-in tweets to pretrain on (default: the config's; quick: 16000, others all)",
    )
    parser.add_argument("--out", help="artifacts folder (default: RUNS/<config>)")
    parser.add_argument("--distribute", action="store_true", help="data parallel (JAX/TF)")
    parser.add_argument(
        "--corpus", help="a corpus prepared by `rnnkit prepare-corpus` (streamed from disk)"
    )
    parser.add_argument("--epochs", type=positive_int, help="epochs (default: the config's)")
    parser.add_argument(
        "--batch-size", type=positive_int, help="(global) batch size (default: the config's)"
    )
    parser.add_argument("--balanced", action="store_true", help="class-balanced sampling")
    parser.add_argument("--shuffle-buffer", type=int, default=10_000, help="records")
    parser.add_argument("--skip-bad-records", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, help="Keras verbosity (0, 1, 2)")
    args = parser.parse_args(argv)
    config = chosen_config(args)
    out = artifacts_dir(config, args.runs, args.out)
    start = time.time()

    if args.corpus:
        return pretrain_corpus(args, config, out, start)
    if args.emoji_corpus:
        texts, labels, classes = emoji_corpus(args.emoji_corpus, args.per_class, args.seed)
        corpus = f"emoji corpus {args.emoji_corpus}"
    else:
        texts, labels, classes = stand_in_corpus(args.samples or config.pretrain_samples, args.seed)
        corpus = "stand-in: tweets-sentiment (3 classes)"
    tokenizer = DeepMojiTokenizer()
    vocab = build_vocabulary(texts, min_count=2, max_size=config.vocab_size, tokenizer=tokenizer)
    x = DeepMojiTokenizer(vocab).encode(texts, config.maxlen)
    keep = (x != 0).any(axis=1)  # texts without any word cannot be classified
    x, y = x[keep], labels[keep]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    n_val = max(1, len(x) // 20)
    val, train = order[:n_val], order[n_val:]
    print(
        f"Pretraining corpus: {corpus}; {len(train):,} train / {len(val):,} validation texts, "
        f"{len(classes)} classes, vocabulary {len(vocab):,}, config {config.name}."
    )
    epochs = args.epochs or config.pretrain_epochs
    result = pretrain(
        lambda: build(config, len(vocab), len(classes)),
        (x[train], y[train]),
        (x[val], y[val]),
        checkpoint_dir=out / "checkpoints",
        epochs=epochs,
        batch_size=args.batch_size or config.pretrain_batch,
        learning_rate=config.pretrain_lr,
        checkpoint_every=50,
        seed=args.seed,
        distribute=args.distribute,
        verbose=args.verbose,
    )
    last = result.history[-1]
    info = {
        "corpus": corpus,
        "classes": classes,
        "n_train": int(len(train)),
        "n_val": int(len(val)),
        "history": result.history,
        "seconds": round(time.time() - start, 1),
    }
    save_pretrained(result.model, vocab, config, out, info)
    print("\n| epoch | loss | top-1 | top-5 | val loss | val top-1 | val top-5 |")
    print("|---|---|---|---|---|---|---|")
    for i, h in enumerate(result.history, 1):
        print(
            f"| {i} | {h['loss']:.4f} | {h['top1']:.4f} | {h['top5']:.4f} | "
            f"{h.get('val_loss', float('nan')):.4f} | {h.get('val_top1', float('nan')):.4f} | "
            f"{h.get('val_top5', float('nan')):.4f} |"
        )
    print(
        f"Saved {out / 'pretrained.keras'} ({info['seconds']} s); val top-1 "
        f"{last.get('val_top1', float('nan')):.4f}."
    )
    return info


if __name__ == "__main__":
    main(sys.argv[1:])
