"""Runtime settings of rnnkit's recurrent layers: how a recurrence runs, never what it computes.

These choices change speed and memory only; every setting gives the same outputs and
gradients (up to float rounding). They are not part of a layer's config, so a saved
model carries no tuning choice into another machine or version.

- ``loop``: the generic loop's form, ``"auto"`` (the backend's best: ``tf.while_loop``
  on TensorFlow, ``lax.scan`` on JAX, a Python loop on torch), ``"unrolled"``,
  ``"scan"`` or ``"tf_while"``. Anything but ``"auto"`` also turns off the fused
  kernels and the closed-form backward passes, so it runs the plain loop.
- ``projection``: ``"auto"``, ``"hoisted"`` (the input projection of all steps as one
  matmul before the loop) or ``"per_step"``.
- ``batch_split``: ``"auto"`` or a number of batch parts run as independent loops (1
  never splits).

Where a value comes from, first match wins: the layer's own argument when it is not
``"auto"`` (``LSTM(..., loop="scan")``, kept on that layer object only), then the
innermost :func:`execution` block, then :func:`set_execution`, then the environment
variables ``RNNKIT_LOOP``, ``RNNKIT_PROJECTION`` and ``RNNKIT_BATCH_SPLIT``, then
``"auto"``. Settings are read when a layer's call is traced: a compiled function keeps
the choice it was traced with.

Example:

>>> import rnnkit
>>> with rnnkit.config.execution(loop="unrolled"):
...     y = layer(x)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["LOOPS", "PROJECTIONS", "execution", "get_execution", "set_execution"]

LOOPS = ("auto", "unrolled", "scan", "tf_while")
PROJECTIONS = ("auto", "hoisted", "per_step")
ENVIRONMENT = {
    "loop": "RNNKIT_LOOP",
    "projection": "RNNKIT_PROJECTION",
    "batch_split": "RNNKIT_BATCH_SPLIT",
}
#: the settings' names, in the order they are documented
SETTINGS = tuple(ENVIRONMENT)

_process: dict[str, Any] = {}
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "rnnkit_execution", default=None
)


def check_setting(name: str, value: Any, where: str = "") -> Any:
    """``value`` if it is valid for setting ``name``, else a ValueError that says what is
    accepted (``where`` names the source, e.g. an environment variable)."""
    where = where or f"`{name}`"
    if name == "loop":
        if value not in LOOPS:
            raise ValueError(f"{where} must be one of {LOOPS}, got {value!r}.")
    elif name == "projection":
        if value not in PROJECTIONS:
            raise ValueError(f"{where} must be one of {PROJECTIONS}, got {value!r}.")
    elif name == "batch_split":
        ok = value == "auto" or (
            isinstance(value, int) and not isinstance(value, bool) and value >= 1
        )
        if not ok:
            raise ValueError(
                f"{where} must be 'auto' or a positive int (the number of batch parts; 1 "
                f"never splits), got {value!r}."
            )
    else:
        raise ValueError(f"Unknown rnnkit execution setting {name!r}: expected one of {SETTINGS}.")
    return value


def _from_environment() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, variable in ENVIRONMENT.items():
        raw = os.environ.get(variable)
        if raw is None or raw.strip() == "":
            continue
        value: Any = raw.strip()
        if name == "batch_split" and value != "auto":
            try:
                value = int(value)
            except ValueError:
                pass
        out[name] = check_setting(name, value, f"The environment variable {variable}")
    return out


def _checked(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: check_setting(k, v) for k, v in settings.items() if v is not None}


def get_execution() -> dict[str, Any]:
    """The settings in effect here: ``{"loop": ..., "projection": ..., "batch_split": ...}``."""
    values: dict[str, Any] = dict.fromkeys(SETTINGS, "auto")
    values.update(_from_environment())
    values.update(_process)
    values.update(_context.get() or {})
    return values


def set_execution(
    loop: str | None = None, projection: str | None = None, batch_split: int | str | None = None
) -> None:
    """Set execution settings for the whole process (None leaves a setting as it is;
    ``"auto"`` resets it)."""
    _process.update(_checked({"loop": loop, "projection": projection, "batch_split": batch_split}))


@contextlib.contextmanager
def execution(
    loop: str | None = None, projection: str | None = None, batch_split: int | str | None = None
) -> Iterator[dict[str, Any]]:
    """Execution settings inside a ``with`` block (None keeps the outer value); yields the
    settings in effect inside."""
    inner = {
        **(_context.get() or {}),
        **_checked({"loop": loop, "projection": projection, "batch_split": batch_split}),
    }
    token = _context.set(inner)
    try:
        yield get_execution()
    finally:
        _context.reset(token)


def resolve(layer: Any) -> dict[str, Any]:
    """A layer's effective settings: for each of :data:`SETTINGS` the layer has as an
    attribute, its own value unless ``"auto"``, else the runtime one."""
    current = get_execution()
    own = {name: getattr(layer, name) for name in SETTINGS if hasattr(layer, name)}
    return {name: current[name] if value == "auto" else value for name, value in own.items()}
