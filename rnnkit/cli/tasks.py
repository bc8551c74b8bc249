"""The work behind the ``rnnkit`` subcommands, callable from Python too.

Each function takes plain values (what the command line parses from flags or a TOML
config) and returns plain results; printing, progress and plots live here as well so
``rnnkit train`` and ``rnnkit.cli.tasks.train(...)`` behave the same.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- data


def read_labelled(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str = "label",
    split: str | None = None,
) -> tuple[list[str], list[str]]:
    """Texts and labels from a CSV, TSV or JSONL file (columns/keys by name).

    JSONL lines with a ``split`` key can be filtered with ``split``. Labels are returned
    as strings. Undecodable bytes are replaced (never a crash on real-world files).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Data file not found: {path}.")
    texts: list[str] = []
    labels: list[str] = []
    suffix = path.suffix.lower()
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        if suffix in (".jsonl", ".json"):
            rows = (json.loads(line) for line in f if line.strip())
        elif suffix in (".csv", ".tsv"):
            rows = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
        else:
            raise ValueError(f"Unsupported data file {path}: expected .csv, .tsv or .jsonl.")
        for n, row in enumerate(rows):
            if split is not None and row.get("split") != split:
                continue
            if text_column not in row or label_column not in row:
                raise ValueError(
                    f"{path}: row {n} has no {text_column!r} / {label_column!r} field; "
                    f"fields are {sorted(row)}. Use --text_column / --label_column."
                )
            label = row[label_column]
            if isinstance(label, list):
                raise ValueError(
                    f"{path}: row {n} has a multi-label value {label!r}; the command line "
                    "trains single-label classifiers."
                )
            texts.append(str(row[text_column] if row[text_column] is not None else ""))
            labels.append(str(label))
    if not texts:
        raise ValueError(f"{path}: no rows found" + (f" with split={split!r}." if split else "."))
    return texts, labels


def train_test_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    cut = max(1, int(round(n * fraction))) if fraction > 0 else 0
    return order[cut:], order[:cut]


# -------------------------------------------------------------------------- model


def build_classifier(
    vocabulary_size: int,
    num_classes: int,
    max_length: int,
    cell: str = "lstm",
    units: int = 64,
    num_layers: int = 1,
    bidirectional: bool = True,
    embedding_dim: int = 64,
    dropout: float = 0.0,
    attention: bool = False,
) -> Any:
    """Embedding -> stacked (Bi)RNN -> [attention pooling] -> softmax, over ids.

    Thin wrapper over :func:`rnnkit.models.acceptor.build_acceptor`.
    """
    from rnnkit.models.acceptor import build_acceptor

    return build_acceptor(
        vocab_size=vocabulary_size,
        num_classes=num_classes,
        embedding_dim=embedding_dim,
        cell=cell,
        units=units,
        num_layers=num_layers,
        bidirectional=bidirectional,
        pooling="attention" if attention else "last",
        dropout=dropout,
        max_length=max_length,
        name="rnnkit_classifier",
    )


# ------------------------------------------------------------------------ metrics


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "n": float(len(y_true)),
    }


def format_table(rows: Sequence[dict[str, Any]], floatfmt: str = ".4f") -> str:
    """A plain-text table (Markdown pipe syntax) of ``rows`` (dicts with the same keys)."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt) if not v.is_integer() or abs(v) < 1 else str(int(v))
        return str(v)

    cells = [[fmt(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(keys), sep, *(line(c) for c in cells)])


def plot_history(history: dict[str, list[float]], path: str | os.PathLike) -> Path:
    """Training curves (one panel per metric, train and validation) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------- tasks


def train(
    data: str,
    output: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    split: str | None = None,
    validation_data: str | None = None,
    validation_split: str | None = None,
    validation_fraction: float = 0.1,
    max_length: int = 40,
    max_vocabulary: int = 20000,
    cell: str = "lstm",
    units: int = 64,
    num_layers: int = 1,
    bidirectional: bool = True,
    embedding_dim: int = 64,
    dropout: float = 0.0,
    attention: bool = False,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    limit: int | None = None,
    verbose: int = 1,
) -> dict[str, Any]:
    """Train a text classifier and save it (``model.keras`` + ``textmodel.json``).

    Returns a dict with the output directory, the history and validation metrics.
    """
    import keras

    from rnnkit.serving.export import TextModel
    from rnnkit.serving.preprocessing import TextPipeline

    keras.utils.set_random_seed(seed)
    texts, labels = read_labelled(data, text_column, label_column, split)
    if limit:
        texts, labels = texts[:limit], labels[:limit]
    if validation_data or validation_split:
        vtexts, vlabels = read_labelled(
            validation_data or data, text_column, label_column, validation_split
        )
        if limit:
            vtexts, vlabels = vtexts[:limit], vlabels[:limit]
    else:
        tr, va = train_test_split(len(texts), validation_fraction, seed)
        vtexts, vlabels = [texts[i] for i in va], [labels[i] for i in va]
        texts, labels = [texts[i] for i in tr], [labels[i] for i in tr]
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"Training data has a single class {classes!r}; need at least 2.")
    unseen = sorted(set(vlabels) - set(classes))
    if unseen:
        raise ValueError(f"Validation labels {unseen!r} do not occur in the training data.")
    index = {c: i for i, c in enumerate(classes)}
    pipe = TextPipeline.fit(texts, max_length=max_length, max_vocabulary=max_vocabulary)
    x, y = pipe.encode(texts), np.array([index[c] for c in labels], dtype="int32")
    vx, vy = pipe.encode(vtexts), np.array([index[c] for c in vlabels], dtype="int32")
    model = build_classifier(
        len(pipe.vocabulary),
        len(classes),
        max_length,
        cell,
        units,
        num_layers,
        bidirectional,
        embedding_dim,
        dropout,
        attention,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    hist = model.fit(
        x,
        y,
        validation_data=(vx, vy) if len(vx) else None,
        epochs=epochs,
        batch_size=batch_size,
        verbose=verbose,
    ).history
    history = {k: [float(v) for v in vals] for k, vals in hist.items()}
    tm = TextModel(model, pipe, classes, "classifier")
    metrics = {}
    if len(vtexts):
        pred = tm.predict(vtexts)["label"]
        metrics = classification_metrics(vlabels, list(pred))
    tm.info = {
        "data": str(data),
        "config": {
            "max_length": max_length,
            "max_vocabulary": max_vocabulary,
            "cell": cell,
            "units": units,
            "num_layers": num_layers,
            "bidirectional": bidirectional,
            "embedding_dim": embedding_dim,
            "dropout": dropout,
            "attention": attention,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "seed": seed,
        },
        "history": history,
        "validation": metrics,
    }
    out = tm.save(output)
    plot = plot_history(history, out / "training_curves.png")
    return {"output": str(out), "history": history, "validation": metrics, "plot": str(plot)}


def evaluate(
    model_dir: str,
    data: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    split: str | None = None,
    limit: int | None = None,
) -> dict[str, float]:
    from rnnkit.serving.export import TextModel

    tm = TextModel.load(model_dir)
    texts, labels = read_labelled(data, text_column, label_column, split)
    if limit:
        texts, labels = texts[:limit], labels[:limit]
    pred = tm.predict(texts)["label"]
    return classification_metrics(labels, list(pred))


def predict(model_dir: str, texts: Sequence[str]) -> list[dict[str, Any]]:
    """One row per text: text, label and each class probability."""
    from rnnkit.serving.export import TextModel

    tm = TextModel.load(model_dir)
    out = tm.predict(list(texts))
    rows = []
    for i, text in enumerate(texts):
        row: dict[str, Any] = {"text": text, "label": str(out["label"][i])}
        for j, name in enumerate(tm.labels):
            row[f"p({name})"] = float(out["probabilities"][i, j])
        rows.append(row)
    return rows
