"""What DeepMoji attends to: per-word attention weights as text, as a table and as a PNG
heatmap.

    python recipes/deepmoji/attention_view.py --quick "I love this so much!!" "worst day ever"
    python -m rnnkit.recipes.deepmoji_attention --quick "I love this!!"

Uses the pretrained model of a configuration (``RUNS/<config>/``, ``--runs`` default
``runs/deepmoji``; ``--pretrained DIR`` for another folder) unless ``--model`` /
``--vocabulary`` name other files, and writes the heatmap to
``OUT/deepmoji_attention_<config>.png`` (``--out`` default ``runs/deepmoji/results``) or
``--png``. The weights come from :mod:`rnnkit.models.deepmoji.attention`; this module
turns them into text (:func:`as_text`), a Markdown table (:func:`attention_table`) and a
heatmap (:func:`save_heatmap`, matplotlib: the ``plot`` extra). The benchmark
(:mod:`rnnkit.recipes.deepmoji_benchmark`) shows its chain-thaw model's attention with
these.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from rnnkit.extras import require
from rnnkit.models.deepmoji import load_vocabulary
from rnnkit.models.deepmoji.attention import attention_ratios, token_attention
from rnnkit.recipes._deepmoji import (
    DEFAULT_RESULTS,
    DEFAULT_RUNS,
    add_config_arguments,
    artifacts_dir,
    chosen_config,
    where,
)

__all__ = ["as_text", "attention_table", "main", "save_heatmap"]

Rows = list[list[tuple[str, float]]]


def as_text(pairs: list[tuple[str, float]], width: int = 30) -> str:
    """One line per word: the word, its weight and a bar proportional to it.

    Example:

    >>> print(as_text([("good", 0.75), ("day", 0.25)], width=4))
    good                0.750 ####
    day                 0.250 #
    """
    if not pairs:
        return "(no words)"
    top = max(w for _, w in pairs) or 1.0
    return "\n".join(
        f"{word[:18]:<18} {weight:6.3f} {'#' * round(width * weight / top)}"
        for word, weight in pairs
    )


def attention_table(texts: list[str], rows: Rows) -> str:
    """A Markdown table: per text, its words, the top word, its weight, the uniform weight
    and their ratio, and whether the top word carries at least twice the uniform weight."""
    lines = [
        "| text | words | top word | weight | uniform | ratio | >= 2x |",
        "|---|---|---|---|---|---|---|",
    ]
    for text, row, ratio in zip(texts, rows, attention_ratios(rows)):
        short = text if len(text) <= 40 else text[:37] + "..."
        short = short.replace("|", "/")
        if not row:
            lines.append(f"| {short} | 0 | | | | | |")
            continue
        word, weight = max(row, key=lambda p: p[1])
        lines.append(
            f"| {short} | {len(row)} | {word} | {weight:.3f} | {1 / len(row):.3f} | "
            f"{ratio:.2f} | {'yes' if ratio >= 2 else 'NO'} |"
        )
    return "\n".join(lines)


def save_heatmap(rows: Rows, path: str | os.PathLike, title: str = "") -> Path:
    """A PNG heatmap: one row per text, one cell per word, colour = attention weight.
    Returns the path.

    Raises:
        ImportError: without matplotlib (the message names the extra to install).
    """
    matplotlib = require("matplotlib", "The DeepMoji attention heatmap")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n_cols = max(1, max((len(r) for r in rows), default=0))
    grid = np.full((len(rows), n_cols), np.nan)
    for i, row in enumerate(rows):
        grid[i, : len(row)] = [w for _, w in row]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * n_cols), 0.7 * len(rows) + 1.2))
    image = ax.imshow(grid, cmap="Reds", aspect="auto", vmin=0)
    top = np.nanmax(grid) if np.isfinite(grid).any() else 1.0
    for i, row in enumerate(rows):
        for j, (word, weight) in enumerate(row):
            colour = "white" if weight > 0.6 * top else "black"  # readable on dark cells
            ax.text(
                j,
                i,
                f"{word[:10]}\n{weight:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color=colour,
            )
    ax.set_xticks([])
    ax.set_yticks(range(len(rows)), [f"text {i + 1}" for i in range(len(rows))])
    ax.set_title(title or "DeepMoji attention per word")
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(
    argv: Sequence[str] | None = None,
    *,
    runs: str | os.PathLike = DEFAULT_RUNS,
    out: str | os.PathLike = DEFAULT_RESULTS,
    prog: str | None = None,
) -> dict:
    """The attention view of ``texts`` (see the module docstring); returns ``{"texts",
    "attention" (per text its (word, weight) pairs), "table", "heatmap"}`` (``heatmap``
    None when matplotlib is missing: a warning says so). ``runs`` and ``out`` are the
    defaults of ``--runs`` and ``--out`` (a source checkout's script passes its own),
    ``prog`` the program name of the usage and error lines."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("texts", nargs="+", help="texts to show the attention of")
    add_config_arguments(parser, runs=runs)
    parser.add_argument("--pretrained", help="artifacts folder (default: RUNS/<config>)")
    parser.add_argument("--model", help="a .keras DeepMoji model (default: the pretrained one)")
    parser.add_argument("--vocabulary", help="its vocabulary.json")
    parser.add_argument(
        "--out", default=str(out), help=f"folder for the PNG (default: {where(out)})"
    )
    parser.add_argument("--png", help="output PNG (default: OUT/deepmoji_attention_<config>.png)")
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    args = parser.parse_args(argv)
    config = chosen_config(args)
    folder = artifacts_dir(config, args.runs, args.pretrained)
    model_path = Path(args.model) if args.model else folder / "pretrained.keras"
    if not model_path.is_file():
        raise FileNotFoundError(
            f"no DeepMoji model at {model_path}, expected a .keras file: run `rnnkit "
            f"pretrain --config {config.name}` first, or pass --pretrained DIR or --model FILE"
        )
    model = keras.models.load_model(model_path, safe_mode=True)
    vocab = load_vocabulary(args.vocabulary or folder / "vocabulary.json")
    rows = token_attention(model, vocab, args.texts, config.maxlen)
    for text, row in zip(args.texts, rows):
        print(f"\n{text}\n{as_text(row)}")
    table = attention_table(args.texts, rows)
    print(f"\n{table}")
    png = Path(args.png) if args.png else Path(args.out) / f"deepmoji_attention_{config.name}.png"
    try:
        heatmap: Path | None = save_heatmap(rows, png)
        print(f"\nSaved {png}")
    except ImportError as e:
        heatmap = None
        print(f"warning: no heatmap: {e}", file=sys.stderr)
    return {"texts": list(args.texts), "attention": rows, "table": table, "heatmap": heatmap}


if __name__ == "__main__":
    main(sys.argv[1:])
