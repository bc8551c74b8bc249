"""scikit-learn estimators on raw text: ``RNNClassifier`` (more as their models land)."""

from rnnkit.sklearn.classifier import RNNClassifier

__all__ = ["RNNClassifier"]
