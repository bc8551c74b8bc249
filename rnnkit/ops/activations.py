"""Activation lookup for recurrent cells.

Keras 3's ``hard_sigmoid`` is ``relu6(x + 3) / 6``; Keras 2 (and so DeepMoji's LSTM)
used ``clip(0.2 * x + 0.5, 0, 1)``. Both are available here: the Keras 2 one under
the name ``"keras2_hard_sigmoid"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

KERAS2_HARD_SIGMOID = "keras2_hard_sigmoid"


def keras2_hard_sigmoid(x: Any) -> Any:
    """The Keras 2 hard sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    return ops.clip(0.2 * x + 0.5, 0.0, 1.0)


_CUSTOM = {KERAS2_HARD_SIGMOID: keras2_hard_sigmoid}


def get_activation(identifier: str | Callable | None) -> Callable:
    """Resolves an activation name or callable, including ``"keras2_hard_sigmoid"``."""
    if isinstance(identifier, str) and identifier in _CUSTOM:
        return _CUSTOM[identifier]
    if identifier is None:
        return keras.activations.linear
    try:
        return keras.activations.get(identifier)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"Unknown activation {identifier!r}: expected a Keras activation name "
            f"(e.g. 'tanh', 'sigmoid', 'relu'), {KERAS2_HARD_SIGMOID!r}, or a callable."
        ) from e


def serialize_activation(fn: Callable) -> Any:
    """Inverse of :func:`get_activation` for configs."""
    for name, custom in _CUSTOM.items():
        if fn is custom:
            return name
    return keras.activations.serialize(fn)


def activation_name(fn: Callable) -> str | None:
    """Short name of a known activation (``"tanh"``, ``"sigmoid"``...), else None."""
    serialized = serialize_activation(fn)
    return serialized if isinstance(serialized, str) else None
