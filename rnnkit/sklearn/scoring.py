"""Entity-level F1 (seqeval) for sequence taggers, as a function and a scikit-learn scorer.

``entity_f1_scorer`` works in ``GridSearchCV(..., scoring=entity_f1_scorer)`` and
``cross_val_score`` with :class:`rnnkit.sklearn.RNNSequenceTagger` (or any estimator
whose ``predict`` returns a list of tag lists). Requires the ``seqeval`` package.
"""

from __future__ import annotations

from typing import Any

from sklearn.metrics import make_scorer

__all__ = ["entity_f1_score", "entity_f1_scorer", "entity_classification_report"]


def _seqeval():
    try:
        import seqeval.metrics
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("Entity F1 needs the seqeval package: pip install seqeval.") from err
    return seqeval.metrics


def _check(y_true: Any, y_pred: Any) -> tuple[list[list[str]], list[list[str]]]:
    from rnnkit.sklearn.base import check_same_length, validate_token_lists

    y_true = validate_token_lists(y_true, what="y_true")
    y_pred = validate_token_lists(y_pred, what="y_pred")
    check_same_length(y_true, y_pred, "y_true", "y_pred")
    for i, (a, b) in enumerate(zip(y_true, y_pred)):
        if len(a) != len(b):
            raise ValueError(
                f"Sequence {i} has {len(a)} true tags but {len(b)} predicted tags: expected "
                "the same length."
            )
    return y_true, y_pred


def entity_f1_score(y_true: Any, y_pred: Any, average: str = "micro") -> float:
    """Entity-level F1 of BIO/IOB tag lists (seqeval, CoNLL ``conlleval`` semantics).

    Args:
        y_true: list of tag lists.
        y_pred: list of tag lists of the same lengths.
        average: ``"micro"`` (over all entities) or ``"macro"`` (mean over types).

    Returns:
        The F1 score in [0, 1] (0 when there is no entity at all).
    """
    y_true, y_pred = _check(y_true, y_pred)
    return float(_seqeval().f1_score(y_true, y_pred, average=average, zero_division=0))


def entity_classification_report(y_true: Any, y_pred: Any, digits: int = 3) -> str:
    """Per-entity-type precision / recall / F1 table (seqeval)."""
    y_true, y_pred = _check(y_true, y_pred)
    return _seqeval().classification_report(y_true, y_pred, digits=digits, zero_division=0)


#: ``scoring=`` value for GridSearchCV / cross_val_score: micro entity F1.
entity_f1_scorer = make_scorer(entity_f1_score)
