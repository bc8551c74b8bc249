"""JAX fast path: a ``lax.scan`` whose backward pass computes the weight gradients after
the loop, one matmul each over all time steps.

JAX differentiates a scan step by step: every step of the backward pass adds its own
``h_{t-1}^T dz_t`` to the recurrent kernel's gradient (and, with the input projection
inside the step, ``x_t^T dz_t`` to the input kernel's), matmuls whose inner dimension is
only the batch. Here the backward scan computes just what must be sequential (each
step's ``dz_t`` and ``dz_t R^T``) and keeps the ``dz_t``; the recurrent kernel's gradient
is then one matmul of all the stored matmul inputs by all the ``dz_t``, and the input
kernel's, the bias's and the inputs' gradients come from one projection of the whole
sequence.

What the forward pass keeps decides the speed (every extra (T, B, 4H) array kept costs
time), so it keeps no duplicates: the outputs, each step's matmul results, the states
that are not outputs, and the matmul inputs that are not states. Cells whose step uses
its projected input only through ``matmul.accumulate(projected, h)`` (rnnkit's LSTM)
keep the sum instead of both terms; the GRU keeps both. A whole SimpleRNN training step
(``train_on_batch``) measured no faster on this path than on the plain scan, so
:class:`rnnkit.layers.RNN` takes it for gated cells (LSTM, GRU) only.

How the backward step stays generic: the cell's own ``step`` runs again inside
``jax.vjp``, with a replay matmul that returns the product stored by the forward pass
(no matmul is recomputed) and whose custom gradient multiplies by the pre-transposed
kernel block and hands back ``dz_t`` itself. The cell's weights are mapped to explicit
arguments with a ``keras.StatelessScope``, so the custom VJP closes over no traced
value.

Masks follow :func:`rnnkit.ops.recurrence` (the step runs under the same ``masked_step``
wrapper; the carried previous output is the output before, so it is rebuilt rather than
kept). Recurrent dropout passes its (B, units) mask to every step.

The batched-gradient scan is used by :class:`rnnkit.layers.RNN` on JAX's CPU backend
for float32 sequences of a gated cell, with ``loop="auto"`` and the per-step projection (the plan
``jax.scan_batched_grads`` of :mod:`rnnkit.layers.planner`); tests check it against the
generic ``scan`` loop (outputs, states and gradients, every cell, both directions, every
mask, initial states, input and recurrent dropout). Measured gains:
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import functools
from typing import Any

import keras

from rnnkit.ops.recurrence import masked_step
from rnnkit.ops.recurrent_matmul import RecurrentMatmul


def _weights(cell: Any) -> list:
    """The cell's weight variables: the two kernels first, then any others (biases)."""
    kernels = [cell.kernel, cell.recurrent_kernel]
    return kernels + [v for v in cell.weights if not any(v is k for k in kernels)]


class _Recording(RecurrentMatmul):
    """The generic matmul that also records each call: ``(block, h, result)``."""

    def __init__(self, kernel: Any, blocks: tuple) -> None:
        super().__init__(kernel, blocks)
        self.calls: list = []

    def __call__(self, h: Any, start: int = 0, stop: int | None = None) -> Any:
        return self._record(None, h, start, stop)

    def accumulate(self, projected: Any, h: Any, start: int = 0, stop: int | None = None) -> Any:
        return self._record(projected, h, start, stop)

    def _record(self, projected: Any, h: Any, start: int, stop: int | None) -> Any:
        out = keras.ops.matmul(h, self.block(start, stop))
        if projected is not None:
            out = projected + out
        self.calls.append(((start, stop), h, out))
        return out


@functools.cache
def _probes() -> tuple:
    """Custom-gradient stand-ins for ``h @ K`` and ``p + h @ K`` that return the stored
    forward result and pass the incoming gradient ``d`` on to ``h`` (``d @ K^T``), to
    ``p`` (``d``) and to the stored result itself (``d``, kept for the batched kernel
    gradient)."""
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def product(h: Any, stored: Any, kernel_t: Any) -> Any:
        return stored

    def product_fwd(h: Any, stored: Any, kernel_t: Any) -> tuple:
        return stored, kernel_t

    def product_bwd(kernel_t: Any, d: Any) -> tuple:
        return d @ kernel_t, d, jnp.zeros_like(kernel_t)

    product.defvjp(product_fwd, product_bwd)

    @jax.custom_vjp
    def accumulated(projected: Any, h: Any, stored: Any, kernel_t: Any) -> Any:
        return stored

    def accumulated_fwd(projected: Any, h: Any, stored: Any, kernel_t: Any) -> tuple:
        return stored, kernel_t

    def accumulated_bwd(kernel_t: Any, d: Any) -> tuple:
        return d, d @ kernel_t, d, jnp.zeros_like(kernel_t)

    accumulated.defvjp(accumulated_fwd, accumulated_bwd)
    return product, accumulated


class _Replay:
    """Backward pass: the forward pass's stored results, in call order."""

    def __init__(self, stored: tuple, blocks_t: dict) -> None:
        self.stored = stored
        self.blocks_t = blocks_t
        self.product, self.accumulated = _probes()
        self.i = 0

    def _next(self) -> Any:
        self.i += 1
        return self.stored[self.i - 1]

    def __call__(self, h: Any, start: int = 0, stop: int | None = None) -> Any:
        return self.product(h, self._next(), self.blocks_t[(start, stop)])

    def accumulate(self, projected: Any, h: Any, start: int = 0, stop: int | None = None) -> Any:
        return self.accumulated(projected, h, self._next(), self.blocks_t[(start, stop)])


def _lean(cell: Any) -> bool:
    """Whether the cell's step uses its projected input only through
    ``matmul.accumulate`` (``cell.accumulates_projection()``: rnnkit's LSTM, and no
    subclass that redefines its step): then the forward pass keeps only the sums, not
    the projected inputs."""
    return cell.accumulates_projection()


def _index_of(x: Any, candidates: Any) -> int | None:
    for i, c in enumerate(candidates):
        if x is c:
            return i
    return None


def scan_with_batched_weight_grads(
    cell: Any,
    inputs_tm: Any,
    initial_states: list,
    mask_tm: Any = None,
    zero_output_for_mask: bool = False,
    recurrent_mask: Any = None,
) -> tuple[Any, Any, list]:
    """Runs ``cell`` over time-major raw inputs ``(T, B, D)`` from ``initial_states``.

    Args:
        cell: an rnnkit cell (the planner checks that this path applies to it).
        inputs_tm: ``(T, B, D)`` inputs (dropout already applied).
        initial_states: the ``(B, n)`` states.
        mask_tm: optional boolean ``(T, B)``; masked steps carry the states and the
            previous output, as in :func:`rnnkit.ops.recurrence`.
        zero_output_for_mask: emit zeros at masked steps.
        recurrent_mask: optional ``(B, units)`` recurrent dropout mask, the same at
            every step.

    Returns:
        ``(last_output, outputs (T, B, units) time-major, final_states)``.
    """
    import jax
    import jax.numpy as jnp

    variables = _weights(cell)
    blocks = cell.recurrent_blocks()
    lean = _lean(cell)
    masked = mask_tm is not None
    # Trace-time facts about one step, in call order (set by the forward trace):
    # each matmul call's block and which state (if any) is its input; which new state
    # (if any) is the step's output.
    static: dict = {}

    def scope(kernel: Any, recurrent_kernel: Any, others: tuple) -> keras.StatelessScope:
        return keras.StatelessScope(
            state_mapping=list(zip(variables, [kernel, recurrent_kernel, *others]))
        )

    def cell_step(
        matmul: Any, projected: Any, m_t: Any, prev: Any, states: Any, dropped: Any
    ) -> tuple:
        """The cell's step (with the recurrent dropout mask ``dropped``), with Keras's
        masking when ``m_t`` is given."""

        def step(x_t: Any, st: list) -> tuple:
            return cell.step(x_t, st, dropped, matmul)

        return masked_step(step, zero_output_for_mask)(projected, m_t, prev, list(states))

    def forward(x_seq, m_seq, dropped, kernel, recurrent_kernel, others, states0, record):
        matmul = _Recording(recurrent_kernel, blocks)

        def body(carry, xs):
            prev, states = carry if masked else (None, carry)
            x_t, m_t = xs if masked else (xs, None)
            matmul.calls = []
            with scope(kernel, recurrent_kernel, others):
                projected = cell.project_inputs(x_t)
                out, new_states = cell_step(matmul, projected, m_t, prev, states, dropped)
            static["blocks"] = [block for block, _, _ in matmul.calls]
            static["h_state"] = [_index_of(h, states) for _, h, _ in matmul.calls]
            static["out_state"] = _index_of(out, new_states)
            new_carry = (out, tuple(new_states)) if masked else tuple(new_states)
            if not record:
                return new_carry, out
            # kept for the backward pass, without duplicates: a matmul input that is a
            # state, and the state that is the output, are not stored twice (the
            # previous output of a masked loop is the output before)
            kept_states = tuple(s for j, s in enumerate(states) if j != static["out_state"])
            kept_h = tuple(h for (_, h, _), j in zip(matmul.calls, static["h_state"]) if j is None)
            results = tuple(r for _, _, r in matmul.calls)
            kept_projected = () if lean else (projected,)
            return new_carry, (out, kept_projected, kept_states, kept_h, results)

        init = tuple(states0)
        if masked:
            zero_out = jnp.zeros((x_seq.shape[1], cell.output_size), states0[0].dtype)
            init = (zero_out, init)
        final, ys = jax.lax.scan(body, init, (x_seq, m_seq) if masked else x_seq)
        return (final[1] if masked else final), ys

    @jax.custom_vjp
    def run(x_seq, m_seq, dropped, kernel, recurrent_kernel, others, states0):
        final, outs = forward(
            x_seq, m_seq, dropped, kernel, recurrent_kernel, others, states0, False
        )
        return outs, final

    def run_fwd(x_seq, m_seq, dropped, kernel, recurrent_kernel, others, states0):
        final, ys = forward(x_seq, m_seq, dropped, kernel, recurrent_kernel, others, states0, True)
        outs, kept_projected, kept_states, kept_h, results = ys
        residuals = (
            x_seq, m_seq, dropped, kernel, recurrent_kernel, others, states0, outs,
            kept_projected, kept_states, kept_h, results,
        )  # fmt: skip
        return (outs, final), residuals

    def run_bwd(residuals, cotangents):
        (
            x_seq, m_seq, dropped, kernel, recurrent_kernel, others, states0, outs,
            kept_projected, kept_states, kept_h, results,
        ) = residuals  # fmt: skip
        d_outs, d_final = cotangents
        # the states (and, masked, the previous outputs) before each step, rebuilt
        zero_out = jnp.zeros_like(outs[0])
        prev_seq = jnp.concatenate([zero_out[None], outs[:-1]], axis=0) if masked else None
        kept = iter(kept_states)
        states_seq = []
        for j, s0 in enumerate(states0):
            if j == static["out_state"]:
                states_seq.append(jnp.concatenate([s0[None], outs[:-1]], axis=0))
            else:
                states_seq.append(next(kept))
        states_seq = tuple(states_seq)
        kept = iter(kept_h)
        h_seqs = [states_seq[j] if j is not None else next(kept) for j in static["h_state"]]
        matmul = RecurrentMatmul(recurrent_kernel, blocks)
        blocks_t = {block: jnp.transpose(matmul.block(*block)) for block in set(static["blocks"])}
        # lean: the step's one call is accumulate(projected, h), whose result stands in
        # for the projected input (any value will do: the replay returns the stored sum)
        zero = jnp.zeros((x_seq.shape[1], results[0].shape[-1]), results[0].dtype)

        def body(carry, xs):
            d_states, d_next_prev, d_others = carry
            d_out, kept_projected_t, states, stored, m_t, prev = xs

            def step_replay(projected_t, prev, states, stored, others_t):
                replay = _Replay(stored, blocks_t)
                with scope(kernel, recurrent_kernel, others_t):
                    out, new_states = cell_step(replay, projected_t, m_t, prev, states, dropped)
                return out, tuple(new_states)

            projected_t = zero if lean else kept_projected_t[0]
            _, vjp = jax.vjp(step_replay, projected_t, prev, states, stored, others)
            # a masked loop carries the output: the next step's gradient adds to it
            d_projected, d_prev, d_before, d_stored, d_others_t = vjp(
                (d_out + d_next_prev, d_states)
            )
            d_others = tuple(a + b for a, b in zip(d_others, d_others_t))
            if not masked:
                d_prev = d_next_prev  # (zeros: no previous output is carried)
            # lean: the projected input's gradient is the sum's, d_stored[0]
            return (d_before, d_prev, d_others), (() if lean else (d_projected,), d_stored)

        zeros_others = tuple(jnp.zeros_like(w) for w in others)
        xs = (d_outs, kept_projected, states_seq, results, m_seq, prev_seq)
        (d_states0, _, d_others), (d_projected, d_stored) = jax.lax.scan(
            body, (tuple(d_final), zero_out, zeros_others), xs, reverse=True
        )
        d_projected = d_stored[0] if lean else d_projected[0]
        # the recurrent kernel: one matmul per call over all T * B rows
        d_recurrent = jnp.zeros_like(recurrent_kernel)
        for (start, stop), h_seq, d in zip(static["blocks"], h_seqs, d_stored):
            d_recurrent = d_recurrent.at[:, start:stop].add(jnp.einsum("tbk,tbm->km", h_seq, d))

        # the input kernel, the bias and the inputs: one projection of the whole sequence
        def project_all(x, k, others_t):
            with scope(k, recurrent_kernel, others_t):
                return cell.project_inputs(x)

        _, project_vjp = jax.vjp(project_all, x_seq, kernel, others)
        d_x, d_kernel, d_others_p = project_vjp(d_projected)
        d_others = tuple(a + b for a, b in zip(d_others, d_others_p))
        # (no gradient for the masks: the sequence mask is boolean and the dropout mask
        # a random draw)
        return d_x, None, None, d_kernel, d_recurrent, d_others, d_states0

    run.defvjp(run_fwd, run_bwd)
    values = [keras.ops.convert_to_tensor(v) for v in variables]
    outs, final = run(
        inputs_tm,
        mask_tm,
        recurrent_mask,
        values[0],
        values[1],
        tuple(values[2:]),
        tuple(initial_states),
    )
    return outs[-1], outs, list(final)
