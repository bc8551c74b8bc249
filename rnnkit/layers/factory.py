"""Build a recurrent layer from a short name."""

from __future__ import annotations

from typing import Any

from rnnkit.layers.gru import GRU
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.rnn import RNN
from rnnkit.layers.simple_rnn import SimpleRNN

RECURRENT_LAYERS: dict[str, type[RNN]] = {
    "lstm": LSTM,
    "gru": GRU,
    "srnn": SimpleRNN,
    "simple_rnn": SimpleRNN,
    "rnn": SimpleRNN,
}


def recurrent_layer(kind: str, units: int, **kwargs: Any) -> RNN:
    """``recurrent_layer("lstm", 64, return_sequences=True)`` -> ``rnnkit.layers.LSTM``.

    Args:
        kind: ``"lstm"``, ``"gru"`` or ``"srnn"`` (also ``"simple_rnn"``, ``"rnn"``).
        units: number of units.
        **kwargs: passed to the layer.

    Returns:
        The layer.
    """
    key = str(kind).lower()
    if key not in RECURRENT_LAYERS:
        raise ValueError(
            f"Unknown recurrent layer kind {kind!r}: expected one of 'lstm', 'gru', 'srnn'."
        )
    return RECURRENT_LAYERS[key](units, **kwargs)
