"""Quiet TensorFlow: no framework log lines unless asked for (import before TensorFlow).

TensorFlow's C++ start-up lines (oneDNN, CUDA probing) are written to the process's
stderr before ``TF_CPP_MIN_LOG_LEVEL`` takes effect, so the import itself runs with file
descriptor 2 pointed at /dev/null. This module imports nothing heavy, so it can run first
in a script and in spawned worker processes.
"""

from __future__ import annotations

import os
import sys
import warnings


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow without its log lines and keep its Python logger at errors only.

    Args:
        verbose: if True, do nothing (every framework log line is shown).

    Returns:
        None. Errors raised by the import itself still propagate (stderr is restored).

    Example:

    >>> quiet_tensorflow()  # doctest: +SKIP
    """
    if verbose or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.autograph.set_verbosity(0)
    warnings.filterwarnings("ignore", module="keras")
