"""DeepMoji's tokenizer as a TensorFlow graph of core ops (no tensorflow_text, no Keras).

:func:`tf_deepmoji_words` gives, for a 1-D string tensor, the same words as
:meth:`rnnkit.models.deepmoji.DeepMojiTokenizer.words` (a ``tf.RaggedTensor``), so that an
exported DeepMoji model preprocesses raw text in a stock TF Serving binary exactly as the
Python tokenizer does. It uses only ``tf.strings`` (RE2 regexes, UTF-8 decode/encode, split),
``tf.searchsorted`` over constant code point tables, ``tf.ragged`` and ``tf.math``; the
tables are computed here from the running Python's ``unicodedata`` (the same data
``DeepMojiTokenizer`` uses) and become constants of the graph (no lookup resources; the
generic table helpers are :mod:`rnnkit.text.graph_tables`, shared with the tagger's
in-graph token features).

How each step of the Python tokenizer is reproduced:

1. ``strip()``: an RE2 replacement anchored at both ends with Python's whitespace set.
2. Lowercasing: a per-code-point table of ``str.lower`` (the tokenizer maps U+0130 and
   U+03A3 one-to-one first, so every code point has a single-code-point lowercase).
3. Line breaks: one RE2 alternation (the sequential ``str.replace`` calls of the Python
   side never interact, so leftmost-first matching gives the same result).
4. Variation selectors, NFKC and the punctuation transliteration: a per-code-point table of
   ``translate(NFKC(c))`` (empty for U+FE00-U+FE0F, a space for every whitespace
   character). NFKC of a word equals the concatenation of its characters' NFKC except around
   characters that compose or reorder with a neighbour (combining marks after a base,
   Hangul jamo, ...): texts holding such a character take the exact route instead
   (:func:`_nfkc_exact`: NFKD per code point, canonical reordering, then CPython's
   composition loop as a ``tf.while_loop``).
5. The token regex: RE2 has Python's leftmost-first alternation but no look-arounds and an
   ASCII-only ``\\b``, while three of the patterns need the neighbouring characters (the
   e-mail pattern's Unicode ``\\b`` at both ends, the abbreviation's ``\\b(?<!\\.)``). So
   the regex runs on a "unit" string where every character is preceded by one context byte
   (``\\x10``-``\\x15``) that encodes whether the previous character is a Unicode word
   character, a ``.`` or anything else, and whether the next one is a word character; the
   patterns are rewritten over units, and the boundary conditions test the context byte.
   The ``#+(?=#\\w)`` / ``@+(?=@\\w)`` look-aheads become one combined match that is split
   afterwards. Each match is marked, the string split, and the tokens cut out of the
   decoded text by their unit offsets.
6. Per token: runs of 3+ identical characters in ASCII tokens are shortened with the
   original's quirk (each run string is replaced everywhere, in order of first
   appearance), computed as a fold over run lengths; then ``isdecimal`` -> CUSTOM_NUMBER,
   ``@\\w`` -> CUSTOM_AT, an http(s)/www URL -> CUSTOM_URL, as RE2 full matches.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

import numpy as np

from rnnkit.text.graph_tables import expand, map_values, search, seq_table

__all__ = ["tf_deepmoji_words", "deepmoji_tables"]

_K = r"[\x10-\x15]"  # any context byte
# context byte = 0x10 + prev + 3 * next_is_not_word, prev: 0 word, 1 ".", 2 other
_PREV_WORD = r"[\x10\x13]"
_PREV_NONWORD = r"[\x11\x12\x14\x15]"
_PREV_OTHER = r"[\x12\x15]"
_NEXT_WORD = r"[\x10-\x12]"
_NEXT_NONWORD = r"[\x13-\x15]"
_MARK = "\x01"


def _ranges(codepoints: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in codepoints:
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


def _class(codepoints: list[int]) -> str:
    parts = []
    for a, b in _ranges(codepoints):
        parts.append(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}")
    return "[" + "".join(parts) + "]"


def _unitize(pattern: str) -> str:
    """Rewrite a (look-around free) regex so that each character atom matches one unit,
    i.e. a context byte followed by the character. Capturing groups become non-capturing."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            j = i + 1
            if pattern[j] == "^":
                j += 1
            if pattern[j] == "]":
                j += 1
            while pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            atom = pattern[i : j + 1]
            i = j + 1
        elif c == "\\":
            atom = pattern[i : i + 2]
            i += 2
        elif c == "(":
            if pattern.startswith("(?:", i):
                out.append("(?:")
                i += 3
            else:
                out.append("(?:")
                i += 1
            continue
        elif c in ")|+*?":
            out.append(c)
            i += 1
            continue
        elif c == "{":
            j = pattern.index("}", i)
            out.append(pattern[i : j + 1])
            i = j + 1
            continue
        else:
            atom = c
            i += 1
        out.append(f"(?:{_K}{atom})")
    return "".join(out)


def _token_regex() -> str:
    """DeepMoji's token regex over units (see the module docstring)."""
    from rnnkit.models.deepmoji import tokenizer as dm

    # the three context-dependent patterns are rewritten by hand below: make sure they are
    # still the tokenizer's
    expected = {
        "_P_EMAIL": r"\b[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+\b",
        "_P_ABBREVIATION": r"\b(?<!\.)(?:[A-Za-z]\.){2,}",
        "_P_SYMBOL": "|".join(re.escape(s) + "+" for s in dm._SYMBOLS)
        + r"|#+(?=#[a-zA-Z0-9_]+)|@+(?=@[a-zA-Z0-9_]+)|#+|@+",
    }
    for name, pattern in expected.items():
        if getattr(dm, name) != pattern:  # pragma: no cover - guards future edits
            raise RuntimeError(f"tokenizer_graph: DeepMojiTokenizer.{name} changed; update me.")
    email = (
        f"(?:{_PREV_WORD}[.+\\-]|{_PREV_NONWORD}[a-zA-Z0-9_])"
        + _unitize(r"[a-zA-Z0-9_.+\-]*@[a-zA-Z0-9\-]+\.[a-zA-Z0-9.\-]*")
        + f"(?:{_NEXT_NONWORD}[a-zA-Z0-9]|{_NEXT_WORD}[.\\-])"
    )
    abbreviation = f"{_PREV_OTHER}[A-Za-z]" + _unitize(r"\.(?:[A-Za-z]\.)+")
    symbols = "|".join(_unitize(re.escape(s) + "+") for s in dm._SYMBOLS)
    lookahead = "|".join(_unitize(f"{c}+{c}[a-zA-Z0-9_]+") for c in ("#", "@"))
    symbol = symbols + "|" + lookahead + "|" + _unitize("#+|@+")
    parts = [
        _unitize(dm._P_URL),
        email,
        *(
            _unitize(p)
            for p in (
                dm._P_COMPOUND,
                dm._P_HASHTAG,
                dm._P_MENTION,
                dm._P_HEART,
                dm._P_EMOTICON,
                dm._P_CONTRACTION,
                dm._P_TITLE,
            )
        ),
        abbreviation,
        _unitize(dm._P_NUMBER),
        _unitize(dm._P_WORD),
        symbol,
        _unitize(dm._P_ANY),
    ]
    return "(?:" + _K + " )+|" + "|".join(parts)


@functools.lru_cache(maxsize=1)
def deepmoji_tables() -> dict[str, Any]:
    """Code point tables and regexes (plain Python / NumPy values, computed once)."""
    from rnnkit.models.deepmoji import tokenizer as dm

    translation = dm._PUNCT_TRANSLATION
    lower: dict[int, int] = {}
    fast: dict[int, str] = {}  # translate(NFKC(c)), for texts without interacting chars
    nfkd: dict[int, str] = {}
    trans: dict[int, str] = {}
    ccc: dict[int, int] = {}
    word: list[int] = []
    decimal: list[int] = []
    space: list[int] = []
    for c in range(0x110000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        low = {0x130: "i", 0x3A3: "\u03c3"}.get(c, ch.lower())
        if low != ch:
            if len(low) != 1:  # pragma: no cover - Unicode data change
                raise RuntimeError(f"U+{c:04X} lowercases to {len(low)} code points")
            lower[c] = ord(low)
        if ch.isspace():
            space.append(c)
            fast[c] = nfkd[c] = " "
        elif 0xFE00 <= c <= 0xFE0F:
            fast[c] = nfkd[c] = ""
        elif c >= 0x80:
            mapped = unicodedata.normalize("NFKC", ch).translate(translation)
            if mapped != ch:
                fast[c] = mapped
            decomposed = unicodedata.normalize("NFKD", ch)
            if decomposed != ch:
                nfkd[c] = decomposed
            if c in translation:
                trans[c] = translation[c]
        if ch.isalnum() or ch == "_":
            word.append(c)
        if ch.isdecimal() and c >= 0x80:
            decimal.append(c)
        if unicodedata.combining(ch):
            ccc[c] = unicodedata.combining(ch)
    # primary composites (what NFC composes): two-code-point canonical decompositions
    # that NFC recomposes (composition exclusions and singletons drop out)
    pairs: dict[int, int] = {}
    for c in range(0x80, 0x110000):
        if 0xD800 <= c < 0xE000 or 0xAC00 <= c <= 0xD7A3:
            continue
        d = unicodedata.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(
            c
        ):
            pairs[parts[0] * 0x110000 + parts[1]] = c
    seconds = (
        {k % 0x110000 for k in pairs} | set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    )
    # characters without a composition boundary before them: NFKC of a text that holds
    # one is not the concatenation of its characters' NFKC
    interacting = []
    for c in range(0x80, 0x110000):
        if 0xD800 <= c < 0xE000 or c in nfkd and not nfkd[c].strip():
            continue
        first = ord(nfkd.get(c, chr(c))[0])
        if first in ccc or first in seconds:
            interacting.append(c)
    word_bounds: list[int] = []
    for a, b in _ranges(word):
        word_bounds += [a, b + 1]
    ws = _class(space)
    pair_keys = sorted(pairs)
    return {
        "lower_keys": np.array(sorted(lower), np.int32),
        "lower_vals": np.array([lower[k] for k in sorted(lower)], np.int32),
        "fast": seq_table(fast),
        "nfkd": seq_table(nfkd),
        "trans": seq_table(trans),
        "ccc_keys": np.array(sorted(ccc), np.int32),
        "ccc_vals": np.array([ccc[k] for k in sorted(ccc)], np.int32),
        "pair_keys": np.array(pair_keys, np.int64),
        "pair_vals": np.array([pairs[k] for k in pair_keys], np.int32),
        "first_keys": np.array(sorted({k // 0x110000 for k in pairs}), np.int32),
        "second_keys": np.array(sorted(seconds), np.int32),
        "interacting": np.array(interacting, np.int32),
        "word_bounds": np.array(word_bounds, np.int32),
        "strip_re": f"^{ws}+|{ws}+$",
        "linebreak_re": "|".join(re.escape(p) for p in dm._LINEBREAKS),
        "token_re": _token_regex(),
        "split_re": (
            f"{_MARK}((?:{_K}#)+)({_K}#{_K}[a-zA-Z0-9_])|{_MARK}((?:{_K}@)+)({_K}@{_K}[a-zA-Z0-9_])"
        ),
        "units_ws_re": f"(?:{_K} )+",
        "triple_re": "(?s)[\\x00-\\x7f]*(?:"
        + "|".join(re.escape(chr(c) * 3) for c in range(0x21, 0x7F))
        + ")[\\x00-\\x7f]*",
        "number_re": "[0-9]+" + (f"|{_class(decimal)}+" if decimal else ""),
        "at_re": "(?s).*@[a-zA-Z0-9_].*",
        "url_re": "(?s).*" + dm._URL_RE.pattern + ".*",
        "unidata_version": unicodedata.unidata_version,
    }


# ------------------------------------------------------------------------ graph pieces
def _compose(a: Any, c: Any, t: dict[str, Any]) -> Any:
    """Primary composite of ``a`` + ``c`` (int32), -1 where there is none."""
    import tensorflow as tf

    key = tf.cast(a, tf.int64) * 0x110000 + tf.cast(c, tf.int64)
    out = map_values(t["pair_keys"], t["pair_vals"], key, tf.fill(tf.shape(a), -1))
    lv = tf.where(
        (a >= 0x1100) & (a < 0x1113) & (c >= 0x1161) & (c < 0x1176),
        0xAC00 + ((a - 0x1100) * 21 + (c - 0x1161)) * 28,
        -1,
    )
    s = a - 0xAC00
    lvt = tf.where(
        (s >= 0) & (s < 11172) & (s % 28 == 0) & (c > 0x11A7) & (c < 0x11C3), a + (c - 0x11A7), -1
    )
    return tf.maximum(tf.maximum(out, lv), lvt)


def _nfkc_exact(rt: Any, t: dict[str, Any]) -> Any:
    """``translate(NFKC(text))`` of ragged code point rows (whitespace -> space, variation
    selectors dropped): NFKD per code point, canonical reordering, then CPython's
    composition loop (vectorised over rows, sequential over positions)."""
    import tensorflow as tf

    rt = expand(rt, t["nfkd"])
    flat = rt.flat_values
    rowids = rt.value_rowids()
    ccc = map_values(t["ccc_keys"], t["ccc_vals"], flat, tf.zeros_like(flat))
    pos = tf.range(tf.size(flat, out_type=tf.int64)) - tf.gather(rt.row_starts(), rowids)
    group = tf.cumsum(tf.cast((ccc == 0) | (pos == 0), tf.int64))
    order = tf.argsort(group * 256 + tf.cast(ccc, tf.int64), stable=True)
    flat = tf.gather(flat, order)
    ccc = tf.gather(ccc, order)
    data = tf.RaggedTensor.from_row_splits(flat, rt.row_splits).to_tensor(default_value=-1)
    cccd = tf.RaggedTensor.from_row_splits(ccc, rt.row_splits).to_tensor(default_value=0)
    length = tf.shape(data)[1]
    rows = tf.range(tf.shape(data)[0])
    # CPython only scans after characters that start some composition (Hangul L included),
    # and the scan ends at once unless the next character is a non-starter or can be the
    # second character of a composition
    _, first = search(t["first_keys"], tf.reshape(data, [-1]))
    first = tf.reshape(first, tf.shape(data)) | ((data >= 0x1100) & (data < 0x1113))
    _, second = search(t["second_keys"], tf.reshape(data, [-1]))
    joins = tf.reshape(second, tf.shape(data)) | (cccd != 0)
    joins = tf.concat([joins[:, 1:], tf.zeros_like(joins[:, :1])], axis=1)
    first = first & joins
    columns = tf.cast(tf.where(tf.reduce_any(first, axis=0))[:, 0], tf.int32)

    def at(column):
        return tf.stack([rows, tf.fill(tf.shape(rows), column)], axis=1)

    def outer_body(k, skipped, out):
        i = columns[k]
        code = data[:, i]
        start = first[:, i] & ~skipped[:, i]

        def inner_body(j, code, comb, alive, skipped):
            # CPython's scan for the next unblocked character (unicodedata nfc_nfkc)
            cj = data[:, j]
            cc = cccd[:, j]
            live = alive & (cj >= 0)
            blocked = live & (comb != 0) & (cc != 0) & (comb >= cc)
            stop = live & (comb != 0) & (cc == 0)
            test = live & ~blocked & ~stop
            cand = _compose(code, cj, t)
            take = test & (cand >= 0)
            skip = test & (cand < 0)
            skipped = tf.tensor_scatter_nd_update(skipped, at(j), skipped[:, j] | take)
            code = tf.where(take, cand, code)
            comb = tf.where(skip, cc, comb)
            alive = live & ~stop & ~(skip & (cc == 0))
            return j + 1, code, comb, alive, skipped

        _, code, _, _, skipped = tf.while_loop(
            lambda j, code, comb, alive, skipped: (j < length) & tf.reduce_any(alive),
            inner_body,
            (i + 1, code, tf.zeros_like(code), start, skipped),
        )
        out = tf.tensor_scatter_nd_update(out, at(i), tf.where(start, code, out[:, i]))
        return k + 1, skipped, out

    _, skipped, out = tf.while_loop(
        lambda k, skipped, out: k < tf.size(columns),
        outer_body,
        (tf.constant(0), tf.zeros(tf.shape(data), tf.bool), data),
    )
    out = tf.where(skipped, -1, out)
    out = tf.RaggedTensor.from_tensor(out)
    out = tf.ragged.boolean_mask(out, out >= 0)
    return expand(out, t["trans"])


def _shorten(tokens: Any, t: dict[str, Any]) -> Any:
    """DeepMoji's repeated-character cutting on a 1-D string tensor of tokens: in ASCII
    tokens, every run string of 3+ identical characters is replaced everywhere by two of
    them, one run string after the other in order of first appearance (so a run can be
    cut by a shorter, earlier run of the same character: "aaabaaaaaaa" -> "aabaaaaa")."""
    import tensorflow as tf

    where = tf.where(tf.strings.regex_full_match(tokens, t["triple_re"]))[:, 0]
    sub = tf.gather(tokens, where)
    cps = tf.strings.unicode_decode(sub, "UTF-8")
    v = cps.flat_values
    rowids = cps.value_rowids()
    n = tf.size(v, out_type=tf.int64)
    idx = tf.range(n)
    new_run = tf.concat(
        [tf.ones([tf.minimum(n, 1)], tf.bool), (v[1:] != v[:-1]) | (rowids[1:] != rowids[:-1])],
        axis=0,
    )
    run_id = tf.cumsum(tf.cast(new_run, tf.int64)) - 1
    n_runs = tf.reduce_max(tf.concat([run_id + 1, [0]], 0))
    run_len = tf.math.unsorted_segment_sum(tf.ones_like(run_id), run_id, n_runs)
    run_first = tf.math.unsorted_segment_min(idx, run_id, n_runs)
    run_char = tf.gather(v, run_first)
    run_row = tf.gather(rowids, run_first)
    key = run_row * 0x110000 + tf.cast(run_char, tf.int64)
    # the 3+ runs, grouped by (token, character) in order of appearance
    big = tf.where(run_len >= 3)[:, 0]
    big_key = tf.gather(key, big)
    order = tf.argsort(big_key, stable=True)
    big_key = tf.gather(big_key, order)
    big_len = tf.gather(tf.gather(run_len, big), order)
    lo = tf.searchsorted(big_key, key, side="left", out_type=tf.int64)
    count = tf.searchsorted(big_key, key, side="right", out_type=tf.int64) - lo
    rounds = tf.reduce_max(tf.concat([count, [0]], 0))
    lens = tf.concat([big_len, [1]], 0)  # [1]: a harmless divisor for runs without a cut

    def body(k, length):
        has = k < count
        cut = tf.gather(lens, tf.where(has, lo + k, tf.size(big_len, out_type=tf.int64)))
        return k + 1, tf.where(has, (length // cut) * 2 + length % cut, length)

    _, final = tf.while_loop(
        lambda k, length: k < rounds, body, (tf.constant(0, tf.int64), run_len)
    )
    pos_in_run = idx - tf.gather(run_first, run_id)
    keep = pos_in_run < tf.gather(final, run_id)
    short = tf.strings.unicode_encode(
        tf.ragged.boolean_mask(cps, cps.with_flat_values(keep)), "UTF-8"
    )
    return tf.tensor_scatter_nd_update(tokens, where[:, None], short)


def tf_deepmoji_words(texts: Any) -> Any:
    """``tf.RaggedTensor`` ``[batch, None]`` of the DeepMoji words of a 1-D string tensor,
    equal to :meth:`rnnkit.models.deepmoji.DeepMojiTokenizer.words` for every text."""
    import tensorflow as tf

    t = deepmoji_tables()
    x = tf.convert_to_tensor(texts, dtype=tf.string)
    nrows = tf.shape(x, out_type=tf.int64)[0]
    x = tf.strings.regex_replace(x, t["strip_re"], "")
    cps = tf.strings.unicode_decode(x, "UTF-8")
    cps = cps.with_flat_values(
        map_values(t["lower_keys"], t["lower_vals"], cps.flat_values, cps.flat_values)
    )
    x = tf.strings.regex_replace(
        tf.strings.unicode_encode(cps, "UTF-8"), t["linebreak_re"], " CUSTOM_BREAK "
    )
    cps = tf.strings.unicode_decode(x, "UTF-8")
    # NFKC + transliteration: per character, exact NFKC for texts that need it
    _, hit = search(t["interacting"], cps.flat_values)
    slow = (
        tf.math.unsorted_segment_max(
            tf.cast(hit, tf.int32), tf.cast(cps.value_rowids(), tf.int32), tf.cast(nrows, tf.int32)
        )
        > 0
    )
    fast = expand(cps, t["fast"])

    def exact():
        rows = tf.where(slow)[:, 0]
        fixed = _nfkc_exact(tf.gather(cps, rows), t)
        both = tf.concat([fast, fixed], axis=0)
        rank = tf.cumsum(tf.cast(slow, tf.int64)) - 1
        pick = tf.where(slow, nrows + rank, tf.range(nrows))
        merged = tf.gather(both, pick)
        return merged.flat_values, merged.row_splits

    flat, splits = tf.cond(tf.reduce_any(slow), exact, lambda: (fast.flat_values, fast.row_splits))
    cps = tf.RaggedTensor.from_row_splits(flat, splits)
    # the unit string: each character preceded by its context byte
    v = cps.flat_values
    rowids = cps.value_rowids()
    n = tf.size(v, out_type=tf.int64)
    bounds = tf.constant(t["word_bounds"])
    is_word = tf.searchsorted(bounds, v, side="right") % 2 == 1
    pos = tf.range(n) - tf.gather(cps.row_starts(), rowids)
    first = pos == 0
    last = pos == tf.gather(cps.row_lengths(), rowids) - 1
    cls = tf.where(is_word, 0, tf.where(v == 46, 1, 2))
    prev = tf.where(first, 2, tf.concat([[2], cls[:-1]], 0)[:n])
    next_word = tf.where(last, False, tf.concat([is_word[1:], [False]], 0)[:n])
    context = 0x10 + prev + 3 * tf.cast(~next_word, tf.int32)
    shown = tf.where((v < 0x20) | (v == 0x7F), 0x7F, v)
    units = tf.reshape(tf.stack([context, shown], axis=1), [-1])
    unit_rows = tf.RaggedTensor.from_row_lengths(units, cps.row_lengths() * 2)
    s = tf.strings.unicode_encode(unit_rows, "UTF-8")
    marked = tf.strings.regex_replace(s, t["token_re"], _MARK + r"\0")
    marked = tf.strings.regex_replace(marked, t["split_re"], _MARK + r"\1\3" + _MARK + r"\2\4")
    pieces = tf.strings.split(marked, sep=_MARK)
    flat_pieces = pieces.flat_values
    plen = tf.strings.length(flat_pieces, unit="UTF8_CHAR") // 2  # units
    start = tf.cumsum(tf.cast(plen, tf.int64), exclusive=True)
    keep = (plen > 0) & ~tf.strings.regex_full_match(flat_pieces, t["units_ws_re"])
    tok_start = tf.boolean_mask(start, keep)
    tok_len = tf.boolean_mask(tf.cast(plen, tf.int64), keep)
    tok_row = tf.boolean_mask(pieces.value_rowids(), keep)
    tok_cps = tf.gather(v, tf.ragged.range(tok_start, tok_start + tok_len))
    tokens = tf.strings.unicode_encode(tok_cps, "UTF-8")
    tokens = _shorten(tokens, t)
    number = tf.strings.regex_full_match(tokens, t["number_re"])
    at = tf.strings.regex_full_match(tokens, t["at_re"])
    url = tf.strings.regex_full_match(tokens, t["url_re"])
    tokens = tf.where(
        number, "CUSTOM_NUMBER", tf.where(at, "CUSTOM_AT", tf.where(url, "CUSTOM_URL", tokens))
    )
    return tf.RaggedTensor.from_value_rowids(tokens, tok_row, nrows=nrows)
