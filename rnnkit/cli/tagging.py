"""The work behind ``rnnkit train --task tagging`` and the tagger side of ``evaluate``,
``predict`` and ``export``, callable from Python too.

Data are CoNLL column files (:func:`rnnkit.data.conll.load_conll`: the token first, the
tag last, a blank line between sentences, ``-DOCSTART-`` lines ignored); the model is
:class:`rnnkit.sklearn.RNNSequenceTagger`. A trained tagger is a folder with

- ``model.keras``: the Keras model (:class:`rnnkit.models.taggers.SequenceTagger`),
  loaded with ``safe_mode=True``;
- ``tagger.json``: everything else (format ``rnnkit.SequenceTagger/1``): the
  estimator's parameters, its fitted tag set, word and character vocabularies, tag
  scheme and CRF constraints, the training history and where the data came from.

No pickle is involved, so a tagger folder is as safe to load as a ``.keras`` file.
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.atomic import atomic_path, checkpoint_sibling
from rnnkit.cli.validation import DataError, validate_args

__all__ = [
    "FORMAT",
    "TAGGER_FILE",
    "evaluate_tagger",
    "exportable_text_model",
    "format_conll",
    "load_tagger",
    "predict_tagger",
    "read_tagged",
    "save_tagger",
    "split_tokens",
    "tagging_report",
    "train_tagger",
]

FORMAT = "rnnkit.SequenceTagger/1"
TAGGER_FILE = "tagger.json"
MODEL_FILE = "model.keras"

Warn = Callable[[str], None]

#: ASCII whitespace: how ``rnnkit predict`` splits a sentence into tokens, the same rule
#: as the exported SavedModel's pipeline (:class:`rnnkit.text.TextPipeline`)
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def _print_warning(message: str) -> None:
    import sys

    print(f"rnnkit: warning: {message}", file=sys.stderr, flush=True)


def split_tokens(text: str) -> list[str]:
    """The tokens of a sentence given as text: split on runs of ASCII whitespace."""
    return [t for t in _WHITESPACE.split(text) if t]


# --------------------------------------------------------------------------- data


def _conll_lines(path: Path, encoding: str) -> list[str | bytes]:
    """The lines of ``path`` as :func:`rnnkit.data.conll.read_conll` takes them: UTF-8
    bytes (it decodes them and names a bad line), or lines decoded from ``encoding``."""
    raw = path.read_bytes()
    if codecs.lookup(encoding).name == "utf-8":
        return list(io.BytesIO(raw))
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not valid {encoding} ({e.reason} at byte {e.start}), expected "
            "a CoNLL file in the --encoding given"
        ) from None
    return list(io.StringIO(text, newline="\n"))


def _sentence_starts(lines: Sequence[str | bytes]) -> list[int]:
    """The 1-based line number of each sentence's first token (the rules of
    :func:`rnnkit.data.conll.read_conll`: blank and ``-DOCSTART-`` lines end a sentence;
    the tokens of a sentence are on consecutive lines)."""
    starts: list[int] = []
    inside = False
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if number == 1:
            line = line.lstrip("\ufeff")
        stripped = line.strip()
        if not stripped or stripped.startswith("-DOCSTART-"):
            inside = False
        elif not inside:
            starts.append(number)
            inside = True
    return starts


def read_tagged(
    path: str | os.PathLike, *, limit: int | None = None, encoding: str = "utf-8"
) -> tuple[list[list[str]], list[list[str]], list[int]]:
    """Tokens, tags and first-token line numbers of the sentences of a CoNLL file.

    ``limit`` keeps the first sentences only. A malformed line is a ``ValueError``
    naming the file and line (:func:`rnnkit.data.conll.read_conll`).
    """
    from rnnkit.data.conll import read_conll

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL file not found: {path}, expected an existing file")
    lines = _conll_lines(path, encoding)
    sentences = read_conll(lines, str(path))
    starts = _sentence_starts(lines)
    if limit is not None:
        sentences = sentences[:limit]
    return [s.tokens for s in sentences], [s.tags for s in sentences], starts[: len(sentences)]


def check_scheme(
    path: str | os.PathLike,
    tokens: list[list[str]],
    tags: list[list[str]],
    starts: list[int],
    bio_errors: str = "raise",
    warn: Warn | None = None,
) -> list[list[str]]:
    """The training tags, checked against their scheme.

    When every tag is ``O``, ``B-x`` or ``I-x`` (BIO), an ``I-x`` that does not follow
    ``B-x``/``I-x`` is a :class:`DataError` naming the file, line and sentence
    (``bio_errors="raise"``), or becomes ``B-x`` (``"repair"``: the usual IOB1 -> IOB2
    conversion, :func:`rnnkit.sklearn.tagger.repair_bio`) with the count of changed tags
    in a warning. Other tag sets (POS tags, ...) are returned as they are.
    """
    from rnnkit.sklearn.tagger import _bio_error, _is_bio, repair_bio

    tag_set = sorted({t for row in tags for t in row})
    if not _is_bio(tag_set):
        return tags
    if bio_errors == "repair":
        repaired = [repair_bio(row) for row in tags]
        changed = sum(n for _, n in repaired)
        if changed:
            sentences = sum(1 for _, n in repaired if n)
            (warn or _print_warning)(
                f"{path}: --bio_errors repair changed {changed} tag"
                f"{'s' if changed != 1 else ''} in {sentences} sentence"
                f"{'s' if sentences != 1 else ''} from I-x to B-x (an I-x not after B-x "
                "or I-x)"
            )
        return [row for row, _ in repaired]
    for i, row in enumerate(tags):
        error = _bio_error(row)
        if error is None:
            continue
        j, prev = error
        kind = row[j][2:]
        words = " ".join(tokens[i][:10]) + (" ..." if len(tokens[i]) > 10 else "")
        raise DataError(
            f"{path}:{starts[i] + j}: sentence {i + 1} ({words!r}, from line {starts[i]}) is "
            f"not valid BIO: token {j + 1} ({tokens[i][j]!r}) is tagged {row[j]!r} after "
            f"{prev!r}, expected I-{kind} only after B-{kind} or I-{kind} (fix the data, or "
            f"pass --bio_errors repair to turn such tags into B-{kind}, e.g. for IOB1 data)"
        )
    return tags


# ------------------------------------------------------------------------ metrics


def tagging_report(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], scheme: str | None
) -> dict[str, Any]:
    """Per-type precision, recall, F1 and support, and token accuracy.

    BIO tags (``scheme="BIO"``): seqeval's entity-level ``classification_report`` (one
    row per entity type, then ``micro avg``, ``macro avg``, ``weighted avg``; undefined
    values are 0). Other tags: the same table per tag over tokens (scikit-learn).
    ``accuracy`` is the fraction of tokens whose tag is right.
    """
    y_true = [list(r) for r in y_true]
    y_pred = [list(r) for r in y_pred]
    tokens = sum(len(r) for r in y_true)
    if scheme == "BIO":
        from seqeval.metrics import accuracy_score, classification_report

        report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
        accuracy = float(accuracy_score(y_true, y_pred)) if tokens else 0.0
        rows = [
            {
                "type": name,
                "precision": float(v["precision"]),
                "recall": float(v["recall"]),
                "f1": float(v["f1-score"]),
                "support": int(v["support"]),
            }
            for name, v in report.items()
        ]
    else:
        from sklearn.metrics import accuracy_score, precision_recall_fscore_support

        flat_true = [t for r in y_true for t in r]
        flat_pred = [t for r in y_pred for t in r]
        labels = sorted(set(flat_true) | set(flat_pred))
        p, r, f, s = precision_recall_fscore_support(
            flat_true, flat_pred, labels=labels, zero_division=0
        )
        rows = [
            {
                "type": name,
                "precision": float(p[k]),
                "recall": float(r[k]),
                "f1": float(f[k]),
                "support": int(s[k]),
            }
            for k, name in enumerate(labels)
        ]
        for average in ("macro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(
                flat_true, flat_pred, labels=labels, average=average, zero_division=0
            )
            rows.append(
                {
                    "type": f"{average} avg",
                    "precision": float(p),
                    "recall": float(r),
                    "f1": float(f),
                    "support": len(flat_true),
                }
            )
        accuracy = float(accuracy_score(flat_true, flat_pred)) if tokens else 0.0
    return {
        "rows": rows,
        "accuracy": accuracy,
        "sentences": len(y_true),
        "tokens": tokens,
        "scheme": scheme,
    }


# ---------------------------------------------------------------------- save/load


def save_tagger(tagger: Any, directory: str | os.PathLike, info: dict | None = None) -> Path:
    """Write a fitted :class:`RNNSequenceTagger` as ``model.keras`` + ``tagger.json``."""
    params = dict(tagger.get_params())
    embeddings = params.get("embeddings")
    if embeddings is not None and not isinstance(embeddings, str | os.PathLike):
        raise ValueError(
            "save_tagger: a tagger fitted with embeddings given as a mapping cannot be "
            "saved as JSON, expected embeddings=None or a file path"
        )
    params["embeddings"] = None if embeddings is None else str(embeddings)
    params["checkpoint_dir"] = None  # where it trained, not part of the saved tagger
    if not isinstance(params.get("random_state"), int | type(None)):
        params["random_state"] = None
    constraints = getattr(tagger, "constraints_", None)
    meta = {
        "format": FORMAT,
        "params": params,
        "tags": [str(t) for t in tagger.tags_],
        "vocabulary": list(tagger.vocabulary_),
        "chars": list(tagger.chars_),
        "scheme": tagger.scheme_,
        "constraints": None
        if constraints is None
        else {k: np.asarray(v).tolist() for k, v in constraints.items()},
        "history": {k: [float(x) for x in v] for k, v in tagger.history_.items()},
        "best_epoch": int(tagger.best_epoch_),
        **(info or {}),
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tagger.model_.save(directory / MODEL_FILE)
    (directory / TAGGER_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return directory


def read_tagger_meta(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The checked contents of ``tagger.json`` (errors name the file)."""
    directory = Path(model_dir)
    meta_path = directory / TAGGER_FILE
    if not meta_path.is_file():
        raise ValueError(
            f"{directory} is not an rnnkit tagger folder (no {TAGGER_FILE}), expected a "
            "folder written by `rnnkit train --task tagging`"
        )
    from rnnkit.cli.tasks import read_json_file

    meta = read_json_file(meta_path, "`rnnkit train --task tagging`", "tagger")
    needed = {"format", "params", "tags", "vocabulary", "chars", "scheme"}
    if not isinstance(meta, dict) or not needed <= set(meta):
        missing = sorted(needed - set(meta)) if isinstance(meta, dict) else sorted(needed)
        raise DataError(
            f"{meta_path} has no {missing}, expected the {TAGGER_FILE} that `rnnkit train "
            "--task tagging` writes"
        )
    if meta["format"] != FORMAT:
        raise DataError(
            f"{meta_path} is format {meta['format']!r}, expected {FORMAT!r} (written by "
            "`rnnkit train --task tagging`)"
        )
    return meta


def _check_archive(keras_path: Path) -> None:
    from rnnkit.cli.tasks import check_keras_archive

    check_keras_archive(keras_path, "`rnnkit train --task tagging`", "tagger")


def load_tagger(model_dir: str | os.PathLike) -> Any:
    """The fitted :class:`RNNSequenceTagger` that :func:`save_tagger` wrote; it predicts
    exactly as the tagger did before saving.

    A missing folder or ``tagger.json``: ``ValueError``; a truncated or foreign
    ``tagger.json``, a missing or corrupt ``model.keras``, or a model that does not match
    the vocabularies: :class:`DataError` naming the file.
    """
    import keras

    import rnnkit.layers  # noqa: F401  (registers the serializable layers)
    import rnnkit.models.taggers  # noqa: F401  (registers SequenceTagger)
    from rnnkit.sklearn.tagger import RNNSequenceTagger

    directory = Path(model_dir)
    meta = read_tagger_meta(directory)
    meta_path = directory / TAGGER_FILE
    keras_path = directory / MODEL_FILE
    _check_archive(keras_path)
    known = set(RNNSequenceTagger().get_params())
    params = meta["params"]
    if not isinstance(params, dict) or set(params) - known:
        extra = sorted(set(params) - known) if isinstance(params, dict) else params
        raise DataError(
            f"{meta_path}: unknown tagger parameters {extra!r}, expected those of RNNSequenceTagger"
        )
    try:
        model = keras.saving.load_model(keras_path, safe_mode=True, compile=False)
    except Exception as e:  # noqa: BLE001 - any failure to rebuild the model: one line
        raise DataError(
            f"{keras_path}: the model cannot be loaded ({type(e).__name__}: {e}), expected "
            f"the model.keras that `rnnkit train --task tagging` writes"
        ) from None
    tagger = RNNSequenceTagger(**params)
    tags, vocabulary, chars = meta["tags"], meta["vocabulary"], meta["chars"]
    expected = {
        "vocab_size": len(vocabulary),
        "num_tags": len(tags),
        "char_vocab_size": len(chars) if tagger.chars else None,
        "case_features": bool(tagger.case_features),
    }
    actual = {k: getattr(model, k, None) for k in expected}
    if actual != expected:
        raise DataError(
            f"{directory}: {MODEL_FILE} ({actual}) does not match {TAGGER_FILE} "
            f"({expected}), expected both files from the same `rnnkit train --task tagging`"
        )
    tagger.tags_ = np.array(tags, dtype=object)
    tagger._set_vocabularies(vocabulary, chars)
    tagger.scheme_ = meta["scheme"]
    constraints = meta.get("constraints")
    tagger.constraints_ = (
        None
        if constraints is None
        else {k: np.asarray(v, dtype=bool) for k, v in constraints.items()}
    )
    tagger.history_ = meta.get("history", {})
    tagger.best_epoch_ = meta.get("best_epoch", 0)
    tagger.model_ = model
    return tagger


# -------------------------------------------------------------------------- tasks


def train_tagger(
    data: str,
    output: str,
    *,
    validation: str | None = None,
    validation_fraction: float = 0.1,
    cell: str = "lstm",
    units: int = 200,
    num_layers: int = 1,
    embedding_dim: int = 100,
    dropout: float = 0.5,
    chars: str = "cnn",
    crf: bool = True,
    case_features: bool = True,
    max_vocabulary: int = 50000,
    max_length: int = 128,
    epochs: int = 40,
    batch_size: int = 32,
    learning_rate: float = 5e-3,
    bio_errors: str = "raise",
    seed: int = 0,
    limit: int | None = None,
    encoding: str = "utf-8",
    verbose: int = 1,
    warn: Warn | None = None,
) -> dict[str, Any]:
    """Train a sequence tagger on a CoNLL file and save it (``model.keras`` +
    ``tagger.json``, see the module docstring).

    Every argument is checked first (:func:`rnnkit.cli.validation.validate_args`), then
    the data (:func:`read_tagged`, :func:`check_scheme`). The tagger is
    :class:`rnnkit.sklearn.RNNSequenceTagger` (``chars="none"``: no character features).
    ``validation`` (a CoNLL file, checked like the training data) is scored after every
    epoch for early stopping and the choice of the kept epoch, and its report
    (:func:`tagging_report`) is returned; without it the tagger holds out
    ``validation_fraction`` of the training sentences for that (0: none, train every
    epoch). ``max_length`` is only recorded: the most tokens per
    sentence of an exported SavedModel. The folder is written to a temporary sibling of
    ``output`` and renamed into place when complete (an earlier tagger there is replaced).
    Every finished epoch is checkpointed in the hidden sibling ``.<output name>.checkpoint``
    (the tagger's ``checkpoint_dir``): after a kill the same call goes on from there; the
    checkpoint is removed once the tagger is saved.

    Returns a dict with the output folder, the history, the best epoch (0-based) and the
    validation report (or None).
    """
    options = dict(locals())
    options.pop("verbose")
    options.pop("warn")
    args = argparse.Namespace(
        command="train",
        task="tagging",
        quiet=not verbose,
        text_column="text",
        label_column="label",
        split=None,
        validation_data=None,
        validation_split=None,
        attention=False,
        bidirectional=True,
        strict=False,
        **options,
    )
    validate_args(args)
    from rnnkit.sklearn.tagger import RNNSequenceTagger

    warn = warn or _print_warning
    tokens, tags, starts = read_tagged(data, limit=limit, encoding=encoding)
    tags = check_scheme(data, tokens, tags, starts, bio_errors, warn)
    if len({t for row in tags for t in row}) < 2:
        raise DataError(
            f"{data}: every token has the tag {tags[0][0]!r}, expected at least 2 different "
            "tags to train a tagger"
        )
    vtokens = vtags = None
    if validation is not None:
        vtokens, vtags, vstarts = read_tagged(validation, encoding=encoding)
    tagger = RNNSequenceTagger(
        cell=cell,
        units=units,
        num_layers=num_layers,
        embedding_dim=embedding_dim,
        crf=crf,
        chars=None if chars == "none" else chars,
        case_features=case_features,
        max_vocabulary=max_vocabulary,
        dropout=dropout,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        validation_fraction=validation_fraction or None,
        bio_errors=bio_errors,
        random_state=seed,
        verbose=verbose,
        checkpoint_dir=str(checkpoint_sibling(output)),
    )
    validation_data = None
    if vtokens is not None:
        vtags_checked = check_scheme(validation, vtokens, vtags, vstarts, bio_errors, warn)
        validation_data = (vtokens, vtags_checked)
    with warnings.catch_warnings():
        # entity F1 of the held-out sentences before any entity is predicted
        warnings.filterwarnings("ignore", message=".*ill-defined.*")
        tagger.fit(tokens, tags, validation_data=validation_data)
    tagger.set_params(checkpoint_dir=None)  # removed once the tagger is saved
    report = None
    if vtokens is not None:
        unseen_warning(validation, vtags, tagger.tags_, warn)
        report = tagging_report(vtags, tagger.predict(vtokens), tagger.scheme_)
    info = {
        "data": str(data),
        "validation": None if validation is None else str(validation),
        "max_length": max_length,
        "sentences": len(tokens),
        "validation_report": report,
    }
    out = Path(output)
    with atomic_path(out, directory=True, replace=True) as tmp:
        save_tagger(tagger, tmp, info)
    shutil.rmtree(checkpoint_sibling(output), ignore_errors=True)  # nothing left to resume
    return {
        "output": str(out),
        "history": tagger.history_,
        "best_epoch": int(tagger.best_epoch_),
        "validation": report,
        "tagger": tagger,
    }


def unseen_warning(
    data: Any, tags: Sequence[Sequence[str]], known: Sequence[str], warn: Warn | None
) -> int:
    """Warn about tokens whose tag the tagger never saw (they can only count as errors);
    returns their number."""
    known_set = set(known)
    unseen = [t for row in tags for t in row if t not in known_set]
    if unseen:
        names = sorted(set(unseen))
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        total = sum(len(r) for r in tags)
        (warn or _print_warning)(
            f"{data}: {len(unseen)} of {total} tokens have tags the tagger never saw "
            f"({shown}); it only predicts {list(known)}, so these count as errors"
        )
    return len(unseen)


def evaluate_tagger(
    model_dir: str,
    data: str,
    *,
    limit: int | None = None,
    encoding: str = "utf-8",
    warn: Warn | None = None,
) -> dict[str, Any]:
    """:func:`tagging_report` of a saved tagger on a CoNLL file, plus ``unseen``."""
    tokens, tags, _ = read_tagged(data, limit=limit, encoding=encoding)
    tagger = load_tagger(model_dir)
    unseen = unseen_warning(data, tags, list(tagger.tags_), warn)
    report = tagging_report(tags, tagger.predict(tokens), tagger.scheme_)
    report["unseen"] = unseen
    return report


def predict_tagger(model_dir: str, sentences: Sequence[str]) -> list[list[tuple[str, str]]]:
    """Per sentence (a string, split on whitespace), its ``(token, tag)`` pairs."""
    tagger = load_tagger(model_dir)
    tokens = [split_tokens(s) for s in sentences]
    return [list(zip(t, p)) for t, p in zip(tokens, tagger.predict(tokens))]


def format_conll(tagged: Sequence[Sequence[tuple[str, str]]]) -> str:
    """CoNLL two-column text: ``token<TAB>tag`` lines, a blank line between sentences."""
    return "\n\n".join("\n".join(f"{tok}\t{tag}" for tok, tag in s) for s in tagged)


def exportable_text_model(model_dir: str | os.PathLike) -> Any:
    """The :class:`rnnkit.serving.TextModel` of a saved tagger, for ``export``: its
    inputs (word ids, word shapes, character ids) are built in-graph from the raw
    sentence, split on whitespace, exactly as the tagger builds them."""
    from rnnkit.serving.export import as_text_model

    meta = read_tagger_meta(model_dir)
    tagger = load_tagger(model_dir)
    max_length = int(meta.get("max_length") or 128)
    tm = as_text_model(tagger, max_length=max_length)
    tm.info = {"data": meta.get("data"), "format": FORMAT}
    return tm
