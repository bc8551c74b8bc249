"""Test helpers for the multi-backend tests: gradients on any backend, masks, NumPy math."""

from __future__ import annotations

import contextlib

import keras
import numpy as np


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def max_diff(a, b) -> float:
    a, b = as_list(a), as_list(b)
    assert len(a) == len(b), (len(a), len(b))
    return max(float(np.abs(to_np(p) - to_np(q)).max()) for p, q in zip(a, b))


def masks(batch: int = 4, steps: int = 6) -> dict:
    right = np.ones((batch, steps), bool)
    right[1, 4:] = False
    right[2, 2:] = False
    left = np.ones((batch, steps), bool)
    left[1, :2] = False
    left[3, :5] = False
    empty_row = np.ones((batch, steps), bool)
    empty_row[2, :] = False
    empty_row[0, 3:] = False
    return {"none": None, "right": right, "left": left, "empty_row": empty_row}


def no_grad():
    """``torch.no_grad()`` on torch (how ``predict`` runs a model there), else nothing."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def gradients(layer, x, loss_fn, **call_kwargs):
    """d loss / d (x, trainable weights) of ``loss_fn(layer(x))`` on the current backend."""
    backend = keras.backend.backend()
    weights = layer.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = loss_fn(layer(xt, **call_kwargs))
        grads = tape.gradient(loss, [xt, *weights])
        return [to_np(g) for g in grads]
    if backend == "jax":
        import jax

        trainable = [v.value for v in weights]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def f(xv, tv):
            out, _ = layer.stateless_call(tv, non_trainable, xv, **call_kwargs)
            return loss_fn(out)

        gx, gw = jax.grad(f, argnums=(0, 1))(x, trainable)
        return [np.asarray(gx), *[np.asarray(g) for g in gw]]
    if backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        for v in weights:
            v.value.grad = None
        loss = loss_fn(layer(xt, **call_kwargs))
        loss.backward()
        return [g.detach().cpu().numpy() for g in (xt.grad, *(v.value.grad for v in weights))]
    raise NotImplementedError(backend)


def function_gradients(fn, args):
    """Gradient of scalar fn(*args) w.r.t. every arg (NumPy arrays), with the backend's
    autodiff; zeros for an argument the function does not use."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(a) for a in args]
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            y = fn(*xs)
        grads = tape.gradient(y, xs)
        return [np.zeros_like(a) if g is None else g.numpy() for a, g in zip(args, grads)]
    if backend == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(fn, argnums=tuple(range(len(args))))(*args)]
    import torch

    xs = [torch.tensor(a, requires_grad=True) for a in args]
    fn(*xs).backward()
    # an input the function does not use (the CRF's transitions at T=1) has no .grad: zero
    return [np.zeros_like(a) if x.grad is None else x.grad.numpy() for a, x in zip(args, xs)]


def sum_sq(y):
    return sum(keras.ops.sum(keras.ops.square(t)) for t in as_list(y))


# -- NumPy reference of the seed equations (independent of Keras) -------------------------


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid_k2(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def np_run(
    kind,
    weights,
    x,
    mask=None,
    go_backwards=False,
    act=np.tanh,
    ract=sigmoid,
    reset_after=True,
    zero_output_for_mask=False,
):
    """Returns (outputs (B,T,U) in processing order, final states)."""
    kernel, recurrent = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else None
    batch, steps, _ = x.shape
    units = recurrent.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    prev = np.zeros((batch, units))
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outs = []
    for t in order:
        xt = x[:, t]
        if kind == "srnn":
            new_h = act(xt @ kernel + h @ recurrent + (0 if bias is None else bias))
            new_c = c
        elif kind == "lstm":
            z = xt @ kernel + h @ recurrent + (0 if bias is None else bias)
            zi, zf, zc, zo = np.split(z, 4, axis=-1)
            new_c = ract(zf) * c + ract(zi) * act(zc)
            new_h = ract(zo) * act(new_c)
        else:  # gru
            if bias is None:
                bx, bh = 0, 0
            elif reset_after:
                bx, bh = bias[0], bias[1]
            else:
                bx, bh = bias, 0
            xz, xr, xh = np.split(xt @ kernel + bx, 3, axis=-1)
            uz, ur, uh = np.split(recurrent, 3, axis=-1)
            bhz, bhr, bhh = np.split(np.broadcast_to(bh, (3 * units,)), 3)
            z = ract(xz + h @ uz + bhz)
            r = ract(xr + h @ ur + bhr)
            if reset_after:
                cand = act(xh + r * (h @ uh + bhh))
            else:
                cand = act(xh + (r * h) @ uh)
            new_h = z * h + (1 - z) * cand
            new_c = c
        if mask is not None:
            m = mask[:, t][:, None]
            h = np.where(m, new_h, h)
            c = np.where(m, new_c, c)
            out = np.where(m, new_h, 0.0 if zero_output_for_mask else prev)
        else:
            h, c, out = new_h, new_c, new_h
        prev = out
        outs.append(out)
    states = [h, c] if kind == "lstm" else [h]
    return np.stack(outs, axis=1), states
