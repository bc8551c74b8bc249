"""Acceptor: read a whole sequence, then classify it (text classification)."""

from __future__ import annotations

import keras
import numpy as np

from rnnkit.layers.factory import recurrent_layer
from rnnkit.layers.stacked_rnn import StackedRNN

POOLINGS = ("last", "attention", "mean", "max", "max_mean")


def build_acceptor(
    vocab_size: int,
    num_classes: int,
    embedding_dim: int = 100,
    cell: str = "lstm",
    units: int = 64,
    num_layers: int = 1,
    bidirectional: bool = True,
    pooling: str = "last",
    skip: str = "none",
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    embedding_dropout: float = 0.0,
    multi_label: bool = False,
    embeddings: np.ndarray | None = None,
    trainable_embeddings: bool = True,
    max_length: int | None = None,
    name: str = "acceptor",
) -> keras.Model:
    """Embedding -> stacked (Bi)RNN -> pooling -> classifier, over integer ids.

    Id 0 is padding (masked everywhere); the model reads ``(batch, timesteps)`` int ids.

    Args:
        vocab_size: number of ids (including 0 for padding).
        num_classes: number of classes (or labels with ``multi_label``).
        embedding_dim: embedding size (ignored when ``embeddings`` is given).
        cell: ``"lstm"``, ``"gru"``, ``"srnn"``, or the parallel-scan ``"mingru"`` /
            ``"minlstm"``.
        units: units per direction of each recurrent layer.
        num_layers: number of stacked recurrent layers.
        bidirectional: bidirectional recurrent layers.
        pooling: ``"last"`` (final state of the acceptor), ``"attention"``
            (DeepMoji attention pooling over the sequence), ``"mean"`` (masked mean),
            ``"max"`` (masked max over time) or ``"max_mean"`` (the masked max and mean
            concatenated, :class:`rnnkit.layers.MaskedPooling`).
        skip: skip connections of the stack (see :class:`rnnkit.layers.StackedRNN`).
        dropout: dropout between layers and before the classifier.
        recurrent_dropout: recurrent dropout inside the cells.
        embedding_dropout: SpatialDropout1D on the embeddings.
        multi_label: independent sigmoid outputs instead of a softmax.
        embeddings: optional pretrained matrix ``(vocab_size, dim)``.
        trainable_embeddings: whether pretrained embeddings are fine-tuned.
        max_length: optional static sequence length of the input.
        name: model name.

    Returns:
        An uncompiled ``keras.Model`` with probabilities as output.

    Example:

    >>> model = build_acceptor(vocab_size=1000, num_classes=3, units=32)
    >>> model.compile("adam", "sparse_categorical_crossentropy")
    """
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}: expected one of {POOLINGS}.")
    if num_layers < 1:
        raise ValueError(f"`num_layers` must be >= 1, got {num_layers}.")
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1, got {num_classes}.")
    if pooling == "last" and skip != "none":
        raise ValueError(f"skip={skip!r} needs a pooling over the sequence, not 'last'.")
    inputs = keras.Input((max_length,), dtype="int32", name="token_ids")
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype="float32")
        if embeddings.ndim != 2 or embeddings.shape[0] != vocab_size:
            raise ValueError(
                f"`embeddings` must have shape (vocab_size={vocab_size}, dim), got "
                f"{embeddings.shape}."
            )
        embedding_dim = embeddings.shape[1]
    embedding = keras.layers.Embedding(
        vocab_size,
        embedding_dim,
        mask_zero=True,
        trainable=trainable_embeddings,
        name="embedding",
        embeddings_initializer=(
            keras.initializers.Constant(embeddings) if embeddings is not None else "uniform"
        ),
    )
    x = embedding(inputs)
    if embedding_dropout:
        x = keras.layers.SpatialDropout1D(embedding_dropout, name="embedding_dropout")(x)
    sequences = pooling != "last"
    layers = [
        recurrent_layer(cell, units, recurrent_dropout=recurrent_dropout, name=f"{cell}_{i}")
        for i in range(num_layers)
    ]
    x = StackedRNN(
        layers,
        bidirectional=bidirectional,
        dropout=dropout,
        skip=skip,
        return_sequences=sequences,
        name="encoder",
    )(x)
    if pooling == "attention":
        from rnnkit.layers.attention_pooling import AttentionPooling

        x = AttentionPooling(name="attention")(x)
    elif pooling in ("mean", "max", "max_mean"):
        from rnnkit.layers.masked_pooling import MaskedPooling

        x = MaskedPooling(pooling, name=f"{pooling}_pooling")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="final_dropout")(x)
    activation = "sigmoid" if multi_label else "softmax"
    outputs = keras.layers.Dense(num_classes, activation=activation, name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)
