"""CRF speed: rnnkit (current Keras backend) vs pytorch-crf, in the same run.

Measures, at B=64, K in {5, 20, 100} and T in {20, 50, 500} (right-padded random
lengths in [T/2, T]), without and with BIO constraints (``--constraints off on``):

* ``ll+grad``: sum of log-likelihoods and its gradient w.r.t. potentials and the three
  CRF weights;
* ``viterbi``: best paths.

Constraints: K tags named ``O, B-T0, I-T0, B-T1, ...`` (truncated to K) and their BIO
``rnnkit.ops.transition_constraints``, passed to rnnkit as ``allowed_*``; pytorch-crf has
no constraints, so it gets the same weights with ``rnnkit.ops.crf.CONSTRAINT_PENALTY``
added to the disallowed entries (the same arithmetic). Gold tags are random allowed
paths.

rnnkit runs compiled where the backend compiles (``tf.function(jit_compile=True)`` on
TensorFlow, ``jax.jit`` on JAX) and eagerly on torch, where ``rnnkit.ops`` takes its
torch fast path (:mod:`rnnkit.ops.crf_torch`); ``--generic`` times the generic
``keras.ops`` path instead (``fast_path=False``). pytorch-crf (``pip install
pytorch-crf``) is the anchor: same weights, same inputs, results checked equal
before timing. Median of ``--repeats`` runs after a warm-up; ratios are pytorch-crf
time / rnnkit time (> 1: rnnkit faster).

Usage::

    KERAS_BACKEND=jax python benchmarks/crf.py
    KERAS_BACKEND=tensorflow python benchmarks/crf.py
    KERAS_BACKEND=torch python benchmarks/crf.py
"""

from __future__ import annotations

import argparse
import os

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

import keras
import numpy as np
import torch
from timing import median_seconds

from rnnkit.extras import require

from rnnkit.ops import crf_decode, crf_log_likelihood, transition_constraints
from rnnkit.ops.crf import CONSTRAINT_PENALTY


def bio_tags(num_tags: int) -> list[str]:
    names = ["O"]
    i = 0
    while len(names) < num_tags:
        names += [f"B-T{i}", f"I-T{i}"]
        i += 1
    return names[:num_tags]


def random_allowed_paths(rng, cons: dict, batch: int, steps: int) -> np.ndarray:
    """Random walks over the allowed transitions (every BIO tag may end a path)."""
    allowed, start = cons["allowed_transitions"], cons["allowed_start"]
    out = np.zeros((batch, steps), "int64")
    out[:, 0] = rng.choice(np.flatnonzero(start), size=batch)
    for t in range(1, steps):
        for b in range(batch):
            out[b, t] = rng.choice(np.flatnonzero(allowed[out[b, t - 1]]))
    return out


def rnnkit_functions(p, tags, mask, weights, fast_path=True, cons=None):
    backend = keras.backend.backend()
    cons = cons or {}

    def ll(p_, tr, st, en):
        return keras.ops.sum(
            crf_log_likelihood(
                p_, tags_b, tr, st, en, mask_b, validate=False, fast_path=fast_path, **cons
            )
        )

    def dec(p_, tr, st, en):
        return crf_decode(p_, tr, st, en, mask_b, validate=False, fast_path=fast_path, **cons)

    if backend == "jax":
        import jax

        tags_b, mask_b = jax.numpy.asarray(tags), jax.numpy.asarray(mask)
        args = [jax.numpy.asarray(a) for a in (p, *weights)]
        grad_fn = jax.jit(jax.value_and_grad(ll, argnums=(0, 1, 2, 3)))
        dec_fn = jax.jit(dec)

        def run_grad():
            value, grads = grad_fn(*args)
            jax.block_until_ready(grads)
            return float(value), [np.asarray(g) for g in grads]

        def run_dec():
            out = dec_fn(*args)
            jax.block_until_ready(out)
            return np.asarray(out[0])

        return run_grad, run_dec, "jax.jit"
    if backend == "tensorflow":
        import tensorflow as tf

        tags_b, mask_b = tf.constant(tags), tf.constant(mask)
        args = [tf.constant(a) for a in (p, *weights)]

        @tf.function(jit_compile=True)
        def grad_fn(*xs):
            with tf.GradientTape() as tape:
                tape.watch(xs)
                value = ll(*xs)
            return value, tape.gradient(value, xs)

        dec_fn = tf.function(dec, jit_compile=True)

        def run_grad():
            value, grads = grad_fn(*args)
            return float(value), [g.numpy() for g in grads]

        def run_dec():
            return dec_fn(*args)[0].numpy()

        return run_grad, run_dec, "tf.function(jit_compile=True)"
    tags_b, mask_b = torch.as_tensor(tags), torch.as_tensor(mask)

    def run_grad():
        xs = [torch.tensor(a, requires_grad=True) for a in (p, *weights)]
        value = ll(*xs)
        value.backward()
        return float(value), [x.grad.numpy() for x in xs]

    def run_dec():
        with torch.no_grad():
            return dec(*[torch.as_tensor(a) for a in (p, *weights)])[0].numpy()

    return run_grad, run_dec, "eager torch" + ("" if fast_path else ", generic path")


def bench(
    batch: int,
    steps: int,
    num_tags: int,
    repeats: int,
    fast_path: bool = True,
    constraints: bool = False,
) -> list[dict]:
    rng = np.random.default_rng(0)
    p = rng.normal(size=(batch, steps, num_tags)).astype("float32")
    cons = transition_constraints(bio_tags(num_tags), "BIO") if constraints else None
    if cons is None:
        tags = rng.integers(0, num_tags, size=(batch, steps)).astype("int64")
    else:
        tags = random_allowed_paths(rng, cons, batch, steps)
    lengths = rng.integers(steps // 2, steps + 1, size=batch)
    lengths[0] = steps
    mask = np.arange(steps)[None] < lengths[:, None]
    torch.manual_seed(0)
    # the reference is the bench extra (pytorch-crf): needed to time, not for --help
    torchcrf = require("torchcrf", "benchmarks/crf.py (its reference, pytorch-crf)")
    ref = torchcrf.CRF(num_tags, batch_first=True)
    weights = [
        ref.transitions.detach().numpy().copy(),
        ref.start_transitions.detach().numpy().copy(),
        ref.end_transitions.detach().numpy().copy(),
    ]
    if cons is not None:
        with torch.no_grad():
            for param, key in (
                (ref.transitions, "allowed_transitions"),
                (ref.start_transitions, "allowed_start"),
                (ref.end_transitions, "allowed_end"),
            ):
                param += torch.as_tensor(np.where(cons[key], 0.0, CONSTRAINT_PENALTY)).float()
    tp, tt, tm = torch.tensor(p), torch.tensor(tags), torch.tensor(mask)

    def ref_grad():
        ref.zero_grad()
        x = tp.clone().requires_grad_(True)
        value = ref(x, tt, tm, reduction="sum")
        value.backward()
        return float(value), x.grad.numpy()

    def ref_dec():
        with torch.no_grad():
            return ref.decode(tp, tm)

    run_grad, run_dec, how = rnnkit_functions(
        p, tags.astype("int32"), mask, weights, fast_path, cons
    )
    # Same numbers before timing.
    value, grads = run_grad()
    ref_value, ref_gp = ref_grad()
    np.testing.assert_allclose(value, ref_value, rtol=1e-4)
    # float32 forward-backward over T=500 steps: both sides are ~1e-3 from float64
    np.testing.assert_allclose(grads[0], ref_gp, rtol=1e-3, atol=2e-3)
    best = run_dec()
    for b, path in enumerate(ref_dec()):
        assert list(best[b, : len(path)]) == path, f"Viterbi differs from pytorch-crf (row {b})"
    rows = []
    for task, mine, theirs in (("ll+grad", run_grad, ref_grad), ("viterbi", run_dec, ref_dec)):
        t_ref = median_seconds(theirs, repeats)
        t_mine = median_seconds(mine, repeats)
        rows.append(
            {
                "task": task,
                "constraints": "BIO" if constraints else "-",
                "B,T,K": f"{batch},{steps},{num_tags}",
                "backend": f"{keras.backend.backend()} ({how})",
                "pytorch-crf ms": 1000 * t_ref,
                "rnnkit ms": 1000 * t_mine,
                "speedup": t_ref / t_mine,
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 50, 500])
    parser.add_argument("--tags", type=int, nargs="+", default=[5, 20, 100])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--constraints", nargs="+", choices=["off", "on"], default=["off", "on"])
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument(
        "--generic", action="store_true", help="time the generic keras.ops path on torch"
    )
    args = parser.parse_args()
    # pytorch-crf is latency-bound on small ops: one thread is its fastest setting here
    # (two threads were 5-20x slower on this shared 2-core machine).
    torch.set_num_threads(args.torch_threads)
    rows = []
    for steps in args.steps:
        for num_tags in args.tags:
            for flag in args.constraints:
                rows += bench(
                    args.batch,
                    steps,
                    num_tags,
                    args.repeats,
                    fast_path=not args.generic,
                    constraints=flag == "on",
                )
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
