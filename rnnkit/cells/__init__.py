"""Recurrent cells: the step equations ``s_i = R(s_{i-1}, x_i), y_i = O(s_i)``."""

from rnnkit.cells.base import GatedRecurrentCell, LinearRecurrenceCell, RecurrentCell
from rnnkit.cells.gru_cell import GRUCell
from rnnkit.cells.lstm_cell import LSTMCell
from rnnkit.cells.min_gru_cell import MinGRUCell
from rnnkit.cells.min_lstm_cell import MinLSTMCell
from rnnkit.cells.simple_rnn_cell import SimpleRNNCell

__all__ = [
    "GRUCell",
    "GatedRecurrentCell",
    "LSTMCell",
    "LinearRecurrenceCell",
    "MinGRUCell",
    "MinLSTMCell",
    "RecurrentCell",
    "SimpleRNNCell",
]
