"""TensorFlow fast path of the linear-chain CRF's ``log Z`` (``KERAS_BACKEND=tensorflow``).

The generic :mod:`rnnkit.ops.crf` forward algorithm is differentiated by TensorFlow's
autodiff through a ``tf.while_loop``: the forward pass keeps every step's ``(batch, K, K)``
scores for the backward pass, which then re-reads them step by step; at large ``K`` (a
92-tag part-of-speech CRF) that is most of a tagger's training step.
:func:`tf_log_partition` is ``log Z`` as a ``tf.custom_gradient`` whose backward pass
runs the beta recursion once and returns the exact gradients in closed form: the token
marginals for the potentials and the start/end scores, and the pairwise marginals summed
over the batch and time for the transitions. It is the same algorithm as the JAX fast
path (:mod:`rnnkit.ops.crf_jax`, whose notes give the numerical argument), written with
TensorFlow ops:

* both recursions run in probability space (one ``(B, K) x (K, K)`` matmul a step on
  scores shifted to a maximum of 0, and ``exp(transitions - max)``) when the
  transitions span at most ``min(50, -log(tiny) - 10)``, checked on the run-time values
  with ``tf.cond``; in log space (``logsumexp`` over ``(B, K, K)``) otherwise, e.g. with
  constraint penalties of ``-1e4``;
* every marginal is normalised per ``(batch, step)``, so no score of the size of
  ``log Z`` enters a difference.

The length may be unknown when traced (batches of different widths in one
``tf.function``): both scans run over every step, the forward one starting afresh at
step 0 and the backward one at each row's last valid step. Inputs are right-padded (the
callers in :mod:`rnnkit.ops.crf` move any mask layout into that one). It works eagerly,
in ``tf.function`` and under XLA (``jit_compile=True``): the ``tf.cond`` runs in the
forward pass only, never under autodiff. Tested against the generic path (values and
gradients, both spaces, every mask layout, float64) in ``tests/multibackend/test_crf.py``.
First-order gradients only.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np


@functools.cache
def _log_partition_fn() -> Any:
    import tensorflow as tf

    def exp_limit(dtype: Any) -> float:
        return min(50.0, -math.log(float(np.finfo(dtype.as_numpy_dtype).tiny)) - 10.0)

    def time_major(x: Any) -> Any:
        perm = [1, 0] + list(range(2, x.shape.rank))
        return tf.transpose(x, perm)

    def normalise(a: Any) -> tuple[Any, Any]:
        n = tf.reduce_max(a, axis=1)
        return a - n[:, None], n

    def alphas(potentials, transitions, start, exp_space):
        """Scaled forward scores ``(ahat (B, T, K), scale (B, T))``: ``alpha_t = ahat_t
        + scale_t`` with ``max ahat_t = 0`` (valid up to each row's last step)."""
        steps = tf.shape(potentials)[1]
        first = tf.equal(tf.range(steps), 0)
        top = tf.reduce_max(transitions)
        exp_trans = tf.exp(transitions - top)

        def step(carry, xs):
            ahat, scale = carry
            emit, is_first = xs
            if exp_space:
                moved = tf.math.log(tf.matmul(tf.exp(ahat), exp_trans)) + top
            else:
                moved = tf.reduce_logsumexp(ahat[:, :, None] + transitions[None], axis=1)
            new, n = normalise(tf.where(is_first, start[None], moved) + emit)
            return new, tf.where(is_first, n, scale + n)

        zeros = tf.zeros_like(potentials[:, 0])
        init = (zeros, zeros[:, 0])
        ahat, scale = tf.scan(step, (time_major(potentials), first), initializer=init)
        return time_major(ahat), time_major(scale)

    def betas(potentials, transitions, end, is_last, exp_space):
        """Backward scores up to a constant per ``(b, t)``, ``(B, T, K)`` with maximum
        0: ``end`` (shifted) at each row's last step (and at the last padded step)."""
        end_b = tf.broadcast_to(end[None] - tf.reduce_max(end), tf.shape(potentials[:, 0]))
        # step t reads emit_{t+1}; the last step reads nothing and always restarts
        emit_next = tf.concat([potentials[:, 1:], tf.zeros_like(potentials[:, :1])], axis=1)
        steps = tf.shape(potentials)[1]
        restart = tf.logical_or(is_last, tf.equal(tf.range(steps), steps - 1)[None])
        top = tf.reduce_max(transitions)
        exp_trans_t = tf.transpose(tf.exp(transitions - top))

        def step(bhat, xs):
            emit, last = xs
            v = emit + bhat
            if exp_space:
                m = tf.reduce_max(v, axis=1, keepdims=True)
                new = tf.math.log(tf.matmul(tf.exp(v - m), exp_trans_t))
            else:
                new = tf.reduce_logsumexp(transitions[None] + v[:, None, :], axis=2)
            new = new - tf.reduce_max(new, axis=1, keepdims=True)
            return tf.where(last[:, None], end_b, new)

        out = tf.scan(
            step, (time_major(emit_next), time_major(restart)), initializer=end_b, reverse=True
        )
        return time_major(out)

    def last_step(maskf):
        lengths = tf.cast(tf.reduce_sum(maskf, axis=1), tf.int32)
        return tf.maximum(lengths, 1) - 1

    def pairwise_sum(ahat, transitions, potentials, bhat, weight, valid, exp_space):
        """``sum_{b, t >= 1 valid} weight_b p(y_{t-1} = i, y_t = j)``, ``(K, K)``, each
        step's pairwise scores normalised to sum to 1 over ``(i, j)``."""
        k = tf.shape(transitions)[0]
        prev = ahat[:, :-1]
        right = potentials[:, 1:] + bhat[:, 1:]
        if exp_space:
            top = tf.reduce_max(transitions)
            exp_trans = tf.exp(transitions - top)
            u = tf.exp(prev)
            v = tf.exp(right - tf.reduce_max(right, axis=2, keepdims=True))
            total = tf.reduce_sum(tf.einsum("bti,ij->btj", u, exp_trans) * v, axis=2)
            safe = tf.where(valid, total, tf.ones_like(total))
            scale = tf.where(valid, weight[:, None] / safe, tf.zeros_like(total))
            left = tf.reshape(u * scale[:, :, None], (-1, k))
            g = tf.matmul(left, tf.reshape(v, (-1, k)), transpose_a=True)
            return g * exp_trans

        def step(acc, xs):
            left_t, right_t, valid_t = xs
            q = left_t[:, :, None] + transitions[None] + right_t[:, None, :]
            q = q - tf.reduce_logsumexp(q, axis=(1, 2), keepdims=True)
            xi = tf.where(valid_t[:, None, None], tf.exp(q), tf.zeros_like(q))
            return acc + tf.reduce_sum(xi * weight[:, None, None], axis=0)

        # one invalid step in front, so the loop never runs over zero steps (T = 1),
        # which XLA cannot compile
        prev = tf.concat([ahat[:, :1], prev], axis=1)
        right = tf.concat([potentials[:, :1], right], axis=1)
        valid = tf.concat([tf.zeros_like(bhat[:, :1, 0], tf.bool), valid], axis=1)
        xs = (time_major(prev), time_major(right), time_major(valid))
        return tf.foldl(step, xs, initializer=tf.zeros_like(transitions))

    def exp_space_ok(transitions):
        span = tf.reduce_max(transitions) - tf.reduce_min(transitions)
        return span <= exp_limit(transitions.dtype)

    @tf.custom_gradient
    def log_partition(potentials, transitions, start, end, maskf):
        last = last_step(maskf)
        ahat, scale = tf.cond(
            exp_space_ok(transitions),
            lambda: alphas(potentials, transitions, start, True),
            lambda: alphas(potentials, transitions, start, False),
        )
        final = tf.gather(ahat, last, axis=1, batch_dims=1)
        at = tf.gather(scale, last, axis=1, batch_dims=1)
        log_z = tf.reduce_logsumexp(final + end[None], axis=1) + at

        def grad(upstream):
            steps = tf.shape(potentials)[1]
            is_last = tf.equal(tf.range(steps)[None, :], last[:, None])
            mask = maskf > 0

            def closed_form(exp_space):
                bhat = betas(potentials, transitions, end, is_last, exp_space)
                marg = tf.nn.softmax(ahat + bhat, axis=2)
                g_pot = tf.where(mask[:, :, None], marg, tf.zeros_like(marg))
                g_pot = g_pot * upstream[:, None, None]
                g_trans = pairwise_sum(
                    ahat, transitions, potentials, bhat, upstream, mask[:, 1:], exp_space
                )
                return g_pot, g_trans

            g_pot, g_trans = tf.cond(
                exp_space_ok(transitions), lambda: closed_form(True), lambda: closed_form(False)
            )
            g_start = tf.reduce_sum(g_pot[:, 0], axis=0)
            at_last = tf.where(is_last[:, :, None], g_pot, tf.zeros_like(g_pot))
            g_end = tf.reduce_sum(at_last, axis=(0, 1))
            return g_pot, g_trans, g_start, g_end, tf.zeros_like(maskf)

        return log_z, grad

    return log_partition


def tf_log_partition(
    potentials: Any, transitions: Any, start: Any, end: Any, mask: Any = None
) -> Any:
    """``log Z`` per sequence, ``(B,)``, of right-padded inputs (a boolean ``mask`` of
    shape ``(B, T)``, None for all steps), differentiable w.r.t. the first four
    arguments with the closed-form backward described in the module notes."""
    import keras
    import tensorflow as tf

    def tensor(x: Any) -> Any:  # a keras.Variable gives its (watched) value
        return tf.convert_to_tensor(x.value if isinstance(x, keras.Variable) else x)

    potentials = tensor(potentials)
    dtype = potentials.dtype
    if mask is None:
        maskf = tf.ones(tf.shape(potentials)[:2], dtype)
    else:
        maskf = tf.cast(tensor(mask), dtype)
    weights = [tf.cast(tensor(w), dtype) for w in (transitions, start, end)]
    return _log_partition_fn()(potentials, *weights, maskf)
