"""The language model's evaluation: perplexity over a token stream.

:func:`perplexity` is ``exp(mean NLL)`` over a token stream read as truncated-BPTT
windows with the states carried across them; :func:`token_nll` is the per-token negative
log-likelihood it sums.
"""

from __future__ import annotations

import math

import numpy as np

from rnnkit.models.language_model.backbone import LanguageModel

__all__ = ["perplexity", "token_nll"]


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-token negative log-likelihood ``-log softmax(logits)[target]`` in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    picked = np.take_along_axis(shifted, np.asarray(targets)[..., None], axis=-1)[..., 0]
    return log_norm - picked


def perplexity(
    model: LanguageModel, ids: np.ndarray, unroll: int = 20, batch_size: int | None = None
) -> float:
    """Perplexity ``exp(mean NLL)`` of ``model`` on a token stream.

    The stream is laid out as ``batch_size`` contiguous streams (default: the model's
    batch size) read in windows of ``unroll`` steps with the states carried across
    windows and reset first. Every predicted token counts once.

    Args:
        model: A :class:`LanguageModel`.
        ids: 1-D int token stream.
        unroll: Window length.
        batch_size: Number of parallel streams (a copy of the model is made when it
            differs from the model's).

    Returns:
        The perplexity, a Python float.
    """
    from rnnkit.data.ptb import tbptt_windows

    batch_size = model.batch_size if batch_size is None else batch_size
    if batch_size != model.batch_size and model.stateful:
        model = model.with_batch_size(batch_size)
    model.reset_states()
    total, count = 0.0, 0
    for x, y in tbptt_windows(ids, batch_size, unroll):
        logits = model.predict_on_batch(x)
        total += float(token_nll(logits, y).sum())
        count += y.size
    model.reset_states()
    return math.exp(total / count)
