"""The seq2seq task: translating source id rows with a trained model, by greedy or beam
search.

:func:`translate` (what :meth:`Seq2Seq.translate
<rnnkit.models.seq2seq.backbone.Seq2Seq.translate>` runs) encodes the sources and runs
the decoder's search (:meth:`rnnkit.layers.attention_decoder.AttentionDecoder.greedy_decode`
or :meth:`~rnnkit.layers.attention_decoder.AttentionDecoder.beam_search`) over its
recurrent states and attention. The in-graph greedy search of an exported SavedModel is
:mod:`rnnkit.serving.export`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.layers.attention_decoder import Decoded

__all__ = ["translate"]


def translate(
    model: Any,
    source_ids: Any,
    beam_width: int = 1,
    max_length: int = 50,
    length_penalty: float = 1.0,
) -> Decoded:
    """Decodes a batch of source id rows with ``model`` (a
    :class:`~rnnkit.models.seq2seq.backbone.Seq2Seq`): greedy (``beam_width=1``) or beam
    search.

    Raises:
        ValueError: for a row with no source token (all padding).
    """
    source_ids = np.asarray(source_ids)
    if source_ids.ndim != 2:
        raise ValueError(
            f"Seq2Seq.translate expected source ids of shape (batch, S), got {source_ids.shape}."
        )
    empty = ~np.any(source_ids != 0, axis=1)
    if empty.any():
        raise ValueError(
            f"Cannot translate an empty source: rows {np.flatnonzero(empty).tolist()} "
            "have only padding (id 0); expected at least one token per row."
        )
    memory, memory_mask, states = model.encode(source_ids.astype("int32"))
    if beam_width == 1:
        return model.decoder.greedy_decode(
            memory, memory_mask, states, max_length=max_length, length_penalty=length_penalty
        )
    return model.decoder.beam_search(
        memory,
        memory_mask,
        states,
        beam_width=beam_width,
        max_length=max_length,
        length_penalty=length_penalty,
    )
