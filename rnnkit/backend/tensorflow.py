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

Batch splitting (:mod:`rnnkit.ops.batch_split`) runs on any backend when asked for; its
``"auto"`` setting splits on TensorFlow only. Tests check the fast path against the
generic matmul. Measured gains: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

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

