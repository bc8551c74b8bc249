"""Command-line pieces shared by the recipes (the scripts under ``recipes/`` and the
workflows here)."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_checkpoint_arguments", "checkpoint_dir"]


def add_checkpoint_arguments(parser: argparse.ArgumentParser, what: str, default: str) -> None:
    """``--checkpoint DIR`` and ``--no-checkpoint`` of a recipe that goes on after a kill.

    Args:
        parser: the recipe's parser.
        what: what the folder holds, e.g. ``"the per-epoch checkpoint"``.
        default: the default folder, as the help text names it.
    """
    parser.add_argument(
        "--checkpoint",
        default=None,
        help=f"folder of {what} (default: {default}); the same command goes on from there "
        "after a kill",
    )
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="start from scratch and save nothing to go on from",
    )


def checkpoint_dir(args: argparse.Namespace, default: Path) -> Path | None:
    """The folder that :func:`add_checkpoint_arguments`' options chose (None: none)."""
    return None if args.no_checkpoint else Path(args.checkpoint or default)
