"""Checks of the ``rnnkit`` command line's arguments and inputs, run before any work.

Two kinds of error, one message style (``rnnkit <command>: error: <what was wrong>,
<what was expected>``):

- :class:`UsageError` (exit status 2): the command line (or ``--config``) is wrong: an
  option out of range or of the wrong type, a path that does not exist or is of the
  wrong kind (a file where a folder is expected, ...).
- :class:`DataError` (exit status 1): a file's content is wrong: a line that is not a
  JSON object, a CSV field over the csv module's limit, a corrupt model. Any other
  ``ValueError`` / ``FileNotFoundError`` raised by the work is reported the same way.

:func:`validate_args` checks every option of a subcommand; it only reads the file
system (never writes, never trains), so it is cheap to call and to test.
"""

from __future__ import annotations

import argparse
import codecs
import math
import numbers
import os
import sys
from pathlib import Path
from typing import Any

from rnnkit.names import CELL_NAMES

__all__ = [
    "CommandError",
    "DataError",
    "UsageError",
    "check_input_file",
    "check_output_file",
    "check_output_folder",
    "validate_args",
]

USAGE_EXIT = 2
DATA_EXIT = 1


class UsageError(ValueError):
    """A wrong argument: the command ends with exit status 2."""


class DataError(ValueError):
    """Wrong content in an input (data file, model): exit status 1."""


class CommandError(SystemExit):
    """How :func:`rnnkit.cli.main.main` ends a command on an error: ``SystemExit`` with
    the exit status as ``code`` and the one-line message as ``str(error)`` (the message
    is printed to stderr before it is raised)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(code)
        self.message = message

    def __str__(self) -> str:
        return self.message


# ----------------------------------------------------------------------- values


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` is an int (not a bool) in ``[low, high]``, else a :class:`UsageError`."""
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise UsageError(f"--{name} is {_describe(value)}, expected {expected}")
    if value < low or (high is not None and value > high):
        raise UsageError(f"--{name} is {value}, expected {expected}")
    return int(value)


def check_float(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
    also: tuple[float, ...] = (),
    expected: str | None = None,
) -> float:
    """``value`` is a finite number in the interval (ends open or closed) or in ``also``."""
    if expected is None:
        expected = (
            f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        )
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise UsageError(f"--{name} is {_describe(value)}, expected {expected}")
    v = float(value)
    if v in also:
        return v
    ok = (
        math.isfinite(v)
        and (v > low if low_open else v >= low)
        and (v < high if high_open else v <= high)
    )
    if not ok:
        raise UsageError(f"--{name} is {value!r}, expected {expected}")
    return v


def check_str(name: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise UsageError(f"--{name} is {_describe(value)}, expected a non-empty string")
    return value


# ------------------------------------------------------------------------ paths


def check_input_file(name: str, value: Any, *, allow_stdin: bool = False) -> Path:
    """An existing, readable file (``-`` for stdin when ``allow_stdin``)."""
    check_str(name, value)
    if allow_stdin and value == "-":
        return Path("-")
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"--{name} {path} is a folder, expected a file")
    if not path.is_file():
        raise UsageError(f"--{name} {path} does not exist, expected an existing file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"--{name} {path} is not readable, expected a readable file")
    return path


def check_input_folder(
    name: str, value: Any, *, must_hold: str | tuple[str, ...] | None = None
) -> Path:
    """An existing folder; with ``must_hold``, one holding that file (or one of them)."""
    check_str(name, value)
    path = Path(value)
    if path.is_file():
        raise UsageError(f"--{name} {path} is a file, expected a folder")
    if not path.is_dir():
        raise UsageError(f"--{name} {path} does not exist, expected an existing folder")
    names = (must_hold,) if isinstance(must_hold, str) else tuple(must_hold or ())
    if names and not any((path / n).is_file() for n in names):
        raise UsageError(
            f"--{name} {path} is not an rnnkit model folder (no {' or '.join(names)}), "
            "expected a folder written by `rnnkit train`"
        )
    return path


def _check_creatable(name: str, path: Path) -> None:
    """Every existing ancestor of ``path`` is a folder and the nearest one is writable."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        if parent.is_symlink():  # a dangling link
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--{name} {path}: {parent} is a file, expected a folder there")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--{name} {path}: {parent} is not writable, expected a writable folder")


def check_output_file(name: str, value: Any) -> Path:
    """A file to (over)write: not a folder; its parent folder can be made and written."""
    check_str(name, value)
    path = Path(value)
    if path.is_dir():
        raise UsageError(f"--{name} {path} is a folder, expected a file name")
    _check_creatable(name, path)
    return path


def check_output_folder(name: str, value: Any, *, replaceable: str | None = None) -> Path:
    """A folder to write: does not exist, is empty, or (``replaceable``: holds that file,
    i.e. an earlier output of the same command, which is then replaced)."""
    check_str(name, value)
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--{name} {path} is a file, expected a folder (new or empty)")
    if path.is_dir() and any(path.iterdir()):
        if replaceable is None or not (path / replaceable).is_file():
            what = f"holds files and no {replaceable}" if replaceable else "is not empty"
            raise UsageError(
                f"--{name} {path} {what}, expected a new or empty folder"
                + (f" or an earlier output (with {replaceable}) to replace" if replaceable else "")
            )
    if path.is_dir():
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise UsageError(f"--{name} {path}: {path.parent} is not writable")
    else:
        _check_creatable(name, path)
    return path


def check_encoding(value: Any) -> str:
    check_str("encoding", value)
    try:
        codecs.lookup(value)
    except LookupError:
        raise UsageError(
            f"--encoding {value!r} is not a known encoding, expected e.g. utf-8, cp1252, latin-1"
        ) from None
    return value


# ---------------------------------------------------------------- per command

_POSITIVE_INTS = {
    "train": ("epochs", "batch_size", "units", "num_layers", "embedding_dim", "max_length"),
    "serve": ("max_request_bytes", "max_batch"),
}

#: what a folder written by ``rnnkit train`` holds, by task
MODEL_FILES = {"classification": "textmodel.json", "tagging": "tagger.json"}

#: ``rnnkit train`` options whose default depends on ``--task`` (the parser leaves them
#: None; :func:`apply_train_defaults` fills them in). Tagging uses RNNSequenceTagger's
#: defaults; ``max_length`` is then the most tokens per sentence of an exported
#: SavedModel (training and ``rnnkit predict`` never truncate a sentence).
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": {
        "epochs": 3,
        "batch_size": 32,
        "units": 64,
        "embedding_dim": 64,
        "dropout": 0.0,
        "learning_rate": 1e-3,
        "max_length": 40,
        "max_vocabulary": 20000,
    },
    "tagging": {
        "epochs": 40,
        "batch_size": 32,
        "units": 200,
        "embedding_dim": 100,
        "dropout": 0.5,
        "learning_rate": 5e-3,
        "max_length": 128,
        "max_vocabulary": 50000,
        "chars": "cnn",
        "crf": True,
        "case_features": True,
        "bio_errors": "raise",
    },
}

#: options that only ``--task tagging`` uses (None when not given)
TAGGING_OPTIONS = ("validation", "chars", "crf", "case_features", "bio_errors")
#: options that only ``--task classification`` uses and that are None when not given
#: (``--attention`` / ``--no-bidirectional`` are checked by value)
CLASSIFICATION_OPTIONS = ("validation_data", "validation_split", "split")


def _flag(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no-{name}"
    return f"--{name}"


def apply_train_defaults(args: argparse.Namespace) -> None:
    """Fill the ``rnnkit train`` options left None with the defaults of ``args.task``
    (:data:`TRAIN_DEFAULTS`); a :class:`UsageError` for an option of the other task."""
    task = getattr(args, "task", None) or "classification"
    if task not in TRAIN_DEFAULTS:
        raise UsageError(f"--task is {_describe(task)}, expected classification or tagging")
    args.task = task
    if task == "classification":
        for name in TAGGING_OPTIONS:
            value = getattr(args, name, None)
            if value is not None:
                raise UsageError(
                    f"{_flag(name, value)} is an option of --task tagging, expected it only "
                    "with --task tagging"
                    + (" (--validation_data is the classification one)" if name == "validation"
                       else "")
                )  # fmt: skip
    else:
        for name in CLASSIFICATION_OPTIONS:
            if getattr(args, name, None) is not None:
                hint = (
                    "--validation FILE (a CoNLL file) for tagging"
                    if name.startswith("validation")
                    else "no --split for CoNLL data"
                )
                raise UsageError(f"--{name} is a classification option, expected {hint}")
        if getattr(args, "attention", False) is True:
            raise UsageError(
                "--attention is a classification option, expected no --attention for tagging"
            )
        if getattr(args, "bidirectional", True) is False:
            raise UsageError(
                "--no-bidirectional is not supported for tagging, expected the default "
                "bidirectional encoder"
            )
    for name, value in TRAIN_DEFAULTS[task].items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


def _check_limit(args: argparse.Namespace) -> None:
    # --limit N: the first N usable rows; omitted (None): all of them. 0 is not "all":
    # it is rejected, as are negative values (which used to drop rows from the end).
    if getattr(args, "limit", None) is not None:
        check_int("limit", args.limit, 1)


def _check_data_options(args: argparse.Namespace) -> None:
    check_input_file("data", args.data)
    for name in ("text_column", "label_column"):
        check_str(name, getattr(args, name))
    if getattr(args, "split", None) is not None:
        check_str("split", args.split)
    _check_limit(args)
    check_encoding(getattr(args, "encoding", "utf-8"))


_MODEL_FILE_NAMES = tuple(MODEL_FILES.values())


def is_tagger_folder(path: Any) -> bool:
    """A folder written by ``rnnkit train --task tagging`` (it holds ``tagger.json``)."""
    return isinstance(path, str | os.PathLike) and (Path(path) / MODEL_FILES["tagging"]).is_file()


def validate_args(args: argparse.Namespace) -> None:
    """Check every option of ``args.command`` (types, ranges, paths); a
    :class:`UsageError` names the first wrong one. Reads the file system only."""
    command = args.command
    if command == "train":
        apply_train_defaults(args)
        _check_data_options(args)
        check_output_folder("output", args.output, replaceable=MODEL_FILES[args.task])
        if getattr(args, "validation_data", None) is not None:
            check_input_file("validation_data", args.validation_data)
        if getattr(args, "validation", None) is not None:
            check_input_file("validation", args.validation)
        if getattr(args, "validation_split", None) is not None:
            check_str("validation_split", args.validation_split)
        check_float(
            "validation_fraction",
            args.validation_fraction,
            0.0,
            1.0,
            low_open=True,
            high_open=True,
            also=(0.0,),
            expected="a number in (0, 1), or 0 for no validation",
        )
        for name in _POSITIVE_INTS["train"]:
            check_int(name, getattr(args, name), 1)
        check_int("max_vocabulary", args.max_vocabulary, 3)
        check_float("dropout", args.dropout, 0.0, 1.0, high_open=True)
        check_float(
            "learning_rate", args.learning_rate, 0.0, 1e6, low_open=True,
            expected="a positive number",
        )  # fmt: skip
        check_int("seed", args.seed, 0, 2**32 - 1)
        if args.cell not in CELL_NAMES:
            raise UsageError(
                f"--cell is {_describe(args.cell)}, expected "
                f"{', '.join(CELL_NAMES[:-1])} or {CELL_NAMES[-1]}"
            )
        if args.task == "tagging":
            if args.chars not in ("cnn", "lstm", "none"):
                raise UsageError(f"--chars is {_describe(args.chars)}, expected cnn, lstm or none")
            if args.bio_errors not in ("raise", "repair"):
                raise UsageError(
                    f"--bio_errors is {_describe(args.bio_errors)}, expected raise or repair"
                )
        flags = ("bidirectional", "attention", "quiet", "strict")
        if args.task == "tagging":
            flags += ("crf", "case_features")
        for name in flags:
            if not isinstance(getattr(args, name, False), bool):
                raise UsageError(
                    f"--{name} is {_describe(getattr(args, name))}, expected true or false"
                )
    elif command == "evaluate":
        check_input_folder("model", args.model, must_hold=_MODEL_FILE_NAMES)
        _check_data_options(args)
        if is_tagger_folder(args.model) and getattr(args, "split", None) is not None:
            raise UsageError("--split is for JSONL data, expected no --split with a tagger")
    elif command == "predict":
        check_input_folder("model", args.model, must_hold=_MODEL_FILE_NAMES)
        if args.input is not None:
            check_input_file("input", args.input, allow_stdin=True)
        if args.output_csv is not None:
            check_output_file("output_csv", args.output_csv)
        check_encoding(getattr(args, "encoding", "utf-8"))
        if not isinstance(args.texts, list) or not all(isinstance(t, str) for t in args.texts):
            raise UsageError(f"texts are {_describe(args.texts)}, expected strings")
    elif command == "export":
        check_input_folder("model", args.model, must_hold=_MODEL_FILE_NAMES)
        check_str("export_base_path", args.export_base_path)
        base = Path(args.export_base_path)
        if base.exists() and not base.is_dir():
            raise UsageError(
                f"--export_base_path {base} is a file, expected a folder (the model's base "
                "path; versions are written as sub-folders)"
            )
        _check_creatable("export_base_path", base / "1")
        if args.version is not None:
            check_int("version", args.version, 0, 10**18 - 1)
            target = base / str(args.version)
            if target.exists() and (not target.is_dir() or any(target.iterdir())):
                raise UsageError(
                    f"--version {args.version}: {target} already exists, expected a new "
                    "version number (omit --version for the next free one)"
                )
    elif command == "serve":
        check_str("model_name", args.model_name)
        if "/" in args.model_name or ":" in args.model_name:
            raise UsageError(
                f"--model_name {args.model_name!r} holds '/' or ':', expected a plain name"
            )
        check_input_folder("model_base_path", args.model_base_path)
        check_int("rest_api_port", args.rest_api_port, 1, 65535)
        check_str("host", args.host)
        for name in _POSITIVE_INTS["serve"]:
            check_int(name, getattr(args, name), 1)
        if args.num_batch_threads is not None:
            check_int("num_batch_threads", args.num_batch_threads, 1)

    elif command == "prepare-corpus":
        # the ranges rnnkit.models.deepmoji.prepare_corpus checks itself, as usage errors up front
        for name in ("maxlen", "shard_size"):
            check_int(name, getattr(args, name), 1)
        if args.workers is not None:
            check_int("workers", args.workers, 1)
        check_float("validation_fraction", args.validation_fraction, 0.0, 1.0, high_open=True)
        check_str("output", args.output)
        if Path(args.output).exists() and not Path(args.output).is_dir():
            raise UsageError(f"--output {args.output} is a file, expected a corpus folder")


def fail(command: str, message: str, code: int) -> CommandError:
    """Print ``rnnkit <command>: error: <message>`` to stderr; the exception to raise."""
    prefix = f"rnnkit {command}: error: " if command else "rnnkit: error: "
    line = prefix + " ".join(str(message).split())  # one line
    print(line, file=sys.stderr, flush=True)
    return CommandError(line, code)


def warn(command: str, message: str) -> None:
    """``rnnkit <command>: warning: <message>`` on stderr."""
    print(f"rnnkit {command}: warning: {message}", file=sys.stderr, flush=True)
