"""Write files and folders so that readers only ever see a complete one.

:func:`atomic_path` hands out a temporary sibling of the target (same folder, so the
final rename never crosses a file system), and renames it into place only when the
``with`` block finishes without an exception; on an exception (or a kill) the target is
untouched and the temporary sibling is removed (or, after a kill, left under a hidden
``.tmp-....NAME`` name that no reader picks up). Used for trained models
(``rnnkit train``), exported SavedModel versions (``rnnkit export``) and prediction tables
(``rnnkit predict --output_csv``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "checkpoint_sibling", "temporary_sibling"]


def temporary_sibling(target: str | os.PathLike, tag: str = "tmp") -> Path:
    """A hidden, unused path next to ``target``: ``.tmp-<random>.NAME`` (the name's
    suffix is kept: Keras wants ``.keras``; never all digits: no reader takes it for a
    SavedModel version)."""
    target = Path(target)
    return target.parent / f".{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}.{target.name}"


def checkpoint_sibling(target: str | os.PathLike) -> Path:
    """The hidden sibling ``.<name>.checkpoint`` where a command that writes ``target``
    keeps its training checkpoints until ``target`` is complete (``rnnkit train``)."""
    target = Path(target)
    return target.parent / f".{target.name}.checkpoint"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


@contextmanager
def atomic_path(
    target: str | os.PathLike, *, directory: bool = False, replace: bool = False
) -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` to write; rename it to ``target`` at the end.

    Args:
        target: the final file or folder.
        directory: the temporary path is created as an empty folder (else nothing is
            created; write a file there).
        replace: an existing ``target`` is replaced (a folder is moved aside first and
            deleted only once the new one is in place); otherwise an existing ``target``
            (other than an empty folder) is a ``FileExistsError``.

    The parent folders of ``target`` are created.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if target.is_dir() and not target.is_symlink():
            if any(target.iterdir()) and not replace:
                raise FileExistsError(f"{target} already exists and is not empty.")
            old = temporary_sibling(target, "old")
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except OSError:
                os.replace(old, target)  # put the previous one back
                raise
            _remove(old)
        else:
            if target.exists() and not replace:
                raise FileExistsError(f"{target} already exists.")
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
