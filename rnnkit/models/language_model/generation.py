"""The language model's generation: sampling ids from logits and continuing a prompt.

:func:`sample_logits` draws one id per row of logits (temperature, top-k, greedy at
temperature 0); :func:`generate` continues a prompt one id at a time with a batch-1
stateful copy of the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops

from rnnkit.models.language_model.backbone import LanguageModel

__all__ = ["generate", "sample_logits"]


def sample_logits(
    logits: Any,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draws one id per row of ``logits`` (``(vocab,)`` or ``(batch, vocab)``).

    Args:
        logits: Unnormalised log-probabilities.
        temperature: Divides the logits; ``0`` means greedy (argmax), values below 1
            sharpen and above 1 flatten the distribution.
        top_k: If given, sample only among the ``top_k`` most likely ids.
        rng: A NumPy generator (default: a fresh unseeded one).

    Returns:
        int64 ids, shape ``()`` or ``(batch,)``.
    """
    logits = np.asarray(ops.convert_to_numpy(logits), dtype=np.float64)
    if logits.ndim not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(
            f"Expected logits of shape (vocab,) or (batch, vocab), got {logits.shape}."
        )
    if not temperature >= 0:
        raise ValueError(f"`temperature` must be >= 0, got {temperature!r}.")
    vocab = logits.shape[-1]
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or not 0 < top_k):
        raise ValueError(f"`top_k` must be a positive integer or None, got {top_k!r}.")
    rows = logits.reshape(-1, vocab)
    if temperature == 0:
        out = rows.argmax(axis=-1)
        return out.reshape(logits.shape[:-1])
    rng = rng if rng is not None else np.random.default_rng()
    scaled = rows / temperature
    if top_k is not None and top_k < vocab:
        # keep exactly top_k ids per row (ties at the threshold broken by index)
        order = np.argsort(-scaled, axis=-1, kind="stable")[:, :top_k]
        keep = np.zeros_like(scaled, dtype=bool)
        np.put_along_axis(keep, order, True, axis=-1)
        scaled = np.where(keep, scaled, -np.inf)
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=-1, keepdims=True)
    out = np.array([rng.choice(vocab, p=p) for p in probs])
    return out.reshape(logits.shape[:-1])


def generate(
    model: LanguageModel,
    prompt_ids: Sequence[int],
    num_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    stop_id: int | None = None,
) -> list[int]:
    """Generates ``num_tokens`` ids after ``prompt_ids`` (one stream, states reset first).

    Args:
        model: A trained :class:`LanguageModel` (any batch size: a batch-1 copy is used).
        prompt_ids: The context, at least one id (e.g. ``[eos_id]`` to start a sentence).
        num_tokens: How many ids to generate.
        temperature, top_k: See :func:`sample_logits`.
        seed: Seed of the sampler.
        stop_id: Stop early after generating this id (e.g. ``<eos>``).

    Returns:
        The generated ids (without the prompt).
    """
    prompt = np.asarray(list(prompt_ids), dtype=np.int32)
    if prompt.ndim != 1 or prompt.size == 0:
        raise ValueError(
            f"`prompt_ids` must be a non-empty sequence of ids, got shape {prompt.shape}."
        )
    if prompt.min() < 0 or prompt.max() >= model.vocab_size:
        raise ValueError(
            f"`prompt_ids` must lie in [0, {model.vocab_size}), got values from "
            f"{prompt.min()} to {prompt.max()}."
        )
    if not isinstance(num_tokens, (int, np.integer)) or num_tokens < 0:
        raise ValueError(f"`num_tokens` must be a non-negative integer, got {num_tokens!r}.")
    single = model if (model.batch_size == 1 or not model.stateful) else model.with_batch_size(1)
    rng = np.random.default_rng(seed)
    single.reset_states()
    logits = single.predict_on_batch(prompt[None, :])[0, -1]
    generated: list[int] = []
    for _ in range(num_tokens):
        token = int(sample_logits(logits, temperature, top_k, rng))
        generated.append(token)
        if stop_id is not None and token == stop_id:
            break
        logits = single.predict_on_batch(np.array([[token]], dtype=np.int32))[0, -1]
    single.reset_states()
    return generated
