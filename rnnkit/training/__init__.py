"""rnnkit.training."""

from rnnkit.training.chain_thaw import FinetuneResult, StepHistory, chain_thaw, finetune
from rnnkit.training.pretrain import PretrainResult, make_dataset, pretrain

__all__ = [
    "FinetuneResult",
    "PretrainResult",
    "StepHistory",
    "chain_thaw",
    "finetune",
    "make_dataset",
    "pretrain",
]
