"""Linear-chain CRF math as plain ``keras.ops`` functions.

Conventions (the same as pytorch-crf, so its weights port directly):

* ``potentials``: emission scores ``(batch, timesteps, num_tags)``;
* ``transitions[i, j]``: score of moving from tag ``i`` to tag ``j``, ``(K, K)``;
* ``start_transitions`` / ``end_transitions``: ``(K,)`` scores of the first / last tag;
* ``mask``: optional ``(batch, timesteps)``, right-padded (every row is a run of True
  steps followed by False steps, at least one True step). Padded steps are ignored.

The score of a tag path ``y`` of length ``L`` is
``start[y_0] + sum_t potentials[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{L-1}]``
and ``p(y | potentials) = exp(score(y)) / Z`` with ``Z`` the sum over all ``K^L`` paths.

The recursions (forward algorithm in log space, Viterbi, backward algorithm) run
through the shared :func:`rnnkit.ops.recurrence.recurrence` loop (``lax.scan`` on JAX,
``tf.while_loop`` on TensorFlow), which carries states unchanged through masked steps.
An associative-scan form of the forward algorithm (log-semiring matrix products,
``O(log T)`` depth but ``O(T K^3)`` work) is available as :func:`crf_log_partition_parallel`;
it is tested against the sequential form and only pays off on accelerators.

On the torch backend, :func:`crf_log_partition` (hence :func:`crf_log_likelihood`),
:func:`crf_decode` and :func:`crf_marginals` take a fast path by default
(:mod:`rnnkit.ops.crf_torch`: raw torch recursions, a closed-form backward for ``log Z``
and a batch-vectorised Viterbi backtrack); ``fast_path=False`` runs the generic
``keras.ops`` code, which the tests compare it with.

Value checks (tags in range, right-padded masks without empty rows) run eagerly when
the inputs are concrete (eager TensorFlow, torch, JAX outside ``jit``). Inside traced
code (``tf.function``, ``jax.jit``, ``model.fit`` with compilation) values cannot be
inspected: out-of-range tags then raise on TensorFlow CPU gathers and are clipped on JAX,
and a mask that is not right-padded gives undefined scores. Shape checks always run.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from rnnkit.ops import crf_torch
from rnnkit.ops.recurrence import recurrence
from rnnkit.ops.validation import static_shape

_NAME = "crf"


def _concrete(x: Any) -> np.ndarray | None:
    """``x`` as a NumPy array when its values are available, else None (traced)."""
    if x is None:
        return None
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:
        return None


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
        mask: optional ``(batch, timesteps)`` right-padded mask.
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
            if not m[:, 0].all():
                rows = np.flatnonzero(~m[:, 0])[:5].tolist()
                raise ValueError(
                    f"'{name}': the mask's first step is off in rows {rows}; the CRF expects "
                    "right-padded masks (True steps first, then False). Left-pad is not "
                    "supported: right-pad the sequences instead."
                )
            if (m[:, 1:] & ~m[:, :-1]).any():
                rows = np.flatnonzero((m[:, 1:] & ~m[:, :-1]).any(axis=1))[:5].tolist()
                raise ValueError(
                    f"'{name}': mask rows {rows} are not right-padded (a True step follows "
                    "a False step); expected True steps first, then False."
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


def crf_sequence_score(
    potentials: Any,
    tags: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
) -> Any:
    """Unnormalized score of the given tag paths, shape ``(batch,)``."""
    potentials, mask = _prepare(potentials, mask)
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


def _forward_scores(potentials, transitions, start_transitions, mask, return_sequences=False):
    """Forward recursion; returns (final alpha (B, K), all alphas (B, T, K) or None)."""
    alpha0 = ops.expand_dims(start_transitions, 0) + potentials[:, 0]
    if _time_steps(potentials) == 1:
        return alpha0, (ops.expand_dims(alpha0, 1) if return_sequences else None)
    trans = ops.expand_dims(transitions, 0)

    def step(emit_t, states):
        alpha = states[0]
        new = ops.logsumexp(ops.expand_dims(alpha, 2) + trans, axis=1) + emit_t
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


def crf_log_partition(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    fast_path: bool = True,
) -> Any:
    """``log Z`` per sequence by the forward algorithm in log space, shape ``(batch,)``.

    ``fast_path``: use the torch fast path on the torch backend (see the module notes).
    """
    if _torch_fast(fast_path):
        return crf_torch.torch_log_partition(
            potentials, transitions, start_transitions, end_transitions, mask
        )
    potentials, mask = _prepare(potentials, mask)
    alpha, _ = _forward_scores(potentials, transitions, start_transitions, mask)
    return ops.logsumexp(alpha + ops.expand_dims(end_transitions, 0), axis=1)


def _log_matmul(a: Any, b: Any) -> Any:
    """Log-semiring matrix product over the last two axes."""
    return ops.logsumexp(ops.expand_dims(a, -1) + ops.expand_dims(b, -3), axis=-2)


def crf_log_partition_parallel(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
) -> Any:
    """``log Z`` by an associative scan of log-semiring matrix products.

    Same result as :func:`crf_log_partition` with ``O(log T)`` sequential depth and
    ``O(T K^3)`` work instead of ``O(T K^2)``: only worth it on accelerators for long
    sequences. Masked steps use the log-semiring identity matrix.
    """
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
) -> Any:
    """Per-sequence ``log p(tags | potentials)``, shape ``(batch,)``.

    Args:
        potentials: ``(batch, timesteps, K)`` float emission scores.
        tags: ``(batch, timesteps)`` integer gold tags (ignored at masked steps).
        transitions: ``(K, K)``; ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
        start_transitions: ``(K,)``.
        end_transitions: ``(K,)``.
        mask: optional right-padded ``(batch, timesteps)`` mask.
        validate: run :func:`validate_crf_inputs` first.
        fast_path: use the backend's fast path where one exists (torch); ``False``
            runs the generic ``keras.ops`` code.

    Returns:
        ``(batch,)`` log-likelihoods (``<= 0``).

    Example:

    >>> k = 3
    >>> ll = crf_log_likelihood(
    ...     keras.ops.zeros((2, 4, k)), keras.ops.zeros((2, 4), "int32"),
    ...     keras.ops.zeros((k, k)), keras.ops.zeros((k,)), keras.ops.zeros((k,)))
    >>> # every path is equally likely: ll == -4 * log(3)
    """
    if validate:
        validate_crf_inputs(potentials, tags, mask, static_shape(transitions)[0])
    potentials, mask = _prepare(potentials, mask)
    tags = ops.where(mask, ops.cast(tags, "int32"), 0)
    numerator = crf_sequence_score(
        potentials, tags, transitions, start_transitions, end_transitions, mask
    )
    return numerator - crf_log_partition(
        potentials, transitions, start_transitions, end_transitions, mask, fast_path
    )


def crf_decode(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    validate: bool = True,
    fast_path: bool = True,
) -> tuple[Any, Any]:
    """Viterbi decoding.

    Args:
        potentials, transitions, start_transitions, end_transitions, mask: as in
            :func:`crf_log_likelihood`.
        validate: run :func:`validate_crf_inputs` first.
        fast_path: use the backend's fast path where one exists (torch).

    Returns:
        ``(best_tags, best_scores)``: ``(batch, timesteps)`` int32 (0 at masked steps)
        and ``(batch,)`` unnormalized scores of those paths.
    """
    if validate:
        validate_crf_inputs(potentials, None, mask, static_shape(transitions)[0])
    if _torch_fast(fast_path):
        return crf_torch.torch_viterbi(
            potentials, transitions, start_transitions, end_transitions, mask
        )
    potentials, mask = _prepare(potentials, mask)
    dtype = potentials.dtype
    num_tags = static_shape(potentials)[2]
    score0 = ops.expand_dims(start_transitions, 0) + potentials[:, 0]
    if _time_steps(potentials) == 1:
        final = score0 + ops.expand_dims(end_transitions, 0)
        best = ops.cast(ops.argmax(final, axis=1), "int32")
        return ops.expand_dims(best, 1), ops.max(final, axis=1)
    trans = ops.expand_dims(transitions, 0)

    def forward_step(emit_t, states):
        v = ops.expand_dims(states[0], 2) + trans
        new = ops.max(v, axis=1) + emit_t
        backpointers = ops.cast(ops.argmax(v, axis=1), dtype)
        return backpointers, [new]

    _, backpointers, states = recurrence(
        forward_step,
        potentials[:, 1:],
        [score0],
        num_tags,
        mask=mask[:, 1:],
        zero_output_for_mask=True,
        return_sequences=True,
    )
    final = states[0] + ops.expand_dims(end_transitions, 0)
    best_scores = ops.max(final, axis=1)
    last_tag = ops.cast(ops.expand_dims(ops.argmax(final, axis=1), 1), dtype)  # (B, 1)

    def back_step(bp_t, states):
        prev = ops.take_along_axis(bp_t, ops.cast(states[0], "int32"), axis=1)
        return prev, [prev]

    # Processing t = T-1 .. 1 emits the tag at t-1; masked (padded) steps carry the tag.
    _, earlier, _ = recurrence(
        back_step, backpointers, [last_tag], 1, mask=mask[:, 1:], go_backwards=True
    )
    earlier = ops.flip(earlier[:, :, 0], axis=1)  # tags at 0 .. T-2 (where mask[t+1])
    earlier = ops.where(mask[:, 1:], earlier, last_tag)  # the last valid step's tag
    tags = ops.concatenate([earlier, last_tag], axis=1)
    tags = ops.where(mask, ops.cast(tags, "int32"), 0)
    return tags, best_scores


def crf_marginals(
    potentials: Any,
    transitions: Any,
    start_transitions: Any,
    end_transitions: Any,
    mask: Any = None,
    validate: bool = True,
    fast_path: bool = True,
) -> Any:
    """Per-token tag marginals ``p(y_t = k | potentials)`` by forward-backward.

    ``fast_path``: use the torch fast path on the torch backend when no gradient is
    being recorded through the inputs (the fast forward-backward is not differentiable;
    with gradients the generic path runs).

    Returns:
        ``(batch, timesteps, K)``; rows sum to 1 at unmasked steps and are 0 at masked
        steps.
    """
    if validate:
        validate_crf_inputs(potentials, None, mask, static_shape(transitions)[0])
    potentials, mask = _prepare(potentials, mask)
    weights = (transitions, start_transitions, end_transitions)
    if _torch_fast(fast_path) and not crf_torch.needs_grad(potentials, *weights):
        log_z, alphas, betas = crf_torch.torch_forward_backward(
            potentials, transitions, start_transitions, end_transitions, mask
        )
        log_marg = alphas + betas - ops.reshape(log_z, (-1, 1, 1))
        return ops.where(ops.expand_dims(mask, -1), ops.exp(log_marg), 0.0)
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
    return ops.where(ops.expand_dims(mask, -1), ops.exp(log_marg), 0.0)
