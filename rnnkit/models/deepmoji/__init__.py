"""The DeepMoji model family (Felbo et al. 2017), one folder:

- :mod:`~rnnkit.models.deepmoji.backbone`: the model (:func:`deepmoji`: embedding, two
  BiLSTMs, skip connections, attention pooling, output layer) and
  :func:`extend_embedding`;
- :mod:`~rnnkit.models.deepmoji.weights`: import of the original releases' weights (the
  Keras 2 HDF5 file, a torchMoji state dict);
- :mod:`~rnnkit.models.deepmoji.transfer`: the named configurations, pretrained-model
  folders and the transfer to a target task (extended vocabulary, new output layer);
- :mod:`~rnnkit.models.deepmoji.attention`: the attention weight of each word of a text.

The backbone's and the weight import's names are re-exported here (``from
rnnkit.models.deepmoji import deepmoji, load_keras2_weights``); take the others from their
module (``from rnnkit.models.deepmoji.transfer import get_config, transfer``). Note that
``rnnkit.models.deepmoji`` as an attribute of :mod:`rnnkit.models` is the function
:func:`deepmoji`, so write ``from rnnkit.models.deepmoji import transfer``, not ``import
rnnkit.models.deepmoji.transfer as transfer``.

What DeepMoji needs elsewhere in the package: its tokenizer
(:mod:`rnnkit.text.deepmoji_tokenizer`), the emoji distant-supervision data
(:mod:`rnnkit.data.emoji_corpus`), pretraining (:mod:`rnnkit.training.pretrain`), the
scikit-learn estimator (:mod:`rnnkit.sklearn.deepmoji`), the in-graph preprocessing of an
exported SavedModel (:mod:`rnnkit.text.deepmoji_graph`) and the end-to-end workflows
(:mod:`rnnkit.recipes`).
"""

from rnnkit.models.deepmoji import attention, backbone, transfer, weights
from rnnkit.models.deepmoji.backbone import GATES, LAYER_NAMES, deepmoji, extend_embedding
from rnnkit.models.deepmoji.weights import (
    convert_torchmoji_state_dict,
    load_keras2_weights,
    load_torchmoji_weights,
    read_keras2_weights,
)

__all__ = [
    "GATES",
    "LAYER_NAMES",
    "attention",
    "backbone",
    "convert_torchmoji_state_dict",
    "deepmoji",
    "extend_embedding",
    "load_keras2_weights",
    "load_torchmoji_weights",
    "read_keras2_weights",
    "transfer",
    "weights",
]
