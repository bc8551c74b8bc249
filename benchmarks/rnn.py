"""Recurrent layer speed: rnnkit vs keras.layers, in the same process, on the current backend.

For SimpleRNN, LSTM, GRU and a bidirectional LSTM, at B=64, D=256, H=512 with T=50
(``short``) and T=500 (``long``) (and B=8, T=4,096 with ``--configs xlong``), it times

* ``infer``: ``model.predict_on_batch`` (Keras's compiled predict function: a
  ``tf.function`` on TensorFlow, ``jax.jit`` on JAX, eager on torch);
* ``train``: ``model.train_on_batch`` with an MSE loss and SGD (forward, backward and
  the weight update),

for the keras.layers layer (the anchor) and the rnnkit layer with the same weights
(outputs checked equal before timing). Each number is the median of ``--repeats`` runs
after a warm-up, the two timed in rotation with the peak matmul (below). ``speedup`` is
keras time / rnnkit time (> 1: rnnkit faster).

Rows ``mingru`` and ``minlstm`` time the parallel-scan layers (``rnnkit.layers.MinGRU`` /
``MinLSTM``) against rnnkit's own GRU / LSTM of the same size (other weights, so no
output check); their FLOPs are the input projection's alone. Row ``mingru-norec`` is
MinGRU with its recurrence left out (projection and coefficients only): the bound on
any MinGRU's speed-up over the GRU.

``--also-excluding PATH ...`` adds, under each row, the same rnnkit layer (same weights,
outputs checked against the row's) run with those paths turned off
(``rnnkit.layers.planner.excluding``), timed in the same rotation: e.g.
``--also-excluding linear_loop`` times the generic associative scan beside the sequential
loop that a CPU runs. Every row shows the plans its rnnkit layer ran (``planner.recording``).

One extra row, ``lstm-hsig``, is DeepMoji's LSTM (Keras 2 hard-sigmoid gates, which no
fused kernel has): rnnkit's LSTM against ``keras.layers.RNN(rnnkit.cells.LSTMCell(...))``,
the plain per-step loop that projects the inputs at every step.

The matmul peak (``peak``) is the median GFLOP/s of a (B*T, D+H) x (D+H, 4H) float32
matmul with ``keras.ops.matmul`` on this backend, timed in the same rotation as the
row's keras and rnnkit runs (keras, rnnkit, matmul; rnnkit, matmul, keras; ...), so
that the floor is measured in the same phase of the machine as the row: on a shared
machine single runs move by 10-30% between minutes. ``GFLOP/s`` is the rnnkit layer's
useful work (the matmuls of its equations: 2*B*T*(D+H)*gates*H per direction forward,
three times that for a training step) per second, and ``x floor`` is its time over the
time those FLOPs take at the matmul peak (1.0 would be perfect).

Usage::

    KERAS_BACKEND=tensorflow python benchmarks/rnn.py
    KERAS_BACKEND=jax python benchmarks/rnn.py --configs short --repeats 7
    KERAS_BACKEND=torch python benchmarks/rnn.py --markdown
    python benchmarks/rnn.py --isolate --markdown  # each row in a fresh process
    python benchmarks/rnn.py --padded --configs short  # right-padded, masked batches
    python benchmarks/rnn.py --kinds mingru --also-excluding linear_loop

Results are recorded in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

import keras
import numpy as np
from timing import interleaved_medians, median_seconds  # benchmarks/timing.py

from rnnkit.layers import planner

CONFIGS = {
    "short": dict(B=64, T=50, D=256, H=512),
    "long": dict(B=64, T=500, D=256, H=512),
    "xlong": dict(B=8, T=4096, D=256, H=512),  # smaller batch: the sequential anchors' time
}
KINDS = ("srnn", "lstm", "gru", "bilstm", "lstm-hsig", "mingru", "minlstm", "mingru-norec")
SINGLE = {"srnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}  # same name in both
GATES = {
    "srnn": 1, "lstm": 4, "gru": 3, "bilstm": 4, "lstm-hsig": 4,
    "mingru": 2, "minlstm": 3, "mingru-norec": 2,
}  # fmt: skip
# parallel-scan layers: (the anchor, rnnkit's sequential layer of the same family; the layer)
PARALLEL = {
    "mingru": ("GRU", "MinGRU"),
    "minlstm": ("LSTM", "MinLSTM"),
    "mingru-norec": ("GRU", "MinGRUWithoutRecurrence"),
}


class MinGRUWithoutRecurrence(rnnkit.layers.MinGRU):
    """MinGRU's projection and coefficients with the recurrence left out (``h_t =
    z_t * g(h~_t)``, no state): the least any implementation of MinGRU can cost here,
    so its row bounds the speed-up any scan could reach over the GRU (row
    ``mingru-norec``; not a layer anyone should use)."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return self.coefficients(self._project(sequences, None), log_space=False)[1]


def peak_matmul(m: int, k: int, n: int):
    """A function running one (m, k) x (k, n) float32 matmul on this backend."""
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((m, k), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.standard_normal((k, n), dtype=np.float32))

    def run():
        keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, b)))

    return run


def matmul_peak(m: int, k: int, n: int, repeats: int) -> float:
    """Median GFLOP/s of an (m, k) x (k, n) float32 matmul on this backend."""
    return 2 * m * k * n / median_seconds(peak_matmul(m, k, n), max(repeats, 5) * 2) / 1e9


def layers_for(kind: str, units: int) -> tuple[keras.Layer, keras.Layer]:
    """(keras anchor, rnnkit layer) for one benchmark row."""
    if kind in SINGLE:
        name = SINGLE[kind]
        return (
            getattr(keras.layers, name)(units, return_sequences=True),
            getattr(rnnkit.layers, name)(units, return_sequences=True),
        )
    if kind == "bilstm":
        return (
            keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True)),
            rnnkit.layers.Bidirectional(rnnkit.layers.LSTM(units, return_sequences=True)),
        )
    if kind in PARALLEL:
        anchor, layer = PARALLEL[kind]
        layer_class = getattr(rnnkit.layers, layer, None) or globals()[layer]
        return (
            getattr(rnnkit.layers, anchor)(units, return_sequences=True),
            layer_class(units, return_sequences=True),
        )
    if kind == "lstm-hsig":
        cell = rnnkit.cells.LSTMCell(units, recurrent_activation="keras2_hard_sigmoid")
        return (
            keras.layers.RNN(cell, return_sequences=True),
            rnnkit.layers.LSTM(
                units, recurrent_activation="keras2_hard_sigmoid", return_sequences=True
            ),
        )
    raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")


def build_model(layer: keras.Layer, T: int, D: int, padded: bool = False) -> keras.Model:
    inputs = keras.Input((T, D), batch_size=None)
    # padded: the layer gets the mask of Keras's Masking layer (all-zero steps)
    model = keras.Model(inputs, layer(keras.layers.Masking()(inputs) if padded else inputs))
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    return model


def excluding_every_call(fn, paths: tuple[str, ...]):
    """``fn`` run inside ``planner.excluding(*paths)`` at every call (TensorFlow and JAX
    plan when they trace, the first call; torch plans at every call)."""
    if not paths:
        return fn

    def run():
        with planner.excluding(*paths):
            return fn()

    return run


def plans_of(fn) -> str:
    """The plans of the rnnkit layers one call of ``fn`` records (a tracing call on
    TensorFlow and JAX, any call on torch)."""
    with planner.recording() as rows:
        fn()
    names = sorted({f"{p.name} ({p.details()})" if p.details() else p.name for _, p in rows})
    return ", ".join(names) or "(traced before)"


def bench_row(
    kind: str, cfg: dict, repeats: int, padded: bool = False, also_excluding: tuple = ()
) -> dict:
    """One row (and, with ``also_excluding``, its sibling row ``row["without"]``: the
    rnnkit layer with those paths turned off, timed in the same rotation)."""
    B, T, D, H = cfg["B"], cfg["T"], cfg["D"], cfg["H"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, D), dtype=np.float32)
    if padded:  # right-padded rows of lengths T/5..T (zeros after each row's length)
        lengths = rng.integers(T // 5, T + 1, B)
        x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
    anchor_layer, ours_layer = layers_for(kind, H)
    anchor = build_model(anchor_layer, T, D, padded)
    ours = build_model(ours_layer, T, D, padded)
    without = None
    if also_excluding:
        without = build_model(layers_for(kind, H)[1], T, D, padded)
        without.set_weights(ours.get_weights())
    plans = {"infer": plans_of(lambda: ours.predict_on_batch(x))}
    y_ours = ours.predict_on_batch(x)
    err = float("nan")  # a parallel-scan layer has other weights than its anchor
    if kind not in PARALLEL:
        ours.set_weights(anchor.get_weights())
        y_ours = ours.predict_on_batch(x)
        err = float(np.abs(np.asarray(anchor.predict_on_batch(x)) - np.asarray(y_ours)).max())
        if err > 1e-3:
            raise AssertionError(f"{kind}: rnnkit and keras outputs differ by {err:.2e}")
    without_diff, without_plans = float("nan"), {}
    if without is not None:
        if kind not in PARALLEL:  # set to the anchor's weights above
            without.set_weights(ours.get_weights())
        infer_without = excluding_every_call(lambda: without.predict_on_batch(x), also_excluding)
        without_plans["infer"] = plans_of(infer_without)
        y_without = np.asarray(infer_without())
        without_diff = float(np.abs(y_without - np.asarray(y_ours)).max())
        if without_diff > 1e-3:
            raise AssertionError(
                f"{kind}: the rnnkit layer with and without {also_excluding} differs by "
                f"{without_diff:.2e}"
            )
    target = rng.standard_normal(np.asarray(y_ours).shape, dtype=np.float32)
    directions = 2 if kind == "bilstm" else 1
    # the matmuls of the layer's equations (no state enters a parallel-scan layer's gates)
    state_dim = 0 if kind in PARALLEL else H
    forward_flops = 2 * B * T * (D + state_dim) * GATES[kind] * H * directions
    row = {"kind": kind, "T": T, "max_abs_diff": err, "padded": padded, "plans": plans}
    sibling = None
    if without is not None:
        sibling = {
            "kind": kind,
            "T": T,
            "max_abs_diff": without_diff,
            "padded": padded,
            "excluding": list(also_excluding),
            "plans": without_plans,
        }
        row["without"] = sibling
    peak_fn = peak_matmul(B * T, D + H, 4 * H)
    peak_flops = 2 * B * T * (D + H) * 4 * H
    for mode in ("infer", "train"):
        if mode == "infer":
            fa = lambda: anchor.predict_on_batch(x)
            fo = lambda: ours.predict_on_batch(x)
            fw = lambda: without.predict_on_batch(x)
            flops = forward_flops
        else:
            fa = lambda: anchor.train_on_batch(x, target)
            fo = lambda: ours.train_on_batch(x, target)
            fw = lambda: without.train_on_batch(x, target)
            flops = 3 * forward_flops
            plans["train"] = plans_of(fo)
        fns = [fa, fo, peak_fn]
        if sibling is not None:
            fw = excluding_every_call(fw, also_excluding)
            if mode == "train":
                without_plans["train"] = plans_of(fw)
            fns.append(fw)
        # the peak matmul is timed in the same rotation, so that the floor is measured
        # in the same phase of the machine as the row (single runs move by 10-30%)
        t_anchor, t_ours, t_peak, *t_without = interleaved_medians(fns, repeats)
        row_peak = peak_flops / t_peak / 1e9
        for target_row, t in ((row, t_ours), (sibling, t_without[0] if t_without else None)):
            if target_row is None:
                continue
            target_row[mode] = {
                "keras_ms": t_anchor * 1e3,
                "rnnkit_ms": t * 1e3,
                "speedup": t_anchor / t,
                "gflops": flops / t / 1e9,
                "peak_gflops": row_peak,
                "x_floor": t / (flops / (row_peak * 1e9)),
            }
    return row


def label(r: dict) -> str:
    return (
        r["kind"]
        + (" (vs per-step RNN(cell))" if r["kind"] == "lstm-hsig" else "")
        + (f" (vs rnnkit {PARALLEL[r['kind']][0]})" if r["kind"] in PARALLEL else "")
        + (" (right-padded)" if r.get("padded") else "")
        + (f" without {', '.join(r['excluding'])}" if r.get("excluding") else "")
    )


def table(rows: list[dict], markdown: bool, plans: bool = False) -> str:
    head = ["layer", "T", "mode", "keras ms", "rnnkit ms", "speedup", "GFLOP/s", "peak", "x floor"]
    head += ["plan"] if plans else []
    lines = []
    rows = [s for r in rows for s in (r, r.get("without")) if s is not None]
    for r in rows:
        for mode in ("infer", "train"):
            m = r[mode]
            lines.append(
                [
                    label(r),
                    str(r["T"]),
                    mode,
                    f"{m['keras_ms']:.1f}",
                    f"{m['rnnkit_ms']:.1f}",
                    f"{m['speedup']:.2f}x",
                    f"{m['gflops']:.1f}",
                    f"{m['peak_gflops']:.0f}",
                    f"{m['x_floor']:.2f}",
                ]
                + ([r.get("plans", {}).get(mode, "?")] if plans else [])
            )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(line) for line in lines])


def isolated_rows(args: argparse.Namespace) -> list[dict]:
    """Runs every (config, kind) pair in its own child process of this script."""
    import subprocess
    import tempfile

    rows = []
    pairs = [(name, kind) for name in args.configs for kind in args.kinds]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kind) in enumerate(pairs, 1):
            out = os.path.join(tmp, f"{name}-{kind}.json")
            command = [sys.executable, os.path.abspath(__file__), "--configs", name]
            command += ["--kinds", kind, "--repeats", str(args.repeats), "--json", out]
            command += ["--padded"] if args.padded else []
            if args.also_excluding:
                command += ["--also-excluding", *args.also_excluding]
            start = time.time()
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(
                    f"the child run for {name}/{kind} failed ({done.returncode}):\n"
                    f"{done.stderr[-3000:]}"
                )
            with open(out) as f:
                (row,) = json.load(f)
            rows.append(row)
            print(
                f"  [{i}/{len(pairs)}] {name} {kind}: infer {row['infer']['speedup']:.2f}x, "
                f"train {row['train']['speedup']:.2f}x (own process, peak "
                f"{row['peak_gflops']:.1f} GFLOP/s, {time.time() - start:.0f} s)",
                flush=True,
            )
    return rows


def in_process_rows(args: argparse.Namespace, backend: str) -> list[dict]:
    """Runs every (config, kind) pair in this process."""
    rows = []
    for name in args.configs:
        cfg = CONFIGS[name]
        peak = matmul_peak(cfg["B"] * cfg["T"], cfg["D"] + cfg["H"], 4 * cfg["H"], args.repeats)
        print(f"[{name}] {cfg}: matmul peak {peak:.1f} GFLOP/s", flush=True)
        for i, kind in enumerate(args.kinds, 1):
            start = time.time()
            row = bench_row(kind, cfg, args.repeats, args.padded, tuple(args.also_excluding))
            row["config"], row["peak_gflops"], row["backend"] = name, peak, backend
            rows.append(row)
            print(
                f"  [{i}/{len(args.kinds)}] {kind}: infer {row['infer']['speedup']:.2f}x, "
                f"train {row['train']['speedup']:.2f}x ({time.time() - start:.0f} s)",
                flush=True,
            )
            if "without" in row:
                w = row["without"]
                print(
                    f"        without {', '.join(w['excluding'])}: infer "
                    f"{w['infer']['speedup']:.2f}x, train {w['train']['speedup']:.2f}x",
                    flush=True,
                )
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--configs", nargs="+", default=["short", "long"], choices=list(CONFIGS))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument(
        "--padded",
        action="store_true",
        help="right-padded batches (row lengths T/5..T) behind a Masking layer; GFLOP/s "
        "and x floor still count every step",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="run each config and kind in a fresh Python process (in one process, a row "
        "can depend on what ran before it: BiLSTM inference at T=500 on TensorFlow took "
        "1165-1176 ms alone and 1321-1325 ms after the LSTM rows)",
    )
    parser.add_argument(
        "--also-excluding",
        nargs="+",
        default=[],
        choices=list(planner.EXCLUDABLE),
        metavar="PATH",
        help="also time each rnnkit layer with these execution paths turned off "
        "(rnnkit.layers.planner.excluding), in the same rotation, as a row below it",
    )
    parser.add_argument(
        "--plans", action="store_true", help="add the plans each rnnkit layer ran to the table"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    backend = keras.backend.backend()
    print(
        f"rnnkit {rnnkit.__version__}, keras {keras.__version__}, backend {backend}, "
        f"{platform.machine()} {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
        f"{date.today().isoformat()}",
        flush=True,
    )
    rows = isolated_rows(args) if args.isolate else in_process_rows(args, backend)
    print()
    print(table(rows, args.markdown, args.plans))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
