"""Input checks shared by rnnkit layers: clear ValueErrors instead of backend crashes."""

from __future__ import annotations

from typing import Any

import keras


def static_shape(x: Any) -> tuple:
    shape = getattr(x, "shape", None)
    if shape is None:
        return ()
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        return tuple(shape)


def check_rank(layer_name: str, x: Any, rank: int, what: str, layout: str) -> tuple:
    shape = static_shape(x)
    if len(shape) != rank:
        raise ValueError(
            f"Layer '{layer_name}' expected {what} of rank {rank} {layout}, "
            f"got shape {shape} (rank {len(shape)})."
        )
    return shape


def check_float(layer_name: str, x: Any, what: str = "inputs") -> None:
    dtype = keras.backend.standardize_dtype(x.dtype)
    if "float" not in dtype:
        raise ValueError(
            f"Layer '{layer_name}' expected floating-point {what}, got dtype {dtype}. "
            "Embed or cast integer inputs first (e.g. with keras.layers.Embedding)."
        )


def cast_integer_inputs(x: Any, dtype: str) -> Any:
    """Integer and boolean ``x`` cast to ``dtype`` (keras.layers' recurrent layers take
    integer sequences and compute with them as floats); anything else unchanged."""
    kind = keras.backend.standardize_dtype(getattr(x, "dtype", "float32"))
    if kind == "bool" or "int" in kind:
        return keras.ops.cast(x, dtype)
    return x


def check_dim(layer_name: str, got: int | None, expected: int | None, what: str) -> None:
    if got is not None and expected is not None and got != expected:
        raise ValueError(f"Layer '{layer_name}' expected {what} {expected}, got {got}.")


def check_sequences(layer_name: str, sequences: Any, input_dim: int, mask: Any) -> tuple:
    """The recurrent layers' checks of their call: float ``(batch, timesteps, features)``
    with ``input_dim`` features, and a ``(batch, timesteps)`` mask when one is given.

    Returns:
        The static shape of ``sequences``.
    """
    shape = check_rank(layer_name, sequences, 3, "inputs", "(batch, timesteps, features)")
    check_float(layer_name, sequences)
    if shape[-1] is not None and shape[-1] != input_dim:
        raise ValueError(
            f"Layer '{layer_name}' was built for {input_dim} input features, "
            f"got inputs of shape {shape} with {shape[-1]}."
        )
    if mask is not None:
        mshape = static_shape(mask)
        ok = len(mshape) == 2 and all(
            a is None or b is None or a == b for a, b in zip(mshape, shape[:2])
        )
        if not ok:
            raise ValueError(
                f"Layer '{layer_name}' expected a mask of shape (batch, timesteps) = "
                f"{shape[:2]}, got a mask of shape {mshape}."
            )
    return shape
