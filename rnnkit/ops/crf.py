"""Linear-chain CRF math as plain ``keras.ops`` functions.

Conventions (the same as pytorch-crf, so its weights port directly):

* ``potentials``: emission scores ``(batch, timesteps, num_tags)``;
* ``transitions[i, j]``: score of moving from tag ``i`` to tag ``j``, ``(K, K)``;
* ``start_transitions`` / ``end_transitions``: ``(K,)`` scores of the first / last tag;
* ``mask``: optional ``(batch, timesteps)``, any layout: each row's sequence is its
  masked-in (True) steps in order, so right-padded, left-padded and rows with a masked
  first step or holes all work; masked-out steps are ignored (tags 0, marginals 0, no
  gradient). Every row needs at least one True step.

The score of a tag path ``y`` of length ``L`` is
``start[y_0] + sum_t potentials[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{L-1}]``
and ``p(y | potentials) = exp(score(y)) / Z`` with ``Z`` the sum over all ``K^L`` paths.

Constraints. Every function takes optional ``allowed_transitions`` (boolean ``(K, K)``,
``[i, j]`` True when tag ``i`` may be followed by tag ``j``), ``allowed_start`` and
``allowed_end`` (boolean ``(K,)``); a missing one allows everything. They must be
concrete array-likes (NumPy, lists, eager tensors). A disallowed move adds
``CONSTRAINT_PENALTY`` (``-1e4``) to its score, so disallowed paths get probability
``~exp(-1e4) = 0`` in ``log Z``, the marginals and the likelihood, and never win the
decoding while an allowed path exists, with finite values and gradients everywhere.
The log-likelihood of a gold path that breaks a constraint is therefore about ``-1e4``
per broken move. :func:`crf_decode` reports paths that break a constraint as missing
(score ``-inf``, tags 0). A constraint set that allows no path of any length (no
allowed start tag can reach an allowed end tag through allowed transitions) is a
ValueError; a set that allows paths of some lengths only (e.g. alternating tags)
is accepted, and a row whose length has no allowed path gets finite, penalised
likelihoods and marginals, and a missing decode. :func:`transition_constraints`
builds the matrices from tag names and a chunk scheme (BIO/IOB2, IOB1, BIOES/BILOU).

Masks in any layout are handled by moving each row's masked-in steps to the front
(a stable gather), running the right-padded recursions, and moving per-step results
back; with a concrete right-padded mask (or none) that gather is skipped. Inside traced
code (``jax.jit``, ``tf.function``) the mask's values are unknown, so the gather always
runs there.

The recursions (forward algorithm in log space, Viterbi, backward algorithm) run
through the shared :func:`rnnkit.ops.recurrence.recurrence` loop (``lax.scan`` on JAX,
``tf.while_loop`` on TensorFlow), which carries states unchanged through masked steps.
An associative-scan form of the forward algorithm (log-semiring matrix products,
``O(log T)`` depth but ``O(T K^3)`` work) is available as :func:`crf_log_partition_parallel`;
it is tested against the sequential form and only pays off on accelerators.

On the torch backend, :func:`crf_log_partition` (hence :func:`crf_log_likelihood`),
:func:`crf_decode` with ``top_k=1`` and :func:`crf_marginals` take a fast path by default
(:mod:`rnnkit.ops.crf_torch`: raw torch recursions, a closed-form backward for ``log Z``
and a batch-vectorised Viterbi backtrack). On JAX, :func:`crf_log_partition` (hence
:func:`crf_log_likelihood`) takes :mod:`rnnkit.ops.crf_jax` (the same closed-form
backward as a ``jax.custom_vjp``), and on TensorFlow :mod:`rnnkit.ops.crf_tf` (the same
again as a ``tf.custom_gradient``). ``fast_path=False`` runs the generic ``keras.ops``
code, which the tests compare them with. ``_log_partition`` is the one place that
chooses.

Value checks (tags in range, no all-False mask rows, constraint sets that allow some
path) run eagerly when the inputs are concrete (eager TensorFlow, torch, JAX outside
``jit``) and ``validate=True``. Inside traced code (``tf.function``, ``jax.jit``,
``model.fit`` with compilation) values cannot be inspected: out-of-range tags then raise
on TensorFlow CPU gathers and are clipped on JAX, and an all-False mask row gives
undefined scores. Shape checks always run.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from rnnkit.ops import crf_jax, crf_tf, crf_torch
from rnnkit.ops.recurrence import recurrence
from rnnkit.ops.validation import static_shape

_NAME = "crf"

#: Score added to a disallowed transition, start or end tag (see the module notes).
CONSTRAINT_PENALTY = -1e4

SCHEMES = ("BIO", "IOB1", "BIOES")
_SCHEME_ALIASES = {"BIO": "BIO", "IOB2": "BIO", "IOB1": "IOB1", "BIOES": "BIOES", "BILOU": "BIOES"}
_PREFIXES = {"BIO": "BI", "IOB1": "BI", "BIOES": "BIES"}
_PREFIX_ALIASES = {"U": "S", "L": "E"}


def _concrete(x: Any) -> np.ndarray | None:
    """``x`` as a NumPy array when its values are available, else None (traced)."""
    if x is None:
        return None
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:
        return None


# --- constraints -------------------------------------------------------------------


def _canonical_scheme(scheme: str) -> str:
    key = str(scheme).upper()
    if key not in _SCHEME_ALIASES:
        raise ValueError(
            f"Unknown tagging scheme {scheme!r}: expected one of "
            f"{sorted(_SCHEME_ALIASES)} (IOB2 = BIO, BILOU = BIOES)."
        )
    return _SCHEME_ALIASES[key]


def _parse_tag(tag: str, scheme: str) -> tuple[str, str | None]:
    """``(prefix, type)`` of a tag: ``("O", None)`` or e.g. ``("B", "PER")``."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = str(tag).partition("-")
    prefix = _PREFIX_ALIASES.get(prefix, prefix) if scheme == "BIOES" else prefix
    if not sep or not kind or prefix not in _PREFIXES[scheme]:
        allowed = ", ".join(f"{p}-TYPE" for p in _PREFIXES[scheme])
        extra = " (U- and L- read as S- and E-)" if scheme == "BIOES" else ""
        raise ValueError(
            f"Tag {tag!r} does not fit the {scheme} scheme: expected 'O' or one of "
            f"{allowed}{extra}."
        )
    return prefix, kind


def _allowed_pair(a: tuple, b: tuple, scheme: str) -> bool:
    """Whether tag ``a`` may be followed by tag ``b`` (parsed tags)."""
    (pa, ta), (pb, tb) = a, b
    if scheme == "BIO":
        return pb != "I" or (pa in "BI" and ta == tb)
    if scheme == "IOB1":
        return pb != "B" or (pa in "BI" and ta == tb)
    # BIOES: I/E continue a chunk of the same type; O/B/S follow a closed chunk or O.
    if pb in "IE":
        return pa in "BI" and ta == tb
    return pa in "OES"


def transition_constraints(tags: Sequence[str], scheme: str = "BIO") -> dict:
    """Allowed transitions, start and end tags of a chunk tagging scheme.

    Args:
        tags: tag names in tag-id order, e.g. ``["O", "B-PER", "I-PER"]``: ``"O"`` or
            ``PREFIX-TYPE`` (the type may contain ``-``).
        scheme: ``"BIO"`` (= ``"IOB2"``: ``I-X`` continues a ``B-X``/``I-X``),
            ``"IOB1"`` (``I-X`` may start a chunk; ``B-X`` only follows ``B-X``/``I-X`` of
            the same type, to split adjacent chunks) or ``"BIOES"`` (= ``"BILOU"``, with
            ``U-``/``L-`` read as ``S-``/``E-``: ``I-X``/``E-X`` continue a ``B-X``/``I-X``;
            ``O``, ``B-``, ``S-`` follow ``O``, ``E-`` or ``S-``; chunks end with ``E-``/``S-``).

    Returns:
        ``{"allowed_transitions": (K, K) bool, "allowed_start": (K,) bool,
        "allowed_end": (K,) bool}`` NumPy arrays, ready for ``CRF(num_tags, **result)``.

    Raises:
        ValueError: for an unknown scheme, or a tag that does not fit it (named).

    Example:

    >>> c = transition_constraints(["O", "B-PER", "I-PER"], "BIO")
    >>> bool(c["allowed_transitions"][0, 2])  # O -> I-PER
    False
    """
    name = _canonical_scheme(scheme)
    tags = list(tags)
    if not tags:
        raise ValueError("transition_constraints got an empty tag list.")
    parsed = [_parse_tag(t, name) for t in tags]
    k = len(parsed)
    allowed = np.array(
        [[_allowed_pair(parsed[i], parsed[j], name) for j in range(k)] for i in range(k)],
        dtype=bool,
    ).reshape(k, k)
    outside = ("O", None)
    start = np.array([_allowed_pair(outside, p, name) for p in parsed], dtype=bool)
    end = np.array([_allowed_pair(p, outside, name) for p in parsed], dtype=bool)
    return {"allowed_transitions": allowed, "allowed_start": start, "allowed_end": end}


def scheme_violations(tags: Sequence[str], scheme: str = "BIO") -> list[int]:
    """Where one tag sequence (tag names) breaks ``scheme``'s start, transition and end
    rules (see :func:`transition_constraints`): ``j`` when ``tags[j]`` may not follow
    ``tags[j - 1]`` (may not start the sequence, for ``j = 0``), ``len(tags)`` when the
    sequence may not end with its last tag. The one implementation of these rules
    that rnnkit's data checks, taggers and CLI use.

    Raises:
        ValueError: for an unknown scheme or a tag that does not fit it.

    Example:

    >>> scheme_violations(["O", "I-PER", "B-LOC", "I-PER"])
    [1, 3]
    """
    name = _canonical_scheme(scheme)
    parsed = [("O", None)] + [_parse_tag(t, name) for t in tags] + [("O", None)]
    pairs = zip(parsed[:-1], parsed[1:])
    return [j for j, (a, b) in enumerate(pairs) if not _allowed_pair(a, b, name)]


def sequence_follows_scheme(tags: Sequence[str], scheme: str = "BIO") -> bool:
    """Whether one tag sequence (tag names) obeys ``scheme``'s start, transition and end
    rules (:func:`scheme_violations` finds none); an empty sequence does.

    Raises:
        ValueError: for an unknown scheme or a tag that does not fit it.
    """
    return not scheme_violations(tags, scheme)


def detect_scheme(
    tags: Sequence[str], sequences: Iterable[Sequence[str]] | None = None
) -> str | None:
    """The chunk scheme a tag set follows, or None.

    Tag names alone cannot tell BIO from IOB1 (both use ``B-``/``I-``): such a set gives
    ``"BIO"``, unless ``sequences`` (tag-name sequences, e.g. the training data) are
    given, in which case the first of ``"BIO"``, ``"IOB1"`` that every sequence obeys is
    returned (None if neither). Tags with ``E-``/``S-`` (or ``L-``/``U-``) give
    ``"BIOES"`` (checked against ``sequences`` too when given). A set without any
    chunk tag (only ``"O"``), or with a tag that fits no scheme (e.g. part-of-speech
    tags), gives None.

    Args:
        tags: tag names.
        sequences: optional tag-name sequences to check.

    Returns:
        ``"BIO"``, ``"IOB1"``, ``"BIOES"`` or None.

    Example:

    >>> detect_scheme(["O", "B-LOC", "I-LOC"])
    'BIO'
    >>> detect_scheme(["NN", "VB"]) is None
    True
    """
    tags = [str(t) for t in tags]
    if not any(t != "O" for t in tags):
        return None
    seqs = None if sequences is None else [list(s) for s in sequences]
    for scheme in ("BIO", "IOB1", "BIOES"):
        try:
            for t in tags:
                _parse_tag(t, scheme)
            if seqs is not None and not all(sequence_follows_scheme(s, scheme) for s in seqs):
                continue
        except ValueError:
            continue
        return scheme
    return None


def _bool_array(x: Any, shape: tuple, what: str, name: str) -> np.ndarray:
    arr = _concrete(x)
    if arr is None:
        raise ValueError(
            f"'{name}': {what} must be a concrete boolean array (NumPy array, nested list "
            "or eager tensor), not a traced/symbolic tensor."
        )
    if arr.dtype != np.bool_:
        raise ValueError(
            f"'{name}': {what} must be boolean (True = allowed), got dtype {arr.dtype}."
        )
    if arr.shape != shape:
        raise ValueError(f"'{name}': {what} must have shape {shape}, got {arr.shape}.")
    return arr


def _reachable_end(allowed: np.ndarray, start: np.ndarray, end: np.ndarray) -> bool:
    """Whether some path of length >= 1 goes from an allowed start to an allowed end."""
    reach = start.copy()
    while True:
        new = reach | (reach.astype(np.int64) @ allowed.astype(np.int64) > 0)
        if (new == reach).all():
            return bool((reach & end).any())
        reach = new


def check_constraints(
    allowed_transitions: Any = None,
    allowed_start: Any = None,
    allowed_end: Any = None,
    num_tags: int | None = None,
    name: str = _NAME,
    check_paths: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Validated constraint arrays, or None when all three are None.

    Args:
        allowed_transitions: optional boolean ``(K, K)`` array-like.
        allowed_start: optional boolean ``(K,)`` array-like.
        allowed_end: optional boolean ``(K,)`` array-like.
        num_tags: ``K`` (inferred from the first given array when None).
        name: name used in the messages.
        check_paths: also check that some path of length >= 1 is allowed.

    Returns:
        ``(allowed_transitions, allowed_start, allowed_end)`` NumPy bool arrays (missing
        ones all True), or None.

    Raises:
        ValueError: an array that is not boolean, of the wrong shape, traced, or a set
            that allows no path of any length.
    """
    given = (allowed_transitions, allowed_start, allowed_end)
    if all(x is None for x in given):
        return None
    if num_tags is None:
        first = next(_concrete(x) for x in given if x is not None)
        num_tags = first.shape[0] if first is not None and first.ndim else None
    k = int(num_tags)
    allowed = (
        np.ones((k, k), bool)
        if allowed_transitions is None
        else _bool_array(allowed_transitions, (k, k), "allowed_transitions", name)
    )
    start = (
        np.ones(k, bool)
        if allowed_start is None
        else _bool_array(allowed_start, (k,), "allowed_start", name)
    )
    end = (
        np.ones(k, bool)
        if allowed_end is None
        else _bool_array(allowed_end, (k,), "allowed_end", name)
    )
    if check_paths and not _reachable_end(allowed, start, end):
        raise ValueError(
            f"'{name}': the constraints allow no tag path of any length: no allowed start "
            "tag reaches an allowed end tag through allowed transitions "
            f"(allowed start tags {np.flatnonzero(start).tolist()}, allowed end tags "
            f"{np.flatnonzero(end).tolist()})."
        )
    return allowed, start, end


@functools.lru_cache(maxsize=64)
def _all_lengths_allowed_cached(key: bytes, k: int, steps: int | None) -> bool:
    flat = np.frombuffer(key, dtype=bool)
    allowed = flat[: k * k].reshape(k, k).astype(np.int64)
    start, end = flat[k * k : k * k + k], flat[k * k + k :]
    reach = start.copy()  # tags that end an allowed prefix of the current length
    seen = set()
    length = 1
    while steps is None or length <= steps:
        if not (reach & end).any():
            return False
        # the reachable set determines every later one: a repeat means all lengths pass
        if reach.tobytes() in seen:
            return True
        seen.add(reach.tobytes())
        reach = (reach.astype(np.int64) @ allowed) > 0
        length += 1
    return True


def _all_lengths_allowed(cons: tuple, steps: int | None) -> bool:
    """Whether every length ``1..steps`` (every length when ``steps`` is None) has an
    allowed path."""
    key = b"".join(np.ascontiguousarray(a, bool).tobytes() for a in cons)
    return _all_lengths_allowed_cached(key, cons[1].shape[0], None if steps is None else int(steps))


def _penalised(weights: tuple, cons: tuple | None) -> tuple:
    """``(transitions, start, end)`` with ``CONSTRAINT_PENALTY`` added where disallowed."""
    if cons is None:
        return weights
    out = []
    for w, a in zip(weights, cons):
        w = ops.convert_to_tensor(w)
        dtype = keras.backend.standardize_dtype(w.dtype)
        if a.all():
            out.append(w)
            continue
        out.append(w + ops.convert_to_tensor(np.where(a, 0.0, CONSTRAINT_PENALTY), dtype=dtype))
    return tuple(out)


def _path_allowed(tags: Any, mask: Any, cons: tuple) -> Any:
    """Boolean ``(...)`` per path: tags ``(..., T)`` obey the constraints (right-padded
    ``mask`` ``(..., T)``)."""
    allowed, start, end = cons
    k = allowed.shape[0]
    tags = ops.cast(tags, "int32")
    mask = ops.broadcast_to(mask, ops.shape(tags))
    ok = ops.take(ops.convert_to_tensor(start), tags[..., 0], axis=0)
    steps = static_shape(tags)[-1]
    if steps != 1:
        pair = tags[..., :-1] * k + tags[..., 1:]
        moves = ops.take(ops.convert_to_tensor(allowed.reshape(-1)), pair, axis=0)
        moves = ops.logical_or(moves, ops.logical_not(mask[..., 1:]))
        ok = ops.logical_and(ok, ops.all(moves, axis=-1))
    lengths = ops.sum(ops.cast(mask, "int32"), axis=-1, keepdims=True)
    last = ops.take_along_axis(tags, lengths - 1, axis=-1)[..., 0]
    return ops.logical_and(ok, ops.take(ops.convert_to_tensor(end), last, axis=0))


# --- masks ---------------------------------------------------------------------------


def _right_padded(mask: np.ndarray) -> bool:
    return not (mask[:, 1:] & ~mask[:, :-1]).any()


def _compact(potentials: Any, mask: Any, tags: Any = None) -> tuple:
    """Moves each row's masked-in steps to the front, in order.

    Returns ``(potentials, mask, tags, inverse)``: the new mask is right-padded;
    ``inverse`` (``(B, T)`` int32) undoes the move with :func:`_restore`, or is None when
    nothing moved (no mask, or a concrete right-padded one).
    """
    if mask is None:
        return potentials, mask, tags, None
    m = _concrete(mask)
    if m is not None and _right_padded(m.astype(bool)):
        return potentials, mask, tags, None
    mask = ops.cast(mask, "bool")
    steps = ops.shape(mask)[1]
    pos = ops.expand_dims(ops.arange(steps, dtype="int32"), 0)
    key = ops.where(mask, pos, pos + steps)
    order = ops.cast(ops.argsort(key, axis=1), "int32")
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1, keepdims=True)
    new_mask = ops.less(pos, lengths)
    potentials = ops.take_along_axis(potentials, ops.expand_dims(order, -1), axis=1)
    if tags is not None:
        tags = ops.take_along_axis(ops.cast(tags, "int32"), order, axis=1)
    inverse = ops.cast(ops.argsort(order, axis=1), "int32")
    return potentials, new_mask, tags, inverse


def _restore(x: Any, inverse: Any, time_axis: int = 1) -> Any:
    """Per-step results of compacted rows back at their original steps."""
    if inverse is None:
        return x
    idx = inverse
    if time_axis == 2:  # (B, k, T)
        idx = ops.expand_dims(idx, 1)
    elif len(static_shape(x)) == 3:  # (B, T, K)
        idx = ops.expand_dims(idx, -1)
    return ops.take_along_axis(x, idx, axis=time_axis)


# --- validation ----------------------------------------------------------------------


def validate_crf_inputs(
    potentials: Any,
    tags: Any = None,
    mask: Any = None,
    num_tags: int | None = None,
    name: str = _NAME,
) -> None:
    """Raises a ValueError for CRF inputs of the wrong shape or (when concrete) value.

    Args:
        potentials: ``(batch, timesteps, num_tags)`` emission scores.
        tags: optional ``(batch, timesteps)`` integer gold tags.
        mask: optional ``(batch, timesteps)`` mask (any layout, at least one True step
            per row).
        num_tags: expected number of tags (the CRF's), compared with the last axis of
            ``potentials``.
        name: name used in the messages.
    """
    p_shape = static_shape(potentials)
    if len(p_shape) != 3:
        raise ValueError(
            f"'{name}' expected potentials of rank 3 (batch, timesteps, num_tags), "
            f"got shape {p_shape}."
        )
    if num_tags is not None and p_shape[2] is not None and p_shape[2] != num_tags:
        raise ValueError(
            f"'{name}' has num_tags={num_tags} but the potentials' last axis is {p_shape[2]} "
            f"(potentials shape {p_shape})."
        )
    if p_shape[1] == 0:
        raise ValueError(f"'{name}' got potentials with 0 time steps (shape {p_shape}).")
    k = p_shape[2] if p_shape[2] is not None else num_tags
    for what, x in (("tags", tags), ("mask", mask)):
        if x is None:
            continue
        shape = static_shape(x)
        if len(shape) != 2:
            raise ValueError(
                f"'{name}' expected {what} of rank 2 (batch, timesteps), got shape {shape}."
            )
        for axis, label in ((0, "batch"), (1, "time")):
            if (
                shape[axis] is not None
                and p_shape[axis] is not None
                and shape[axis] != p_shape[axis]
            ):
                raise ValueError(
                    f"'{name}': {what} and potentials have different {label} sizes: "
                    f"{what} shape {shape}, potentials shape {p_shape}."
                )
    if tags is not None:
        t = _concrete(tags)
        if t is not None:
            if not np.issubdtype(t.dtype, np.integer):
                raise ValueError(f"'{name}' expected integer tags, got dtype {t.dtype}.")
            m = _concrete(mask)
            valid = t if m is None else t[m.astype(bool)]
            if valid.size and k is not None and (valid.min() < 0 or valid.max() >= k):
                raise ValueError(
                    f"'{name}': tags must be in [0, {k - 1}] (num_tags={k}), got values in "
                    f"[{valid.min()}, {valid.max()}]."
                )
    if mask is not None:
        m = _concrete(mask)
        if m is not None:
            m = m.astype(bool)
            empty = np.flatnonzero(~m.any(axis=1))
            if empty.size:
                raise ValueError(
                    f"'{name}': mask rows {empty[:5].tolist()} are all False; every sequence "
                    "needs at least one step."
                )


def _prepare(potentials: Any, mask: Any) -> tuple[Any, Any]:
    potentials = ops.convert_to_tensor(potentials)
    if mask is None:
        mask = ops.ones(ops.shape(potentials)[:2], dtype="bool")
    else:
        mask = ops.cast(mask, "bool")
    return potentials, mask


def _torch_fast(fast_path: bool) -> bool:
    return fast_path and keras.backend.backend() == "torch"


def _time_steps(potentials: Any) -> int | None:
    return static_shape(potentials)[1]


def _num_tags(transitions: Any) -> int | None:
    return static_shape(transitions)[0]


def _constraints(transitions: Any, allowed: tuple, validate: bool) -> tuple | None:
    return check_constraints(*allowed, num_tags=_num_tags(transitions), check_paths=validate)


def _exp_allowed(cons: tuple | None, potentials: Any) -> np.ndarray | None:
    """The allowed-transition matrix for the torch fast path's probability-space form
    when every length up to the padded width has an allowed path (then disallowed
    transitions can be exact zeros there), else None."""
    if cons is None or not _all_lengths_allowed(cons, static_shape(potentials)[1]):
        return None
    return cons[0]


# --- scores and log Z ----------------------------------------------------------------


def _sequence_score(potentials, tags, transitions, start_transitions, end_transitions, mask):
    """Score of ``tags`` under a right-padded ``mask`` (prepared inputs)."""
    dtype = potentials.dtype
    tags = ops.cast(tags, "int32")
    num_tags = ops.shape(transitions)[0]
    maskf = ops.cast(mask, dtype)
    emit = ops.squeeze(ops.take_along_axis(potentials, ops.expand_dims(tags, -1), axis=-1), -1)
    score = ops.sum(emit * maskf, axis=1)
    score = score + ops.take(start_transitions, tags[:, 0], axis=0)
    if _time_steps(potentials) != 1:
        pair = tags[:, :-1] * num_tags + tags[:, 1:]
        trans = ops.take(ops.reshape(transitions, (-1,)), pair, axis=0)
        score = score + ops.sum(trans * maskf[:, 1:], axis=1)
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    last = ops.take_along_axis(tags, ops.expand_dims(lengths - 1, -1), axis=1)[:, 0]
    return score + ops.take(end_transitions, last, axis=0)


def crf_sequence_score(
    potentials: Any,
    tags: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    allowed_transitions: Any = None,
    allowed_start: Any = None,
    allowed_end: Any = None,
) -> Any:
    """Unnormalized score of the given tag paths, shape ``(batch,)``.

    With constraints, each disallowed move in a path adds ``CONSTRAINT_PENALTY``.
    """
    cons = _constraints(transitions, (allowed_transitions, allowed_start, allowed_end), False)
    weights = _penalised((transitions, start_transitions, end_transitions), cons)
    potentials, mask, tags, _ = _compact(ops.convert_to_tensor(potentials), mask, tags)
    potentials, mask = _prepare(potentials, mask)
    tags = ops.where(mask, ops.cast(tags, "int32"), 0)
    return _sequence_score(potentials, tags, *weights, mask)


def _forward_scores(potentials, transitions, start_transitions, mask, return_sequences=False):
    """Forward recursion; returns (final alpha (B, K), all alphas (B, T, K) or None)."""
    alpha0 = ops.expand_dims(start_transitions, 0) + potentials[:, 0]
    if _time_steps(potentials) == 1:
        return alpha0, (ops.expand_dims(alpha0, 1) if return_sequences else None)
    # v[b, j, i] = alpha[b, i] + transitions[i, j], reduced over the last (contiguous)
    # axis, which XLA's CPU code does much faster than a middle axis.
    trans_t = ops.expand_dims(ops.transpose(transitions), 0)

    def step(emit_t, states):
        alpha = states[0]
        new = ops.logsumexp(ops.expand_dims(alpha, 1) + trans_t, axis=2) + emit_t
        return new, [new]

    num_tags = static_shape(potentials)[2]
    _, outs, states = recurrence(
        step,
        potentials[:, 1:],
        [alpha0],
        num_tags,
        mask=mask[:, 1:],
        return_sequences=return_sequences,
    )
    if return_sequences:
        outs = ops.concatenate([ops.expand_dims(alpha0, 1), outs], axis=1)
    return states[0], outs


def _log_partition(potentials, weights, mask, cons, fast_path):
    """``log Z`` of compacted (right-padded) inputs with penalised ``weights``: the
    backend's fast path (torch, JAX, TensorFlow) when ``fast_path``, else the generic
    forward algorithm."""
    if _torch_fast(fast_path):
        return crf_torch.torch_log_partition(
            potentials, *weights, mask, allowed=_exp_allowed(cons, potentials)
        )
    if fast_path and keras.backend.backend() == "jax":
        return crf_jax.jax_log_partition(potentials, *weights, mask)
    if fast_path and keras.backend.backend() == "tensorflow":
        return crf_tf.tf_log_partition(potentials, *weights, mask)
    potentials, mask = _prepare(potentials, mask)
    alpha, _ = _forward_scores(potentials, weights[0], weights[1], mask)
    return ops.logsumexp(alpha + ops.expand_dims(weights[2], 0), axis=1)


def crf_log_partition(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    fast_path: bool = True,
    allowed_transitions: Any = None,
    allowed_start: Any = None,
    allowed_end: Any = None,
) -> Any:
    """``log Z`` per sequence by the forward algorithm in log space, shape ``(batch,)``.

    ``fast_path``: use the torch, JAX or TensorFlow fast path on those backends (module notes).
    The ``allowed_*`` constraints are described in the module notes.
    """
    cons = _constraints(transitions, (allowed_transitions, allowed_start, allowed_end), False)
    weights = _penalised((transitions, start_transitions, end_transitions), cons)
    potentials, mask, _, _ = _compact(ops.convert_to_tensor(potentials), mask)
    return _log_partition(potentials, weights, mask, cons, fast_path)


def _log_matmul(a: Any, b: Any) -> Any:
    """Log-semiring matrix product over the last two axes."""
    return ops.logsumexp(ops.expand_dims(a, -1) + ops.expand_dims(b, -3), axis=-2)


def crf_log_partition_parallel(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    allowed_transitions: Any = None,
    allowed_start: Any = None,
    allowed_end: Any = None,
) -> Any:
    """``log Z`` by an associative scan of log-semiring matrix products.

    Same result as :func:`crf_log_partition` with ``O(log T)`` sequential depth and
    ``O(T K^3)`` work instead of ``O(T K^2)``: only worth it on accelerators for long
    sequences. Masked steps use the log-semiring identity matrix.
    """
    cons = _constraints(transitions, (allowed_transitions, allowed_start, allowed_end), False)
    transitions, start_transitions, end_transitions = _penalised(
        (transitions, start_transitions, end_transitions), cons
    )
    potentials, mask, _, _ = _compact(ops.convert_to_tensor(potentials), mask)
    potentials, mask = _prepare(potentials, mask)
    alpha0 = ops.expand_dims(start_transitions, 0) + potentials[:, 0]
    if _time_steps(potentials) != 1:
        k = ops.shape(transitions)[0]
        # M_t[i, j] = transitions[i, j] + potentials[t, j], for t >= 1.
        mats = ops.expand_dims(transitions, 0)[:, None] + ops.expand_dims(potentials[:, 1:], 2)
        eye = ops.where(ops.eye(k, dtype="bool"), 0.0, -1e30)
        eye = ops.cast(eye, potentials.dtype)
        m = ops.reshape(mask[:, 1:], (*ops.shape(mask[:, 1:]), 1, 1))
        mats = ops.where(m, mats, eye)
        total = ops.associative_scan(_log_matmul, mats, axis=1)[:, -1]
        alpha0 = ops.logsumexp(ops.expand_dims(alpha0, 2) + total, axis=1)
    return ops.logsumexp(alpha0 + ops.expand_dims(end_transitions, 0), axis=1)


def crf_log_likelihood(
    potentials: Any,
    tags: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    validate: bool = True,
    fast_path: bool = True,
    allowed_transitions: Any = None,
    allowed_start: Any = None,
    allowed_end: Any = None,
) -> Any:
    """Per-sequence ``log p(tags | potentials)``, shape ``(batch,)``.

    This is also the log-probability of a given (e.g. decoded) tag sequence, the
    sequence-level confidence.

    Args:
        potentials: ``(batch, timesteps, K)`` float emission scores.
        tags: ``(batch, timesteps)`` integer gold tags (ignored at masked steps).
        transitions: ``(K, K)``; ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
        start_transitions: ``(K,)``.
        end_transitions: ``(K,)``.
        mask: optional ``(batch, timesteps)`` mask, any layout (module notes).
        validate: run :func:`validate_crf_inputs` and check that the constraints allow
            some path.
        fast_path: use the backend's fast path where one exists (torch, JAX, TensorFlow);
            ``False`` runs the generic ``keras.ops`` code.
        allowed_transitions: optional boolean ``(K, K)`` allowed moves.
        allowed_start: optional boolean ``(K,)`` allowed first tags.
        allowed_end: optional boolean ``(K,)`` allowed last tags.

    Returns:
        ``(batch,)`` log-likelihoods (``<= 0``; about ``-1e4`` per disallowed move of
        ``tags`` under constraints).

    Example:

    >>> k = 3
    >>> ll = crf_log_likelihood(
    ...     keras.ops.zeros((2, 4, k)), keras.ops.zeros((2, 4), "int32"),
    ...     keras.ops.zeros((k, k)), keras.ops.zeros((k,)), keras.ops.zeros((k,)))
    >>> # every path is equally likely: ll == -4 * log(3)
    """
    if validate:
        validate_crf_inputs(potentials, tags, mask, _num_tags(transitions))
    cons = _constraints(transitions, (allowed_transitions, allowed_start, allowed_end), validate)
    weights = _penalised((transitions, start_transitions, end_transitions), cons)
    potentials, mask, tags, _ = _compact(ops.convert_to_tensor(potentials), mask, tags)
    potentials, mask = _prepare(potentials, mask)
    tags = ops.where(mask, ops.cast(tags, "int32"), 0)
    if _torch_fast(fast_path):
        numerator = crf_torch.torch_sequence_score(potentials, tags, *weights, mask)
    else:
        numerator = _sequence_score(potentials, tags, *weights, mask)
    return numerator - _log_partition(potentials, weights, mask, cons, fast_path)


# --- decoding ------------------------------------------------------------------------


def _viterbi(potentials, transitions, start_transitions, end_transitions, mask):
    """Best paths of prepared right-padded inputs: ``(tags (B, T), scores (B,))``.

    The forward pass keeps only the max-plus scores (one max over ``(B, K, K)`` per step,
    no argmax); the backtrack recomputes the one argmax it needs per step from the stored
    scores (``(B, K)`` work per step), with the same float values as the forward pass.
    """
    dtype = potentials.dtype
    num_tags = static_shape(potentials)[2]
    score0 = ops.expand_dims(start_transitions, 0) + potentials[:, 0]
    if _time_steps(potentials) == 1:
        final = score0 + ops.expand_dims(end_transitions, 0)
        best = ops.cast(ops.argmax(final, axis=1), "int32")
        return ops.expand_dims(best, 1), ops.max(final, axis=1)
    # v[b, j, i] = score[b, i] + transitions[i, j]: the reduction runs over the last
    # (contiguous) axis, which XLA's CPU code does much faster than a middle axis.
    trans_t = ops.transpose(transitions)
    trans_b = ops.expand_dims(trans_t, 0)

    def forward_step(emit_t, states):
        new = ops.max(ops.expand_dims(states[0], 1) + trans_b, axis=2) + emit_t
        return new, [new]

    _, scores, states = recurrence(
        forward_step,
        potentials[:, 1:],
        [score0],
        num_tags,
        mask=mask[:, 1:],
        return_sequences=True,
    )
    final = states[0] + ops.expand_dims(end_transitions, 0)
    best_scores = ops.max(final, axis=1)
    last_tag = ops.cast(ops.expand_dims(ops.argmax(final, axis=1), 1), dtype)  # (B, 1)
    # scores before each step t = 1 .. T-1
    previous = ops.concatenate([ops.expand_dims(score0, 1), scores[:, :-1]], axis=1)

    def back_step(prev_scores, states):
        column = ops.take(trans_t, ops.cast(states[0][:, 0], "int32"), axis=0)  # (B, K)
        prev = ops.cast(ops.argmax(prev_scores + column, axis=1), dtype)
        prev = ops.expand_dims(prev, 1)
        return prev, [prev]

    # Processing t = T-1 .. 1 emits the tag at t-1; masked (padded) steps carry the tag.
    _, earlier, _ = recurrence(
        back_step, previous, [last_tag], 1, mask=mask[:, 1:], go_backwards=True
    )
    earlier = ops.flip(earlier[:, :, 0], axis=1)  # tags at 0 .. T-2 (where mask[t+1])
    earlier = ops.where(mask[:, 1:], earlier, last_tag)  # the last valid step's tag
    tags = ops.concatenate([earlier, last_tag], axis=1)
    return ops.where(mask, ops.cast(tags, "int32"), 0), best_scores


def _backtrack(backpointers: Any, last: Any, mask: Any) -> Any:
    """Follows ``backpointers`` ``(B, T-1, N)`` (float ids of the previous step's entry
    given this step's) back from the final entries ``last`` ``(B, k)`` over a
    right-padded ``mask``; returns the entry ids per step, ``(B, T, k)``."""

    def back_step(bp_t, states):
        prev = ops.take_along_axis(bp_t, ops.cast(states[0], "int32"), axis=1)
        return prev, [prev]

    width = static_shape(last)[1]
    # Processing t = T-1 .. 1 emits the entry at t-1; masked (padded) steps carry it.
    _, earlier, _ = recurrence(
        back_step, backpointers, [last], width, mask=mask[:, 1:], go_backwards=True
    )
    earlier = ops.flip(earlier, axis=1)  # entries at 0 .. T-2 (where mask[t+1])
    earlier = ops.where(ops.expand_dims(mask[:, 1:], -1), earlier, ops.expand_dims(last, 1))
    return ops.concatenate([earlier, ops.expand_dims(last, 1)], axis=1)


def _kbest(potentials, transitions, start_transitions, end_transitions, mask, k):
    """The ``k`` best paths of prepared right-padded inputs: ``(tags (B, k, T), scores
    (B, k))``, best first; entries past the number of paths have score ``-inf``."""
    dtype = potentials.dtype
    b = ops.shape(potentials)[0]
    num_tags = static_shape(potentials)[2]
    steps = _time_steps(potentials)
    score0 = ops.expand_dims(start_transitions, 0) + potentials[:, 0]  # (B, K)
    # Entry (tag j, rank r) at flat id j * k + r; only rank 0 exists at step 0.
    filler = ops.full((b, num_tags, k - 1), -np.inf, dtype=dtype)
    scores0 = ops.reshape(
        ops.concatenate([ops.expand_dims(score0, -1), filler], -1), (b, num_tags * k)
    )
    end = ops.reshape(
        ops.repeat(ops.expand_dims(end_transitions, -1), k, axis=1), (1, num_tags * k)
    )
    if steps == 1:
        final = scores0 + end
        best_scores, best = ops.top_k(final, k)
        tags = ops.expand_dims(ops.cast(best // k, "int32"), -1)
        return tags, best_scores
    # trans_k[i * k + r, j] = transitions[i, j]
    trans_k = ops.expand_dims(ops.repeat(transitions, k, axis=0), 0)

    def forward_step(emit_t, states):
        cand = ops.expand_dims(states[0], 2) + trans_k  # (B, K*k, K)
        vals, idx = ops.top_k(ops.transpose(cand, (0, 2, 1)), k)  # (B, K, k)
        new = ops.reshape(vals + ops.expand_dims(emit_t, -1), (b, num_tags * k))
        return ops.reshape(ops.cast(idx, dtype), (b, num_tags * k)), [new]

    _, backpointers, states = recurrence(
        forward_step,
        potentials[:, 1:],
        [scores0],
        num_tags * k,
        mask=mask[:, 1:],
        zero_output_for_mask=True,
        return_sequences=True,
    )
    best_scores, best = ops.top_k(states[0] + end, k)
    entries = _backtrack(backpointers, ops.cast(best, dtype), mask)  # (B, T, k)
    tags = ops.transpose(ops.cast(entries, "int32") // k, (0, 2, 1))
    return tags, best_scores


def crf_decode(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    validate: bool = True,
    fast_path: bool = True,
    top_k: int = 1,
    allowed_transitions: Any = None,
    allowed_start: Any = None,
    allowed_end: Any = None,
) -> tuple[Any, Any]:
    """Viterbi decoding, or the ``top_k`` best paths.

    Args:
        potentials, transitions, start_transitions, end_transitions, mask: as in
            :func:`crf_log_likelihood`.
        validate: run :func:`validate_crf_inputs` first (and check the constraints).
        fast_path: use the backend's fast path where one exists (torch, ``top_k=1``).
        top_k: number of best paths to return (a static positive int).
        allowed_transitions, allowed_start, allowed_end: optional constraints
            (module notes); paths that break one are never returned.

    Returns:
        With ``top_k=1``: ``(best_tags, best_scores)``, ``(batch, timesteps)`` int32 (0 at
        masked steps) and ``(batch,)`` unnormalized scores. With ``top_k=k > 1``:
        ``(tags (batch, k, timesteps), scores (batch, k))``, best first. When a row has
        fewer than ``k`` (allowed) paths, the missing entries have score ``-inf`` and
        tags 0; with constraints, a row without any allowed path (possible only for
        some lengths) gets that for every entry, ``top_k=1`` included. Ties between
        equal scores are broken in an unspecified order.

    Example:

    >>> tags, scores = crf_decode(
    ...     keras.ops.ones((2, 5, 3)), keras.ops.zeros((3, 3)), keras.ops.zeros((3,)),
    ...     keras.ops.zeros((3,)), top_k=4)
    >>> # tags: (2, 4, 5), scores: (2, 4)
    """
    if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"'{_NAME}': top_k must be a positive integer, got {top_k!r}.")
    top_k = int(top_k)
    if validate:
        validate_crf_inputs(potentials, None, mask, _num_tags(transitions))
    cons = _constraints(transitions, (allowed_transitions, allowed_start, allowed_end), validate)
    weights = _penalised((transitions, start_transitions, end_transitions), cons)
    potentials, mask, _, inverse = _compact(ops.convert_to_tensor(potentials), mask)
    if top_k == 1 and _torch_fast(fast_path):
        tags, scores = crf_torch.torch_viterbi(potentials, *weights, mask)
    else:
        potentials, mask = _prepare(potentials, mask)
        if top_k == 1:
            tags, scores = _viterbi(potentials, *weights, mask)
        else:
            tags, scores = _kbest(potentials, *weights, mask, top_k)
    potentials, mask = _prepare(potentials, mask)
    if top_k == 1:
        # When every length up to T has an allowed path, the best path is an allowed one
        # (the penalty outweighs any score difference): no check needed.
        if cons is not None and not _all_lengths_allowed(cons, static_shape(potentials)[1]):
            found = _path_allowed(tags, mask, cons)
            scores = ops.where(found, scores, -np.inf)
            tags = ops.where(ops.logical_and(ops.expand_dims(found, -1), mask), tags, 0)
        return _restore(tags, inverse), scores
    mask_k = ops.expand_dims(mask, 1)
    found = ops.isfinite(scores)
    if cons is not None:
        found = ops.logical_and(found, _path_allowed(tags, mask_k, cons))
    scores = ops.where(found, scores, -np.inf)
    tags = ops.where(ops.logical_and(ops.expand_dims(found, -1), mask_k), tags, 0)
    return _restore(tags, inverse, time_axis=2), scores


def crf_marginals(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    validate: bool = True,
    fast_path: bool = True,
    allowed_transitions: Any = None,
    allowed_start: Any = None,
    allowed_end: Any = None,
) -> Any:
    """Per-token tag marginals ``p(y_t = k | potentials)`` by forward-backward.

    Args:
        potentials, transitions, start_transitions, end_transitions, mask: as in
            :func:`crf_log_likelihood`.
        validate: run :func:`validate_crf_inputs` first (and check the constraints).
        fast_path: use the torch fast path on the torch backend when no gradient is
            being recorded through the inputs (the fast forward-backward is not
            differentiable; with gradients the generic path runs).
        allowed_transitions, allowed_start, allowed_end: optional constraints
            (module notes); disallowed tags get marginals ``~0``.

    Returns:
        ``(batch, timesteps, K)``; rows sum to 1 at unmasked steps and are 0 at masked
        steps.
    """
    if validate:
        validate_crf_inputs(potentials, None, mask, _num_tags(transitions))
    cons = _constraints(transitions, (allowed_transitions, allowed_start, allowed_end), validate)
    transitions, start_transitions, end_transitions = _penalised(
        (transitions, start_transitions, end_transitions), cons
    )
    potentials, mask, _, inverse = _compact(ops.convert_to_tensor(potentials), mask)
    potentials, mask = _prepare(potentials, mask)
    weights = (transitions, start_transitions, end_transitions)
    if _torch_fast(fast_path) and not crf_torch.needs_grad(potentials, *weights):
        log_z, alphas, betas = crf_torch.torch_forward_backward(
            potentials, *weights, mask, allowed=_exp_allowed(cons, potentials)
        )
        log_marg = alphas + betas - ops.reshape(log_z, (-1, 1, 1))
        marg = ops.where(ops.expand_dims(mask, -1), ops.exp(log_marg), 0.0)
        return _restore(marg, inverse)
    num_tags = static_shape(potentials)[2]
    final_alpha, alphas = _forward_scores(
        potentials, transitions, start_transitions, mask, return_sequences=True
    )
    end = ops.expand_dims(end_transitions, 0)
    log_z = ops.logsumexp(final_alpha + end, axis=1)
    end_b = ops.zeros_like(potentials[:, 0]) + end
    if _time_steps(potentials) == 1:
        betas = ops.expand_dims(end_b, 1)
    else:
        trans = ops.expand_dims(transitions, 0)

        def back_step(emit_next, states):
            # beta_t[i] = logsumexp_j(trans[i, j] + emit_{t+1}[j] + beta_{t+1}[j])
            new = ops.logsumexp(trans + ops.expand_dims(emit_next + states[0], 1), axis=2)
            return new, [new]

        _, outs, _ = recurrence(
            back_step, potentials[:, 1:], [end_b], num_tags, mask=mask[:, 1:], go_backwards=True
        )
        outs = ops.flip(outs, axis=1)  # beta_0 .. beta_{T-2}
        outs = ops.where(ops.expand_dims(mask[:, 1:], -1), outs, ops.expand_dims(end_b, 1))
        betas = ops.concatenate([outs, ops.expand_dims(end_b, 1)], axis=1)
    log_marg = alphas + betas - ops.reshape(log_z, (-1, 1, 1))
    marg = ops.where(ops.expand_dims(mask, -1), ops.exp(log_marg), 0.0)
    return _restore(marg, inverse)
