"""Helpers shared by the recipe tests (imported as a module beside them)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
BENCHMARKS = RECIPES.parent / "benchmarks"


def load_recipe(name: str, folder: Path = RECIPES) -> ModuleType:
    """``recipes/<name>.py`` (or ``<folder>/<name>.py``, e.g. a benchmark script) as a
    module of this process. A script asks for quiet in its own process's environment
    (``RNNKIT_QUIET``) when it is imported: that setting is restored, so that the
    processes this test process starts later do not inherit it."""
    spec = importlib.util.spec_from_file_location(f"{name}_recipe", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    before = os.environ.get("RNNKIT_QUIET")
    try:
        spec.loader.exec_module(module)
    finally:
        if before is None:
            os.environ.pop("RNNKIT_QUIET", None)
        else:
            os.environ["RNNKIT_QUIET"] = before
    return module
