"""What a DeepMoji model attends to: the attention weight of each word of a text.

:func:`attention_model` gives a model (the same weights) that also outputs the attention
layer's weights, :func:`token_attention` pairs each word of a text with its weight, and
:func:`attention_ratios` summarises a text's attention as its top word's weight over the
uniform weight ``1 / number of words`` (1 for flat attention). The tables and the heatmap
built from these are in :mod:`rnnkit.recipes.deepmoji_attention`.
"""

from __future__ import annotations

import keras
import numpy as np

from rnnkit.layers.factory import RECURRENT_LAYERS
from rnnkit.models.deepmoji.backbone import deepmoji
from rnnkit.models.deepmoji.tokenizer import DeepMojiTokenizer
from rnnkit.names import CELL_NAMES

__all__ = ["attention_model", "attention_ratios", "token_attention"]


def attention_model(model: keras.Model) -> keras.Model:
    """The same DeepMoji model (same weights) with outputs ``[probabilities, attention]``;
    ``model`` itself when it already has both outputs."""
    if len(model.outputs) == 2:
        return model
    embedding = model.get_layer("embedding")
    recurrent = model.get_layer("bi_lstm_0").forward_layer
    # the backbone's cell by its layer class (CELL_NAMES order: the canonical name first)
    cell = next(name for name in CELL_NAMES if type(recurrent) is RECURRENT_LAYERS[name])
    activation = recurrent.get_config().get("recurrent_activation", "sigmoid")
    units = model.get_layer("softmax").units
    clone = deepmoji(
        embedding.input_dim,
        max(2, units),
        model.inputs[0].shape[1],
        gate="sigmoid" if activation == "sigmoid" else "hard_sigmoid",
        return_attention=True,
        embedding_dim=embedding.output_dim,
        lstm_units=recurrent.units,
        cell=cell,
    )
    for layer in model.layers:
        if layer.weights:
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    return clone


def token_attention(
    model: keras.Model, vocabulary: dict[str, int], texts: list[str], maxlen: int
) -> list[list[tuple[str, float]]]:
    """Per text, the ``(word, attention weight)`` of each of its first ``maxlen`` words."""
    tokenizer = DeepMojiTokenizer(vocabulary)
    ids = tokenizer.encode(texts, maxlen)
    _, attention = attention_model(model).predict(ids, verbose=0)
    return [
        list(zip(tokenizer.words(text)[:maxlen], attention[i].tolist()))
        for i, text in enumerate(texts)
    ]


def attention_ratios(rows: list[list[tuple[str, float]]]) -> np.ndarray:
    """Per text, the top word's weight over the uniform weight ``1 / number of words``
    (1 for flat attention; NaN for a text without words).

    Example:

    >>> attention_ratios([[("a", 0.75), ("b", 0.25)]]).tolist()
    [1.5]
    """
    return np.array([max(w for _, w in r) * len(r) if r else np.nan for r in rows])
