"""The recurrent matmul ``h @ recurrent_kernel[:, columns]`` of a cell's step.

Cells multiply the previous state by their recurrent kernel through a
:class:`RecurrentMatmul`, which the runner creates once, before the loop
(``RecurrentCell.loop_matmul``), with the column blocks the cell multiplies by
already sliced (the reset-before GRU uses two):

* generic (every backend, every loop): ``keras.ops.matmul``, differentiated by the
  backend;
* ``tf_pretransposed`` (the TensorFlow fast path, used with the ``tf_while`` loop):
  the kernel is read once before the loop and transposed once, and the step's
  matmul has a custom gradient that multiplies the incoming gradient by that
  pre-transposed kernel. TensorFlow's own gradient of ``h @ W`` is
  ``tf.matmul(dz, W, transpose_b=True)``; on CPU that product, for the shapes of a
  recurrent step, runs much slower than the same product with the transpose done
  beforehand, and grappler folds a transpose inside the loop back into the matmul,
  so the transpose must happen before the loop. The kernel gradient stays the
  per-step ``h^T dz``, which runs at full speed.
* ``torch_colmajor`` (the torch fast path for inference, used by the ``unrolled``
  loop while torch records no gradients, as in ``predict``): each product runs as
  ``R^T h^T`` with ``R^T`` made contiguous once before the loop, and comes back as a
  ``(batch, units)`` view of ``(units, batch)`` storage (column-major). The cell's
  own step is unchanged: its elementwise ops keep that layout, so the next step's
  ``h^T`` is contiguous again. The input projection is computed the same way
  (``W^T x^T + b``, :meth:`RecurrentMatmul.project`) and the initial states are laid
  out to match (:meth:`RecurrentMatmul.layout_state`). On CPU, MKL runs the step
  product faster as ``R^T h^T`` than as ``h @ R``, which speeds up the cells that
  have no fused kernel (such as the hard-sigmoid LSTM) in inference. Same ops on the
  same numbers, laid out differently. Not used with gradients: a training step
  measured no faster in that layout.

Tests check the fast paths against the generic one (values and gradients, every
cell, masks, dropout, both GRU forms). Measured gains: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

__all__ = ["FAST_PATHS", "RecurrentMatmul", "matmul_fast_path", "recurrent_matmul"]

#: (backend, loop of :mod:`rnnkit.ops.recurrence`) -> the matmul fast path that loop
#: uses; every other loop uses the generic matmul
FAST_PATHS = {
    ("tensorflow", "tf_while"): "tf_pretransposed",
    ("torch", "unrolled"): "torch_colmajor",
}


def _torch_records_gradients() -> bool:
    import torch

    return torch.is_grad_enabled()


def matmul_fast_path(loop: str) -> str | None:
    """The fast path for a resolved ``loop`` on the current backend (None: generic).
    ``torch_colmajor`` only where torch records no gradients (inference)."""
    fast_path = FAST_PATHS.get((keras.backend.backend(), loop))
    if fast_path == "torch_colmajor" and _torch_records_gradients():
        return None
    return fast_path


Block = tuple[int, "int | None"]


class RecurrentMatmul:
    """``h @ kernel[:, start:stop]`` (generic: ``keras.ops.matmul``).

    Args:
        kernel: the ``(units, gates * units)`` recurrent kernel (variable or tensor).
        blocks: the column ranges ``(start, stop)`` the step multiplies by; they are
            sliced here, once, before the loop (other ranges are sliced per call).
    """

    def __init__(self, kernel: Any, blocks: tuple[Block, ...] = ((0, None),)) -> None:
        self.kernel = kernel
        self.blocks = {block: self._slice(block) for block in blocks}

    def _slice(self, block: Block) -> Any:
        start, stop = block
        return self.kernel if (start, stop) == (0, None) else self.kernel[:, start:stop]

    def block(self, start: int, stop: int | None) -> Any:
        found = self.blocks.get((start, stop))
        return found if found is not None else self._slice((start, stop))

    def __call__(self, h: Any, start: int = 0, stop: int | None = None) -> Any:
        return ops.matmul(h, self.block(start, stop))

    def accumulate(self, projected: Any, h: Any, start: int = 0, stop: int | None = None) -> Any:
        """``projected + h @ kernel[:, start:stop]``: the pre-activation of cells whose
        projected input enters the step only through this sum (SimpleRNN, LSTM); for
        the LSTM, JAX's fast path then keeps only the sum for the backward pass
        (:mod:`rnnkit.ops.jax_scan_grad`)."""
        return projected + self(h, start, stop)

    def project(self, inputs: Any, kernel: Any, bias: Any = None) -> Any:
        """``inputs @ kernel (+ bias)`` for 2-D ``inputs``: the input projection of the
        loop's steps, laid out as this matmul's step products are."""
        projected = ops.matmul(inputs, kernel)
        return projected if bias is None else projected + bias

    def layout_state(self, state: Any) -> Any:
        """An initial state laid out as this matmul's products are (generic: as is)."""
        return state


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


class TorchColumnMajorMatmul(RecurrentMatmul):
    """torch fast path for inference (see module docstring): ``R^T h^T`` with ``R^T``
    contiguous, results as column-major ``(batch, units)`` views. Create it outside
    the loop, with torch recording no gradients."""

    backend = "torch"

    def _slice(self, block: Block) -> Any:
        kernel = super()._slice(block)
        return ops.convert_to_tensor(kernel).t().contiguous()

    @staticmethod
    def _like(kernel_t: Any, h: Any) -> Any:
        return kernel_t if kernel_t.dtype == h.dtype else kernel_t.to(h.dtype)

    def __call__(self, h: Any, start: int = 0, stop: int | None = None) -> Any:
        import torch

        kernel_t = self._like(self.block(start, stop), h)
        return torch.mm(kernel_t, h.t()).t()

    def accumulate(self, projected: Any, h: Any, start: int = 0, stop: int | None = None) -> Any:
        import torch

        kernel_t = self._like(self.block(start, stop), h)
        return torch.addmm(projected.t(), kernel_t, h.t()).t()

    def project(self, inputs: Any, kernel: Any, bias: Any = None) -> Any:
        import torch

        kernel_t = self._like(ops.convert_to_tensor(kernel).t(), inputs)
        if bias is None:
            return torch.mm(kernel_t, inputs.t()).t()
        bias = ops.convert_to_tensor(bias).to(inputs.dtype)
        return torch.addmm(bias[:, None], kernel_t, inputs.t()).t()

    def layout_state(self, state: Any) -> Any:
        return state.t().contiguous().t()


#: fast path name -> its class (the class's ``backend`` is the one it needs)
_FAST_PATH_CLASSES = {
    "tf_pretransposed": TFPretransposedMatmul,
    "torch_colmajor": TorchColumnMajorMatmul,
}


def recurrent_matmul(
    kernel: Any, fast_path: str | None = None, blocks: tuple[Block, ...] = ((0, None),)
) -> RecurrentMatmul:
    """The matmul for a loop: a fast path of :data:`FAST_PATHS` (on its backend only)
    or None for the generic one, with the kernel's column ``blocks`` sliced now. Call it
    before the loop."""
    if fast_path is None:
        return RecurrentMatmul(kernel, blocks)
    cls = _FAST_PATH_CLASSES.get(fast_path)
    if cls is None:
        raise ValueError(
            f"Unknown recurrent matmul fast path {fast_path!r}: expected None or one of "
            f"{sorted(_FAST_PATH_CLASSES)}."
        )
    if keras.backend.backend() != cls.backend:
        raise ValueError(
            f"The {fast_path!r} recurrent matmul needs the {cls.backend} backend, "
            f"got {keras.backend.backend()!r}."
        )
    return cls(kernel, blocks)
