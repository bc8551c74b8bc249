"""Torch fast path for training an LSTM without a fused kernel: the whole recurrence as
one ``torch.autograd.Function`` with a closed-form backward pass.

Torch's fused ``torch.lstm`` has sigmoid gates only, so an LSTM with other gates (the
Keras 2 hard sigmoid of DeepMoji, Keras 3's hard sigmoid) runs the generic loop, where
autograd records every elementwise op of every step (the gate split, three gate
activations, the cell update, the mask's ``where``) and differentiates them one by one.
Here the forward pass runs without recording: the input projection of all steps is
one matmul into a ``(T, B, 4 units)`` buffer, each step adds its recurrent product to its
slice in place and activates its gates there, and the states go into preallocated
buffers. The backward pass walks the steps once in reverse with the LSTM's derivatives
written out (torch's fused ``*_backward`` kernels): per step only what must be sequential
(the gate gradients ``dz_t`` and ``dz_t R^T``); the recurrent kernel's, the input
kernel's, the bias's and the inputs' gradients then come from all ``dz_t`` at once, one
matmul (or sum) each.

Used by :class:`rnnkit.layers.RNN` on the torch backend while gradients are recorded, for
an LSTM cell whose ``closed_form_gates()`` names its gate activation (``tanh``
activation, a gate activation in ``GATES``), float32 or float64, with the ``"auto"`` loop
and the hoisted projection, when torch's own LSTM kernel does not apply (the planner's
``torch.lstm_closed_form``: unmasked or under any mask, with recurrent dropout, final
states read). Every mask, ``go_backwards``,
``zero_output_for_mask``, initial states and input / recurrent dropout work as in
:func:`rnnkit.ops.recurrence`; tests check outputs, states and gradients against the
generic loop. The measured speed-up is in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import functools
from typing import Any

from keras import ops

#: the gate activations this path knows the derivative of
GATES = ("sigmoid", "keras2_hard_sigmoid", "hard_sigmoid")


def _gate_backward_(gate: str, grad: Any, y: Any) -> None:
    """``grad *= activation'`` in place, from the activation's output ``y``: sigmoid
    ``y (1 - y)``; the hard sigmoids are linear between their clipping points (slope
    0.2, Keras 3's 1/6) and flat outside (torch's fused backward kernels)."""
    import torch

    aten = torch.ops.aten
    if gate == "sigmoid":
        aten.sigmoid_backward.grad_input(grad, y, grad_input=grad)
        return
    slopes = {"keras2_hard_sigmoid": 0.2, "hard_sigmoid": 1.0 / 6.0}
    if gate not in slopes:
        raise ValueError(f"Unknown gate activation {gate!r}: expected one of {GATES}.")
    aten.hardtanh_backward.grad_input(grad, y, 0.0, 1.0, grad_input=grad)
    grad.mul_(slopes[gate])


def _activate_(gate: str, z: Any) -> None:
    """Applies gate activation ``gate`` to ``z`` in place (the same ops as the cell's)."""
    import torch

    if gate == "sigmoid":
        torch.sigmoid_(z)
    elif gate == "keras2_hard_sigmoid":
        z.mul_(0.2).add_(0.5).clamp_(0.0, 1.0)
    elif gate == "hard_sigmoid":  # Keras 3's: relu6(x + 3) / 6
        torch.nn.functional.hardsigmoid(z, inplace=True)
    else:
        raise ValueError(f"Unknown gate activation {gate!r}: expected one of {GATES}.")


def applies(cell: Any) -> bool:
    """Whether this path can run ``cell`` now (torch backend assumed; see the module
    docstring's conditions)."""
    import torch

    return (
        torch.is_grad_enabled()
        and cell.closed_form_gates() is not None
        and cell.compute_dtype in ("float32", "float64")
    )


def lstm_sequence(
    cell: Any,
    inputs: Any,
    states: list,
    mask_tm: Any = None,
    zero_output_for_mask: bool = False,
    recurrent_mask: Any = None,
) -> tuple[Any, Any, list]:
    """Runs ``cell`` over the time-major inputs ``(T, B, D)`` (input dropout already
    applied); the input projection ``x W + b`` is computed inside, into the buffer the
    steps then add their recurrent products to.

    ``mask_tm``: optional boolean ``(T, B)``. Returns ``(last_output, outputs (T, B,
    units), [h, c])`` like :func:`rnnkit.ops.recurrence` with ``time_major=True``.
    """
    x = ops.convert_to_tensor(inputs)
    dtype = x.dtype
    kernel, recurrent = (
        ops.convert_to_tensor(k).to(dtype) for k in (cell.kernel, cell.recurrent_kernel)
    )
    bias = cell.input_bias()
    bias = None if bias is None else ops.convert_to_tensor(bias).to(dtype)
    h0, c0 = (ops.convert_to_tensor(s).to(dtype) for s in states[:2])
    if mask_tm is not None:
        mask_tm = ops.convert_to_tensor(mask_tm).bool()
    if recurrent_mask is not None:
        recurrent_mask = ops.convert_to_tensor(recurrent_mask).to(dtype)
    outputs, last, h, c = _function().apply(
        x.contiguous(),
        kernel,
        bias,
        recurrent,
        h0,
        c0,
        mask_tm,
        recurrent_mask,
        cell.closed_form_gates(),
        bool(zero_output_for_mask),
    )
    return last, outputs, [h, c]


@functools.cache
def _function() -> type:
    """The autograd Function, defined on first use (torch is imported only then)."""
    import torch

    class LSTMSequence(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx: Any,
            x: Any,
            kernel: Any,
            bias: Any,
            recurrent: Any,
            h0: Any,
            c0: Any,
            mask: Any,
            recurrent_mask: Any,
            gate: str,
            zero_output: bool,
        ) -> tuple:
            steps, batch, features = x.shape
            width = kernel.shape[1]
            units = width // 4
            flat = x.reshape(steps * batch, features)
            # the projected inputs; each step adds its recurrent product in place, then
            # activates: the activated gates i, f, g (tanh), o
            if bias is None:
                gates = torch.mm(flat, kernel)
            else:
                gates = torch.addmm(bias, flat, kernel)
            gates = gates.view(steps, batch, width)
            h_all = x.new_empty((steps + 1, batch, units))  # states, h_0 first
            c_all = x.new_empty((steps + 1, batch, units))
            tanh_c = x.new_empty((steps, batch, units))  # tanh(c_new)
            h_all[0], c_all[0] = h0, c0
            outputs = h_all[1:] if mask is None else x.new_empty((steps, batch, units))
            prev = x.new_zeros((batch, units))  # the emitted output before step 0
            for t in range(steps):
                h, c = h_all[t], c_all[t]
                if recurrent_mask is not None:
                    h = h * recurrent_mask
                a = gates[t]
                a.addmm_(h, recurrent)
                _activate_(gate, a[:, : 2 * units])
                torch.tanh_(a[:, 2 * units : 3 * units])
                _activate_(gate, a[:, 3 * units :])
                i, f, g, o = a.chunk(4, dim=1)
                c_new = torch.addcmul(f * c, i, g)
                torch.tanh(c_new, out=tanh_c[t])
                if mask is None:
                    c_all[t + 1] = c_new
                    torch.mul(o, tanh_c[t], out=h_all[t + 1])
                    continue
                h_new = o * tanh_c[t]
                m = mask[t][:, None]
                torch.where(m, c_new, c, out=c_all[t + 1])
                torch.where(m, h_new, h_all[t], out=h_all[t + 1])
                fill = torch.zeros_like(h_new) if zero_output else prev
                torch.where(m, h_new, fill, out=outputs[t])
                prev = outputs[t]
            last = outputs[-1].clone()
            ctx.gate, ctx.zero_output, ctx.has_bias = gate, zero_output, bias is not None
            ctx.set_materialize_grads(False)  # None for outputs that no loss reaches
            ctx.save_for_backward(
                x, kernel, recurrent, gates, h_all, c_all, tanh_c, mask, recurrent_mask
            )
            return outputs, last, h_all[-1].clone(), c_all[-1].clone()

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx: Any, d_outputs: Any, d_last: Any, d_h: Any, d_c: Any) -> tuple:
            x, kernel, recurrent, gates, h_all, c_all, tanh_c, mask, recurrent_mask = (
                ctx.saved_tensors
            )
            steps, batch, width = gates.shape
            units = width // 4
            recurrent_t = recurrent.t().contiguous()
            d_z = torch.empty_like(gates)
            d_h = torch.zeros_like(h_all[0]) if d_h is None else d_h
            d_c = torch.zeros_like(c_all[0]) if d_c is None else d_c
            aten = torch.ops.aten
            # the gradient reaching the emitted output of step t (None: none reaches it)
            d_out = d_last
            for t in range(steps - 1, -1, -1):
                if d_outputs is not None:
                    d_out = d_outputs[t] if d_out is None else d_out + d_outputs[t]
                a = gates[t]
                i, f, g, o = a.chunk(4, dim=1)
                d_h_new = d_h if d_out is None else d_h + d_out
                d_c_new = d_c
                if mask is not None:
                    m = mask[t][:, None]
                    keep = ~m
                    d_h_new = torch.where(m, d_h_new, 0.0)
                    d_c_new = torch.where(m, d_c, 0.0)
                    d_h = torch.where(keep, d_h, 0.0)  # carried through the masked step
                    d_c = torch.where(keep, d_c, 0.0)
                    if d_out is not None and not ctx.zero_output:
                        d_out = torch.where(keep, d_out, 0.0)
                    else:
                        d_out = None
                tc = tanh_c[t]
                d_c_new = d_c_new + aten.tanh_backward(d_h_new * o, tc)
                dz = d_z[t]
                di, df, dg, do = dz.chunk(4, dim=1)
                torch.mul(d_c_new, g, out=di)
                torch.mul(d_c_new, c_all[t], out=df)
                torch.mul(d_c_new, i, out=dg)
                torch.mul(d_h_new, tc, out=do)
                _gate_backward_(ctx.gate, dz[:, : 2 * units], a[:, : 2 * units])
                aten.tanh_backward.grad_input(dg, g, grad_input=dg)
                _gate_backward_(ctx.gate, do, o)
                d_recurrent = dz @ recurrent_t
                if recurrent_mask is not None:
                    d_recurrent = d_recurrent * recurrent_mask
                if mask is None:
                    d_h, d_c = d_recurrent, d_c_new * f
                    d_out = None
                else:
                    d_h = d_h + d_recurrent
                    d_c = d_c + d_c_new * f
            h_prev = h_all[:-1]
            if recurrent_mask is not None:
                h_prev = h_prev * recurrent_mask
            d_flat = d_z.view(-1, width)
            d_recurrent_kernel = h_prev.reshape(-1, units).t() @ d_flat
            flat = x.reshape(-1, x.shape[-1])
            d_x = (d_flat @ kernel.t()).view(x.shape)
            d_kernel = flat.t() @ d_flat
            d_bias = d_flat.sum(dim=0) if ctx.has_bias else None
            return d_x, d_kernel, d_bias, d_recurrent_kernel, d_h, d_c, None, None, None, None

    return LSTMSequence
