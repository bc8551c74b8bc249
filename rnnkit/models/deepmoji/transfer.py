"""DeepMoji transfer learning at the model level: sizes, pretrained artifacts, new tasks.

- :class:`Config` holds the sizes and schedules of one run, and :data:`CONFIGS` the named
  ones (``quick``, ``demo``, ``medium``, ``full``; :func:`get_config` looks one up);
  :func:`build` makes the backbone (:func:`rnnkit.models.deepmoji.deepmoji`) of a
  configuration.
- A pretrained model is a folder written by :func:`save_pretrained` and read by
  :func:`load_pretrained`: ``pretrained.keras``, ``vocabulary.json`` and
  ``pretrain.json`` (the configuration and what the pretraining reports).
- For a target task, :func:`target_vocabulary` extends the pretraining vocabulary with the
  target data's most frequent new words, :func:`transfer` builds the task's model (a new
  output layer; the embedding, both BiLSTMs and the attention copied from the pretrained
  model, the embedding grown by the new words' rows) and :func:`encode` gives the ids.

The workflows that run these end to end (pretraining, the transfer benchmarks) are
:mod:`rnnkit.recipes.deepmoji_pretrain` and :mod:`rnnkit.recipes.deepmoji_benchmark`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rnnkit.models.deepmoji.backbone import deepmoji, extend_embedding
from rnnkit.models.deepmoji.tokenizer import DeepMojiTokenizer, load_vocabulary, save_vocabulary
from rnnkit.models.deepmoji.vocabulary import extend_vocabulary

__all__ = [
    "CONFIGS",
    "Config",
    "TRANSFERRED_LAYERS",
    "build",
    "encode",
    "get_config",
    "load_pretrained",
    "save_pretrained",
    "target_vocabulary",
    "transfer",
]

#: the layers :func:`transfer` copies from the pretrained model (all but the output layer)
TRANSFERRED_LAYERS = ("embedding", "bi_lstm_0", "bi_lstm_1", "attlayer")


@dataclass
class Config:
    """Sizes and schedules of one DeepMoji configuration (pretraining and fine-tuning)."""

    name: str
    embedding_dim: int = 256
    lstm_units: int = 512
    gate: str = "hard_sigmoid"
    cell: str = "lstm"
    maxlen: int = 30
    vocab_size: int = 50000
    pretrain_samples: int | None = None  # None: the whole stand-in corpus
    pretrain_epochs: int = 5
    pretrain_batch: int = 64
    pretrain_lr: float = 1e-3  # Adam's learning rate for pretraining
    embed_dropout: float = 0.2
    final_dropout: float = 0.5
    extend_vocab: int = 10000  # new words of the target data (DeepMoji: up to 10k)
    finetune_epochs: int = 50
    finetune_patience: int = 5
    finetune_batch: int = 32
    benchmark_train_subset: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)


CONFIGS = {
    # about 5 minutes on 2 CPU cores for pretrain + the SS-Twitter benchmark
    "quick": Config(
        name="quick",
        embedding_dim=32,
        lstm_units=32,
        gate="sigmoid",
        maxlen=30,
        vocab_size=8000,
        pretrain_samples=16000,
        pretrain_epochs=1,
        pretrain_batch=64,
        extend_vocab=1000,
        finetune_epochs=3,
        finetune_patience=1,
        finetune_batch=32,
        seeds=(0, 1),
    ),
    # what `make demo` runs (recipes/main_job.py): tuned on SS-Twitter's validation split to
    # fit about 5 minutes on 2 CPU cores (fine-tuning runs in 2 processes). A higher
    # pretraining learning rate than the paper's default sharpens the attention within
    # the short pretraining, and a third epoch more (recipes/deepmoji/README.md, "How the
    # demo configuration was chosen"); fine-tuning keeps the paper's chain-thaw learning
    # rates.
    "demo": Config(
        name="demo",
        embedding_dim=64,
        lstm_units=64,
        gate="sigmoid",
        maxlen=30,
        vocab_size=20000,
        pretrain_epochs=3,
        pretrain_batch=64,
        pretrain_lr=5e-3,
        extend_vocab=2000,
        finetune_epochs=6,
        finetune_patience=2,
        finetune_batch=32,
        seeds=(0, 1, 2),
    ),
    # a larger run that still fits a CPU: all 38k tweets, 64-d, 2 epochs, longer fine-tuning
    "medium": Config(
        name="medium",
        embedding_dim=64,
        lstm_units=64,
        gate="sigmoid",
        maxlen=30,
        vocab_size=20000,
        pretrain_epochs=2,
        pretrain_batch=64,
        extend_vocab=2000,
        finetune_epochs=8,
        finetune_patience=2,
        seeds=(0, 1, 2),
    ),
    # the paper's sizes (256-d embedding, 2 x 512 BiLSTM, hard-sigmoid gates): for a GPU
    "full": Config(name="full"),
}


def get_config(name: str) -> Config:
    """The named configuration of :data:`CONFIGS`.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).

    Example:

    >>> get_config("quick").lstm_units
    32
    """
    if name not in CONFIGS:
        raise ValueError(
            f"unknown DeepMoji configuration {name!r}, expected one of {sorted(CONFIGS)}"
        )
    return CONFIGS[name]


def build(
    config: Config, nb_tokens: int, nb_classes: int, return_attention: bool = False
) -> keras.Model:
    """The backbone at ``config``'s sizes, gate and dropout rates for ``nb_tokens`` ids and
    ``nb_classes`` classes (see :func:`rnnkit.models.deepmoji.deepmoji`).

    Example:

    >>> model = build(get_config("quick"), nb_tokens=1000, nb_classes=3)  # doctest: +SKIP
    """
    return deepmoji(
        nb_tokens,
        nb_classes,
        config.maxlen,
        embed_dropout=config.embed_dropout,
        final_dropout=config.final_dropout,
        gate=config.gate,
        return_attention=return_attention,
        embedding_dim=config.embedding_dim,
        lstm_units=config.lstm_units,
        cell=config.cell,
    )


def save_pretrained(
    model: keras.Model,
    vocab: dict[str, int],
    config: Config,
    directory: str | os.PathLike,
    info: dict[str, Any],
) -> Path:
    """Writes a pretrained model's folder: ``pretrained.keras``, ``vocabulary.json`` and
    ``pretrain.json`` (``{"config": <config as a dict>, **info}``); returns the folder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "pretrained.keras")
    save_vocabulary(vocab, directory / "vocabulary.json")
    with open(directory / "pretrain.json", "w") as f:
        json.dump({"config": asdict(config), **info}, f, indent=1)
    return directory


def load_pretrained(directory: str | os.PathLike) -> tuple[keras.Model, dict[str, int]]:
    """The model and vocabulary of a folder written by :func:`save_pretrained`.

    Raises:
        FileNotFoundError: when the folder has no ``pretrained.keras``.
    """
    path = Path(directory) / "pretrained.keras"
    if not path.exists():
        raise FileNotFoundError(
            f"no pretrained DeepMoji model at {path}, expected a folder written by "
            "save_pretrained (e.g. by `rnnkit pretrain`)"
        )
    model = keras.models.load_model(path, safe_mode=True)
    return model, load_vocabulary(Path(directory) / "vocabulary.json")


def target_vocabulary(
    vocab: dict[str, int], train_texts: list[str], config: Config
) -> tuple[dict[str, int], int]:
    """The pretraining vocabulary extended with the target data's most frequent new words
    (at most ``config.extend_vocab``), and the number of words added."""
    extended, added = extend_vocabulary(vocab, train_texts, config.extend_vocab, min_count=1)
    return extended, len(added)


def transfer(
    pretrained: keras.Model | None,
    config: Config,
    nb_tokens: int,
    nb_added: int,
    nb_classes: int,
    seed: int,
    return_attention: bool = False,
) -> keras.Model:
    """A model for the target task: a new output layer; the other layers
    (:data:`TRANSFERRED_LAYERS`) from ``pretrained``, its embedding extended by
    ``nb_added`` rows (:func:`rnnkit.models.deepmoji.extend_embedding`), or all fresh when
    ``pretrained`` is None. ``seed`` seeds the new weights."""
    keras.utils.set_random_seed(seed)
    model = build(config, nb_tokens, nb_classes, return_attention)
    if pretrained is not None:
        source = extend_embedding(pretrained, nb_added, seed=seed)
        for name in TRANSFERRED_LAYERS:
            model.get_layer(name).set_weights(source.get_layer(name).get_weights())
    return model


def encode(vocab: dict[str, int], texts: list[str], maxlen: int) -> np.ndarray:
    """Ids ``(len(texts), maxlen)`` of ``texts`` with DeepMoji's tokenizer."""
    return DeepMojiTokenizer(vocab).encode(texts, maxlen)
