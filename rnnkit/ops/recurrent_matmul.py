"""The recurrent matmul ``h @ recurrent_kernel[:, columns]`` of a cell's step.

Cells multiply the previous state by their recurrent kernel through a
:class:`RecurrentMatmul`, which the runner creates once, before the loop
(``RecurrentCell.loop_matmul``), with the column blocks the cell multiplies by
already sliced (the reset-before GRU uses two). This generic one runs
``keras.ops.matmul`` on every backend, differentiated by the backend. The backends' fast
paths subclass it: ``tf_pretransposed`` (:mod:`rnnkit.backend.tensorflow`, training in
the ``tf_while`` loop) and ``torch_colmajor`` (:mod:`rnnkit.backend.torch`, inference);
the plan names which one a loop uses (:func:`rnnkit.backend.recurrent_matmul` makes it).
"""

from __future__ import annotations

from typing import Any

from keras import ops

__all__ = ["Block", "RecurrentMatmul"]


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
        (:mod:`rnnkit.backend.jax`)."""
        return projected + self(h, start, stop)

    def project(self, inputs: Any, kernel: Any, bias: Any = None) -> Any:
        """``inputs @ kernel (+ bias)`` for 2-D ``inputs``: the input projection of the
        loop's steps, laid out as this matmul's step products are."""
        projected = ops.matmul(inputs, kernel)
        return projected if bias is None else projected + bias

    def layout_state(self, state: Any) -> Any:
        """An initial state laid out as this matmul's products are (generic: as is)."""
        return state
