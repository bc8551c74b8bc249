"""English -> French software messages: seq2seq with attention vs without.

Trains two :class:`rnnkit.models.seq2seq.Seq2Seq` models that differ only in
attention (Bahdanau et al. 2015 vs the encoder state alone, Cho et al. 2014) on
``en-fr-messages/pairs.tsv`` (deduplicated, random 90/5/5 train/validation/test
split), then reports side by side: parameters, training time, validation loss and
test BLEU (sacrebleu, ``tokenize="none"`` over rnnkit's message tokenization, greedy
and beam search). Saves the table as CSV and Markdown and attention heatmaps of a few
test sentences as PNG under ``recipes/results/``.

Every finished epoch of each model is checkpointed (``--checkpoint``, default
``runs/translate_attention/<configuration>/`` in this checkout): after a kill, the same
command goes on from the last finished epoch (a checkpoint of other settings is refused
by name, :mod:`rnnkit.training.checkpoint`).

Usage::

    python recipes/translate_attention.py --quick      # CPU, a few minutes
    python recipes/translate_attention.py              # the full configuration
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001
import keras
import numpy as np
import pandas as pd

from rnnkit.data.en_fr import (
    PAD_ID,
    Vocabulary,
    detokenize,
    encode_pairs,
    load_en_fr,
    split_pairs,
    tokenize,
)
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.recipes._common import add_checkpoint_arguments, checkpoint_dir
from rnnkit.training.checkpoint import EpochCheckpoint, resume

RESULTS = Path(__file__).resolve().parent / "results"
#: this checkout (the default checkpoint goes under its git-ignored ``runs/``)
REPO = Path(__file__).resolve().parents[1]

CONFIGS = {
    "quick": dict(
        max_pairs=None,
        max_length=10,
        train_limit=12000,
        test_limit=300,
        vocabulary=3000,
        embedding_dim=64,
        units=96,
        encoder_layers=1,
        cell="gru",
        epochs=4,
        batch_size=64,
        learning_rate=3e-3,
        dropout=0.0,
        beam_width=4,
    ),
    "full": dict(
        max_pairs=None,
        max_length=30,
        train_limit=None,
        test_limit=None,
        vocabulary=16000,
        embedding_dim=256,
        units=256,
        encoder_layers=2,
        cell="lstm",
        epochs=15,
        batch_size=64,
        learning_rate=1e-3,
        dropout=0.2,
        beam_width=5,
    ),
}


def bleu(hypotheses: list[str], references: list[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize="none").score)


def decode_all(model: Seq2Seq, source: np.ndarray, vocab: Vocabulary, beam: int, max_len: int):
    texts, alignments = [], []
    for start in range(0, len(source), 128):
        result = model.translate(source[start : start + 128], beam_width=beam, max_length=max_len)
        for row, align in zip(result.tokens, result.alignments):
            texts.append(detokenize(vocab.decode(row)))
            alignments.append(align)
    return texts, alignments


def heatmap(path: Path, source_tokens, output_tokens, weights, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(source_tokens), 1 + 0.4 * len(output_tokens)))
    ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source_tokens)), source_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(output_tokens)), output_tokens)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short CPU configuration")
    parser.add_argument("--data", default=None, help="path of pairs.tsv")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heatmaps", type=int, default=4)
    parser.add_argument("--out", default=str(RESULTS), help="folder of the tables and heatmaps")
    add_checkpoint_arguments(
        parser,
        "the per-epoch checkpoints",
        "runs/translate_attention/<configuration>/ in this checkout",
    )
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    args = parser.parse_args(argv)
    name = "quick" if args.quick else "full"
    cfg = dict(CONFIGS[name])
    if args.epochs is not None:
        if args.epochs <= 0:
            parser.error(f"--epochs must be a positive integer, got {args.epochs}")
        cfg["epochs"] = args.epochs
    out = Path(args.out)
    checkpoints = checkpoint_dir(args, REPO / "runs" / "translate_attention" / name)
    keras.utils.set_random_seed(args.seed)
    verbose = 1 if sys.stdout.isatty() else 2

    pairs = load_en_fr(args.data, max_pairs=cfg["max_pairs"])
    train, val, test = split_pairs(pairs, 0.05, 0.05, seed=args.seed)
    print(
        f"{len(pairs)} pairs ({pairs.skipped_duplicates} duplicates, {pairs.skipped_empty} "
        f"empty dropped): train {len(train)}, validation {len(val)}, test {len(test)}"
    )
    src_vocab = Vocabulary.from_texts(map(tokenize, train.sources), max_size=cfg["vocabulary"])
    tgt_vocab = Vocabulary.from_texts(map(tokenize, train.targets), max_size=cfg["vocabulary"])
    max_len = cfg["max_length"]
    enc = {
        split: encode_pairs(p.sources, p.targets, src_vocab, tgt_vocab, max_len, too_long="drop")
        for split, p in (("train", train), ("val", val), ("test", test))
    }
    for split, e in enc.items():
        print(f"{split}: kept {len(e.source)}, dropped {e.dropped_too_long} over {max_len} tokens")
    tr, va, te = enc["train"], enc["val"], enc["test"]
    n_train = min(len(tr.source), cfg["train_limit"] or len(tr.source))
    n_test = min(len(te.source), cfg["test_limit"] or len(te.source))
    test_refs = [detokenize(tokenize(test.targets[i])) for i in te.kept[:n_test]]
    test_src_tokens = [tokenize(test.sources[i]) for i in te.kept[:n_test]]

    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for attention in (True, False):
        label = "attention" if attention else "no attention (encoder state)"
        model = Seq2Seq(
            len(src_vocab),
            len(tgt_vocab),
            embedding_dim=cfg["embedding_dim"],
            units=cfg["units"],
            encoder_layers=cfg["encoder_layers"],
            cell=cfg["cell"],
            attention=attention,
            dropout=cfg["dropout"],
        )
        model.compile(
            optimizer=keras.optimizers.Adam(cfg["learning_rate"], clipnorm=5.0),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID),
        )
        model.build(None)
        print(f"\n== {label} ==")
        # what shapes the run: a checkpoint of other settings is refused by name (more
        # epochs than the checkpoint's train on)
        settings = {
            **{k: v for k, v in cfg.items() if k != "epochs"},
            "seed": args.seed,
            "data": str(args.data),
            "pairs": len(pairs),
            "train_pairs": n_train,
            "vocabularies": [len(src_vocab), len(tgt_vocab)],
            "model": {k: v for k, v in model.get_config().items() if k != "name"},
        }
        callbacks, history = [], []
        if checkpoints is not None:
            folder = checkpoints / ("attention" if attention else "no_attention")
            history = resume(model, folder, settings, "translate_attention")
            if history:
                print(f"Resuming from {folder}: {len(history)} epoch(s) done")
            callbacks = [EpochCheckpoint(folder, settings, history)]
        start = time.perf_counter()
        fit = model.fit(
            [tr.source[:n_train], tr.target_in[:n_train]],
            tr.target_out[:n_train],
            validation_data=([va.source, va.target_in], va.target_out),
            epochs=cfg["epochs"],
            initial_epoch=min(len(history), cfg["epochs"]),
            batch_size=cfg["batch_size"],
            verbose=verbose,
            callbacks=callbacks,
        )
        if callbacks:  # the epochs of this process and of the earlier ones
            history = callbacks[0].history
            train_time = sum(row["seconds"] for row in history)
            val_loss, epochs = history[-1]["val_loss"], len(history)
        else:
            train_time = time.perf_counter() - start
            val_loss, epochs = fit.history["val_loss"][-1], cfg["epochs"]
        greedy, _ = decode_all(model, te.source[:n_test], tgt_vocab, 1, max_len + 1)
        start = time.perf_counter()
        beam, aligns = decode_all(
            model, te.source[:n_test], tgt_vocab, cfg["beam_width"], max_len + 1
        )
        beam_time = time.perf_counter() - start
        rows.append(
            {
                "model": label,
                "parameters": model.count_params(),
                "train_pairs": n_train,
                "epochs": epochs,
                "train_s": round(train_time, 1),
                "val_loss": round(float(val_loss), 4),
                "test_pairs": n_test,
                "bleu_greedy": round(bleu(greedy, test_refs), 2),
                f"bleu_beam{cfg['beam_width']}": round(bleu(beam, test_refs), 2),
                "beam_decode_s": round(beam_time, 1),
            }
        )
        for i in range(3):
            print(f"  {test.sources[te.kept[i]]!r}\n    ref  {test_refs[i]}\n    beam {beam[i]}")
        if attention:
            for i in range(min(args.heatmaps, n_test)):
                out_tokens = beam[i].split() + ["</s>"]
                weights = aligns[i][: len(out_tokens), : len(test_src_tokens[i])]
                heatmap(
                    out / f"translate_attention_{name}_heatmap_{i}.png",
                    test_src_tokens[i],
                    out_tokens[: len(weights)],
                    weights,
                    f"{test.sources[te.kept[i]]}",
                )
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))
    table.to_csv(out / f"translate_attention_{name}.csv", index=False)
    header = (
        f"# Translation en->fr software messages ({name} configuration)\n\n"
        f"Config: {cfg}. BLEU: sacrebleu corpus BLEU, tokenize='none' over rnnkit's "
        f"message tokenization, on {n_test} test pairs of at most {max_len} tokens.\n\n"
    )
    (out / f"translate_attention_{name}.md").write_text(
        header + table.to_markdown(index=False) + "\n"
    )
    return table


if __name__ == "__main__":
    main()
