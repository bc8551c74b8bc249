"""Batch splitting: independent recurrences over parts of the batch.

The rows of a batch never interact in a recurrence, so the batch can be cut into parts
that each run their own loop; the results are concatenated back. Each part's per-step
matmul is smaller, but the parts' loops are independent ops that TensorFlow's executor
runs at the same time on different cores.

The planner (:func:`rnnkit.layers.planner.batch_parts`) decides the parts. ``"auto"``
takes this fast path on the TensorFlow backend (the ``tf_while`` loop) on a CPU
with at least two usable cores and no GPU, outside training: a batch of at least
8 rows (static batch size) runs as two halves. Two chains of dependent
recurrent matmuls over half the rows each run at a higher rate than one chain over the
whole batch (the cores work on both at once), and SimpleRNN, LSTM and GRU inference
measured faster split. Measured gains: ``benchmarks/RESULTS.md``.

Not split:

* training: the backward pass's per-step kernel gradient ``h^T dz`` has the batch as
  its inner dimension, and halving it made training steps slower;
* the two directions of a Bidirectional layer, already two independent loops (splitting
  each measured slower than leaving them whole);
* JAX (two scans measured no faster on XLA's CPU backend) and torch (fused kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras import ops


def check_batch_split(layer_name: str, batch_split: Any) -> None:
    """ValueError unless ``batch_split`` is ``"auto"`` or a positive int."""
    from rnnkit.config import check_setting

    check_setting("batch_split", batch_split, f"Layer '{layer_name}': `batch_split`")


def run_split(
    fn: Callable[..., tuple[Any, Any, list]], parts: int, batch: int, *tensors: Any
) -> tuple[Any, Any, list]:
    """Runs ``fn`` on ``parts`` row slices of every tensor and concatenates the results.

    Args:
        fn: ``fn(*tensor_parts) -> (last_output, outputs_or_None, states)``, as
            :func:`rnnkit.ops.recurrence` returns. Each argument is a batch-major tensor,
            a list of them, or None.
        parts: number of parts (the first ``batch % parts`` parts get one more row).
        batch: the static batch size.
        tensors: the arguments of ``fn``, split along axis 0.

    Returns:
        ``fn``'s result for the whole batch.
    """
    base, extra = divmod(batch, parts)
    sizes = [base + (1 if i < extra else 0) for i in range(parts)]
    bounds = [sum(sizes[: i + 1]) for i in range(parts - 1)]

    def split(x: Any) -> list:
        if x is None:
            return [None] * parts
        if isinstance(x, (list, tuple)):
            columns = [split(t) for t in x]
            return [[c[i] for c in columns] for i in range(parts)]
        return ops.split(x, bounds, axis=0)

    pieces = [split(t) for t in tensors]
    results = [fn(*[p[i] for p in pieces]) for i in range(parts)]

    def concat(values: list) -> Any:
        return None if values[0] is None else ops.concatenate(values, axis=0)

    last = concat([r[0] for r in results])
    outputs = concat([r[1] for r in results])
    states = [concat([r[2][j] for r in results]) for j in range(len(results[0][2]))]
    return last, outputs, states
