"""Fused recurrent kernels: the fast paths of :class:`rnnkit.layers.RNN`.

This module executes; it does not decide. :func:`rnnkit.layers.planner.plan_call` chooses
the path of each call (the conditions of every path are in :mod:`rnnkit.layers.planner`'s
docstring) and :func:`run_fused` runs the fused one it named, with the plan's kernel kind
(``"lstm"``, ``"gru"``, ``"rnn_tanh"``, ``"rnn_relu"``, ``"rnn_tanh_in_place"``,
``"rnn_relu_in_place"``) and, for a right-padded mask, the row lengths the planner read
with :func:`right_padded_lengths`. The planner also uses this module's
:func:`gpu_available`.

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
* ``cudnn``: on TensorFlow and JAX with a GPU, Keras's own cuDNN kernels
  (``keras.src.backend.lstm`` / ``gru``), for unmasked sequences. Only with a GPU: since
  Keras 3.15 the JAX ``gru`` is a plain ``lax.scan`` that also runs on a CPU, where
  rnnkit's own loop measured faster. These kernels raise ``NotImplementedError`` for
  configurations cuDNN cannot run.

Every path returns ``(last_output, outputs, states)`` like :func:`rnnkit.ops.recurrence`.
:func:`run_fused` returns None only when Keras's cuDNN kernel declines at run time; the
layer then runs the plan's ``fallback`` (the generic loop), or raises with
``use_fused=True``. Tests check every fused path against the generic one wherever both
run. Measured gains: ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import functools
from typing import Any

import keras
from keras import ops

#: the SimpleRNN kernels computed in place (no gradients: the planner's
#: ``torch.simple_rnn_inference``, also under a right-padded mask)
IN_PLACE_KINDS = ("rnn_tanh_in_place", "rnn_relu_in_place")


def run_fused(
    plan: Any,
    cell: Any,
    inputs: Any,
    initial_states: list,
    go_backwards: bool = False,
    return_sequences: bool = True,
    zero_output_for_mask: bool = False,
) -> tuple[Any, Any, list] | None:
    """Runs the fused path that ``plan`` (:func:`rnnkit.layers.planner.plan_call`) chose
    over raw ``inputs`` (B, T, D); None only when Keras's cuDNN kernel declines at run
    time. States the path does not compute (an LSTM's cell state under a right-padded
    mask when the caller does not read it) are None."""
    if plan.name in ("torch.fused", "torch.simple_rnn_inference"):
        return torch_fused(plan.kernel, cell, inputs, initial_states, go_backwards)
    if plan.name in ("torch.fused_right_padded", "torch.lstm_packed"):
        return torch_fused_right_padded(
            plan.kernel,
            cell,
            inputs,
            initial_states,
            plan.lengths,
            go_backwards,
            zero_output_for_mask,
            packed=plan.name == "torch.lstm_packed",
        )
    if plan.name == "cudnn":
        return keras_cudnn(
            plan.kernel, cell, inputs, initial_states, None, go_backwards, return_sequences
        )
    raise ValueError(f"run_fused: {plan.name!r} is not a fused path.")


@functools.cache
def _gpu_available(backend: str) -> bool:
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def gpu_available() -> bool:
    """Whether the current backend (TensorFlow or JAX) computes on a GPU."""
    return _gpu_available(keras.backend.backend())


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


def keras_cudnn(
    kind: str,
    cell: Any,
    inputs: Any,
    initial_states: list,
    mask: Any,
    go_backwards: bool,
    return_sequences: bool,
) -> tuple[Any, Any, list] | None:
    """Keras's cuDNN kernels on TensorFlow / JAX: the planner's ``cudnn`` path, chosen
    only with a GPU (Keras's JAX ``gru`` also runs on a CPU, where rnnkit's own loop is
    the faster one). None when Keras declines the configuration (``NotImplementedError``).

    With ``go_backwards`` the inputs are reversed here and the kernel runs forward, so the
    outputs come back in processing order (last input step first), as the generic loop
    gives them: Keras's JAX LSTM kernel returns its ``go_backwards`` outputs in input
    order instead."""
    from keras.src import backend as keras_backend

    if go_backwards:
        inputs = ops.flip(inputs, axis=1)
    common = dict(
        mask=None,
        kernel=cell.kernel,
        recurrent_kernel=cell.recurrent_kernel,
        bias=cell.bias,
        activation=cell.activation,
        recurrent_activation=cell.recurrent_activation,
        return_sequences=True,
        go_backwards=False,
        unroll=False,
    )
    try:
        if kind == "lstm":
            last, outputs, states = keras_backend.lstm(
                inputs, initial_states[0], initial_states[1], **common
            )
        else:
            last, outputs, states = keras_backend.gru(
                inputs, initial_states[0], reset_after=cell.reset_after, **common
            )
    except NotImplementedError:
        return None
    return last, outputs, list(states)
