"""Hiding the deep-learning frameworks' own log lines (bottom layer: imports no framework).

TensorFlow and absl print start-up lines from C++ before absl's logging is initialised,
so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide all of them; :func:`hide_framework_logs` drops
everything written to file descriptor 2 by code other than Python's ``sys.stderr``.
"""

from __future__ import annotations

import os
import sys

__all__ = ["hide_framework_logs"]


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
    then calls this before it imports any framework)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        kept = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no file descriptor 2 (an embedded interpreter): leave it
        return
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = os.fdopen(
        kept, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace"
    )
