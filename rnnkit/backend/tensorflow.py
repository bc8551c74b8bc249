"""The TensorFlow backend's fast path (chosen by :mod:`rnnkit.layers.planner`), the
recurrent matmul of the ``tf_while`` loop (:mod:`rnnkit.ops.recurrent_matmul`):

* ``tf_pretransposed`` (the TensorFlow fast path, used with the ``tf_while`` loop):
  the kernel is read once before the loop and transposed once, and the step's
  matmul has a custom gradient that multiplies the incoming gradient by that
  pre-transposed kernel. TensorFlow's own gradient of ``h @ W`` is
  ``tf.matmul(dz, W, transpose_b=True)``; on CPU that product, for the shapes of a
  recurrent step, runs much slower than the same product with the transpose done
  beforehand, and grappler folds a transpose inside the loop back into the matmul,
  so the transpose must happen before the loop. The kernel gradient stays the
  per-step ``h^T dz``, which runs at full speed.

* ``tf_xla_fused`` (the parallel-scan layers' ``linear_loop`` on a CPU): their
  coefficients (sigmoids, ``g``, products over the whole projected sequence) computed
  as one XLA cluster (``tf.function(jit_compile=True)``), forward and backward: one pass
  over the sequence where TensorFlow's own kernels make one pass per operation (Keras
  compiles nothing with XLA on a CPU-only machine). The loop itself stays outside (its
  TensorArrays cannot cross into an XLA cluster). A SavedModel traced with it needs
  XLA's JIT wherever it runs (TF Serving's is off by default): rnnkit's export
  (:func:`rnnkit.serving.export.export`) traces inside
  ``planner.excluding("tf_xla_fused")``, and a caller of Keras's own ``model.export``
  can do the same.

Batch splitting (:mod:`rnnkit.ops.batch_split`) runs on any backend when asked for; its
``"auto"`` setting splits on TensorFlow only. Tests check the fast paths against the
generic ones. Measured gains: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rnnkit.ops.recurrent_matmul import Block, RecurrentMatmul


class TFPretransposedMatmul(RecurrentMatmul):
    """TensorFlow fast path (see module docstring): the backward pass multiplies by a
    kernel transposed once, before the loop. Create it outside the loop."""

    backend = "tensorflow"

    def __init__(self, kernel: Any, blocks: tuple[Block, ...] = ((0, None),)) -> None:
        import tensorflow as tf

        super().__init__(tf.convert_to_tensor(kernel), blocks)

    def _slice(self, block: Block) -> Any:
        import tensorflow as tf

        kernel = super()._slice(block)
        return kernel, tf.transpose(kernel)

    def __call__(self, h: Any, start: int = 0, stop: int | None = None) -> Any:
        import tensorflow as tf

        kernel, kernel_t = self.block(start, stop)

        @tf.custom_gradient
        def product(h: Any, kernel: Any) -> Any:
            def grad(dz: Any) -> tuple[Any, Any]:
                return tf.matmul(dz, kernel_t), tf.matmul(h, dz, transpose_a=True)

            return tf.matmul(h, kernel), grad

        return product(h, kernel)


#: (function, units, dtype, rank, features) -> its XLA-compiled form
_XLA_FUSED: dict[tuple, Any] = {}


def xla_fused(fn: Callable[[Any, int], Any], units: int, example: Any) -> Callable[[Any], Any]:
    """``lambda x: fn(x, units)`` compiled as one XLA cluster, for tensors of
    ``example``'s dtype, rank and last dimension; ``fn`` maps ``(..., features)`` to a
    tuple of ``(..., m)`` tensors (a pure function such as
    :func:`rnnkit.ops.min_rnn.min_gru_linear_coefficients`). Made once per ``(fn, units,
    dtype, rank, features)``; its input signature leaves the leading dimensions unknown,
    so it is traced once and never retraced (XLA compiles it for each concrete shape it
    meets and caches that), and the outputs get the input's static leading dimensions
    back.

    Example:

    >>> from rnnkit.ops.min_rnn import min_gru_linear_coefficients
    >>> x = tf.ones((5, 2, 8))
    >>> a, b = xla_fused(min_gru_linear_coefficients, 4, x)(x)  # doctest: +SKIP
    """
    import tensorflow as tf

    dtype = tf.as_dtype(example.dtype)
    shape = example.shape
    key = (fn, int(units), dtype.name, len(shape), shape[-1])
    compiled = _XLA_FUSED.get(key)
    if compiled is None:
        compiled = tf.function(
            lambda x: fn(x, units),
            jit_compile=True,
            input_signature=[tf.TensorSpec([None] * (len(shape) - 1) + [shape[-1]], dtype)],
            autograph=False,
        )
        _XLA_FUSED[key] = compiled

    def run(x: Any) -> Any:
        outputs = compiled(x)
        for t in outputs:
            t.set_shape(x.shape[:-1].concatenate(t.shape[-1:]))
        return outputs

    return run
