"""Shared pieces of the DeepMoji recipe: configurations, artifacts, model transfer."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from rnnkit.models.deepmoji import deepmoji, extend_embedding
from rnnkit.text import DeepMojiTokenizer, extend_vocabulary, load_vocabulary, save_vocabulary

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "recipes" / "results"


@dataclass
class Config:
    """Sizes and schedules of one recipe configuration."""

    name: str
    embedding_dim: int = 256
    lstm_units: int = 512
    gate: str = "hard_sigmoid"
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
    if name not in CONFIGS:
        sys.exit(f"Unknown configuration {name!r}; expected one of {sorted(CONFIGS)}.")
    return CONFIGS[name]


def artifacts_dir(config: Config, root: str | os.PathLike | None = None) -> Path:
    """Where models and vocabularies of a configuration go (``runs/`` is git-ignored)."""
    return Path(root) if root else REPO / "runs" / "deepmoji" / config.name


def build(config: Config, nb_tokens: int, nb_classes: int, return_attention: bool = False):
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
    )


def save_pretrained(
    model: keras.Model, vocab: dict, config: Config, directory: Path, info: dict
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "pretrained.keras")
    save_vocabulary(vocab, directory / "vocabulary.json")
    with open(directory / "pretrain.json", "w") as f:
        json.dump({"config": asdict(config), **info}, f, indent=1)


def load_pretrained(directory: Path) -> tuple[keras.Model, dict]:
    path = directory / "pretrained.keras"
    if not path.exists():
        sys.exit(f"No pretrained model at {path}: run recipes/deepmoji/pretrain.py first.")
    return keras.models.load_model(path, safe_mode=True), load_vocabulary(
        directory / "vocabulary.json"
    )


def target_vocabulary(vocab: dict, train_texts: list[str], config: Config) -> tuple[dict, int]:
    """The pretraining vocabulary extended with the target data's most frequent new words."""
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
    """A model for the target task: new output layer; the other layers from ``pretrained``
    (embedding extended by ``nb_added`` rows), or all fresh when ``pretrained`` is None."""
    keras.utils.set_random_seed(seed)
    model = build(config, nb_tokens, nb_classes, return_attention)
    if pretrained is not None:
        source = extend_embedding(pretrained, nb_added, seed=seed)
        for name in ("embedding", "bi_lstm_0", "bi_lstm_1", "attlayer"):
            model.get_layer(name).set_weights(source.get_layer(name).get_weights())
    return model


def encode(vocab: dict, texts: list[str], maxlen: int) -> np.ndarray:
    return DeepMojiTokenizer(vocab).encode(texts, maxlen)
