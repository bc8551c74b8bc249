"""Hiding the deep-learning frameworks' own log lines (bottom layer: imports no framework).

TensorFlow and absl print start-up lines from C++ before absl's logging is initialised,
so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide all of them; :func:`hide_framework_logs` drops
everything written to file descriptor 2 by code other than Python's ``sys.stderr``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["hide_framework_logs", "verbose_requested"]

#: whether :func:`hide_framework_logs` has run in this process (a second call would copy
#: the null device it left on descriptor 2 and lose ``sys.stderr`` too)
_hidden = False


def hide_framework_logs() -> None:
    """Points file descriptor 2 of this process at the null device and Python's
    ``sys.stderr`` at a copy of the real one: what the frameworks' C++ code writes to
    stderr (TensorFlow's and absl's log lines, printed before absl is initialised, so
    ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them) is dropped, while rnnkit's own errors,
    warnings and progress bars (written through ``sys.stderr``) still show. Child
    processes that inherit stderr inherit the null device: the command's ``--verbose``
    keeps everything. For a process that rnnkit owns: the ``rnnkit`` command's own
    process (``main()`` without arguments, never a caller of ``main(argv)``), or a
    script that sets ``RNNKIT_QUIET=1`` before its first ``import rnnkit`` (the package
    then calls this before it imports any framework), or ``RNNKIT_QUIET=auto``: the same
    unless the script's own arguments ask for verbose output (:func:`verbose_requested`).
    Calls after the first do nothing."""
    global _hidden
    if _hidden:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        kept = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no file descriptor 2 (an embedded interpreter): leave it
        return
    os.dup2(devnull, 2)
    os.close(devnull)
    _hidden = True
    sys.stderr = os.fdopen(
        kept, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace"
    )


def verbose_requested(argv: Sequence[str]) -> bool:
    """Whether a recipe's arguments ask for verbose output, ``--verbose N`` or
    ``--verbose=N`` with N > 0 (a recipe's ``--verbose`` takes a number; anything
    unparsable counts as not verbose): then its process keeps the frameworks' log lines.

    Args:
        argv: the arguments after the program or subcommand name.

    Returns:
        True when the last word on ``--verbose`` is a number above 0.

    Example:

    >>> verbose_requested(["--config", "quick", "--verbose", "2"])
    True
    """
    for k, arg in enumerate(argv):
        value = None
        if arg == "--verbose" and k + 1 < len(argv):
            value = argv[k + 1]
        elif arg.startswith("--verbose="):
            value = arg.split("=", 1)[1]
        if value is not None:
            return value.isdigit() and int(value) > 0
    return False
