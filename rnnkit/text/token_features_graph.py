"""The inputs of rnnkit's taggers as a TensorFlow graph of core ops (no Keras, no tensorflow_text).

:func:`tf_token_features` gives, for a ragged batch of tokens, the same arrays as
:func:`rnnkit.text.token_features.encode_tokens` (word ids, word-shape classes, character
ids), so that an exported :class:`rnnkit.sklearn.RNNSequenceTagger` with character and
word-shape features tags raw sentences in a stock TF Serving binary exactly as the
estimator does. It uses only ``tf.strings`` (UTF-8 decode/encode, RE2 full matches),
``tf.searchsorted`` over constant code point tables, ``tf.ragged``, segment reductions
and a ``tf.lookup.StaticHashTable`` for the words.

The tables are computed from the running Python's own string methods, so each rule is
the Python rule by construction:

- Lowercasing (``str.lower``): a per-code-point table of ``chr(c).lower()`` (one or more
  code points), plus CPython's one context rule, the final sigma (U+03A3 becomes U+03C2
  when a cased character precedes it and none follows, skipping case-ignorable
  characters). Which characters are cased and which are case-ignorable is read off
  ``str.lower`` itself on probe strings.
- Word shapes (:func:`rnnkit.text.token_features.case_class`): a per-code-point table of
  ``isalpha`` / ``isupper`` / ``islower`` / ``isdigit`` / ``isalnum``, and per-token
  counts over it; the URL prefix test is an RE2 match over ASCII letters (no other code
  point lowercases to ``h``, ``t``, ``p``, ``s``, ``w``, ``:`` or ``.``).
- Characters: code point -> id by binary search in the fitted character list (unknown
  characters get id 1), the first ``char_width`` characters of each token.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from rnnkit.text.graph_tables import expand, map_values, seq_table

__all__ = ["tagger_tables", "tf_lower", "tf_case_classes", "tf_token_features"]

_ALPHA, _UPPER, _LOWER, _DIGIT, _ALNUM = 1, 2, 4, 8, 16
_SIGMA, _SMALL_SIGMA, _FINAL_SIGMA = 0x3A3, 0x3C3, 0x3C2
#: the URL test of ``case_class``: ``token.lower()`` starts with http:, https: or www.
_URL_RE = r"(?s)(?:[hH][tT][tT][pP][sS]?:|[wW][wW][wW]\.).*"


@functools.lru_cache(maxsize=1)
def tagger_tables() -> dict[str, Any]:
    """Code point tables (NumPy arrays, computed once per process)."""
    lower: dict[int, str] = {}
    flags = np.zeros(0x110000, np.int32)
    sigma_class = np.zeros(0x110000, np.int32)  # 0 other, 1 case-ignorable, 2 cased
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        low = ch.lower()
        if low != ch and c != _SIGMA:
            lower[c] = low
        flags[c] = (
            (_ALPHA if ch.isalpha() else 0)
            | (_UPPER if ch.isupper() else 0)
            | (_LOWER if ch.islower() else 0)
            | (_DIGIT if ch.isdigit() else 0)
            | (_ALNUM if ch.isalnum() else 0)
        )
        # "A" Σ ch: Σ stays σ iff ch is a cased character that is not case-ignorable;
        # "A" Σ ch "B": σ iff ch is case-ignorable (skipped, then "B" is cased) or cased.
        cased = ("A\u03a3" + ch).lower()[1] == "\u03c3"
        if cased:
            sigma_class[c] = 2
        elif ("A\u03a3" + ch + "B").lower()[1] == "\u03c3":
            sigma_class[c] = 1

    def runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
        return starts.astype(np.int32), values[starts].astype(np.int32)

    flag_starts, flag_values = runs(flags)
    sigma_starts, sigma_values = runs(sigma_class)
    return {
        "lower": seq_table({k: v for k, v in lower.items()}),
        "flag_starts": flag_starts,
        "flag_values": flag_values,
        "sigma_starts": sigma_starts,
        "sigma_values": sigma_values,
    }


def _runs_lookup(starts: np.ndarray, values: np.ndarray, x: Any) -> Any:
    import tensorflow as tf

    idx = tf.searchsorted(tf.constant(starts), tf.cast(x, tf.int32), side="right") - 1
    return tf.gather(tf.constant(values), idx)


def tf_lower(cps: Any) -> Any:
    """``str.lower`` of each row of a ragged ``[n, None]`` int32 code point tensor (one row
    per string), as a ragged code point tensor."""
    import tensorflow as tf

    t = tagger_tables()
    v = cps.flat_values
    rows = cps.value_rowids()
    # the final sigma: the nearest non-ignorable neighbours of each Σ in its own row
    cls = _runs_lookup(t["sigma_starts"], t["sigma_values"], v)
    keep = tf.not_equal(cls, 1)
    size = tf.size(v)
    # positions of the non-ignorable characters, then a sentinel position past the end
    # (row -1, class 0) so that every neighbour lookup has something to read
    kept = tf.concat([tf.cast(tf.where(keep)[:, 0], tf.int32), [size]], axis=0)
    rank = tf.cumsum(tf.cast(keep, tf.int32)) - 1
    rows_ext = tf.concat([tf.cast(rows, tf.int32), [-1]], axis=0)
    cls_ext = tf.concat([cls, [0]], axis=0)
    prev = tf.gather(kept, tf.maximum(rank - 1, 0))
    after = tf.gather(kept, tf.minimum(rank + 1, tf.size(kept) - 1))
    row = rows_ext[:-1]
    before_cased = (rank >= 1) & tf.equal(tf.gather(rows_ext, prev), row)
    before_cased &= tf.equal(tf.gather(cls_ext, prev), 2)
    after_cased = tf.equal(tf.gather(rows_ext, after), row) & tf.equal(tf.gather(cls_ext, after), 2)
    sigma = tf.where(before_cased & ~after_cased, _FINAL_SIGMA, _SMALL_SIGMA)
    v = tf.where(tf.equal(v, _SIGMA), sigma, v)
    return expand(cps.with_flat_values(v), t["lower"])


def tf_case_classes(tokens: Any) -> Any:
    """:func:`rnnkit.text.token_features.case_class` of each string of a 1-D string tensor
    (int32, same length)."""
    import tensorflow as tf

    t = tagger_tables()
    cps = tf.strings.unicode_decode(tokens, "UTF-8")
    v = cps.flat_values
    n = tf.cast(cps.nrows(), tf.int32)
    rows = tf.cast(cps.value_rowids(), tf.int32)
    length = tf.cast(cps.row_lengths(), tf.int32)
    flags = _runs_lookup(t["flag_starts"], t["flag_values"], v)

    def count(bits: int, mask: Any = None) -> Any:
        hit = tf.equal(tf.bitwise.bitwise_and(flags, bits), bits)
        if mask is not None:
            hit &= mask
        return tf.math.unsorted_segment_sum(tf.cast(hit, tf.int32), rows, n)

    first = tf.strings.substr(tokens, 0, 1)  # the first byte: "@" / "#" are ASCII
    letters = count(_ALPHA)
    pos = tf.range(tf.size(v)) - tf.gather(tf.cast(cps.row_starts(), tf.int32), rows)
    alpha = tf.equal(tf.bitwise.bitwise_and(flags, _ALPHA), _ALPHA)
    first_letter_pos = tf.math.unsorted_segment_min(tf.where(alpha, pos, 2**30), rows, n)
    is_first_letter = alpha & tf.equal(pos, tf.gather(first_letter_pos, rows))
    first_upper = count(_UPPER, is_first_letter) > 0
    first_lower = count(_LOWER, is_first_letter)
    lower_letters = count(_ALPHA | _LOWER)
    upper_letters = count(_ALPHA | _UPPER)
    digits = count(_DIGIT)
    alnum = count(_ALNUM)
    url = tf.strings.regex_full_match(tokens, _URL_RE)
    out = tf.fill([n], 5)
    out = tf.where(first_upper & tf.equal(lower_letters - first_lower, letters - 1), 3, out)
    out = tf.where(tf.equal(upper_letters, letters), tf.where(letters > 1, 4, 3), out)
    out = tf.where(tf.equal(lower_letters, letters), 2, out)
    out = tf.where(tf.equal(letters, 0), tf.where(tf.equal(alnum, 0), 11, 1), out)
    out = tf.where(digits > 0, 7, out)
    out = tf.where((length > 0) & tf.equal(digits, length), 6, out)
    out = tf.where(url, 10, out)
    out = tf.where(tf.equal(first, "#") & (length > 1), 9, out)
    out = tf.where(tf.equal(first, "@") & (length > 1), 8, out)
    return out


def tf_token_features(
    tokens: Any,
    word_table: Any,
    *,
    width: int,
    lowercase: bool = True,
    chars: list[str] | None = None,
    char_width: int = 20,
    case_features: bool = False,
) -> dict[str, Any]:
    """The inputs of :class:`rnnkit.models.taggers.SequenceTagger` for a ragged
    ``[batch, None]`` string tensor of tokens, equal to
    ``encode_tokens(tokens, word_index, char_index, lowercase, width=width,
    char_width=char_width)`` (without ``"case"`` unless ``case_features``).

    Args:
        tokens: ``tf.RaggedTensor`` of strings, at most ``width`` tokens per row.
        word_table: ``tf.lookup.StaticHashTable`` word -> id (unknown words -> 1).
        width: padded length of every row.
        lowercase: look words up lower-cased (``str.lower``).
        chars: the fitted character list (index = id; entries 0 and 1 are padding and
            unknown and never matched), or None for no ``"chars"``.
        char_width: characters kept per token (the first ones).
        case_features: add ``"case"`` (:func:`rnnkit.text.token_features.case_class`).

    Returns:
        ``{"words": (batch, width) int32[, "case": (batch, width) int32][, "chars":
        (batch, width, char_width) int32]}``, 0 at padding.
    """
    import tensorflow as tf

    flat = tokens.flat_values
    cps = tf.strings.unicode_decode(flat, "UTF-8")
    looked = tf.strings.unicode_encode(tf_lower(cps), "UTF-8") if lowercase else flat
    ids = tf.cast(word_table.lookup(looked), tf.int32)
    out = {"words": tokens.with_flat_values(ids).to_tensor(0, shape=[None, width])}
    if case_features:
        case = tokens.with_flat_values(tf_case_classes(flat))
        out["case"] = case.to_tensor(0, shape=[None, width])
    if chars is not None:
        index = sorted((ord(c), i) for i, c in enumerate(chars) if i >= 2 and len(c) == 1)
        keys = np.array([k for k, _ in index] or [-1], np.int32)
        values = np.array([i for _, i in index] or [1], np.int32)
        cut = cps[:, :char_width]
        char_ids = cut.with_flat_values(map_values(keys, values, cut.flat_values, 1))
        dense = char_ids.to_tensor(0, shape=[None, char_width])
        out["chars"] = tf.RaggedTensor.from_row_splits(dense, tokens.row_splits).to_tensor(
            0, shape=[None, width, char_width]
        )
    return out
