"""Backend-agnostic operations (``keras.ops``) behind rnnkit's layers."""

from rnnkit.ops.activations import get_activation, keras2_hard_sigmoid
from rnnkit.ops.recurrence import recurrence

__all__ = ["get_activation", "keras2_hard_sigmoid", "recurrence"]
