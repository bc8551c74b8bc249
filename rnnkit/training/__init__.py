"""rnnkit.training."""

from rnnkit.training.chain_thaw import FinetuneResult, StepHistory, chain_thaw, finetune
from rnnkit.training.pretrain import PretrainResult, make_dataset, pretrain
from rnnkit.training.tbptt import SequenceCrossentropy, train_tbptt

__all__ = [
    "SequenceCrossentropy",
    "train_tbptt",
    "FinetuneResult",
    "PretrainResult",
    "StepHistory",
    "chain_thaw",
    "finetune",
    "make_dataset",
    "pretrain",
]
