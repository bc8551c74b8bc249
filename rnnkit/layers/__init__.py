"""Recurrent layers and blocks."""

from rnnkit.layers.gru import GRU
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.rnn import RNN
from rnnkit.layers.simple_rnn import SimpleRNN

__all__ = ["GRU", "LSTM", "RNN", "SimpleRNN"]
