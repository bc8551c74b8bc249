"""scikit-learn estimators on raw text and token lists."""

from rnnkit.sklearn.classifier import RNNClassifier
from rnnkit.sklearn.deepmoji import DeepMojiClassifier
from rnnkit.sklearn.scoring import entity_f1_score, entity_f1_scorer
from rnnkit.sklearn.tagger import RNNSequenceTagger

__all__ = [
    "DeepMojiClassifier",
    "RNNClassifier",
    "RNNSequenceTagger",
    "entity_f1_score",
    "entity_f1_scorer",
]
