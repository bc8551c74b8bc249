"""Recurrent layers and blocks."""

from rnnkit.layers.attention_decoder import AttentionDecoder, Decoded
from rnnkit.layers.attention_pooling import AttentionPooling
from rnnkit.layers.bahdanau_attention import BahdanauAttention
from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.crf import CRF
from rnnkit.layers.factory import recurrent_layer
from rnnkit.layers.gru import GRU
from rnnkit.layers.lstm import LSTM
from rnnkit.layers.masked_pooling import MaskedPooling
from rnnkit.layers.min_gru import MinGRU
from rnnkit.layers.min_lstm import MinLSTM
from rnnkit.layers.parallel_rnn import ParallelRNN
from rnnkit.layers.rnn import RNN
from rnnkit.layers.simple_rnn import SimpleRNN
from rnnkit.layers.stacked_rnn import StackedRNN

__all__ = [
    "AttentionDecoder",
    "Decoded",
    "AttentionPooling",
    "BahdanauAttention",
    "Bidirectional",
    "CRF",
    "StackedRNN",
    "recurrent_layer",
    "GRU",
    "LSTM",
    "MaskedPooling",
    "MinGRU",
    "MinLSTM",
    "ParallelRNN",
    "RNN",
    "SimpleRNN",
]
