"""The sequence taggers (transducers), one folder:

- :mod:`~rnnkit.models.taggers.backbone`: the models: :func:`build_transducer_tagger`
  (embedding -> stacked (Bi)RNN -> per-token softmax), :class:`SequenceTagger` (word
  [+ word shape] [+ character CNN or BiLSTM] features -> stacked (Bi)RNN -> CRF or
  softmax; its loss and its decoding, Viterbi or argmax and the marginals, are methods of
  the model) and :class:`BiLSTMCRFTagger`;
- :mod:`~rnnkit.models.taggers.preprocessor`: what turns token lists into the model's
  inputs (:func:`encode_tokens`, the word shapes :func:`case_class`), defined in the text
  stage (:mod:`rnnkit.text.token_features`) and named here.

Every name is re-exported here (``from rnnkit.models.taggers import SequenceTagger,
encode_tokens``). Elsewhere in the package: the scikit-learn estimator
(:mod:`rnnkit.sklearn.tagger`), the in-graph token features of an exported SavedModel
(:mod:`rnnkit.text.token_features_graph`) and the CRF (:mod:`rnnkit.layers.crf`).
"""

from rnnkit.models.taggers import backbone, preprocessor
from rnnkit.models.taggers.backbone import (
    BiLSTMCRFTagger,
    SequenceTagger,
    build_transducer_tagger,
)
from rnnkit.models.taggers.preprocessor import CASE_CLASSES, case_class, encode_tokens

__all__ = [
    "CASE_CLASSES",
    "case_class",
    "encode_tokens",
    "build_transducer_tagger",
    "SequenceTagger",
    "BiLSTMCRFTagger",
    "backbone",
    "preprocessor",
]
