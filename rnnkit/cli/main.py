"""The ``rnnkit`` command line (also ``python -m rnnkit``).

Subcommands: train, evaluate, predict, export, serve, pretrain, finetune, bench. Every
option can come from a flag or from a TOML file given with ``--config``: top-level keys
apply to every subcommand, a ``[train]`` (etc.) table to that subcommand only; flags
given on the command line win over the file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rnnkit.cli.validation import (
    DATA_EXIT,
    USAGE_EXIT,
    UsageError,
    fail,
    is_tagger_folder,
    validate_args,
    warn,
)
from rnnkit.logs import hide_framework_logs, verbose_requested
from rnnkit.names import CELL_NAMES

EPILOG = """\
Typical session:
  rnnkit train --data tweets.csv --output runs/sentiment --epochs 3
  rnnkit evaluate --model runs/sentiment --data test.csv
  rnnkit predict --model runs/sentiment "what a great day" "this is awful"
  rnnkit export --model runs/sentiment --export_base_path models/sentiment
  rnnkit serve --model_name sentiment --model_base_path models/sentiment --rest_api_port 8501
  rnnkit train --task tagging --data train.conll --validation dev.conll --output runs/ner

Data files are CSV, TSV or JSONL with a text and a label column (--text_column,
--label_column); for --task tagging, CoNLL files (token first, tag last, a blank line
between sentences). evaluate, predict and export take either kind of model folder.
Run `rnnkit SUBCOMMAND --help` for each subcommand's options.
"""


RECIPE_COMMANDS = ("pretrain", "finetune", "bench")
#: the workflow (a module of rnnkit.recipes with ``main(argv)``) each recipe command runs
RECIPE_MODULES = {
    "pretrain": "rnnkit.recipes.deepmoji_pretrain",
    "finetune": "rnnkit.recipes.deepmoji_benchmark",
    "bench": "rnnkit.recipes.deepmoji_benchmark",
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: ...)" except to options whose help already says their default
    (those whose default depends on ``--task``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None and "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _add_data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "--data",
        required=required,
        help="CSV, TSV or JSONL file of texts and labels (tagging: a CoNLL file)",
    )
    p.add_argument("--text_column", default="text", help="text column / key (default: text)")
    p.add_argument("--label_column", default="label", help="label column / key (default: label)")
    p.add_argument("--split", default=None, help="use only JSONL rows whose 'split' is this")
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only the first N rows with a label (tagging: sentences) (N >= 1)",
    )
    _add_input_args(p)
    p.add_argument(
        "--strict",
        action="store_true",
        help="reject rows with a missing label (empty, null, NaN) instead of dropping them",
    )


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoding",
        default="utf-8",
        help="encoding of the input file(s); undecodable bytes are replaced and counted",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="rnnkit: recurrent neural networks for text - train, evaluate, export "
        "and serve text classifiers; DeepMoji pretraining and chain-thaw fine-tuning.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = _HelpFormatter

    def add(name: str, help: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description, formatter_class=fmt)
        if name not in RECIPE_COMMANDS:
            p.add_argument("--config", default=None, help="TOML file with options (flags win)")
            p.add_argument(
                "--verbose",
                action="store_true",
                help="show the frameworks' log lines (TensorFlow, absl) and retracing "
                "warnings, which the command hides by default",
            )
        return p

    p = add(
        "train",
        "train a text classifier or a sequence tagger",
        "Train an RNN text classifier (embedding -> stacked (Bi)RNN -> [attention] -> "
        "softmax) on a labelled file. Writes model.keras, textmodel.json (vocabulary, "
        "labels, config) and training_curves.png into --output, and prints a table of "
        "validation metrics. With --task tagging: a sequence tagger (NER, POS; "
        "rnnkit.sklearn.RNNSequenceTagger: word + word-shape + character features -> "
        "BiRNN -> CRF) on a CoNLL file (token first, tag last, a blank line between "
        "sentences); writes model.keras and tagger.json. Options whose default depends "
        "on the task say so.",
    )
    _add_data_args(p, required=False)
    p.add_argument(
        "--task",
        choices=["classification", "tagging"],
        default="classification",
        help="classification: --data is CSV/TSV/JSONL texts and labels; tagging: --data "
        "is a CoNLL file of tagged sentences",
    )
    p.add_argument("--output", default=None, help="folder to write the trained model to")
    p.add_argument("--validation_data", default=None, help="separate validation file")
    p.add_argument("--validation_split", default=None, help="JSONL split name for validation")
    p.add_argument(
        "--validation",
        default=None,
        help="tagging: a CoNLL file scored after every epoch (early stopping, the kept "
        "epoch) and reported (seqeval table) after training",
    )
    p.add_argument(
        "--validation_fraction",
        type=float,
        default=0.1,
        help="held-out fraction when no validation data is given (tagging: for early "
        "stopping): in (0, 1), or 0 for none",
    )
    p.add_argument("--cell", choices=list(CELL_NAMES), default="lstm")
    p.add_argument("--units", type=int, default=None, help="default: 64; tagging: 200")
    p.add_argument("--num_layers", type=int, default=1)
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--attention",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="attention pooling instead of the last state",
    )
    p.add_argument("--embedding_dim", type=int, default=None, help="default: 64; tagging: 100")
    p.add_argument("--dropout", type=float, default=None, help="default: 0; tagging: 0.5")
    p.add_argument(
        "--max_length",
        type=int,
        default=None,
        help="tokens per text (default: 40); tagging: most tokens per sentence of an "
        "exported SavedModel (default: 128; training and predict never truncate)",
    )
    p.add_argument(
        "--max_vocabulary", type=int, default=None, help="default: 20000; tagging: 50000"
    )
    p.add_argument("--epochs", type=int, default=None, help="default: 3; tagging: 40")
    p.add_argument("--batch_size", type=int, default=None, help="default: 32")
    p.add_argument(
        "--learning_rate", type=float, default=None, help="default: 0.001; tagging: 0.005"
    )
    p.add_argument(
        "--chars",
        choices=["cnn", "lstm", "none"],
        default=None,
        help="tagging: character features of each word (default: cnn)",
    )
    p.add_argument(
        "--crf",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tagging: a CRF output layer (Viterbi decoding) instead of a softmax per "
        "token (default: --crf)",
    )
    p.add_argument(
        "--case_features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tagging: word-shape features (capitals, digits, @/#/URL) (default: on)",
    )
    p.add_argument(
        "--bio_errors",
        choices=["raise", "repair"],
        default=None,
        help="tagging, BIO tags: an I-x that does not follow B-x/I-x is an error naming "
        "the sentence (raise, the default) or becomes B-x, counted in a warning (repair)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = add(
        "evaluate",
        "evaluate a trained model on labelled data",
        "Accuracy and macro F1 of a trained model (a `rnnkit train` folder) on a file. "
        "For a tagger (`rnnkit train --task tagging`; --data a CoNLL file): seqeval's "
        "per-type precision, recall and F1 table (BIO tags; per tag otherwise) and the "
        "token accuracy.",
    )
    p.add_argument("--model", required=False, help="folder written by `rnnkit train`")
    _add_data_args(p, required=False)

    p = add(
        "predict",
        "label texts with a trained model",
        "Predict labels and class probabilities for texts given as arguments, in a text "
        "file (--input, one text per line) or on stdin (--input -). With a tagger: each "
        "text is a sentence split on whitespace, printed as CoNLL lines token<TAB>tag, a "
        "blank line between sentences.",
    )
    p.add_argument("--model", required=False, help="folder written by `rnnkit train`")
    p.add_argument("--input", default=None, help="text file, one text per line ('-' = stdin)")
    p.add_argument("--output_csv", default=None, help="also save the table as CSV")
    _add_input_args(p)
    p.add_argument("texts", nargs="*", help="texts to label")

    p = add(
        "export",
        "export a trained model as a raw-text TF SavedModel",
        "Write a TensorFlow SavedModel in TF Serving's NAME/VERSION/ layout whose "
        "serving_default signature takes raw strings ('text') and returns 'label' and "
        "'probabilities' (a tagger: 'tokens', 'tags', 'length', 'marginals' and "
        "'probability'; its word, word-shape and character ids are built in-graph). "
        "Serve it with `rnnkit serve` or tensorflow_model_server.",
    )
    p.add_argument("--model", required=False, help="folder written by `rnnkit train`")
    p.add_argument(
        "--export_base_path",
        required=False,
        help="model base path (NAME folder); the version is a sub-folder",
    )
    p.add_argument("--version", type=int, default=None, help="default: next free integer")

    p = add(
        "serve",
        "serve a SavedModel over TF Serving's REST API",
        "Serve the newest version under --model_base_path with TF Serving's REST API: "
        "GET /v1/models/NAME, GET /v1/models/NAME/metadata, POST "
        '/v1/models/NAME:predict with {"instances": [...]} or {"inputs": ...}; '
        "GET /healthz. Same flags as tensorflow_model_server.",
    )
    p.add_argument("--model_name", required=False, help="name in the URL")
    p.add_argument("--model_base_path", required=False, help="folder holding version folders")
    p.add_argument("--rest_api_port", type=int, default=8501, help="TCP port, 1-65535")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (0.0.0.0 for all; TF Serving binds all)",
    )
    p.add_argument("--max_request_bytes", type=int, default=8 * 1024 * 1024)
    p.add_argument("--max_batch", type=int, default=1024, help="most instances per request")
    p.add_argument(
        "--batching",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="merge concurrent requests into one model call",
    )
    p.add_argument(
        "--num_batch_threads",
        type=int,
        default=None,
        help="merged model calls that run at once (TF Serving's batching parameter "
        "name; default 2)",
    )
    p.add_argument(
        "--freeze_gc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="gc.freeze() the loaded model so garbage collections don't stall requests",
    )

    p = add(
        "prepare-corpus",
        "prepare a pretraining corpus (TFRecord shards) from raw texts",
        "Stream raw texts (JSONL/CSV/TSV/text files, optionally .gz) through DeepMoji's "
        "distant-supervision rules in parallel and write TFRecord shards, a vocabulary and "
        "a manifest into --output (rnnkit.models.deepmoji.prepare_corpus). Rerunning the same "
        "command after an interruption resumes it.",
    )
    p.add_argument("--input", nargs="+", default=None, help="files, folders or glob patterns")
    p.add_argument("--output", default=None, help="corpus directory to write")
    p.add_argument(
        "--labels",
        default=None,
        help="emoji list file (wanted_emojis.csv format), 'regex:PATTERN', or default: "
        "DeepMoji's 64 emoji",
    )
    p.add_argument("--label_field", default=None, help="column / key of given labels")
    p.add_argument("--text_field", default="text", help="column / key of the text")
    p.add_argument("--vocabulary", default=None, help="vocabulary.json (default: built)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--maxlen", type=int, default=30)
    p.add_argument("--shard_size", type=int, default=100_000)
    p.add_argument("--validation_fraction", type=float, default=0.05)
    p.add_argument("--vocab_size", type=int, default=50_000)
    p.add_argument("--min_count", type=int, default=2)
    p.add_argument("--min_words", type=int, default=1)
    p.add_argument("--overwrite", action="store_true", help="replace another corpus there")
    p.add_argument(
        "--skip_bad_records", action="store_true", help="skip and count malformed input records"
    )
    p.add_argument("--quiet", action="store_true", help="no progress or summary")

    for name, help_, desc in (
        (
            "pretrain",
            "DeepMoji pretraining (emoji distant supervision or a stand-in corpus)",
            "Pretrain the DeepMoji model (rnnkit.recipes.deepmoji_pretrain). All arguments go "
            "to the recipe (e.g. --quick, --config medium, --corpus DIR for a corpus prepared "
            "by `rnnkit prepare-corpus`, --emoji-corpus GLOB, --out DIR; default "
            "runs/deepmoji/<config> in the current folder); `rnnkit pretrain -- --help` shows "
            "them. See docs/pretraining.md.",
        ),
        (
            "finetune",
            "DeepMoji chain-thaw fine-tuning on a benchmark",
            "Fine-tune a pretrained DeepMoji model on the DeepMoji benchmarks with chain-thaw "
            "(default; --methods new last full chain_thaw to compare) through "
            "rnnkit.recipes.deepmoji_benchmark. All arguments go to the recipe (e.g. --quick, "
            "--datasets SS-Twitter, --pretrained DIR, --out DIR); `rnnkit finetune -- --help` "
            "shows them.",
        ),
        (
            "bench",
            "the DeepMoji benchmark table",
            "Run the DeepMoji transfer benchmarks and print the results table "
            "(rnnkit.recipes.deepmoji_benchmark; tables and the attention view go to --out, "
            "default runs/deepmoji/results in the current folder). All arguments go to the "
            "recipe (e.g. --quick, --config medium); `rnnkit bench -- --help` shows them.",
        ),
    ):
        p = add(name, help_, desc)
        p.add_argument(
            "recipe_args", nargs=argparse.REMAINDER, help="arguments passed to the recipe"
        )
    return parser


def _version() -> str:
    try:
        from rnnkit import __version__
    except ImportError:  # pragma: no cover
        __version__ = "?"
    return f"rnnkit {__version__}"


def _apply_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]
) -> argparse.Namespace:
    """Fill options from ``--config`` where the flag was not given on the command line."""
    if not getattr(args, "config", None):
        return args
    path = Path(args.config)
    if not path.is_file():
        raise UsageError(f"config file {path} not found, expected a TOML file")
    with open(path, "rb") as f:
        try:
            config = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise UsageError(f"{path} is not valid TOML ({e}), expected a TOML file") from None
    values = {k: v for k, v in config.items() if not isinstance(v, dict)}
    values.update(config.get(args.command, {}))
    given = {a.split("=", 1)[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    unknown = sorted(k for k in values if not hasattr(args, k))
    if unknown:
        raise UsageError(
            f"unknown option(s) {unknown} in {path}, expected options of "
            f"`rnnkit {args.command}` (see --help)"
        )
    for key, value in values.items():
        if key not in given and f"no_{key}" not in given:
            setattr(args, key, value)
    return args


def _require(args: argparse.Namespace, *names: str) -> None:
    missing = [n for n in names if getattr(args, n, None) in (None, "")]
    if missing:
        flags = ", ".join(f"--{n}" for n in missing)
        raise UsageError(f"missing {flags}, expected the option(s) as flags or in --config")


def _argv_text(text: str, command: str) -> str:
    """A text from the command line: bytes that were not valid in the locale's encoding
    (surrogate escapes in ``sys.argv``) are replaced with U+FFFD, with a warning."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        warn(command, "a text argument had invalid bytes; they were replaced with U+FFFD")
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rnnkit.cli.tasks import format_table

    print(format_table(rows))


def _recipe(name: str, args: argparse.Namespace) -> int:
    """Hand over to the DeepMoji workflow of :data:`RECIPE_MODULES` (pretrain, finetune,
    bench): its ``main(argv, prog=...)`` gets the arguments after the subcommand."""
    module_name = RECIPE_MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise fail(
            name,
            f"the DeepMoji recipe is not available: importing {module_name} failed ({e}), "
            "expected an rnnkit installation with its dependencies (pip install rnnkit)",
            DATA_EXIT,
        ) from None
    main_fn = module.main
    recipe_args = [a for a in args.recipe_args if a != "--"]
    if name == "finetune" and "--methods" not in recipe_args:
        recipe_args += ["--methods", "chain_thaw"]  # fine-tuning = the chain-thaw runs
    result = main_fn(recipe_args, prog=f"rnnkit {name}")
    return int(result) if isinstance(result, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``rnnkit`` command. Errors end it with one line on stderr,
    ``rnnkit <command>: error: <what was wrong>, <what was expected>``, and no traceback:
    exit status 2 for a wrong command line (:class:`UsageError`, argparse's own errors),
    1 for wrong data (:class:`DataError` and any other ``ValueError`` or
    ``FileNotFoundError``). The raised ``SystemExit`` carries the line as its text."""
    own_process = argv is None  # the rnnkit command itself, not a caller of main(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else ""
    try:
        return _main(argv, own_process)
    except UsageError as e:
        raise fail(command, str(e), USAGE_EXIT) from None
    except (ValueError, FileNotFoundError) as e:
        raise fail(command, str(e), DATA_EXIT) from None
    except OSError as e:  # e.g. a disk that fills up while writing
        where = f"{e.filename}: " if e.filename else ""
        raise fail(command, f"{where}{e.strerror or e}", DATA_EXIT) from None


def _warner(command: str) -> Callable[[str], None]:
    return lambda message: warn(command, message)


def _print_tagging_report(name: str, report: dict[str, Any]) -> None:
    """The per-type table of :func:`rnnkit.cli.tagging.tagging_report` and token accuracy."""
    what = "entities (seqeval)" if report["scheme"] == "BIO" else "tags (per token)"
    print(f"{name}: {what}")
    _print_table(report["rows"])
    print()
    _print_table(
        [
            {
                "data": name,
                "sentences": report["sentences"],
                "tokens": report["tokens"],
                "token_accuracy": report["accuracy"],
            }
        ]
    )


def _train_tagger(args: argparse.Namespace) -> int:
    from rnnkit.cli import tagging

    result = tagging.train_tagger(
        args.data,
        args.output,
        validation=args.validation,
        validation_fraction=args.validation_fraction,
        cell=args.cell,
        units=args.units,
        num_layers=args.num_layers,
        embedding_dim=args.embedding_dim,
        dropout=args.dropout,
        chars=args.chars,
        crf=args.crf,
        case_features=args.case_features,
        max_vocabulary=args.max_vocabulary,
        max_length=args.max_length,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        bio_errors=args.bio_errors,
        seed=args.seed,
        limit=args.limit,
        encoding=args.encoding,
        verbose=0 if args.quiet else 1,
        warn=_warner("train"),
    )
    history = result["history"]
    epochs = len(next(iter(history.values())))
    _print_table([{"epoch": e + 1, **{k: v[e] for k, v in history.items()}} for e in range(epochs)])
    if "val_score" in history:
        where = (
            Path(args.validation).name
            if args.validation
            else f"the {args.validation_fraction:g} held out"
        )
        print(f"\nKept the weights of epoch {result['best_epoch'] + 1} (best val_score on {where})")
    if result["validation"] is not None:
        print()
        _print_tagging_report(Path(args.validation).name, result["validation"])
    print(f"\nSaved tagger to {result['output']}")
    return 0


def _predict_tagger(args: argparse.Namespace, texts: list[str]) -> int:
    from rnnkit.cli import tagging, tasks

    sentences = [t for t in texts if tagging.split_tokens(t)]
    if not sentences:
        raise UsageError(
            "no sentences, expected sentences as arguments or --input FILE (one per line, "
            "- = stdin)"
        )
    tagged = tagging.predict_tagger(args.model, sentences)
    if args.output_csv:
        rows = [
            {"sentence": i + 1, "token": token, "tag": tag}
            for i, pairs in enumerate(tagged)
            for token, tag in pairs
        ]
        tasks.write_csv(rows, args.output_csv)
    print(tagging.format_conll(tagged))
    return 0


def _import_core(quiet: bool = False) -> None:
    """Imports rnnkit's layers (and so Keras and its backend) for a command that runs:
    their Keras serializables must be registered before any model is loaded. ``--help``
    and command-line errors end before this, without a deep-learning framework. With
    ``quiet``, the frameworks' log lines are hidden first
    (:func:`rnnkit.logs.hide_framework_logs`)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if quiet:
        hide_framework_logs()
    importlib.import_module("rnnkit.layers")
    if quiet and "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")  # retracing warnings


def _main(argv: list[str], own_process: bool = False) -> int:
    parser = build_parser()
    if argv and argv[0] in RECIPE_COMMANDS and not {"-h", "--help"} & set(argv[1:2]):
        _import_core(quiet=own_process and not verbose_requested(argv[1:]))
        return _recipe(argv[0], argparse.Namespace(recipe_args=argv[1:]))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    args = _apply_config(parser, args, argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    required = {
        "train": ("data", "output"),
        "evaluate": ("model", "data"),
        "predict": ("model",),
        "export": ("model", "export_base_path"),
        "serve": ("model_name", "model_base_path"),
        "prepare-corpus": ("input", "output"),
    }
    _require(args, *required.get(args.command, ()))
    validate_args(args)
    _import_core(quiet=own_process and not args.verbose)

    if args.command == "train" and args.task == "tagging":
        return _train_tagger(args)

    if args.command == "train":
        from rnnkit.cli import tasks

        result = tasks.train(
            args.data,
            args.output,
            text_column=args.text_column,
            label_column=args.label_column,
            split=args.split,
            validation_data=args.validation_data,
            validation_split=args.validation_split,
            validation_fraction=args.validation_fraction,
            max_length=args.max_length,
            max_vocabulary=args.max_vocabulary,
            cell=args.cell,
            units=args.units,
            num_layers=args.num_layers,
            bidirectional=args.bidirectional,
            embedding_dim=args.embedding_dim,
            dropout=args.dropout,
            attention=args.attention,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
            limit=args.limit,
            verbose=0 if args.quiet else 1,
            encoding=args.encoding,
            strict=args.strict,
            warn=_warner("train"),
        )
        epochs = len(next(iter(result["history"].values())))
        rows = [
            {"epoch": float(e + 1), **{k: v[e] for k, v in result["history"].items()}}
            for e in range(epochs)
        ]
        _print_table(rows)
        if result["validation"]:
            print()
            _print_table([{"split": "validation", **result["validation"]}])
        curves = f"curves: {result['plot']}" if result["plot"] else "no curves: see the warning"
        print(f"\nSaved model to {result['output']} ({curves})")
        return 0

    if args.command == "evaluate" and is_tagger_folder(args.model):
        from rnnkit.cli import tagging

        report = tagging.evaluate_tagger(
            args.model, args.data, limit=args.limit, encoding=args.encoding,
            warn=_warner("evaluate"),
        )  # fmt: skip
        _print_tagging_report(Path(args.data).name, report)
        return 0

    if args.command == "evaluate":
        from rnnkit.cli import tasks

        metrics = tasks.evaluate(
            args.model,
            args.data,
            text_column=args.text_column,
            label_column=args.label_column,
            split=args.split,
            limit=args.limit,
            encoding=args.encoding,
            strict=args.strict,
            warn=_warner("evaluate"),
        )
        _print_table([{"data": Path(args.data).name, **metrics}])
        return 0

    if args.command == "predict":
        from rnnkit.cli import tasks

        texts = [_argv_text(t, "predict") for t in args.texts]
        if args.input:
            decoded = tasks.read_lines(args.input, args.encoding)
            source = "stdin" if args.input == "-" else args.input
            texts += [line.rstrip("\r\n") for line in decoded.lines if line.strip()]
            message = decoded.warning(source)
            if message:
                warn("predict", message)
        if is_tagger_folder(args.model):
            return _predict_tagger(args, texts)
        if not texts:
            raise UsageError("no texts, expected texts as arguments or --input FILE (- = stdin)")
        rows = tasks.predict(args.model, texts)
        if args.output_csv:
            tasks.write_csv(rows, args.output_csv)
        _print_table(rows)
        return 0

    if args.command == "export":
        from rnnkit.cli import tasks
        from rnnkit.serving.export import export

        if is_tagger_folder(args.model):
            from rnnkit.cli import tagging

            text_model = tagging.exportable_text_model(args.model)
        else:
            text_model = tasks.load_text_model(args.model)
        target = export(text_model, args.export_base_path, version=args.version)
        print(f"Exported SavedModel to {target}")
        return 0

    if args.command == "serve":
        from rnnkit.serving.server import serve

        serve(
            args.model_name,
            args.model_base_path,
            args.rest_api_port,
            host=args.host,
            max_request_bytes=args.max_request_bytes,
            max_batch=args.max_batch,
            batching=args.batching,
            num_batch_threads=args.num_batch_threads,
            freeze_gc=args.freeze_gc,
        )
        return 0

    if args.command == "prepare-corpus":
        import rnnkit

        if rnnkit._running_the_command():
            from rnnkit.data.light_imports import import_light

            # the `rnnkit` command runs text processing only: no Keras or TensorFlow in
            # this process (the __init__ of rnnkit.models and of the DeepMoji folder load
            # the models), as in its worker processes
            prepare_corpus = import_light("rnnkit.models.deepmoji.corpus").prepare_corpus
        else:
            from rnnkit.models.deepmoji.corpus import prepare_corpus

        prepare_corpus(
            [args.input] if isinstance(args.input, str) else args.input,
            args.output,
            labels=args.labels,
            label_field=args.label_field,
            text_field=args.text_field,
            vocabulary=args.vocabulary,
            workers=args.workers,
            maxlen=args.maxlen,
            shard_size=args.shard_size,
            validation_fraction=args.validation_fraction,
            vocab_size=args.vocab_size,
            min_count=args.min_count,
            min_words=args.min_words,
            overwrite=args.overwrite,
            skip_bad_records=args.skip_bad_records,
            verbose=0 if args.quiet else 1,
        )
        return 0

    return _recipe(args.command, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
