"""The word-level language model family (Zaremba et al. 2014), one folder:

- :mod:`~rnnkit.models.language_model.backbone`: the model, :class:`LanguageModel`
  (embedding -> stacked stateful LSTM -> logits over the vocabulary, for truncated BPTT);
- :mod:`~rnnkit.models.language_model.metrics`: :func:`perplexity` over a token stream
  (and :func:`token_nll`, the per-token negative log-likelihood);
- :mod:`~rnnkit.models.language_model.generation`: :func:`sample_logits` and
  :func:`generate` (continuing a prompt).

Every name is re-exported here (``from rnnkit.models.language_model import LanguageModel,
generate, perplexity``); note that ``perplexity`` and ``generate`` here are the functions,
the modules are ``metrics`` and ``generation``. Elsewhere in the package: the
truncated-BPTT training and its loss (:mod:`rnnkit.training.tbptt`) and the Penn Treebank
windows (:mod:`rnnkit.data.ptb`).
"""

from rnnkit.models.language_model import backbone, generation, metrics
from rnnkit.models.language_model.backbone import LanguageModel
from rnnkit.models.language_model.generation import generate, sample_logits
from rnnkit.models.language_model.metrics import perplexity, token_nll

__all__ = [
    "LanguageModel",
    "backbone",
    "generate",
    "generation",
    "metrics",
    "perplexity",
    "sample_logits",
    "token_nll",
]
