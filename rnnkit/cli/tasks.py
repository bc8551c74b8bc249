"""The work behind the ``rnnkit`` subcommands, callable from Python too.

Each function takes plain values (what the command line parses from flags or a TOML
config) and returns plain results; printing, progress and plots live here as well so
``rnnkit train`` and ``rnnkit.cli.tasks.train(...)`` behave the same.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import math
import os
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.atomic import atomic_path, checkpoint_sibling
from rnnkit.cli.validation import DataError, validate_args

# --------------------------------------------------------------------------- data


#: label values that mean "no label" (compared after stripping, case-insensitively);
#: JSON null and NaN are missing too. Rows with a missing label are dropped and counted
#: (``strict=True``: rejected), never made into a class.
MISSING_LABELS = frozenset({"", "nan", "null", "n/a", "#n/a", "<na>"})

Warn = Callable[[str], None]


def _print_warning(message: str) -> None:
    print(f"rnnkit: warning: {message}", file=sys.stderr, flush=True)


def is_missing_label(value: Any) -> bool:
    """None, NaN, blank or one of :data:`MISSING_LABELS`."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip().lower() in MISSING_LABELS
    return False


@dataclass
class DecodedLines:
    """The lines of a decoded file (line endings kept) and where bytes were replaced."""

    lines: list[str]
    #: 0-based indices of the lines in which undecodable bytes were replaced by U+FFFD
    replaced: list[int] = field(default_factory=list)
    #: the file is not UTF-8 but every non-ASCII line is valid cp1252 (Windows-1252)
    looks_cp1252: bool = False
    encoding: str = "utf-8"

    def warning(self, source: str, rows: int | None = None) -> str | None:
        """The message that reports the replaced bytes, or None when there were none."""
        if not self.replaced:
            return None
        count = len(self.replaced) if rows is None else rows
        message = (
            f"{source}: {count} row{'s' if count != 1 else ''} had bytes that are not valid "
            f"{self.encoding} (first at line {self.replaced[0] + 1}); they were replaced "
            "with U+FFFD"
        )
        if self.looks_cp1252:
            message += (
                "; the file looks like cp1252 (Windows-1252), not UTF-8: pass --encoding "
                "cp1252 to read it as such"
            )
        else:
            message += "; pass --encoding if the file is in another encoding"
        return message


def decode_lines(raw: bytes, encoding: str = "utf-8") -> DecodedLines:
    """Decode ``raw`` into lines, replacing undecodable bytes (U+FFFD) line by line.

    The same rule everywhere (``train``, ``evaluate``, ``predict``): a line with bytes
    that are not valid ``encoding`` is decoded with the bytes replaced and reported.
    A UTF-8 byte-order mark is dropped.
    """
    codecs.lookup(encoding)  # LookupError for an unknown name
    utf8 = codecs.lookup(encoding).name == "utf-8"
    if utf8 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    if "\n".encode(encoding, "ignore") != b"\n":  # UTF-16/32: decode the whole file
        text = raw.decode(encoding, errors="replace")
        lines = text.splitlines(keepends=True)
        try:
            raw.decode(encoding)
            replaced: list[int] = []
        except UnicodeDecodeError:
            replaced = [i for i, line in enumerate(lines) if "\ufffd" in line]
        return DecodedLines(lines, replaced, False, encoding)
    lines, replaced = [], []
    cp1252 = utf8
    for i, chunk in enumerate(raw.splitlines(keepends=True)):
        try:
            lines.append(chunk.decode(encoding))
            if cp1252 and not chunk.isascii():
                cp1252 = False  # a valid non-ASCII UTF-8 line: not a cp1252 file
        except UnicodeDecodeError:
            lines.append(chunk.decode(encoding, errors="replace"))
            replaced.append(i)
            if cp1252:
                try:
                    chunk.decode("cp1252")
                except UnicodeDecodeError:
                    cp1252 = False
    return DecodedLines(lines, replaced, cp1252 and bool(replaced), encoding)


def read_lines(path: str | os.PathLike, encoding: str = "utf-8") -> DecodedLines:
    """:func:`decode_lines` of a file, or of stdin for ``"-"``."""
    if str(path) == "-":
        return decode_lines(sys.stdin.buffer.read(), encoding)
    return decode_lines(Path(path).read_bytes(), encoding)


def _rows(path: Path, lines: list[str], suffix: str, columns: tuple[str, str]) -> Iterator:
    """``(first line, last line, row dict)`` of a JSONL or CSV/TSV file (1-based lines)."""
    if suffix in (".jsonl", ".json"):
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise DataError(
                    f"{path}, line {i + 1}: not valid JSON ({getattr(e, 'msg', e)}), "
                    "expected one JSON object per line"
                ) from None
            if not isinstance(row, dict):
                raise DataError(
                    f"{path}, line {i + 1}: a JSON {type(row).__name__} "
                    f"({json.dumps(row)[:40]}), expected a JSON object with "
                    f"{columns[0]!r} and {columns[1]!r} keys"
                )
            yield i + 1, i + 1, row
        return
    reader = csv.DictReader(iter(lines), delimiter="\t" if suffix == ".tsv" else ",")
    try:
        fields = reader.fieldnames
        if not fields:
            return
        missing = [c for c in columns if c not in fields]
        if missing:
            raise DataError(
                f"{path}: no {' / '.join(repr(c) for c in missing)} column; columns are "
                f"{list(fields)}, expected --text_column / --label_column to name them"
            )
        last = reader.line_num
        for row in reader:
            yield last + 1, reader.line_num, row
            last = reader.line_num
    except csv.Error as e:
        limit = csv.field_size_limit()
        raise DataError(
            f"{path}, line {reader.line_num + 1}: {e}, expected CSV fields of at most "
            f"{limit:,} characters and no NUL bytes"
            if "field larger" in str(e)
            else f"{path}, line {reader.line_num + 1}: malformed CSV ({e})"
        ) from None


def read_labelled(
    path: str | os.PathLike,
    text_column: str = "text",
    label_column: str = "label",
    split: str | None = None,
    *,
    limit: int | None = None,
    encoding: str = "utf-8",
    strict: bool = False,
    warn: Warn | None = None,
) -> tuple[list[str], list[str]]:
    """Texts and labels from a CSV, TSV or JSONL file (columns/keys by name).

    JSONL lines with a ``split`` key can be filtered with ``split``; ``limit`` keeps the
    first rows (with a label) only. Labels are returned as strings. Rows whose label is
    missing (no such key, JSON null or NaN, blank, or one of :data:`MISSING_LABELS`) are
    dropped and counted in a warning; ``strict=True`` rejects them instead. Bytes that
    are not valid ``encoding`` are replaced (U+FFFD) and the affected rows counted in a
    warning (:func:`decode_lines`). Errors (:class:`DataError`) name the file and line.
    """
    warn = warn or _print_warning
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Data file not found: {path}.")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv", ".tsv"):
        raise ValueError(f"Unsupported data file {path}: expected .csv, .tsv or .jsonl.")
    decoded = read_lines(path, encoding)
    bad_lines = set(decoded.replaced)
    texts: list[str] = []
    labels: list[str] = []
    missing: list[int] = []  # lines of rows without a label
    no_key = 0
    replaced_rows = 0
    for first, last, row in _rows(path, decoded.lines, suffix, (text_column, label_column)):
        if split is not None and row.get("split") != split:
            continue
        if text_column not in row:
            raise DataError(
                f"{path}, line {first}: no {text_column!r} field; fields are {sorted(row)}, "
                "expected --text_column / --label_column to name them"
            )
        label = row.get(label_column)
        if label_column not in row:
            no_key += 1
        if isinstance(label, list | dict):
            raise DataError(
                f"{path}, line {first}: the label is a JSON {type(label).__name__} "
                f"({json.dumps(label)[:40]}), expected one label per row (the command "
                "line trains single-label classifiers)"
            )
        text = row[text_column]
        if isinstance(text, list | dict):
            raise DataError(
                f"{path}, line {first}: the text is a JSON {type(text).__name__}, expected a string"
            )
        if is_missing_label(label):
            if strict:
                raise DataError(
                    f"{path}, line {first}: the label is missing ({label!r}), expected a "
                    "label in every row (--strict)"
                )
            missing.append(first)
            continue
        if bad_lines and any(n - 1 in bad_lines for n in range(first, last + 1)):
            replaced_rows += 1
        texts.append("" if text is None else str(text))
        labels.append(str(label))
        if limit is not None and len(texts) >= limit:
            break
    if not texts and no_key and no_key == len(missing):
        raise DataError(
            f"{path}: no row has a {label_column!r} field, expected --label_column to name "
            "the label column"
        )
    if missing:
        shown = ", ".join(str(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        warn(
            f"{path}: dropped {len(missing)} row{'s' if len(missing) != 1 else ''} with a "
            f"missing label (empty, null or NaN) at line{'s' if len(missing) != 1 else ''} "
            f"{shown}; --strict rejects them instead"
        )
    message = decoded.warning(str(path), replaced_rows)
    if message and replaced_rows:
        warn(message)
    if not texts:
        raise DataError(
            f"{path}: no rows with a label found"
            + (f" with split={split!r}" if split else "")
            + ", expected at least one"
        )
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
    """Training curves (one panel per metric, train and validation) as a PNG (needs
    matplotlib, the ``plot`` extra)."""
    from rnnkit.extras import require

    matplotlib = require("matplotlib", "The training curves (training_curves.png)")
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


def read_json_file(path: Path, writer: str = "`rnnkit train`", what: str = "model") -> Any:
    """The parsed JSON of a model folder's metadata file; a :class:`DataError` naming
    ``path`` when it is truncated or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DataError(
            f"{path} is truncated or not valid JSON ({e}), expected the {path.name} that "
            f"{writer} writes; train the {what} again"
        ) from None


def check_keras_archive(
    keras_path: Path, writer: str = "`rnnkit train`", what: str = "model"
) -> None:
    """A :class:`DataError` naming ``keras_path`` when it is missing or not a whole
    ``.keras`` (zip) archive, before Keras tries to load it."""
    if not keras_path.is_file():
        raise DataError(f"{keras_path} is missing, expected the {what} saved by {writer}")
    try:
        with zipfile.ZipFile(keras_path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        broken = f"not a .keras (zip) archive: {e}"
    if broken is not None:
        raise DataError(
            f"{keras_path} is corrupt ({broken}), expected the .keras archive that "
            f"{writer} writes; train the {what} again"
        )


def load_text_model(model_dir: str | os.PathLike) -> Any:
    """:meth:`TextModel.load` with errors that say which file is broken and how.

    A missing folder or ``textmodel.json``: ``ValueError`` ("not an rnnkit model
    directory"); a truncated ``textmodel.json``, a missing or corrupt ``model.keras``:
    :class:`DataError` naming the file.
    """
    from rnnkit.serving.export import TextModel

    directory = Path(model_dir)
    meta_path = directory / "textmodel.json"
    if not meta_path.is_file():
        return TextModel.load(directory)  # its "not an rnnkit model directory" error
    meta = read_json_file(meta_path)
    if not isinstance(meta, dict) or not {"labels", "pipeline"} <= set(meta):
        raise DataError(
            f"{meta_path} has no 'labels' / 'pipeline', expected the textmodel.json that "
            "`rnnkit train` writes"
        )
    check_keras_archive(directory / "model.keras")
    try:
        return TextModel.load(directory)
    except Exception as e:  # noqa: BLE001 - any failure to rebuild the model: one line
        raise DataError(
            f"{directory}: the model cannot be loaded ({type(e).__name__}: {e}), expected "
            "model.keras and textmodel.json as `rnnkit train` writes them"
        ) from None


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
    encoding: str = "utf-8",
    strict: bool = False,
    warn: Warn | None = None,
) -> dict[str, Any]:
    """Train a text classifier and save it (``model.keras`` + ``textmodel.json``).

    Every argument is checked first (:func:`rnnkit.cli.validation.validate_args`), then
    the data (labels, decoding: see :func:`read_labelled`); the model, its metadata and
    ``training_curves.png`` are written to a temporary sibling of ``output`` that is
    renamed to ``output`` only once complete (an earlier model there is replaced).

    Every finished epoch is checkpointed in the hidden sibling ``.<output name>.checkpoint``
    (:class:`rnnkit.training.checkpoint.EpochCheckpoint`): after a kill, the same call goes
    on from the last finished epoch (``epochs`` may grow; other data or settings are a
    ValueError naming them); the checkpoint is removed once the model is saved.

    Returns a dict with the output directory, the history and validation metrics.
    """
    options = dict(locals())
    options.pop("verbose")
    options.pop("warn")
    validate_args(argparse.Namespace(command="train", quiet=not verbose, **options))
    import keras

    from rnnkit.serving.export import TextModel
    from rnnkit.text.pipeline import TextPipeline
    from rnnkit.training.checkpoint import EpochCheckpoint, fingerprint, resume

    read = dict(limit=limit, encoding=encoding, strict=strict, warn=warn)
    texts, labels = read_labelled(data, text_column, label_column, split, **read)
    if validation_data or validation_split:
        vtexts, vlabels = read_labelled(
            validation_data or data, text_column, label_column, validation_split, **read
        )
    else:
        tr, va = train_test_split(len(texts), validation_fraction, seed)
        if len(tr) == 0:
            raise DataError(
                f"{data}: {len(texts)} row(s) leave nothing to train on after holding out "
                f"--validation_fraction {validation_fraction}, expected more rows or a "
                "smaller fraction (0 for no validation)"
            )
        vtexts, vlabels = [texts[i] for i in va], [labels[i] for i in va]
        texts, labels = [texts[i] for i in tr], [labels[i] for i in tr]
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"Training data has a single class {classes!r}; need at least 2.")
    unseen = sorted(set(vlabels) - set(classes))
    if unseen:
        raise ValueError(f"Validation labels {unseen!r} do not occur in the training data.")
    keras.utils.set_random_seed(seed)
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
    out = Path(output)
    folder = checkpoint_sibling(out)
    # the data's identity is its content (the file may move), the rest as given
    settings = {k: v for k, v in options.items() if k not in ("data", "output", "epochs")}
    settings["data_sha256"] = fingerprint([texts, labels, vtexts, vlabels])
    done = resume(model, folder, settings, "rnnkit train")
    if done and verbose:
        print(f"Resuming from {folder}: {len(done)} epoch(s) done")
    callback = EpochCheckpoint(folder, settings, done)
    model.fit(
        x,
        y,
        validation_data=(vx, vy) if len(vx) else None,
        epochs=epochs,
        initial_epoch=min(len(done), epochs),
        batch_size=batch_size,
        verbose=verbose,
        callbacks=[callback],
    )
    history = {k: v[:epochs] for k, v in callback.keras_history().items()}
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
    plot: str | None = str(out / "training_curves.png")
    with atomic_path(out, directory=True, replace=True) as tmp:
        tm.save(tmp)
        try:
            plot_history(history, tmp / "training_curves.png")
        except ImportError as err:  # the model is saved all the same
            from rnnkit.cli.validation import warn

            warn("train", f"{err} The curves were not saved.")
            plot = None
    shutil.rmtree(folder, ignore_errors=True)  # the model is saved: nothing left to resume
    return {"output": str(out), "history": history, "validation": metrics, "plot": plot}


def evaluate(
    model_dir: str,
    data: str,
    *,
    text_column: str = "text",
    label_column: str = "label",
    split: str | None = None,
    limit: int | None = None,
    encoding: str = "utf-8",
    strict: bool = False,
    warn: Warn | None = None,
) -> dict[str, float]:
    """Accuracy and macro F1 on ``data``; rows whose label the model never saw are
    counted in a warning and in ``unseen`` (they can only count as errors)."""
    warn = warn or _print_warning
    texts, labels = read_labelled(
        data,
        text_column,
        label_column,
        split,
        limit=limit,
        encoding=encoding,
        strict=strict,
        warn=warn,
    )
    tm = load_text_model(model_dir)
    known = set(tm.labels)
    unseen = [lab for lab in labels if lab not in known]
    if unseen:
        names = sorted(set(unseen))
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        warn(
            f"{data}: {len(unseen)} of {len(labels)} rows have labels the model never saw "
            f"({shown}); the model only predicts {tm.labels}, so these rows count as errors "
            "(check --label_column and that the labels are spelled as in training)"
        )
    pred = tm.predict(texts)["label"]
    metrics = classification_metrics(labels, list(pred))
    metrics["unseen"] = float(len(unseen))
    return metrics


def predict(model_dir: str, texts: Sequence[str]) -> list[dict[str, Any]]:
    """One row per text: text, label and each class probability."""
    tm = load_text_model(model_dir)
    out = tm.predict(list(texts))
    rows = []
    for i, text in enumerate(texts):
        row: dict[str, Any] = {"text": text, "label": str(out["label"][i])}
        for j, name in enumerate(tm.labels):
            row[f"p({name})"] = float(out["probabilities"][i, j])
        rows.append(row)
    return rows


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """``rows`` as a CSV file, written to a temporary sibling and renamed into place."""
    path = Path(path)
    with atomic_path(path, replace=True) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
            writer.writeheader()
            writer.writerows(rows)
    return path
