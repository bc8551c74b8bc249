"""The one place that decides how a call of an rnnkit recurrent layer runs.

:func:`plan_call` looks at the cell (what it declares: ``fused_kind()``,
``closed_form_gates()``, ``accumulates_projection()``, ``gates``), the layer's settings
(``use_fused``, ``unroll``, and ``loop`` / ``projection`` / ``batch_split`` from the
layer or :mod:`rnnkit.config`), the call (mask, training with recurrent dropout, whether
the final states are read) and the runtime (backend, whether torch records gradients,
a GPU) and returns a named :class:`ExecutionPlan`. :meth:`rnnkit.layers.RNN.call` runs
the plan and decides nothing itself; ``layer.execution_plan(...)`` and
:func:`rnnkit.explain` show it. Every condition is in this file (the loop's matmul form:
:func:`matmul_fast_path`; its batch parts: :func:`batch_parts`); the modules of
:mod:`rnnkit.backend` only run what a plan names.

The paths, fastest first where several apply (each tested against the generic loop):

- ``torch.fused``: ``torch.lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu`` (cuDNN on a
  GPU) for a cell with a fused kind, no mask.
- ``torch.simple_rnn_inference``: a SimpleRNN with a fused kind, no mask, no gradients
  recorded (each step in place in its slice of the outputs).
- ``torch.fused_right_padded``: the two above under a right-padded mask, Keras's
  masking rebuilt from the outputs (:mod:`rnnkit.backend.torch`).
- ``torch.lstm_packed``: an LSTM whose final states are read, under a right-padded mask,
  no gradients (a packed sequence).
- ``cudnn``: Keras's cuDNN LSTM / GRU on TensorFlow or JAX with a GPU, no mask.
- ``jax.scan_batched_grads``: JAX on a CPU, a gated cell: the generic scan with its
  weight gradients after the loop (:mod:`rnnkit.backend.jax`).
- ``torch.lstm_closed_form``: torch records gradients, no fused path above applies, an
  LSTM whose gates have a closed-form derivative (sigmoid or the hard sigmoids; the
  cell's ``closed_form_gates()``), float32 or float64, the ``"auto"`` loop and hoisted
  projection: the loop as one autograd Function with a closed-form backward
  (:mod:`rnnkit.backend.torch`), under any mask, with recurrent dropout.
- ``loop.<form>``: the generic loop, ``tf_while`` (TensorFlow), ``scan`` (JAX) or
  ``unrolled`` (torch, and ``unroll=True`` anywhere), with its input projection
  ``hoisted`` (one matmul before the loop) or ``per_step`` (XLA on a CPU), its recurrent
  matmul form (:mod:`rnnkit.backend`) and its batch parts
  (:mod:`rnnkit.ops.batch_split`).

The parallel-scan layers (:class:`rnnkit.layers.MinGRU`, :class:`rnnkit.layers.MinLSTM`:
:class:`rnnkit.layers.parallel_rnn.ParallelRNN`) have their own plans, from
:func:`plan_parallel_scan`, run by :func:`rnnkit.backend.run_linear_recurrence`:

- ``linear_loop``: computing on a CPU, every backend, any mask, length, dtype, initial
  state, direction, training or not: the work-efficient sequential form, one
  multiply-add per element and step on the linear-space coefficients
  (:func:`rnnkit.ops.parallel_scan.sequential_linear_recurrence`) in the generic loop of
  :mod:`rnnkit.ops.recurrence` (``loop=tf_while``, ``scan`` or ``unrolled`` in the
  plan's details). A CPU has no parallel hardware for the scan to use, and the scan's
  transcendental passes over the sequence cost more than the loop. On TensorFlow the
  coefficients run as one XLA cluster (``coefficients=tf_xla_fused`` in the details;
  :func:`rnnkit.backend.tensorflow.xla_fused`) when they are the layer class's pure
  ``linear_coefficients``. On torch the same pure coefficients run as one
  ``torch.compile`` graph (``coefficients=torch_compiled``;
  :func:`rnnkit.backend.torch.compiled_coefficients`) when a C++ compiler is there for
  Inductor (:func:`rnnkit.backend.torch.compile_available`) and the call holds at least
  :data:`TORCH_COMPILE_MIN_STATES` states (batch x timesteps x units): a compilation costs
  seconds, which smaller calls would not repay; not inside a ``torch.compile`` trace
  (Keras's ``jit_compile=True``), which compiles them with the rest. Else
  ``coefficients=generic``.
- ``parallel_scan``: the generic associative scan over the whole sequence, in log space
  (:func:`rnnkit.ops.parallel_scan.linear_recurrence`): on a GPU.
- ``parallel_scan.dynamic_length``: the generic scan's ``while_loop`` form, for a length
  known only at run time (a TensorFlow function traced with an unknown time axis).

Any fused path needs ``use_fused`` not False, no recurrent dropout in training,
``unroll=False`` and ``loop="auto"``. :func:`excluding` turns paths off inside a block
(to measure a path against the next one, ``benchmarks/paths.py``, and to test it). The
measured gains of each path are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import keras

from rnnkit import backend as fast_paths
from rnnkit import config
from rnnkit.backend import cudnn
from rnnkit.ops.recurrence import resolve_loop
from rnnkit.ops.validation import static_shape

__all__ = [
    "EXCLUDABLE",
    "ExecutionPlan",
    "FUSED_PATHS",
    "MATMUL_FAST_PATHS",
    "batch_parts",
    "excluding",
    "explain",
    "matmul_fast_path",
    "plan_call",
    "plan_parallel_scan",
]

#: plans that run a fused kernel (everything else runs the generic loop)
FUSED_PATHS = (
    "torch.fused",
    "torch.simple_rnn_inference",
    "torch.fused_right_padded",
    "torch.lstm_packed",
    "cudnn",
)
#: what :func:`excluding` can turn off: every path but the generic loop, and the loop's
#: recurrent matmul fast paths (:func:`rnnkit.backend.recurrent_matmul`)
EXCLUDABLE = (
    *FUSED_PATHS,
    "jax.scan_batched_grads",
    "torch.lstm_closed_form",
    "tf_pretransposed",
    "torch_colmajor",
    "linear_loop",
    "tf_xla_fused",
    "torch_compiled",
)
#: the fewest states (batch x timesteps x units) of a call for which ``linear_loop``
#: compiles its coefficients on torch (``torch_compiled``)
TORCH_COMPILE_MIN_STATES = 2**20

_excluded: contextvars.ContextVar[frozenset] = contextvars.ContextVar(
    "rnnkit_excluded_paths", default=frozenset()
)


@contextlib.contextmanager
def excluding(*paths: str) -> Iterator[frozenset]:
    """Plans made inside the block skip these paths (names of :data:`EXCLUDABLE`) and
    take the next one that applies, as if the skipped paths did not exist. For measuring
    a path against the one it replaces (``benchmarks/paths.py``) and testing it against
    that one; results never change, only speed. Read when a call is traced, like
    :mod:`rnnkit.config`."""
    unknown = [p for p in paths if p not in EXCLUDABLE]
    if unknown:
        raise ValueError(f"Unknown execution path(s) {unknown}: expected names from {EXCLUDABLE}.")
    token = _excluded.set(_excluded.get() | frozenset(paths))
    try:
        yield _excluded.get()
    finally:
        _excluded.reset(token)


def _first_allowed(candidates: list[str], blockers: list[str]) -> str | None:
    excluded = _excluded.get()
    for name in candidates:
        if name not in excluded:
            return name
        blockers.append(f"{name} is excluded")
    return None


@dataclass(frozen=True)
class ExecutionPlan:
    """How one call of a recurrent layer runs.

    Attributes:
        name: the path (see :mod:`rnnkit.layers.planner`).
        backend: the Keras backend.
        kernel: the fused kernel's kind (``"lstm"``, ``"gru"``, ``"rnn_tanh"``,
            ``"rnn_relu"``, or ``"rnn_tanh_in_place"`` /
            ``"rnn_relu_in_place"``: the SimpleRNN steps computed in place) for a fused
            path, else None.
        loop: the generic loop's form (``"tf_while"``, ``"scan"``, ``"unrolled"``) for
            a loop path and for ``linear_loop``, else None.
        projection: ``"hoisted"`` or ``"per_step"`` for a ``loop.*`` path, else None.
        matmul: the recurrent matmul's fast path (``"tf_pretransposed"``,
            ``"torch_colmajor"``) or ``"generic"`` for a ``loop.*`` path, else None.
        coefficients: how ``linear_loop`` computes the layer's coefficients:
            ``"tf_xla_fused"`` (one XLA cluster, TensorFlow), ``"torch_compiled"`` (one
            ``torch.compile`` graph) or ``"generic"``; else None.
        batch_parts: independent loops the batch runs in (1: one).
        time_major: whether the path steps through time-major tensors (``linear_loop``:
            the parallel-scan layer projects its inputs time-major for it).
        not_taken: ``(path, reason)`` for each faster path that does not apply.
        fallback: the plan that runs if a fused kernel declines at run time (Keras's
            cuDNN kernels raise for configurations cuDNN cannot run), else None.
    """

    name: str
    backend: str
    kernel: str | None = None
    loop: str | None = None
    projection: str | None = None
    matmul: str | None = None
    coefficients: str | None = None
    batch_parts: int = 1
    time_major: bool = False
    not_taken: tuple[tuple[str, str], ...] = ()
    fallback: ExecutionPlan | None = None
    lengths: Any = field(default=None, repr=False, compare=False)

    @property
    def fused(self) -> bool:
        return self.name in FUSED_PATHS

    def reasons(self) -> dict[str, str]:
        """Why each faster path was not taken: ``{path: reason}``."""
        return dict(self.not_taken)

    def details(self) -> str:
        """The path's settings, e.g. ``"loop=scan, projection=hoisted"`` (may be empty)."""
        items = [
            f"{k}={v}"
            for k, v in (
                ("kernel", self.kernel),
                ("loop", self.loop),
                ("projection", self.projection),
                ("matmul", self.matmul),
                ("coefficients", self.coefficients),
            )
            if v is not None
        ]
        if self.batch_parts > 1:
            items.append(f"batch_parts={self.batch_parts}")
        return ", ".join(items)

    def describe(self) -> str:
        """One line: the path, its details and the reasons faster paths were not taken."""
        details = self.details()
        text = self.name + (f" ({details})" if details else "")
        if self.not_taken:
            text += "; not " + "; not ".join(f"{p}: {r}" for p, r in self.not_taken)
        return text


def _grad_recorded(backend: str) -> bool:
    if backend != "torch":
        return False
    import torch

    return torch.is_grad_enabled()


def _fused_kernel(layer: Any) -> tuple[str | None, str]:
    """The cell's fused kernel kind, or None and why not."""
    cell = layer.cell
    kind = cell.fused_kind()
    if kind is not None:
        return kind, ""
    return None, (
        f"no fused kernel computes this {type(cell).__name__}'s configuration (its "
        "activations, bias or dtype)"
    )


def plan_call(
    layer: Any,
    sequences: Any,
    mask: Any = None,
    training: Any = False,
    recurrent_dropout: bool = False,
) -> ExecutionPlan:
    """The plan of ``layer(sequences, mask=mask, training=training)`` on this backend and
    device now (``recurrent_dropout``: a recurrent dropout mask is active)."""
    backend = keras.backend.backend()
    settings = config.resolve(layer)
    loop_setting = settings["loop"]
    blockers = []
    if layer.use_fused is False:
        blockers.append("use_fused=False")
    if recurrent_dropout:
        blockers.append("recurrent dropout is active (training)")
    if layer.unroll:
        blockers.append("unroll=True")
    if loop_setting != "auto":
        blockers.append(f"loop={loop_setting!r} was asked for")
    kind, why = _fused_kernel(layer)
    if kind is None:
        blockers.append(why)
    name, lengths = None, None
    if not blockers:
        if backend == "torch":
            grad = _grad_recorded(backend)
            # the SimpleRNN kernels in place while no gradients are recorded
            in_place = kind in ("rnn_tanh", "rnn_relu") and not grad
            if in_place and "torch.simple_rnn_inference" in _excluded.get():
                in_place = False
                blockers.append("torch.simple_rnn_inference is excluded")
            if mask is None:
                if in_place:
                    candidates = ["torch.simple_rnn_inference"]
                else:
                    candidates = ["torch.fused"]
            else:
                packed = kind == "lstm" and (layer.return_state or layer.stateful)
                candidates = []
                if packed and grad:
                    blockers.append(
                        "an LSTM's final states under a mask while gradients are recorded"
                    )
                else:
                    lengths = fast_paths.torch.right_padded_lengths(mask)
                    if lengths is None:
                        blockers.append("the mask is not right-padded")
                    else:
                        candidates = ["torch.lstm_packed" if packed else "torch.fused_right_padded"]
            name = _first_allowed(candidates, blockers)
            if in_place and name is not None:
                kind = f"{kind}_in_place"
        elif mask is not None:
            blockers.append("a masked sequence (cuDNN zeroes the outputs at masked steps)")
        elif kind not in ("lstm", "gru"):
            blockers.append(f"no cuDNN kernel for {kind}")
        elif not cudnn.gpu_available():
            blockers.append("no GPU")
        else:
            name = _first_allowed(["cudnn"], blockers)
    not_taken = (("fused kernel", "; ".join(blockers)),) if blockers else ()
    generic = _generic_plan(layer, sequences, training, backend, settings, not_taken)
    if name is None:
        return generic
    return ExecutionPlan(
        name,
        backend,
        kernel=kind,
        lengths=lengths,
        fallback=replace(
            generic, not_taken=(("fused kernel", "cuDNN declined this configuration at run time"),)
        ),
    )


# -- the parallel-scan layers ------------------------------------------------------------
def plan_parallel_scan(
    layer: Any, sequences: Any, mask: Any = None, training: Any = False
) -> ExecutionPlan:
    """The plan of a parallel-scan layer's call (``layer(sequences, mask=mask)``) on this
    backend and device now: ``linear_loop`` on a CPU, else the generic scan,
    ``parallel_scan`` or, for a time length unknown when tracing,
    ``parallel_scan.dynamic_length``. Neither the mask's pattern, the dtype, the initial
    state nor ``training`` changes the choice."""
    backend = keras.backend.backend()
    shape = static_shape(sequences)
    dynamic = len(shape) < 2 or shape[1] is None
    blockers = []
    if _device() != "CPU":
        blockers.append("a GPU (the parallel scan uses its parallel hardware)")
    name = None if blockers else _first_allowed(["linear_loop"], blockers)
    if name is not None:
        return ExecutionPlan(
            name,
            backend,
            loop=resolve_loop("auto", False),
            coefficients=_coefficients(layer, shape),
            time_major=True,
        )
    not_taken = (("linear_loop", "; ".join(blockers)),)
    generic = "parallel_scan.dynamic_length" if dynamic else "parallel_scan"
    return ExecutionPlan(generic, backend, not_taken=not_taken)


def _coefficients(layer: Any, shape: tuple) -> str:
    """How ``linear_loop`` computes the coefficients of a layer whose input has static
    shape ``shape``: ``tf_xla_fused`` on TensorFlow, ``torch_compiled`` on torch with a
    C++ compiler for a call of at least :data:`TORCH_COMPILE_MIN_STATES` states, when
    the coefficients are a pure function (``layer.pure_linear_coefficients()``) and the
    path is not excluded; else ``generic`` (also on torch inside a ``torch.compile``
    trace, such as Keras's ``jit_compile=True`` train step, which compiles them with the
    rest)."""
    if layer.pure_linear_coefficients() is None:
        return "generic"
    backend = keras.backend.backend()
    excluded = _excluded.get()
    if backend == "tensorflow" and "tf_xla_fused" not in excluded:
        return "tf_xla_fused"
    if backend == "torch" and "torch_compiled" not in excluded:
        if fast_paths.torch.compiling():  # the caller's own compilation fuses them
            return "generic"
        dims = shape[:-1]  # batch, timesteps: known on torch, which runs eagerly
        large = None not in dims and math.prod(dims) * layer.units >= TORCH_COMPILE_MIN_STATES
        if large and fast_paths.torch.compile_available():
            return "torch_compiled"
    return "generic"


def _generic_plan(
    layer: Any,
    sequences: Any,
    training: Any,
    backend: str,
    settings: dict[str, Any],
    not_taken: tuple,
) -> ExecutionPlan:
    cell = layer.cell
    loop_setting = settings["loop"]
    loop = resolve_loop(loop_setting, layer.unroll)
    batch = static_shape(sequences)[0] if sequences is not None else None
    parts = batch_parts(
        settings["batch_split"],
        batch,
        training,
        loop,
        layer.concurrent_loops,
        gpu=cudnn.gpu_available(),
    )
    projection_setting = settings["projection"]
    if projection_setting != "auto":
        hoisted = projection_setting == "hoisted"
    else:
        hoisted = not xla_cpu(backend)
    whole_ok = loop_setting == "auto" and not layer.unroll
    excluded = _excluded.get()
    if whole_ok and projection_setting != "hoisted" and xla_cpu(backend) and cell.gates > 1:
        if _jax_batched_grads_apply(cell) and "jax.scan_batched_grads" not in excluded:
            return ExecutionPlan(
                "jax.scan_batched_grads",
                backend,
                loop=loop,
                batch_parts=parts,
                not_taken=not_taken,
            )
    if (
        whole_ok
        and hoisted
        and backend == "torch"
        and _closed_form_applies(cell)
        and "torch.lstm_closed_form" not in excluded
    ):
        return ExecutionPlan(
            "torch.lstm_closed_form",
            backend,
            loop=loop,
            batch_parts=parts,
            not_taken=not_taken,
        )
    matmul = matmul_fast_path(loop) or "generic"
    return ExecutionPlan(
        f"loop.{loop}",
        backend,
        loop=loop,
        projection="hoisted" if hoisted else "per_step",
        matmul=matmul if matmul not in excluded else "generic",
        batch_parts=parts,
        not_taken=not_taken,
    )


# -- the conditions of the loop's fast paths ---------------------------------------------
#: (backend, loop of :mod:`rnnkit.ops.recurrence`) -> the recurrent matmul fast path that
#: loop uses (:func:`rnnkit.backend.recurrent_matmul` makes it); other loops: generic
MATMUL_FAST_PATHS = {
    ("tensorflow", "tf_while"): "tf_pretransposed",
    ("torch", "unrolled"): "torch_colmajor",
}
#: the fewest rows ``batch_split="auto"`` splits
MIN_AUTO_BATCH = 8


def matmul_fast_path(loop: str) -> str | None:
    """The recurrent matmul fast path of a resolved ``loop`` on the current backend (None:
    generic): ``tf_pretransposed`` in TensorFlow's loop; ``torch_colmajor`` in torch's,
    only while torch records no gradients (inference)."""
    fast_path = MATMUL_FAST_PATHS.get((keras.backend.backend(), loop))
    if fast_path == "torch_colmajor" and _grad_recorded("torch"):
        return None
    return fast_path


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def batch_parts(
    batch_split: int | str,
    batch: int | None,
    training: Any,
    loop: str,
    concurrent_loops: int = 1,
    gpu: bool = False,
) -> int:
    """How many parts a recurrence over ``batch`` rows runs as (:mod:`rnnkit.ops.batch_split`).

    Args:
        batch_split: ``"auto"`` or the number of parts (1 never splits). ``"auto"`` splits
            in two on the TensorFlow backend's ``tf_while`` loop outside training, for a
            lone loop (``concurrent_loops == 1``) of at least :data:`MIN_AUTO_BATCH` rows,
            with two usable CPU cores or more and no GPU.
        batch: the static batch size, or None when unknown (never split).
        training: the layer's ``training`` flag.
        loop: the resolved loop of :func:`rnnkit.ops.recurrence.resolve_loop`.
        concurrent_loops: independent loops that already run beside this one (2 for
            each direction of a Bidirectional layer).
        gpu: whether the backend computes on a GPU.

    Returns:
        The number of parts, between 1 and ``batch``.
    """
    if batch is None or batch < 2:
        return 1
    if batch_split != "auto":
        return min(int(batch_split), batch)
    if (
        keras.backend.backend() == "tensorflow"
        and loop == "tf_while"
        and not training
        and concurrent_loops == 1
        and batch >= MIN_AUTO_BATCH
        and _usable_cpus() >= 2
        and not gpu
    ):
        return 2
    return 1


def _jax_batched_grads_apply(cell: Any) -> bool:
    """``jax.scan_batched_grads`` can run ``cell``: JAX, float32 compute and variables, a
    kernel and a recurrent kernel (the usual weight layout)."""
    if keras.backend.backend() != "jax":
        return False
    if cell.compute_dtype != "float32" or cell.variable_dtype != "float32":
        return False
    kernels = (getattr(cell, "kernel", None), getattr(cell, "recurrent_kernel", None))
    return all(k is not None for k in kernels)


def _closed_form_applies(cell: Any) -> bool:
    """``torch.lstm_closed_form`` can run ``cell`` now: torch records gradients, the cell
    declares closed-form gates (``closed_form_gates()``), float32 or float64."""
    return (
        _grad_recorded(keras.backend.backend())
        and cell.closed_form_gates() is not None
        and cell.compute_dtype in ("float32", "float64")
    )


def xla_cpu(backend: str | None = None) -> bool:
    """True on the JAX backend when JAX computes on a CPU."""
    if (backend or keras.backend.backend()) != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


# -- explain ----------------------------------------------------------------------------
_recording: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "rnnkit_plans", default=None
)


def record(layer: Any, plan: ExecutionPlan) -> None:
    """Called by every recurrent layer's call with the plan it runs (kept only inside
    :func:`recording`)."""
    rows = _recording.get()
    if rows is not None:
        rows.append((layer, plan))


@contextlib.contextmanager
def recording() -> Iterator[list]:
    """Collects ``(layer, plan)`` for every recurrent layer call inside the block."""
    rows: list = []
    token = _recording.set(rows)
    try:
        yield rows
    finally:
        _recording.reset(token)


def explain(
    model: Any, sample: Any, training: bool = False, print_table: bool = True
) -> list[dict[str, str]]:
    """Which path every recurrent layer of ``model`` runs, on this backend and device.

    Calls ``model(sample, training=training)`` once and records the plan of each
    recurrent layer call in it, nested ones included (the two directions of a
    ``Bidirectional``, the layers of a ``StackedRNN``, layers inside sub-models). On
    torch, ``training=False`` runs without recording gradients, as ``predict`` does, and
    ``training=True`` with them, as ``fit`` does.

    Args:
        model: a Keras model or layer.
        sample: an input batch for it (its masks, lengths and batch size matter).
        training: plan a training call (dropout active; on torch, gradients recorded).
        print_table: print the table.

    Returns:
        One dict per recurrent layer call: ``layer`` (its path), ``class``, ``plan``
        (the path's name), ``details`` and ``not taken`` (why faster paths do not apply).

    Example:

    >>> rnnkit.explain(model, x_batch)  # doctest: +SKIP
    """
    guard: Any = contextlib.nullcontext()
    if keras.backend.backend() == "torch" and not training:
        import torch

        guard = torch.no_grad()
    with recording() as rows, guard:
        model(sample, training=training)
    table = []
    for layer, plan in rows:
        table.append(
            {
                "layer": getattr(layer, "path", layer.name),
                "class": type(layer).__name__,
                "plan": plan.name,
                "details": plan.details(),
                "not taken": "; ".join(f"{p}: {r}" for p, r in plan.not_taken),
            }
        )
    if print_table:
        print(format_table(table, f"{keras.backend.backend()}, {_device()}"))
    return table


def _device() -> str:
    return "GPU" if cudnn.gpu_available() or _torch_cuda() else "CPU"


def _torch_cuda() -> bool:
    if keras.backend.backend() != "torch":
        return False
    import torch

    return torch.cuda.is_available()


def format_table(rows: list[dict[str, str]], title: str = "") -> str:
    """A plain-text table of :func:`explain`'s rows."""
    columns = ["layer", "class", "plan", "details", "not taken"]
    if not rows:
        return (title + ": " if title else "") + "no recurrent layer was called"
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns).rstrip()
    out = ([title] if title else []) + [line, "  ".join("-" * widths[c] for c in columns)]
    for r in rows:
        out.append("  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip())
    return "\n".join(out)
