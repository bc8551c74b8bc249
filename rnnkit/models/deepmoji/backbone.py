"""The DeepMoji backbone (Felbo et al. 2017) rebuilt on rnnkit layers.

The architecture of the original ``deepmoji_architecture``: a 256-d embedding (L2
1e-6) squashed by tanh, spatial dropout, two bidirectional LSTMs of 512 units per
direction, the skip concatenation ``[lstm_1, lstm_0, embedding]`` (2304 features),
attention pooling and a softmax (a one-unit sigmoid when binary). Layer names are
the original's (``embedding``, ``bi_lstm_0``, ``bi_lstm_1``, ``attlayer``,
``softmax``), so weights import by name (see :mod:`rnnkit.models.deepmoji.weights`).
:func:`extend_embedding` appends embedding rows for words a target task adds to the
vocabulary (see :mod:`rnnkit.models.deepmoji.transfer`).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rnnkit.layers.attention_pooling import AttentionPooling
from rnnkit.layers.bidirectional import Bidirectional
from rnnkit.layers.factory import recurrent_layer
from rnnkit.layers.lstm import LSTM
from rnnkit.names import CELL_NAMES

GATES = {"hard_sigmoid": "keras2_hard_sigmoid", "sigmoid": "sigmoid"}

#: the layer names of the original model, in order
LAYER_NAMES = ("embedding", "bi_lstm_0", "bi_lstm_1", "attlayer", "softmax")


def _check_positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def _check_rate(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1), got {value!r}.")


def deepmoji(
    nb_tokens: int,
    nb_classes: int,
    maxlen: int,
    embed_dropout: float = 0.0,
    final_dropout: float = 0.0,
    gate: str = "hard_sigmoid",
    return_attention: bool = False,
    embedding_dim: int = 256,
    lstm_units: int = 512,
    embed_l2: float = 1e-6,
    feature_output: bool = False,
    name: str = "deepmoji",
    cell: str = "lstm",
) -> keras.Model:
    """Builds the DeepMoji model.

    Args:
        nb_tokens: Vocabulary size (ids ``0 .. nb_tokens - 1``; 0 is padding/mask).
        nb_classes: Number of output classes; 2 gives one sigmoid unit (the
            original's binary head), more a softmax.
        maxlen: Sequence length of the integer input (padded at the end with 0).
        embed_dropout: Spatial (whole-word-vector) dropout rate after the tanh.
        final_dropout: Dropout rate before the output layer.
        gate: LSTM gate nonlinearity: ``"hard_sigmoid"`` (the original's Keras 2
            ``clip(0.2 x + 0.5, 0, 1)``, needed for the released weights) or
            ``"sigmoid"`` (fast; can use fused kernels).
        return_attention: Also output the attention weights ``(batch, maxlen)``.
        embedding_dim: Embedding size (256 in the original; smaller for tests).
        lstm_units: LSTM units per direction (512 in the original).
        embed_l2: L2 regularisation of the embedding (0 for none).
        feature_output: Output the pooled 2304-d features instead of class scores
            (the original's ``feature_output``).
        name: Model name.
        cell: The recurrent layer of both bidirectional layers, one of
            :data:`rnnkit.names.CELL_NAMES`: ``"lstm"`` (the original; the only one the
            released weights fit), or an alternative such as the parallel-scan
            ``"mingru"`` / ``"minlstm"``. ``gate`` applies to ``"lstm"`` and ``"gru"``;
            ``lstm_units`` is the units of whichever layer. The layer names stay the
            original's (``bi_lstm_0``, ``bi_lstm_1``).

    Returns:
        A functional ``keras.Model`` from int ids ``(batch, maxlen)`` to class
        probabilities ``(batch, nb_classes)`` (``(batch, 1)`` when binary); with
        ``return_attention``, ``[probabilities, attention (batch, maxlen)]``.

    Example:

    >>> model = deepmoji(nb_tokens=50000, nb_classes=64, maxlen=30)
    >>> model.count_params()
    22395200
    """
    _check_positive_int("nb_tokens", nb_tokens, 2)
    _check_positive_int("nb_classes", nb_classes, 2)
    _check_positive_int("maxlen", maxlen)
    _check_positive_int("embedding_dim", embedding_dim)
    _check_positive_int("lstm_units", lstm_units)
    _check_rate("embed_dropout", embed_dropout)
    _check_rate("final_dropout", final_dropout)
    if gate not in GATES:
        raise ValueError(f"`gate` must be one of {tuple(GATES)}, got {gate!r}.")
    if embed_l2 < 0:
        raise ValueError(f"`embed_l2` must be >= 0, got {embed_l2!r}.")
    if cell not in CELL_NAMES:
        raise ValueError(f"`cell` must be one of {', '.join(CELL_NAMES)}, got {cell!r}.")

    inputs = keras.Input(shape=(maxlen,), dtype="int32", name="input")
    regularizer = keras.regularizers.L2(embed_l2) if embed_l2 else None
    x = keras.layers.Embedding(
        nb_tokens,
        embedding_dim,
        mask_zero=True,
        embeddings_regularizer=regularizer,
        name="embedding",
    )(inputs)
    x = keras.layers.Activation("tanh", name="embed_tanh")(x)
    if embed_dropout:
        x = keras.layers.SpatialDropout1D(embed_dropout, name="embed_drop")(x)
    recurrent_activation = GATES[gate]

    def recurrent(index: int) -> keras.Layer:
        if cell == "lstm":
            return LSTM(
                lstm_units,
                recurrent_activation=recurrent_activation,
                return_sequences=True,
                name=f"lstm_{index}",
            )
        options = {"recurrent_activation": recurrent_activation} if cell == "gru" else {}
        return recurrent_layer(
            cell, lstm_units, return_sequences=True, name=f"lstm_{index}", **options
        )

    lstm_0 = Bidirectional(recurrent(0), name="bi_lstm_0")(x)
    lstm_1 = Bidirectional(recurrent(1), name="bi_lstm_1")(lstm_0)
    x = keras.layers.Concatenate(name="skip_concat")([lstm_1, lstm_0, x])
    pooled = AttentionPooling(score="deepmoji", return_attention=return_attention, name="attlayer")(
        x
    )
    weights = None
    if return_attention:
        pooled, weights = pooled
    if feature_output:
        outputs = pooled
    else:
        if final_dropout:
            pooled = keras.layers.Dropout(final_dropout, name="final_drop")(pooled)
        if nb_classes > 2:
            outputs = keras.layers.Dense(nb_classes, activation="softmax", name="softmax")(pooled)
        else:
            outputs = keras.layers.Dense(1, activation="sigmoid", name="softmax")(pooled)
    if return_attention:
        outputs = [outputs, weights]
    return keras.Model(inputs, outputs, name=name)


def extend_embedding(model: keras.Model, nb_new: int, seed: int | None = None) -> keras.Model:
    """A copy of ``model`` whose ``embedding`` layer has ``nb_new`` more rows.

    The pretrained rows are kept as they are (new word ids are appended after the old
    ones, as a vocabulary extension gives them); the new rows are drawn from the
    embedding's initializer. Every other weight is copied.

    Args:
        model: A functional model with a layer named ``embedding`` (e.g. from
            :func:`deepmoji`).
        nb_new: Number of rows to append (0 returns a copy).
        seed: Seed for the new rows.

    Returns:
        A new, uncompiled ``keras.Model``.

    Example:

    >>> bigger = extend_embedding(deepmoji(1000, 3, 20, lstm_units=8), 50)
    """
    _check_positive_int("nb_new", nb_new, 0)
    try:
        embedding = model.get_layer("embedding")
    except ValueError as e:
        raise ValueError(
            f"extend_embedding needs a model with a layer named 'embedding', got layers "
            f"{[layer.name for layer in model.layers]}."
        ) from e
    config = model.get_config()
    for layer_config in config["layers"]:
        if layer_config["name"] == "embedding":
            layer_config["config"]["input_dim"] = embedding.input_dim + nb_new
    new_model = model.__class__.from_config(config)
    old_rows = keras.ops.convert_to_numpy(embedding.embeddings)
    init = keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)
    new_rows = keras.ops.convert_to_numpy(init((nb_new, old_rows.shape[1])))
    for layer in model.layers:
        target = new_model.get_layer(layer.name)
        if layer.name == "embedding":
            target.set_weights([np.concatenate([old_rows, new_rows.astype(old_rows.dtype)])])
        elif layer.weights:
            target.set_weights(layer.get_weights())
    return new_model
