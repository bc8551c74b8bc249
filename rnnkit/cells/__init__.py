"""Recurrent cells: the step equations ``s_i = R(s_{i-1}, x_i), y_i = O(s_i)``."""

from rnnkit.cells.base import GatedRecurrentCell, RecurrentCell
from rnnkit.cells.gru_cell import GRUCell
from rnnkit.cells.lstm_cell import LSTMCell
from rnnkit.cells.simple_rnn_cell import SimpleRNNCell

__all__ = ["GRUCell", "GatedRecurrentCell", "LSTMCell", "RecurrentCell", "SimpleRNNCell"]
