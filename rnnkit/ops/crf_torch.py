"""Torch fast path of the linear-chain CRF recursions (``KERAS_BACKEND=torch``).

The generic :mod:`rnnkit.ops.crf` functions run the forward algorithm and Viterbi
through ``keras.ops`` and torch's autograd, which on torch means a dozen small
dispatched ops per time step, each recorded for the backward pass. This module runs
the same math in raw torch with fewer ops per step:

* :func:`torch_log_partition`: ``log Z`` as a ``torch.autograd.Function`` whose forward
  runs the alpha recursion without recording a graph, and whose backward runs the beta
  recursion once and returns the exact gradients in closed form (token marginals for
  the potentials and the start/end scores, pairwise marginals summed over the batch and
  time for the transitions), instead of back-propagating through every step.
* :func:`torch_forward_backward`: the alphas, betas and ``log Z`` (for marginals).
* :func:`torch_sequence_score`: the log-likelihood's numerator (a gold path's score) in
  a few raw torch ops instead of a dozen dispatched ``keras.ops`` calls.
* :func:`torch_viterbi`: the max-plus recursion (scores only), then a backtrack
  vectorised over the batch that recomputes one argmax per step (NumPy on CPU tensors,
  torch elsewhere).

Masks are right-padded (the callers move other layouts into that one): padded steps
never influence the valid ones, so the recursions run over every step and the results
are read at each row's last valid step. Every function here is tested against the generic
``keras.ops`` path (values and gradients) in ``tests/multibackend/test_crf.py``.
The backward is first-order only (no double backward).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Largest (batch x steps x K x K) block of pairwise marginals built at once.
_PAIRWISE_BLOCK = 1 << 22


def _tensor(x: Any) -> Any:
    """A torch tensor; Keras variables (torch backend) keep their autograd."""
    import keras
    import torch

    if torch.is_tensor(x):
        return x
    if keras.backend.backend() == "torch":
        return keras.ops.convert_to_tensor(x)
    return torch.as_tensor(np.asarray(x))


def _as_inputs(potentials: Any, mask: Any, *weights: Any) -> tuple:
    """Torch tensors on the potentials' device and dtype; a boolean mask."""
    import torch

    potentials = _tensor(potentials)
    dtype, device = potentials.dtype, potentials.device
    weights = [_tensor(w).to(device=device, dtype=dtype) for w in weights]
    if mask is None:
        mask = torch.ones(potentials.shape[:2], dtype=torch.bool, device=device)
    else:
        mask = _tensor(mask).to(device=device, dtype=torch.bool)
    return potentials, mask, weights


def needs_grad(*xs: Any) -> bool:
    """Whether torch autograd would record a graph through any of ``xs``."""
    import torch

    return torch.is_grad_enabled() and any(
        getattr(_tensor(x), "requires_grad", False) for x in xs if x is not None
    )


def _exp_space_ok(transitions: Any, allowed: Any = None) -> bool:
    """Whether the matmul (probability-space) form is as exact as the log-space one.

    The matmul form shifts the scores by their per-row maximum and the transitions by
    their maximum, so every term is in ``[0, 1]`` and the sums have no cancellation; it
    only loses terms to underflow when the transitions span more than the dtype's
    exponent range (e.g. ``-1e4`` "forbidden" transitions), which falls back to the
    log-space form. With ``allowed`` (a boolean ``(K, K)`` matrix, passed by
    :mod:`rnnkit.ops.crf` only when every length up to the padded width has an allowed
    path) the span is taken over the allowed entries and the others are exact zeros.
    """
    import torch

    limit = min(50.0, -math.log(torch.finfo(transitions.dtype).tiny) - 10.0)
    if allowed is not None:
        values = transitions[allowed]
        return bool(values.numel()) and float(values.max() - values.min()) <= limit
    return float(transitions.max() - transitions.min()) <= limit


def _exp_transitions(transitions: Any, allowed: Any) -> tuple[Any, Any]:
    """``(tmax, exp(transitions - tmax))`` with disallowed entries exactly 0."""
    import torch

    if allowed is None:
        tmax = transitions.max()
        return tmax, torch.exp(transitions - tmax)
    tmax = transitions[allowed].max()
    return tmax, torch.where(allowed, torch.exp(transitions - tmax), 0)


def _alphas(
    potentials: Any, transitions: Any, start: Any, exp_space: bool, allowed: Any = None
) -> Any:
    """``alpha_t`` for every step, ``(B, T, K)`` (valid up to each row's last step)."""
    import torch

    alpha = start + potentials[:, 0]
    out = [alpha]
    if exp_space:
        tmax, et = _exp_transitions(transitions, allowed)
        for emit in (potentials[:, 1:] + tmax).unbind(1):
            m = alpha.amax(1, keepdim=True)
            # alpha_t[j] = log sum_i exp(alpha[i] - m) exp(trans[i, j] - tmax) + m + tmax + emit
            alpha = torch.mm((alpha - m).exp_(), et).log_().add_(m).add_(emit)
            out.append(alpha)
    else:
        trans = transitions.unsqueeze(0)
        for emit in potentials[:, 1:].unbind(1):
            alpha = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emit
            out.append(alpha)
    return torch.stack(out, 1)


def _betas(
    potentials: Any,
    transitions: Any,
    end: Any,
    is_last: Any,
    exp_space: bool,
    allowed: Any = None,
) -> Any:
    """``beta_t`` for every step, ``(B, T, K)``: ``end`` at each row's last valid step."""
    import torch

    end_b = end.expand_as(potentials[:, 0])
    last = is_last.unsqueeze(2).unbind(1)
    beta = end_b
    out = [beta]
    if exp_space:
        tmax, et = _exp_transitions(transitions, allowed)
        et_t = et.t()
        steps = (potentials + tmax).unbind(1)
    else:
        trans = transitions.unsqueeze(0)
        steps = potentials.unbind(1)
    for t in range(len(steps) - 2, -1, -1):
        # beta_t[i] = logsumexp_j(trans[i, j] + emit_{t+1}[j] + beta_{t+1}[j])
        v = steps[t + 1] + beta
        if exp_space:
            m = v.amax(1, keepdim=True)
            beta = torch.mm((v - m).exp_(), et_t).log_().add_(m)
        else:
            beta = torch.logsumexp(trans + v.unsqueeze(1), dim=2)
        beta = torch.where(last[t], end_b, beta)
        out.append(beta)
    out.reverse()
    return torch.stack(out, 1)


def _last_index(mask: Any) -> Any:
    return mask.sum(1).clamp(min=1) - 1


def _log_z(alphas: Any, end: Any, last: Any) -> Any:
    import torch

    idx = last.view(-1, 1, 1).expand(-1, 1, alphas.shape[2])
    final = alphas.gather(1, idx).squeeze(1)
    return torch.logsumexp(final + end, dim=1)


def _allowed_tensor(allowed: Any, like: Any) -> Any:
    import torch

    if allowed is None:
        return None
    return torch.as_tensor(np.asarray(allowed, bool), device=like.device)


def torch_forward_backward(
    potentials: Any,
    transitions: Any,
    start: Any,
    end: Any,
    mask: Any = None,
    allowed: Any = None,
) -> tuple[Any, Any, Any]:
    """``(log_z (B,), alphas (B, T, K), betas (B, T, K))`` without recording a graph.

    Alphas and betas are valid at unmasked steps only. ``allowed``: see
    :func:`_exp_space_ok` (the transitions already carry the constraint penalty).
    """
    import torch

    potentials, mask, (transitions, start, end) = _as_inputs(
        potentials, mask, transitions, start, end
    )
    with torch.no_grad():
        allowed = _allowed_tensor(allowed, transitions)
        exp_space = _exp_space_ok(transitions, allowed)
        allowed = allowed if exp_space else None
        last = _last_index(mask)
        alphas = _alphas(potentials, transitions, start, exp_space, allowed)
        is_last = torch.arange(mask.shape[1], device=mask.device) == last.unsqueeze(1)
        betas = _betas(potentials, transitions, end, is_last, exp_space, allowed)
        return _log_z(alphas, end, last), alphas, betas


def _pairwise_sum(
    alphas, transitions, potentials, betas, log_z, weight, mask, exp_space, allowed=None
):
    """``sum_{b, t>=1 valid} weight_b * p(y_{t-1}=i, y_t=j)``, shape ``(K, K)``."""
    import torch

    b, t, k = potentials.shape
    if t == 1:
        return torch.zeros_like(transitions)
    valid = mask[:, 1:].unsqueeze(2)
    if exp_space:
        # xi[i, j] = u[i] * exp(trans[i, j] - tmax) * v[j], summed over (b, t) as one matmul:
        # u = exp(alpha_{t-1} - a) <= 1 with a = max alpha_{t-1}; v <= exp(range(trans)).
        tmax, et = _exp_transitions(transitions, allowed)
        prev = alphas[:, :-1]
        a = prev.amax(2, keepdim=True)
        u = torch.exp(prev - a)
        expo = potentials[:, 1:] + betas[:, 1:] + a + tmax - log_z.view(-1, 1, 1)
        # padded steps hold unused (possibly huge) scores: excluded before the exp
        v = torch.exp(torch.where(valid, expo, -torch.inf)) * weight.view(-1, 1, 1)
        g = torch.mm(u.reshape(-1, k).t(), v.reshape(-1, k))
        return g * et
    total = torch.zeros_like(transitions)
    block = max(1, _PAIRWISE_BLOCK // (b * k * k))
    right = (potentials + betas - log_z.view(-1, 1, 1)).unsqueeze(2)  # (B, T, 1, K)
    left = alphas.unsqueeze(3)  # (B, T, K, 1)
    valid = valid.unsqueeze(3)
    w = weight.view(-1, 1, 1, 1)
    for s in range(1, t, block):
        e = min(t, s + block)
        xi = torch.exp(left[:, s - 1 : e - 1] + transitions + right[:, s:e])
        total += (torch.where(valid[:, s - 1 : e - 1], xi, 0) * w).sum((0, 1))
    return total


def _make_log_partition():
    import torch

    class _LogPartition(torch.autograd.Function):
        @staticmethod
        def forward(ctx, potentials, transitions, start, end, mask, allowed):
            exp_space = _exp_space_ok(transitions, allowed)
            allowed = allowed if exp_space else None
            last = _last_index(mask)
            alphas = _alphas(potentials, transitions, start, exp_space, allowed)
            log_z = _log_z(alphas, end, last)
            ctx.exp_space = exp_space
            ctx.allowed = allowed
            ctx.save_for_backward(potentials, transitions, end, mask, alphas, log_z)
            return log_z

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx, grad):
            potentials, transitions, end, mask, alphas, log_z = ctx.saved_tensors
            last = _last_index(mask)
            is_last = torch.arange(mask.shape[1], device=mask.device) == last.unsqueeze(1)
            betas = _betas(potentials, transitions, end, is_last, ctx.exp_space, ctx.allowed)
            marg = torch.exp(alphas + betas - log_z.view(-1, 1, 1))
            marg = torch.where(mask.unsqueeze(2), marg, 0)
            g_pot = marg * grad.view(-1, 1, 1)
            g_start = g_pot[:, 0].sum(0)
            g_end = (g_pot * is_last.unsqueeze(2)).sum((0, 1))
            g_trans = _pairwise_sum(
                alphas,
                transitions,
                potentials,
                betas,
                log_z,
                grad,
                mask,
                ctx.exp_space,
                ctx.allowed,
            )
            return g_pot, g_trans, g_start, g_end, None, None

    return _LogPartition


_LOG_PARTITION = None


def torch_log_partition(
    potentials: Any,
    transitions: Any,
    start: Any,
    end: Any,
    mask: Any = None,
    allowed: Any = None,
) -> Any:
    """``log Z`` per sequence, ``(B,)``, differentiable w.r.t. the first four arguments.

    ``allowed``: see :func:`_exp_space_ok` (the transitions already carry the
    constraint penalty)."""
    global _LOG_PARTITION
    if _LOG_PARTITION is None:
        _LOG_PARTITION = _make_log_partition()
    potentials, mask, (transitions, start, end) = _as_inputs(
        potentials, mask, transitions, start, end
    )
    allowed = _allowed_tensor(allowed, transitions)
    return _LOG_PARTITION.apply(potentials, transitions, start, end, mask, allowed)


def torch_sequence_score(
    potentials: Any, tags: Any, transitions: Any, start: Any, end: Any, mask: Any
) -> Any:
    """Score of ``tags`` ``(B,)`` under a right-padded boolean ``mask`` in raw torch (the
    numerator of the log-likelihood; the same sum as the generic ``_sequence_score``),
    differentiable by autograd."""
    import torch

    potentials, mask, (transitions, start, end) = _as_inputs(
        potentials, mask, transitions, start, end
    )
    tags = _tensor(tags).to(device=potentials.device, dtype=torch.long)
    maskf = mask.to(potentials.dtype)
    emit = potentials.gather(2, tags.unsqueeze(2)).squeeze(2)
    score = (emit * maskf).sum(1) + start[tags[:, 0]]
    if potentials.shape[1] > 1:
        score = score + (transitions[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]).sum(1)
    last = tags.gather(1, _last_index(mask).unsqueeze(1)).squeeze(1)
    return score + end[last]


def torch_viterbi(
    potentials: Any, transitions: Any, start: Any, end: Any, mask: Any = None
) -> tuple[Any, Any]:
    """``(best_tags (B, T) int32, 0 at masked steps; best_scores (B,))``.

    The forward pass keeps only the max-plus scores (``amax`` over the last, contiguous
    axis: no indices); the backtrack recomputes the one argmax per step it needs from the
    stored scores, with the same float values.
    """
    import torch

    potentials, mask, (transitions, start, end) = _as_inputs(
        potentials, mask, transitions, start, end
    )
    with torch.no_grad():
        b, t, k = potentials.shape
        steps = potentials.unbind(1)
        trans_t = transitions.t().contiguous().unsqueeze(0)  # [0, j, i] = transitions[i, j]
        score = start + steps[0]
        scores = [score]
        for emit in steps[1:]:
            score = (score.unsqueeze(1) + trans_t).amax(2) + emit
            scores.append(score)
        scores = torch.stack(scores, 1)  # (B, T, K)
        last = _last_index(mask)
        final = scores.gather(1, last.view(-1, 1, 1).expand(-1, 1, k)).squeeze(1) + end
        best_scores, last_tag = final.max(1)
        if t == 1:
            return last_tag.to(torch.int32).unsqueeze(1), best_scores
        if scores.device.type == "cpu":
            tags = _backtrack_numpy(
                scores.numpy(), transitions.numpy(), last.numpy(), last_tag.numpy()
            )
            tags = torch.from_numpy(tags)
        else:
            tags = _backtrack_torch(scores, transitions, last, last_tag)
        tags = torch.where(mask, tags, 0).to(torch.int32)
        return tags, best_scores


def _backtrack_numpy(
    scores: np.ndarray, transitions: np.ndarray, last: np.ndarray, last_tag: np.ndarray
) -> np.ndarray:
    """Best paths from the forward max-plus ``scores`` ``(B, T, K)``: the tag at ``t-1``
    is ``argmax_i(scores[t-1, i] + transitions[i, tag_t])``. Steps after ``last`` are
    unspecified (the caller masks them)."""
    b, t, _ = scores.shape
    tags = np.zeros((b, t), np.int64)
    rows = np.arange(b)
    cur = last_tag.astype(np.int64)
    tags[rows, last] = cur
    for step in range(t - 1, 0, -1):
        active = step <= last
        prev = np.argmax(scores[:, step - 1] + transitions[:, cur].T, axis=1)
        cur = np.where(active, prev, cur)
        tags[:, step - 1] = np.where(active, cur, tags[:, step - 1])
    return tags


def _backtrack_torch(scores: Any, transitions: Any, last: Any, last_tag: Any) -> Any:
    """:func:`_backtrack_numpy` in torch (off-CPU tensors)."""
    import torch

    b, t, _ = scores.shape
    trans_t = transitions.t()
    cur = last_tag
    out = [cur]
    for step in range(t - 1, 0, -1):
        prev = torch.argmax(scores[:, step - 1] + trans_t[cur], dim=1)
        cur = torch.where(step <= last, prev, cur)
        out.append(cur)
    out.reverse()
    return torch.stack(out, 1)
