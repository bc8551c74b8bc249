"""The torch backend's fast paths. :mod:`rnnkit.layers.planner` chooses them and names
them; this module runs them and decides nothing.

Torch's own kernels (``run_fused`` in :mod:`rnnkit.backend` dispatches on the plan):

* ``torch.fused``: ``torch.lstm`` / ``torch.gru`` / ``torch.rnn_tanh`` /
  ``torch.rnn_relu`` (cuDNN on GPU, ATen/oneDNN on CPU); rnnkit's weight layouts are
  converted to torch's (GRU gates z, r, h -> r, z, n).
* ``torch.simple_rnn_inference``: a SimpleRNN while torch records no gradients
  (``predict``) runs :func:`torch_simple_rnn_inference`: the same steps, each computed in
  place in its slice of the outputs.
* ``torch.fused_right_padded``: the two above under a right-padded mask (every row's
  mask is True up to its length and False after it, the padding that text batches have).
  The kernel runs over the whole padded batch (a row's steps before its length don't
  depend on what follows), and Keras's masking semantics are rebuilt from the outputs:
  the output at a padded step is the row's last real output (zeros with
  ``zero_output_for_mask``), the last output is the last emitted one, the final state is
  the output at the row's last real step, and a fully masked row keeps its initial state
  and emits zeros. With ``go_backwards`` each row's real steps are reversed in place
  before the kernel, since the layer meets the padding first. An LSTM's final cell state
  is not among the outputs; this path returns None in its place, and the planner takes
  it only when the caller does not read that state.
* ``torch.lstm_packed``: an LSTM whose final states are read (``return_state``,
  ``stateful``) under a right-padded mask while no gradients are recorded: the kernel
  runs over each row's real steps only (a packed sequence, whose final states are those
  of each row's last real step). While gradients are recorded the planner sends this case
  to the generic loop, which trained faster than a packed raw torch LSTM.

``torch_compiled`` (the parallel-scan layers' ``linear_loop`` on a CPU): their
coefficients (sigmoids, ``g``, products over the whole projected sequence) as one
``torch.compile`` graph (:func:`compiled_coefficients`), forward and backward: Inductor
fuses them into one pass over the sequence, where eager torch makes one per operation.
The loop itself stays eager. Inductor writes its CPU kernels in C++, so the path needs a
C++ compiler (:func:`compile_available`), and each compilation costs seconds: the
planner takes it for calls large enough to repay that (its conditions are in
:mod:`rnnkit.layers.planner`). A compilation that fails warns once and the function
runs uncompiled from then on.

``torch.lstm_closed_form`` trains an LSTM that has no torch kernel: the whole recurrence
as one ``torch.autograd.Function`` with a closed-form backward pass.

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
states read). Every mask, ``go_backwards``, ``zero_output_for_mask``, initial states and
input / recurrent dropout work as in :func:`rnnkit.ops.recurrence`.

The recurrent matmul of the generic loop in inference (a
:class:`rnnkit.ops.recurrent_matmul.RecurrentMatmul`):

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

Every path of the classic layers returns ``(last_output, outputs, states)`` like
:func:`rnnkit.ops.recurrence`; tests check each against the generic loop. Measured
gains: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import functools
import os
import shutil
import types
import warnings
from collections.abc import Callable
from typing import Any

from keras import ops

from rnnkit.ops.recurrent_matmul import Block, RecurrentMatmul

#: the SimpleRNN kernels computed in place (no gradients: the planner's
#: ``torch.simple_rnn_inference``, also under a right-padded mask)
IN_PLACE_KINDS = ("rnn_tanh_in_place", "rnn_relu_in_place")


def _gru_to_torch(w: Any) -> Any:
    import torch

    z, r, n = torch.chunk(w, 3, dim=-1)
    return torch.cat([r, z, n], dim=-1)


def _torch_params(kind: str, cell: Any) -> tuple[list, bool]:
    """The cell's weights in the layout of torch's RNN kernels, and whether it has a bias."""
    import torch

    kernel = ops.convert_to_tensor(cell.kernel)
    recurrent = ops.convert_to_tensor(cell.recurrent_kernel)
    bias = None if cell.bias is None else ops.convert_to_tensor(cell.bias)
    if kind == "gru":
        params = [_gru_to_torch(kernel).t(), _gru_to_torch(recurrent).t()]
        if bias is not None:
            params += [_gru_to_torch(bias[0]), _gru_to_torch(bias[1])]
    else:
        params = [kernel.t(), recurrent.t()]
        if bias is not None:
            params += [bias, torch.zeros_like(bias)]
    return [p.contiguous() for p in params], bias is not None


def torch_fused(
    kind: str, cell: Any, inputs: Any, initial_states: list, go_backwards: bool
) -> tuple[Any, Any, list]:
    """Torch fast path (see module docstring)."""
    import torch

    x = ops.convert_to_tensor(inputs)
    if go_backwards:
        x = torch.flip(x, dims=[1])
    if kind in IN_PLACE_KINDS:
        h0 = ops.convert_to_tensor(initial_states[0])
        outputs, h = torch_simple_rnn_inference(kind, cell, x, h0)
        return h, outputs, [h]
    h0 = ops.convert_to_tensor(initial_states[0]).unsqueeze(0).contiguous()
    # train=True while gradients are recorded: cuDNN keeps the reserve space its backward
    # pass needs only in training mode (with dropout 0 the outputs are the same)
    args = (*_torch_params(kind, cell), 1, 0.0, torch.is_grad_enabled(), False, True)
    if kind == "lstm":
        c0 = ops.convert_to_tensor(initial_states[1]).unsqueeze(0).contiguous()
        outputs, h, c = torch.lstm(x, (h0, c0), *args)
        return h[0], outputs, [h[0], c[0]]
    fn = {"gru": torch.gru, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}[kind]
    outputs, h = fn(x, h0, *args)
    return h[0], outputs, [h[0]]


def torch_simple_rnn_inference(kind: str, cell: Any, x: Any, h0: Any) -> tuple[Any, Any]:
    """Torch fast path for a SimpleRNN while no gradients are recorded (``predict``):
    ``(outputs (B, T, units), final state)``.

    The input projection ``x W + b`` is computed into the ``(B, T, units)`` tensor that
    becomes the outputs, and each step overwrites its own slice in place: ``o_t +=
    h_{t-1} R``, then ``tanh`` (or ``relu``) in place; the slice is the step's state.
    ``torch.rnn_tanh`` computes the same numbers but writes every step to a fresh
    tensor and stacks them at the end. In-place writes cannot be differentiated, so
    this loop runs only while no gradients are recorded and training keeps
    ``torch.rnn_tanh``."""
    import torch

    batch, steps = x.shape[0], x.shape[1]
    kernel = ops.convert_to_tensor(cell.kernel).to(x.dtype)
    recurrent = ops.convert_to_tensor(cell.recurrent_kernel).to(x.dtype)
    flat = x.reshape(batch * steps, x.shape[2])
    if cell.bias is None:
        outputs = torch.mm(flat, kernel)
    else:
        outputs = torch.addmm(ops.convert_to_tensor(cell.bias).to(x.dtype), flat, kernel)
    outputs = outputs.view(batch, steps, kernel.shape[1])
    activation_ = torch.tanh_ if kind.startswith("rnn_tanh") else torch.relu_
    h = h0.to(x.dtype)
    for t in range(steps):
        o = outputs[:, t]
        o.addmm_(h, recurrent)
        activation_(o)
        h = o
    return outputs, h


def right_padded_lengths(mask: Any) -> Any:
    """Each row's length if ``mask`` (B, T) is right-padded (True up to the length,
    False after it), else None. Torch only; reads the mask on the host (one sync)."""
    import torch

    mask = ops.convert_to_tensor(mask)
    if mask.device.type == "meta":  # symbolic shapes only (Keras's output-spec tracing)
        return None
    mask = mask.bool()
    lengths = mask.sum(dim=1)
    steps = torch.arange(mask.shape[1], device=mask.device)
    if not torch.equal(mask, steps[None, :] < lengths[:, None]):
        return None
    return lengths


def torch_fused_right_padded(
    kind: str,
    cell: Any,
    inputs: Any,
    initial_states: list,
    lengths: Any,
    go_backwards: bool,
    zero_output_for_mask: bool,
    packed: bool = False,
) -> tuple[Any, Any, list]:
    """Torch's fused kernels under a right-padded mask with these row ``lengths`` (see
    module docstring); ``packed``: an LSTM whose final cell state is read, run over each
    row's real steps (no gradients)."""
    import torch

    x = ops.convert_to_tensor(inputs)
    batch, steps = x.shape[0], x.shape[1]
    t = torch.arange(steps, device=x.device)[None, :]  # (1, T)
    length = lengths[:, None]  # (B, 1)
    empty = (lengths == 0)[:, None]
    if go_backwards:
        # the real steps last to first, then the padding: a right-padded run
        order = torch.where(t < length, length - 1 - t, t)
        x = torch.gather(x, 1, order[:, :, None].expand(-1, -1, x.shape[2]))
    if packed:
        outputs, c_last = _torch_lstm_packed(cell, x, initial_states, lengths)
        c_last = torch.where(empty, ops.convert_to_tensor(initial_states[1]), c_last)
    else:
        _, outputs, _ = torch_fused(kind, cell, x, initial_states, go_backwards=False)

    def at(index: Any) -> Any:  # outputs[b, index[b, j]] for every row b
        return torch.gather(outputs, 1, index[:, :, None].expand(-1, -1, outputs.shape[2]))

    if go_backwards:
        # processing order: the padding first (zero outputs: no real step yet)
        source = t - (steps - length)
        sequence = torch.where((source >= 0)[:, :, None], at(source.clamp(min=0)), 0.0)
    else:
        sequence = at(torch.minimum(t, (length - 1).clamp(min=0)).expand(batch, -1))
        padded = (t >= length) if zero_output_for_mask else (t >= length) & empty
        sequence = torch.where(padded[:, :, None], 0.0, sequence)
    # the last emitted output (zeros after padding with zero_output_for_mask) and the
    # state after the row's last real step (the initial one for an empty row)
    last = sequence[:, -1]
    last_real = at((length - 1).clamp(min=0))[:, 0]
    states = [torch.where(empty, ops.convert_to_tensor(initial_states[0]), last_real)]
    if kind == "lstm":
        # not computed when the caller said it does not read it
        states.append(c_last if packed else None)
    return last, sequence, states


def _torch_lstm_packed(cell: Any, x: Any, initial_states: list, lengths: Any) -> tuple[Any, Any]:
    """``torch.lstm`` over each row's real steps only (a packed sequence), for an LSTM
    whose final cell state is needed: ``(outputs (B, T, units), c at each row's last real
    step)``. Rows of length 0 run one step here; the caller replaces their results."""
    import torch
    from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

    data = pack_padded_sequence(
        x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    order, restore = data.sorted_indices, data.unsorted_indices
    h0, c0 = (ops.convert_to_tensor(s)[order].unsqueeze(0) for s in initial_states[:2])
    params, has_bias = _torch_params("lstm", cell)
    out, _, c = torch.lstm(
        data.data, data.batch_sizes, (h0, c0), params, has_bias, 1, 0.0, False, False
    )
    outputs, _ = pad_packed_sequence(
        PackedSequence(out, data.batch_sizes, order, restore),
        batch_first=True,
        total_length=x.shape[1],
    )
    return outputs, c[0][restore]


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


# -- torch.lstm_closed_form -------------------------------------------------------------
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


#: (fn, units) -> the compiled function (:func:`compiled_coefficients`)
_COMPILED: dict[tuple, Any] = {}
#: the (fn, units) whose compilation failed: they run uncompiled
_COMPILE_FAILED: set[tuple] = set()


@functools.cache
def compile_available() -> bool:
    """Whether ``torch.compile`` can make CPU code in this process: TorchDynamo supports
    this Python, and a C++ compiler (``$CXX``, else ``c++``, ``g++`` or ``clang++`` on
    the PATH) is there for Inductor's CPU kernels."""
    import torch

    try:
        if not torch._dynamo.is_dynamo_supported():
            return False
    except Exception:  # an import error inside torch._dynamo: no compiler stack
        return False
    cxx = os.environ.get("CXX")
    candidates = [cxx] if cxx else ["c++", "g++", "clang++"]
    return any(shutil.which(c) for c in candidates)


def compiling() -> bool:
    """Whether this call is being traced by ``torch.compile`` (then an inner compiled
    function would add nothing: the outer compilation fuses its operations)."""
    import torch

    return torch.compiler.is_compiling()


def compiled_coefficients(fn: Callable[[Any, int], Any], units: int) -> Callable[[Any], Any]:
    """``lambda x: fn(x, units)`` as one ``torch.compile`` graph (``fullgraph=True``,
    ``dynamic=True``: one compilation serves every batch size and length; torch compiles
    again for another dtype or grad mode, and for a dimension of size 1). ``fn`` maps
    ``(..., features)`` to a tuple of ``(..., m)`` tensors (a pure function such as
    :func:`rnnkit.ops.min_rnn.min_gru_linear_coefficients`). Made once per ``(fn,
    units)``, each with its own copy of the wrapper's code object: TorchDynamo caches
    compiled graphs per code object, and a shared one would reach its recompile limit
    after a few ``units`` values and run the rest uncompiled. If the compilation fails
    (no working C++ compiler, an operation TorchDynamo cannot trace) while ``fn`` itself
    runs on the same input, a ``RuntimeWarning`` says so once and ``fn`` runs uncompiled
    from then on.

    Example:

    >>> from rnnkit.ops.min_rnn import min_gru_linear_coefficients
    >>> x = torch.ones((5, 2, 8))
    >>> a, b = compiled_coefficients(min_gru_linear_coefficients, 4)(x)  # doctest: +SKIP
    """
    import torch

    key = (fn, int(units))
    compiled = _COMPILED.get(key)
    if compiled is None:

        def call(x: Any) -> Any:
            return fn(x, units)

        call = types.FunctionType(
            call.__code__.replace(), call.__globals__, call.__name__, None, call.__closure__
        )
        compiled = torch.compile(call, fullgraph=True, dynamic=True)
        _COMPILED[key] = compiled

    def run(x: Any) -> Any:
        if key not in _COMPILE_FAILED:
            try:
                return compiled(x)
            except Exception as error:  # any failure of the compiler stack
                # uncompiled first: an input at fault raises its own error here, and
                # the compiled function stays in use
                result = fn(x, units)
                _COMPILE_FAILED.add(key)
                reason = (str(error).strip().splitlines() or [""])[0][:300]
                warnings.warn(
                    f"torch.compile of {getattr(fn, '__name__', fn)!r} (units={units}) "
                    f"failed ({type(error).__name__}: {reason}); it runs uncompiled from "
                    "now on.",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return result
        return fn(x, units)

    return run
