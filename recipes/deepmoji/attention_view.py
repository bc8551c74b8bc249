"""What DeepMoji attends to: per-token attention weights as text and as a PNG heatmap.

    python recipes/deepmoji/attention_view.py --quick "I love this so much!!" "worst day ever"

Uses the pretrained model of a configuration (``runs/deepmoji/<config>/``) unless
``--model`` / ``--vocabulary`` name other files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, artifacts_dir, get_config  # noqa: E402

from rnnkit.models import deepmoji  # noqa: E402
from rnnkit.text import DeepMojiTokenizer, load_vocabulary  # noqa: E402


def attention_model(model: keras.Model) -> keras.Model:
    """The same DeepMoji model (same weights) with outputs ``[probabilities, attention]``."""
    if len(model.outputs) == 2:
        return model
    embedding = model.get_layer("embedding")
    cell = model.get_layer("bi_lstm_0").forward_layer.cell
    units = model.get_layer("softmax").units
    gate = "hard_sigmoid" if cell.get_config()["recurrent_activation"] != "sigmoid" else "sigmoid"
    clone = deepmoji(
        embedding.input_dim,
        max(2, units),
        model.inputs[0].shape[1],
        gate=gate,
        return_attention=True,
        embedding_dim=embedding.output_dim,
        lstm_units=cell.units,
    )
    for layer in model.layers:
        if layer.weights:
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    return clone


def token_attention(
    model: keras.Model, vocabulary: dict, texts: list[str], maxlen: int
) -> list[list[tuple[str, float]]]:
    """Per text, the ``(word, attention weight)`` of each of its first ``maxlen`` words."""
    tokenizer = DeepMojiTokenizer(vocabulary)
    ids = tokenizer.encode(texts, maxlen)
    _, attention = attention_model(model).predict(ids, verbose=0)
    return [
        list(zip(tokenizer.words(text)[:maxlen], attention[i].tolist()))
        for i, text in enumerate(texts)
    ]


def as_text(pairs: list[tuple[str, float]], width: int = 30) -> str:
    """One line per word: the word, its weight and a bar proportional to it."""
    if not pairs:
        return "(no words)"
    top = max(w for _, w in pairs) or 1.0
    return "\n".join(
        f"{word[:18]:<18} {weight:6.3f} {'#' * round(width * weight / top)}"
        for word, weight in pairs
    )


def attention_ratios(rows: list[list[tuple[str, float]]]) -> np.ndarray:
    """Per text, the top word's weight over the uniform weight ``1 / number of words``
    (1 for flat attention; NaN for a text without words)."""
    return np.array([max(w for _, w in r) * len(r) if r else np.nan for r in rows])


def attention_table(texts: list[str], rows: list[list[tuple[str, float]]]) -> str:
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


def save_heatmap(rows: list[list[tuple[str, float]]], path: Path, title: str = "") -> None:
    """A PNG heatmap: one row per text, one cell per word, colour = attention weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_cols = max(1, max(len(r) for r in rows))
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--config", default="medium")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", help="a .keras DeepMoji model")
    parser.add_argument("--vocabulary", help="its vocabulary.json")
    parser.add_argument("--png", help="output PNG (default recipes/results/...)")
    args = parser.parse_args(argv)
    config = get_config("quick" if args.quick else args.config)
    folder = artifacts_dir(config)
    model = keras.models.load_model(args.model or folder / "pretrained.keras", safe_mode=True)
    vocab = load_vocabulary(args.vocabulary or folder / "vocabulary.json")
    rows = token_attention(model, vocab, args.texts, config.maxlen)
    for text, row in zip(args.texts, rows):
        print(f"\n{text}\n{as_text(row)}")
    png = Path(args.png) if args.png else RESULTS / f"deepmoji_attention_{config.name}.png"
    save_heatmap(rows, png)
    print(f"\nSaved {png}")


if __name__ == "__main__":
    main()
