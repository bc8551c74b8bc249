"""Where rnnkit looks for data sets.

Every loader takes an explicit path. When none is given, the data root is
``$RNNKIT_DATA`` if set, else the first ``shared/data`` folder found beside the
current directory or its parents, or beside the folder rnnkit is installed from (the
layout of the development machines: ``../shared/data`` next to the repository), else
``~/.rnnkit/data``.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """The default data root (see module docstring)."""
    env = os.environ.get("RNNKIT_DATA")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    source = Path(__file__).resolve().parents[2]  # the repository of an editable install
    for folder in (here, *here.parents, source):
        candidate = folder / "shared" / "data"
        if candidate.is_dir():
            return candidate
        candidate = folder.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return Path.home() / ".rnnkit" / "data"


def resolve(path: str | os.PathLike | None, default_relative: str) -> Path:
    """``path`` if given, else ``default_data_dir() / default_relative``; must exist."""
    resolved = Path(path) if path is not None else default_data_dir() / default_relative
    if not resolved.exists():
        raise FileNotFoundError(
            f"Data not found at {resolved}. Pass the path explicitly or set RNNKIT_DATA to the "
            "folder that holds the data sets (see data/README.md)."
        )
    return resolved
