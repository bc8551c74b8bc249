"""The step equations of minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?")
as the logs of the coefficients of a linear recurrence ``h_t = a_t * h_{t-1} + b_t``.

Each equation is written here once, in two forms of the same coefficients:

- in log space (``min_gru_coefficients``, ``min_lstm_coefficients``), for the parallel
  scan over a whole sequence (:func:`rnnkit.ops.parallel_scan.linear_recurrence`), whose
  running products would leave the float range in linear space;
- in linear space (``min_gru_linear_coefficients``, ``min_lstm_linear_coefficients``),
  for the sequential forms, where each step is a convex combination of the state and a
  candidate and stays in range in any float type: the layers' sequential loop
  (:func:`rnnkit.ops.parallel_scan.sequential_linear_recurrence`) and the cells
  (:class:`rnnkit.cells.MinGRUCell`, :class:`rnnkit.cells.MinLSTMCell`), which apply
  one step at a time (:func:`linear_step`) for decoders that run token by token.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from rnnkit.ops.parallel_scan import g, log_g

__all__ = [
    "check_no_recurrent_dropout",
    "linear_step",
    "min_gru_coefficients",
    "min_gru_linear_coefficients",
    "min_lstm_coefficients",
    "min_lstm_linear_coefficients",
]


def min_gru_coefficients(projected: Any, units: int) -> tuple[Any, Any]:
    """minGRU's ``(log(1 - z), log(z) + log(g(h~)))`` from the projected input
    ``(..., 2 * units)`` (gate, then candidate); each ``(..., units)``."""
    gate, candidate = projected[..., :units], projected[..., units:]
    log_z = -ops.softplus(-gate)
    log_keep = log_z - gate  # log(1 - z) = -softplus(gate), one softplus fewer
    return log_keep, log_z + log_g(candidate)


def min_lstm_coefficients(projected: Any, units: int) -> tuple[Any, Any]:
    """minLSTM's ``(log f', log i' + log(g(h~)))`` with the normalised gates
    ``f' = f / (f + i)``, ``i' = i / (f + i)``, from the projected input
    ``(..., 3 * units)`` (forget, input, candidate); each ``(..., units)``."""
    forget = projected[..., :units]
    inp = projected[..., units : 2 * units]
    candidate = projected[..., 2 * units :]
    diff = ops.softplus(-forget) - ops.softplus(-inp)  # log i - log f
    log_f = -ops.softplus(diff)
    log_i = log_f + diff  # -softplus(-diff), one softplus fewer
    return log_f, log_i + log_g(candidate)


def min_gru_linear_coefficients(projected: Any, units: int) -> tuple[Any, Any]:
    """minGRU's ``(1 - z, z * g(h~))`` from the projected input ``(..., 2 * units)``
    (gate, then candidate); each ``(..., units)``. ``1 - z`` is ``sigmoid(-gate)``, exact
    where ``z`` rounds to 1."""
    gate, candidate = projected[..., :units], projected[..., units:]
    return ops.sigmoid(-gate), ops.sigmoid(gate) * g(candidate)


def min_lstm_linear_coefficients(projected: Any, units: int) -> tuple[Any, Any]:
    """minLSTM's ``(f', i' * g(h~))`` with ``f' = f / (f + i)``, ``i' = i / (f + i)``,
    from the projected input ``(..., 3 * units)`` (forget, input, candidate); each
    ``(..., units)``."""
    forget = ops.sigmoid(projected[..., :units])
    inp = ops.sigmoid(projected[..., units : 2 * units])
    total = forget + inp
    return forget / total, inp / total * g(projected[..., 2 * units :])


def linear_step(a: Any, b: Any, state: Any) -> Any:
    """One step of the recurrence from linear-space coefficients: ``a * state + b``."""
    return a * state + b


def check_no_recurrent_dropout(owner: str, recurrent_dropout: Any) -> None:
    """The error of a minGRU / minLSTM layer or cell given a ``recurrent_dropout`` (an
    argument they accept for the interface of the other recurrent layers): no state
    enters their gates, so there is nothing to drop."""
    if recurrent_dropout:
        raise ValueError(
            f"{owner} has no recurrent weights, so recurrent_dropout must be 0, got "
            f"{recurrent_dropout!r} (use dropout on the inputs)."
        )
