"""The chunk length of the parallel-scan layers' native path (``parallel_scan.cumlogsumexp``).

For each chunk length it measures, on the current backend:

* ``error``: the largest relative error of
  :func:`rnnkit.ops.parallel_scan.chunked_linear_recurrence` in float32 against the
  float64 NumPy sequential recurrence, at B=4, T=4,096, 128 units, for three kinds of
  gates: ``typical`` (``log a = -softplus(N(0, 2))``: MinGRU's keep gate on unit-scale
  projections), ``strong`` (``log a`` in [-12, -4]: gates that forget almost everything
  at each step, the largest log magnitudes inside a chunk) and ``weak`` (``log a`` in
  [-0.01, 0]: the state carried across thousands of steps); ``log b`` is
  ``log g(N(0, 2)) + log z``. The generic associative scan's error is the ``generic``
  row.
* ``train ms``: ``train_on_batch`` of a MinGRU (B=64, D=256, H=512, T=``--steps``, MSE,
  SGD) with that chunk length, timed in rotation with the generic scan (``generic``),
  median of ``--repeats``.

Usage::

    KERAS_BACKEND=tensorflow python benchmarks/scan_chunk.py --chunks 16 32 64 128 256

Results are recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import date

import keras
import numpy as np
from timing import interleaved_medians  # benchmarks/timing.py

import rnnkit
from rnnkit import backend
from rnnkit.layers import planner
from rnnkit.ops.parallel_scan import chunked_linear_recurrence, linear_recurrence


def softplus(v: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, v)


def gates(kind: str, rng: np.random.Generator, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``(log a, log b)`` of one kind of gates."""
    if kind == "typical":
        log_a = -softplus(rng.normal(size=shape) * 2)
    elif kind == "strong":
        log_a = -rng.uniform(4, 12, size=shape)
    else:
        log_a = -rng.uniform(0, 0.01, size=shape)
    candidate = rng.normal(size=shape) * 2
    log_g = np.where(candidate >= 0, np.log(np.maximum(candidate, 0) + 0.5), -softplus(-candidate))
    log_z = np.log(np.maximum(-np.expm1(log_a), 1e-20))  # z = 1 - a (MinGRU)
    return log_a, log_g + log_z


def reference(log_a: np.ndarray, log_b: np.ndarray) -> np.ndarray:
    a, b = np.exp(log_a), np.exp(log_b)
    h = np.zeros(a[:, 0].shape)
    out = np.empty_like(a)
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out[:, t] = h
    return out


def errors(chunks: list[int], steps: int = 4096) -> dict[str, dict[str, float]]:
    """``{gates: {chunk or "generic": max relative error}}``."""
    rng = np.random.default_rng(0)
    cumulative = getattr(backend, keras.backend.backend()).cumulative_logsumexp
    result: dict[str, dict[str, float]] = {}
    for kind in ("typical", "strong", "weak"):
        log_a, log_b = gates(kind, rng, (4, steps, 128))
        want = reference(log_a, log_b)
        la = keras.ops.convert_to_tensor(log_a, "float32")
        lb = keras.ops.convert_to_tensor(log_b, "float32")

        def rel(got: object, want: np.ndarray = want) -> float:
            got = keras.ops.convert_to_numpy(got).astype(np.float64)
            return float(np.max(np.abs(got - want) / np.abs(want)))

        result[kind] = {"generic": rel(linear_recurrence(la, lb))}
        for chunk in chunks:
            got = chunked_linear_recurrence(la, lb, cumulative_logsumexp=cumulative, chunk=chunk)
            result[kind][str(chunk)] = rel(got)
    return result


def train_times(chunks: list[int], steps: int, repeats: int) -> dict[str, float]:
    """``{chunk or "generic": median ms}`` of a MinGRU train step, timed in rotation."""
    B, D, H = 64, 256, 512
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, steps, D), dtype=np.float32)
    y = rng.standard_normal((B, steps, H), dtype=np.float32)
    names, fns = [], []
    first = None
    for chunk in [None, *chunks]:
        inputs = keras.Input((steps, D))
        model = keras.Model(inputs, rnnkit.layers.MinGRU(H, return_sequences=True)(inputs))
        model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
        if first is None:
            first = model
        else:
            model.set_weights(first.get_weights())

        def run(model: keras.Model = model, chunk: int | None = chunk) -> None:
            saved = planner.CUMLOGSUMEXP_CHUNK
            try:
                if chunk is None:
                    with planner.excluding("parallel_scan.cumlogsumexp"):
                        model.train_on_batch(x, y)
                else:
                    planner.CUMLOGSUMEXP_CHUNK = chunk
                    model.train_on_batch(x, y)
            finally:
                planner.CUMLOGSUMEXP_CHUNK = saved

        names.append("generic" if chunk is None else str(chunk))
        fns.append(run)
    times = interleaved_medians(fns, repeats)
    return {name: t * 1e3 for name, t in zip(names, times)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--steps", type=int, default=500, help="T of the timed train step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"{date.today()} {platform.machine()} {os.cpu_count()} CPUs, keras {keras.__version__}, "
        f"backend {keras.backend.backend()}",
        flush=True,
    )
    errs = errors(args.chunks)
    times = {} if args.skip_timing else train_times(args.chunks, args.steps, args.repeats)
    columns = ["generic", *map(str, args.chunks)]
    print("| chunk | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for kind, row in errs.items():
        print(f"| error, {kind} gates | " + " | ".join(f"{row[c]:.1e}" for c in columns) + " |")
    if times:
        cells = " | ".join(f"{times[c]:.0f}" for c in columns)
        print(f"| MinGRU train ms (T={args.steps}) | {cells} |")


if __name__ == "__main__":
    main()
