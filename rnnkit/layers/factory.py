"""Build a recurrent layer from a short name."""

from __future__ import annotations

from typing import Any

__all__ = ["CELL_NAMES", "RECURRENT_LAYERS", "recurrent_layer"]

from rnnkit.layers.gru import GRU
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.min_gru import MinGRU
from rnnkit.layers.min_lstm import MinLSTM
from rnnkit.layers.parallel_rnn import ParallelRNN
from rnnkit.layers.rnn import RNN
from rnnkit.layers.simple_rnn import SimpleRNN
from rnnkit.names import CELL_NAMES  # the canonical keys below (no framework import)

RECURRENT_LAYERS: dict[str, type[RNN] | type[ParallelRNN]] = {
    "lstm": LSTM,
    "gru": GRU,
    "srnn": SimpleRNN,
    "simple_rnn": SimpleRNN,
    "rnn": SimpleRNN,
    "mingru": MinGRU,
    "minlstm": MinLSTM,
}


def recurrent_layer(kind: str, units: int, **kwargs: Any) -> RNN | ParallelRNN:
    """``recurrent_layer("lstm", 64, return_sequences=True)`` -> ``rnnkit.layers.LSTM``.

    Args:
        kind: ``"lstm"``, ``"gru"``, ``"srnn"`` (also ``"simple_rnn"``, ``"rnn"``), or
            the parallel-scan ``"mingru"`` / ``"minlstm"``.
        units: number of units.
        **kwargs: passed to the layer.

    Returns:
        The layer.
    """
    key = str(kind).lower()
    if key not in RECURRENT_LAYERS:
        raise ValueError(
            f"Unknown recurrent layer kind {kind!r}: expected one of 'lstm', 'gru', 'srnn', "
            "'mingru', 'minlstm'."
        )
    return RECURRENT_LAYERS[key](units, **kwargs)
