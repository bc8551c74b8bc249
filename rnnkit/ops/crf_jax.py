"""JAX fast path of the linear-chain CRF's ``log Z`` (``KERAS_BACKEND=jax``).

The generic :mod:`rnnkit.ops.crf` forward algorithm is differentiated by JAX's autodiff
through a ``lax.scan``: the forward pass keeps every step's ``(batch, K, K)`` scores for
the backward pass and the backward pass re-reads them, which dominates at large ``K``.
:func:`jax_log_partition` is ``log Z`` as a ``jax.custom_vjp`` whose backward pass runs
the beta recursion once and returns the exact gradients in closed form (the same math as
the torch fast path, :mod:`rnnkit.ops.crf_torch`): the token marginals for the potentials
and the start/end scores, and the pairwise marginals summed over the batch and time for
the transitions.

Both recursions run in probability space (one ``(B, K) x (K, K)`` matmul a step, each row
shifted by its maximum and the transitions by theirs, so every term lies in ``[0, 1]``)
when the transitions span at most ``min(50, -log(tiny) - 10)`` (checked on the run-time
values with ``lax.cond``), and in log space (``logsumexp`` over ``(B, K, K)``) otherwise,
e.g. with constraint penalties of ``-1e4``; the transitions' gradient is then one matmul
over all valid ``(batch, step)`` pairs, or a scan that sums each step's pairwise
marginals. The recursions keep their scores scaled (maximum 0 at every step; the forward
scales summed apart for ``log Z``) and every marginal is normalised per ``(batch, step)``,
so no score of the size of ``log Z`` enters a difference: the gradients keep float32's
precision at any length (unlike ``exp(alpha + beta - log Z)``).

Inputs are right-padded (the callers in :mod:`rnnkit.ops.crf` move any mask layout into
that one): padded steps never influence the valid ones, so the recursions run over every
step and ``log Z`` is read at each row's last valid step. Tested against the generic path
(values and gradients, both spaces, every mask layout) in
``tests/multibackend/test_crf_jax.py``. First-order gradients only.
"""

from __future__ import annotations

import functools
import math
from typing import Any


@functools.cache
def _log_partition_fn() -> Any:
    import jax
    import jax.numpy as jnp
    from jax import lax
    from jax.scipy.special import logsumexp

    def exp_limit(dtype: Any) -> float:
        return min(50.0, -math.log(float(jnp.finfo(dtype).tiny)) - 10.0)

    def time_major(x: Any) -> Any:
        return jnp.swapaxes(x, 0, 1)

    def alphas(potentials, transitions, start, exp_space):
        """Scaled forward scores: ``(ahat (B, T, K), scale (B, T))`` with ``alpha_t =
        ahat_t + scale_t`` and ``max ahat_t = 0`` (valid up to each row's last step)."""

        def normalise(a):
            n = jnp.max(a, axis=1)
            return a - n[:, None], n

        ahat0, scale0 = normalise(start[None] + potentials[:, 0])
        if potentials.shape[1] == 1:
            return ahat0[:, None], scale0[:, None]
        if exp_space:
            tmax = jnp.max(transitions)
            et = jnp.exp(transitions - tmax)

            def step(carry, emit):
                ahat, scale = carry
                # exp(ahat) <= 1: no overflow; alpha_t = log(exp(alpha) @ exp(trans)) + emit
                new, n = normalise(jnp.log(jnp.exp(ahat) @ et) + tmax + emit)
                return (new, scale + n), (new, scale + n)

        else:

            def step(carry, emit):
                ahat, scale = carry
                new, n = normalise(logsumexp(ahat[:, :, None] + transitions[None], axis=1) + emit)
                return (new, scale + n), (new, scale + n)

        _, (rest, scales) = lax.scan(step, (ahat0, scale0), time_major(potentials[:, 1:]))
        ahat = jnp.concatenate([ahat0[:, None], time_major(rest)], axis=1)
        return ahat, jnp.concatenate([scale0[:, None], time_major(scales)], axis=1)

    def betas(potentials, transitions, end, is_last, exp_space):
        """Backward scores up to a constant per ``(b, t)``, ``(B, T, K)`` with maximum 0:
        ``end`` (shifted) at each row's last step. Marginals and pairwise marginals are
        normalised per ``(b, t)``, so the constants never matter and no score of the
        size of ``log Z`` enters a difference."""
        end_b = jnp.broadcast_to(end[None] - jnp.max(end), potentials[:, 0].shape)
        if potentials.shape[1] == 1:
            return end_b[:, None]
        if exp_space:
            tmax = jnp.max(transitions)
            et_t = jnp.exp(transitions - tmax).T

            def step(bhat, xs):
                emit_next, last = xs
                v = emit_next + bhat
                m = jnp.max(v, axis=1, keepdims=True)
                new = jnp.log(jnp.exp(v - m) @ et_t)
                new = new - jnp.max(new, axis=1, keepdims=True)
                new = jnp.where(last[:, None], end_b, new)
                return new, new

        else:

            def step(bhat, xs):
                emit_next, last = xs
                new = logsumexp(transitions[None] + (emit_next + bhat)[:, None, :], axis=2)
                new = new - jnp.max(new, axis=1, keepdims=True)
                new = jnp.where(last[:, None], end_b, new)
                return new, new

        # step t (T-2 down to 0) reads emit_{t+1} and whether t is the row's last step
        xs = (time_major(potentials[:, 1:]), time_major(is_last[:, :-1]))
        _, rest = lax.scan(step, end_b, xs, reverse=True)
        return jnp.concatenate([time_major(rest), end_b[:, None]], axis=1)

    def last_step(maskf):
        lengths = jnp.sum(maskf, axis=1).astype(jnp.int32)
        return jnp.maximum(lengths, 1) - 1

    def log_z(ahat, scale, end, last):
        final = jnp.take_along_axis(ahat, last[:, None, None], axis=1)[:, 0]
        at = jnp.take_along_axis(scale, last[:, None], axis=1)[:, 0]
        return logsumexp(final + end[None], axis=1) + at

    def pairwise_sum(ahat, transitions, potentials, bhat, weight, valid, exp_space):
        """``sum_{b, t >= 1 valid} weight_b p(y_{t-1} = i, y_t = j)``, ``(K, K)``: each
        step's ``exp(ahat_{t-1}[i] + trans[i, j] + emit_t[j] + bhat_t[j])`` normalised to
        sum to 1 over ``(i, j)``, as the pairwise marginals do."""
        k = transitions.shape[0]
        prev = ahat[:, :-1]
        right = potentials[:, 1:] + bhat[:, 1:]
        if exp_space:
            # xi[i, j] = u[i] exp(trans[i, j] - tmax) v[j] / S with u = exp(ahat) <= 1,
            # v = exp(right - max right) <= 1 and S their sum (>= exp(-span) > 0); the sum
            # over (b, t) is one matmul
            tmax = jnp.max(transitions)
            et = jnp.exp(transitions - tmax)
            u = jnp.exp(prev)
            v = jnp.exp(right - jnp.max(right, axis=2, keepdims=True))
            total = jnp.sum((u @ et) * v, axis=2)
            # padded steps hold unused scores: their weight is 0
            scale = jnp.where(valid, weight[:, None] / jnp.where(valid, total, 1.0), 0.0)
            g = (u * scale[:, :, None]).reshape(-1, k).T @ v.reshape(-1, k)
            return g * et

        def step(acc, xs):
            left_t, right_t, valid_t = xs
            q = left_t[:, :, None] + transitions[None] + right_t[:, None, :]
            q = q - logsumexp(q, axis=(1, 2), keepdims=True)
            xi = jnp.where(valid_t[:, None, None], jnp.exp(q), 0.0) * weight[:, None, None]
            return acc + jnp.sum(xi, axis=0), None

        xs = (time_major(prev), time_major(right), time_major(valid))
        acc, _ = lax.scan(step, jnp.zeros_like(transitions), xs)
        return acc

    def exp_space_ok(transitions):
        span = jnp.max(transitions) - jnp.min(transitions)
        return span <= exp_limit(transitions.dtype)

    def forward(potentials, transitions, start, end, maskf):
        last = last_step(maskf)
        ahat, scale = lax.cond(
            exp_space_ok(transitions),
            lambda: alphas(potentials, transitions, start, True),
            lambda: alphas(potentials, transitions, start, False),
        )
        return log_z(ahat, scale, end, last), ahat

    @jax.custom_vjp
    def log_partition(potentials, transitions, start, end, maskf):
        return forward(potentials, transitions, start, end, maskf)[0]

    def fwd(potentials, transitions, start, end, maskf):
        lz, ahat = forward(potentials, transitions, start, end, maskf)
        return lz, (potentials, transitions, end, maskf, ahat)

    def bwd(res, grad):
        potentials, transitions, end, maskf, ahat = res
        steps = potentials.shape[1]
        last = last_step(maskf)
        is_last = jnp.arange(steps)[None, :] == last[:, None]
        mask = maskf > 0

        def closed_form(exp_space):
            bhat = betas(potentials, transitions, end, is_last, exp_space)
            # p(y_t = i) = softmax_i(alpha_t + beta_t) at every valid step
            marg = jax.nn.softmax(ahat + bhat, axis=2)
            g_pot = jnp.where(mask[:, :, None], marg, 0.0) * grad[:, None, None]
            if steps == 1:
                g_trans = jnp.zeros_like(transitions)
            else:
                g_trans = pairwise_sum(
                    ahat, transitions, potentials, bhat, grad, mask[:, 1:], exp_space
                )
            return g_pot, g_trans

        g_pot, g_trans = lax.cond(
            exp_space_ok(transitions), lambda: closed_form(True), lambda: closed_form(False)
        )
        g_start = jnp.sum(g_pot[:, 0], axis=0)
        g_end = jnp.sum(jnp.where(is_last[:, :, None], g_pot, 0.0), axis=(0, 1))
        return g_pot, g_trans, g_start, g_end, jnp.zeros_like(maskf)

    log_partition.defvjp(fwd, bwd)
    return log_partition


def jax_log_partition(
    potentials: Any, transitions: Any, start: Any, end: Any, mask: Any = None
) -> Any:
    """``log Z`` per sequence, ``(B,)``, of right-padded inputs (a boolean ``mask`` of
    shape ``(B, T)``, None for all steps), differentiable w.r.t. the first four
    arguments with the closed-form backward described in the module notes."""
    import jax.numpy as jnp

    def array(x: Any) -> Any:  # a keras.Variable gives its (possibly traced) value
        return jnp.asarray(getattr(x, "value", x))

    potentials = array(potentials)
    dtype = potentials.dtype
    maskf = jnp.ones(potentials.shape[:2], dtype) if mask is None else array(mask).astype(dtype)
    weights = [array(w).astype(dtype) for w in (transitions, start, end)]
    return _log_partition_fn()(potentials, *weights, maskf)
