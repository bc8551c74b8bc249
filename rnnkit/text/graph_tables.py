"""Constant code point tables for in-graph text rules (core TensorFlow ops only).

Generic pieces shared by the in-graph tokenizers: the tables are plain NumPy arrays built
in Python (so each rule is the Python rule by construction) and become constants of the
graph, with no lookup resources. :func:`seq_table` packs a code point -> code point
sequence map; :func:`search`, :func:`map_values` and :func:`expand` apply such tables to
tensors with ``tf.searchsorted`` and ``tf.gather``. Used by the tagger's token features
(:mod:`rnnkit.text.token_features_graph`) and by DeepMoji's in-graph tokenizer
(``rnnkit/models/deepmoji/tokenizer_graph.py``). TensorFlow is imported on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["expand", "map_values", "search", "seq_table"]


def seq_table(mapping: dict[int, str]) -> dict[str, np.ndarray]:
    """A code point -> code point sequence map as sorted keys + (start, length) into a
    flat array."""
    keys = sorted(mapping)
    starts, lens, flat = [], [], []
    for k in keys:
        starts.append(len(flat))
        lens.append(len(mapping[k]))
        flat.extend(ord(ch) for ch in mapping[k])
    return {
        "keys": np.array(keys, np.int32),
        "starts": np.array(starts, np.int32),
        "lens": np.array(lens, np.int32),
        "flat": np.array(flat, np.int32),
    }


def search(keys: np.ndarray, x: Any) -> tuple[Any, Any]:
    """(index, found) of each element of 1-D ``x`` in the sorted constant ``keys``."""
    import tensorflow as tf

    n = int(keys.shape[0])
    k = tf.constant(keys)
    idx = tf.minimum(tf.searchsorted(k, tf.cast(x, k.dtype)), n - 1)
    return idx, tf.equal(tf.gather(k, idx), tf.cast(x, k.dtype))


def map_values(keys: np.ndarray, vals: np.ndarray, x: Any, default: Any) -> Any:
    """``vals[i]`` where an element of ``x`` is ``keys[i]``, else ``default``."""
    import tensorflow as tf

    idx, hit = search(keys, x)
    return tf.where(hit, tf.gather(tf.constant(vals), idx), default)


def expand(rt: Any, table: dict[str, np.ndarray]) -> Any:
    """Replace every code point of a ragged ``[B, None]`` int32 tensor by its table
    sequence (itself when absent)."""
    import tensorflow as tf

    flat = rt.flat_values
    n = tf.size(flat)
    idx, hit = search(table["keys"], flat)
    m = int(table["flat"].shape[0])
    seg_len = tf.where(hit, tf.gather(tf.constant(table["lens"]), idx), 1)
    seg_start = tf.where(
        hit, tf.gather(tf.constant(table["starts"]), idx), m + tf.range(n, dtype=tf.int32)
    )
    source = tf.concat([tf.constant(table["flat"]), flat], axis=0)
    rng = tf.ragged.range(seg_start, seg_start + seg_len)
    new_flat = tf.gather(source, rng.flat_values)
    row_lengths = tf.math.unsorted_segment_sum(
        seg_len, tf.cast(rt.value_rowids(), tf.int32), tf.cast(rt.nrows(), tf.int32)
    )
    return tf.RaggedTensor.from_row_lengths(new_flat, tf.cast(row_lengths, tf.int64))
