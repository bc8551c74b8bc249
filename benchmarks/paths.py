"""Each execution path of the recurrent layers against the path that runs without it.

For every path of :mod:`rnnkit.layers.planner` that runs on the current backend and
device, and each row where it applies (a layer, a mode, a mask), this times the layer
with the path and with the path turned off (``rnnkit.layers.planner.excluding``, or the
runtime setting for ``batch_split`` and the JAX ``per_step`` projection), in the same
process, in rotation, median of ``--repeats``. The plan that ran in each case is read
back from ``planner.recording`` and printed, so ``next path`` is what the planner
really chose instead. ``gain`` is next time / path time (1.10: the path is 10% faster).
``first call s`` is the first call's seconds with the path / without it: tracing and
compiling (XLA, ``torch.compile``), which the medians leave out.

``LOC`` counts the source lines (code, docstrings and comments) of the functions and
classes that exist only for the path.

Rows use B=64, D=256, H=512 (``benchmarks/rnn.py``'s sizes), T from ``--steps``:
``infer`` is ``predict_on_batch``, ``train`` is ``train_on_batch`` (MSE, SGD).
``right-padded`` rows zero each row after a length drawn from T/5..T and mask it with
``keras.layers.Masking``; ``left-padded`` rows pad at the start (no right-padded fast
path applies).

Usage::

    KERAS_BACKEND=torch python benchmarks/paths.py --markdown
    KERAS_BACKEND=tensorflow python benchmarks/paths.py --steps 50 500
    KERAS_BACKEND=jax python benchmarks/paths.py --only jax.scan_batched_grads

Results are recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import platform
import time
from datetime import date

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

import keras
import numpy as np
from timing import interleaved_medians  # benchmarks/timing.py

from rnnkit import backend, config
from rnnkit.layers import planner
from rnnkit.ops import batch_split, min_rnn, parallel_scan

B, D, H = 64, 256, 512

#: path -> the code that exists only for it (functions, classes or whole modules)
CODE = {
    "torch.fused": [
        backend.torch.torch_fused,
        backend.torch._torch_params,
        backend.torch._gru_to_torch,
    ],
    "torch.simple_rnn_inference": [backend.torch.torch_simple_rnn_inference],
    "torch.lstm_closed_form": [
        backend.torch._gate_backward_,
        backend.torch._activate_,
        backend.torch.lstm_sequence,
        backend.torch._function,
    ],
    "torch.fused_right_padded": [
        backend.torch.torch_fused_right_padded,
        backend.torch.right_padded_lengths,
    ],
    "torch.lstm_packed": [backend.torch._torch_lstm_packed],
    "torch_colmajor": [backend.torch.TorchColumnMajorMatmul],
    "tf_pretransposed": [backend.tensorflow.TFPretransposedMatmul],
    # the "auto" decision (in the planner) and the split runner it uses
    "batch_split=auto": [planner.batch_parts, batch_split.run_split],
    # a branch of RNN._run_loop, not counted
    "projection=per_step": [],
    "jax.scan_batched_grads": [backend.jax],
    "cudnn": [backend.cudnn.keras_cudnn],
    "tf_xla_fused": [
        backend.tensorflow.xla_fused,
        planner._coefficients,
        rnnkit.layers.ParallelRNN.pure_linear_coefficients,
    ],
    "torch_compiled": [
        backend.torch.compile_available,
        backend.torch.compiled_coefficients,
    ],
    "linear_loop": [
        parallel_scan.sequential_linear_recurrence,
        min_rnn.min_gru_linear_coefficients,
        min_rnn.min_lstm_linear_coefficients,
        backend.run_linear_recurrence,
        planner.plan_parallel_scan,
    ],
}
#: the parallel-scan layers' sequential loop against the generic scan, on every backend
SCAN_ROWS = [
    ("linear_loop", kind, mode, mask, ("linear_loop",))
    for kind in ("mingru", "minlstm")
    for mode in ("infer", "train")
    for mask in (None, "left")
]

#: (path, layer kind, mode, mask, how to turn the path off) per backend. ``off`` is a
#: tuple of planner paths to exclude, or a dict of rnnkit.config settings.
ROWS = {
    "torch": [
        ("torch.fused", "lstm", "infer", None, ("torch.fused",)),
        ("torch.fused", "lstm", "train", None, ("torch.fused",)),
        ("torch.fused", "gru", "infer", None, ("torch.fused",)),
        ("torch.fused", "gru", "train", None, ("torch.fused",)),
        ("torch.fused", "srnn", "train", None, ("torch.fused",)),
        ("torch.simple_rnn_inference", "srnn", "infer", None, ("torch.simple_rnn_inference",)),
        (
            "torch.simple_rnn_inference",
            "srnn",
            "infer",
            "right",
            ("torch.simple_rnn_inference",),
        ),
        ("torch.fused_right_padded", "lstm", "infer", "right", ("torch.fused_right_padded",)),
        ("torch.fused_right_padded", "lstm", "train", "right", ("torch.fused_right_padded",)),
        ("torch.fused_right_padded", "gru", "infer", "right", ("torch.fused_right_padded",)),
        ("torch.fused_right_padded", "gru", "train", "right", ("torch.fused_right_padded",)),
        ("torch.fused_right_padded", "srnn", "train", "right", ("torch.fused_right_padded",)),
        ("torch.lstm_packed", "lstm-state", "infer", "right", ("torch.lstm_packed",)),
        ("torch.lstm_closed_form", "lstm-hsig", "train", None, ("torch.lstm_closed_form",)),
        ("torch.lstm_closed_form", "lstm-hsig", "train", "right", ("torch.lstm_closed_form",)),
        ("torch.lstm_closed_form", "lstm-hsig", "train", "left", ("torch.lstm_closed_form",)),
        ("torch_colmajor", "lstm-hsig", "infer", None, ("torch_colmajor",)),
        ("torch_colmajor", "gru", "infer", "left", ("torch_colmajor",)),
        *[
            ("torch_compiled", kind, mode, mask, ("torch_compiled",))
            for kind in ("mingru", "minlstm")
            for mode in ("infer", "train")
            for mask in (None, "left")
        ],
    ],
    "tensorflow": [
        ("tf_pretransposed", "lstm", "train", None, ("tf_pretransposed",)),
        ("tf_pretransposed", "gru", "train", None, ("tf_pretransposed",)),
        ("tf_pretransposed", "srnn", "train", None, ("tf_pretransposed",)),
        ("batch_split=auto", "lstm", "infer", None, {"batch_split": 1}),
        ("batch_split=auto", "gru", "infer", None, {"batch_split": 1}),
        ("batch_split=auto", "srnn", "infer", None, {"batch_split": 1}),
        *[
            ("tf_xla_fused", kind, mode, mask, ("tf_xla_fused",))
            for kind in ("mingru", "minlstm")
            for mode in ("infer", "train")
            for mask in (None, "left")
        ],
    ],
    "jax": [
        ("jax.scan_batched_grads", "lstm", "train", None, ("jax.scan_batched_grads",)),
        ("jax.scan_batched_grads", "gru", "train", None, ("jax.scan_batched_grads",)),
        ("projection=per_step", "lstm", "infer", None, {"projection": "hoisted"}),
        ("projection=per_step", "gru", "infer", None, {"projection": "hoisted"}),
        ("projection=per_step", "srnn", "infer", None, {"projection": "hoisted"}),
        ("projection=per_step", "srnn", "train", None, {"projection": "hoisted"}),
    ],
}


def lines_of_code(path: str) -> int:
    seen, total = set(), 0
    for obj in CODE.get(path, []):
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += len(inspect.getsourcelines(obj)[0])
    return total


def make_layer(kind: str) -> keras.Layer:
    if kind == "srnn":
        return rnnkit.layers.SimpleRNN(H, return_sequences=True)
    if kind == "gru":
        return rnnkit.layers.GRU(H, return_sequences=True)
    if kind == "lstm":
        return rnnkit.layers.LSTM(H, return_sequences=True)
    if kind == "lstm-state":  # its final states are read: the packed path's case
        return rnnkit.layers.LSTM(H, return_sequences=True, return_state=True)
    if kind == "mingru":
        return rnnkit.layers.MinGRU(H, return_sequences=True)
    if kind == "minlstm":
        return rnnkit.layers.MinLSTM(H, return_sequences=True)
    if kind == "lstm-hsig":
        return rnnkit.layers.LSTM(
            H, recurrent_activation="keras2_hard_sigmoid", return_sequences=True
        )
    raise ValueError(f"unknown kind {kind!r}")


def make_model(kind: str, T: int, mask: str | None) -> keras.Model:
    inputs = keras.Input((T, D))
    x = keras.layers.Masking()(inputs) if mask else inputs
    outputs = make_layer(kind)(x)
    if isinstance(outputs, (list, tuple)):  # the states enter the loss
        outputs = keras.layers.Concatenate()([outputs[0][:, -1], *outputs[1:]])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    return model


def inputs_for(T: int, mask: str | None, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D), dtype=np.float32)
    if mask:
        lengths = rng.integers(T // 5, T + 1, B)
        steps = np.arange(T)[None, :]
        padding = steps >= lengths[:, None]
        if mask == "left":
            padding = padding[:, ::-1]
        x[padding] = 0.0
    return x


def settings_for(off: tuple | dict | None) -> contextlib.AbstractContextManager:
    if off is None:
        return contextlib.nullcontext()
    if isinstance(off, dict):
        return config.execution(**off)
    return planner.excluding(*off)


def runner(model: keras.Model, mode: str, x: np.ndarray, target: np.ndarray, off):
    def run():
        with settings_for(off):
            if mode == "infer":
                model.predict_on_batch(x)
            else:
                model.train_on_batch(x, target)

    return run


def plan_names(model: keras.Model, mode: str, x, target, off) -> tuple[str, float]:
    """The plans this runner runs: those its second call records (torch runs eagerly and
    plans every call; its first call also traces shapes), else those of the first,
    tracing call (TensorFlow and JAX plan only while tracing); and the seconds of the
    first call (tracing and compiling included)."""
    run = runner(model, mode, x, target, off)
    start = time.perf_counter()
    with planner.recording() as first:
        run()
    first_seconds = time.perf_counter() - start
    with planner.recording() as second:
        run()
    names = sorted(
        {f"{p.name} ({p.details()})" if p.details() else p.name for _, p in second or first}
    )
    return ", ".join(names) or "?", first_seconds


def bench(row: tuple, T: int, repeats: int) -> dict:
    path, kind, mode, mask, off = row
    x = inputs_for(T, mask)
    with_path = make_model(kind, T, mask)
    without = make_model(kind, T, mask)
    without.set_weights(with_path.get_weights())
    shape = (B, *with_path.output_shape[1:])
    target = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    plan_with, first_with = plan_names(with_path, mode, x, target, None)
    plan_without, first_without = plan_names(without, mode, x, target, off)
    t_with, t_without = interleaved_medians(
        [runner(with_path, mode, x, target, None), runner(without, mode, x, target, off)],
        repeats,
    )
    return {
        "path": path,
        "kind": kind,
        "T": T,
        "mode": mode,
        "mask": mask or "none",
        "plan": plan_with,
        "next": plan_without,
        "path_ms": t_with * 1e3,
        "next_ms": t_without * 1e3,
        "gain": t_without / t_with,
        "first_s": first_with,
        "next_first_s": first_without,
        "loc": lines_of_code(path),
    }


def table(rows: list[dict], markdown: bool, backend: str) -> str:
    head = [
        "path",
        "LOC",
        "layer",
        "T",
        "mode",
        "mask",
        "ran",
        "next path",
        "path ms",
        "next ms",
        "gain",
        "first call s",
    ]
    lines = [
        [
            r["path"],
            str(r["loc"]),
            r["kind"],
            str(r["T"]),
            r["mode"],
            r["mask"],
            r["plan"],
            r["next"],
            f"{r['path_ms']:.1f}",
            f"{r['next_ms']:.1f}",
            f"{r['gain']:.2f}x",
            f"{r['first_s']:.1f} / {r['next_first_s']:.1f}",
        ]
        for r in rows
    ]
    if markdown:
        out = ["| backend | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
        out += [f"| {backend} | " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--steps", type=int, nargs="+", default=[50])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", nargs="+", help="paths to measure (default: all)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    backend = keras.backend.backend()
    candidates = ROWS.get(backend, []) + SCAN_ROWS
    rows_spec = [r for r in candidates if not args.only or r[0] in args.only]
    print(
        f"{date.today()} {platform.node()} {os.cpu_count()} CPUs, keras {keras.__version__}, "
        f"backend {backend}, B={B} D={D} H={H}, median of {args.repeats}",
        flush=True,
    )
    rows = []
    total = len(rows_spec) * len(args.steps)
    for T in args.steps:
        for spec in rows_spec:
            start = time.time()
            row = bench(spec, T, args.repeats)
            rows.append(row)
            print(
                f"  [{len(rows)}/{total}] {row['path']} {row['kind']} T={T} {row['mode']} "
                f"mask={row['mask']}: {row['plan']} {row['path_ms']:.1f} ms, {row['next']} "
                f"{row['next_ms']:.1f} ms, gain {row['gain']:.2f}x "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )
    print(table(rows, args.markdown, backend))
    return rows


if __name__ == "__main__":
    main()
