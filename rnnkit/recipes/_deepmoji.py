"""What the DeepMoji workflows share on their command lines: the configuration and where
a configuration's artifacts and the results go.

Every location comes from an argument. The defaults are relative to the current working
directory: ``runs/deepmoji/<config>/`` for a configuration's pretrained model
(``runs/deepmoji/<config>-<cell>/`` with a ``--cell`` other than the LSTM; ``--runs``
moves the ``runs/deepmoji`` part) and ``runs/deepmoji/results/`` for tables and plots.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from rnnkit.models.deepmoji.transfer import CONFIGS, Config, get_config
from rnnkit.names import CELL_NAMES

#: the folder of the configurations' artifact folders (relative to the working directory)
DEFAULT_RUNS = Path("runs") / "deepmoji"
#: the folder of the tables and plots (relative to the working directory)
DEFAULT_RESULTS = DEFAULT_RUNS / "results"


def where(path: str | os.PathLike) -> str:
    """``path`` for a help text: a relative one says that it is in the current folder."""
    return str(path) if Path(path).is_absolute() else f"{path} in the current folder"


def add_config_arguments(
    parser: argparse.ArgumentParser,
    default: str = "medium",
    quick_help: str = "same as --config quick",
    runs: str | os.PathLike = DEFAULT_RUNS,
) -> None:
    """``--config``, ``--quick``, ``--cell`` and ``--runs`` (default ``runs``)."""
    parser.add_argument(
        "--config",
        default=default,
        choices=list(CONFIGS),
        help=f"the configuration (default: {default})",
    )
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--cell",
        choices=list(CELL_NAMES),
        help="the backbone's recurrent layers (default: the configuration's, lstm); "
        "a cell other than lstm has its own artifacts folder, RUNS/<config>-<cell>",
    )
    parser.add_argument(
        "--runs",
        default=str(runs),
        help=f"folder of the configurations' artifact folders, RUNS/<config> (default: "
        f"{where(runs)})",
    )


def chosen_config(args: argparse.Namespace) -> Config:
    """The configuration ``--quick`` / ``--config`` name, with ``--cell`` when given."""
    config = get_config("quick" if args.quick else args.config)
    if getattr(args, "cell", None):
        config = dataclasses.replace(config, cell=args.cell)
    return config


def artifacts_dir(
    config: Config, runs: str | os.PathLike = DEFAULT_RUNS, folder: str | os.PathLike | None = None
) -> Path:
    """Where the pretrained model of ``config`` is: ``folder`` when given, else
    ``runs/<config name>`` (``runs/<config name>-<cell>`` for a cell other than the
    LSTM)."""
    if folder:
        return Path(folder)
    return Path(runs) / (config.name if config.cell == "lstm" else f"{config.name}-{config.cell}")


def positive_int(text: str) -> int:
    """An argparse ``type``: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value
