"""Helpers shared by the resume tests (imported as a module beside them)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rnnkit.training import checkpoint


@contextlib.contextmanager
def epoch_saves(
    kill_after: int | None = None, folder: str | None = None, saved: list | None = None
) -> Iterator[None]:
    """Within the block, every epoch that :class:`EpochCheckpoint` saves is appended (its
    number) to ``saved``; once epoch ``kill_after`` is saved (of the checkpoint folder
    named ``folder``, if given) a KeyboardInterrupt stands for a kill. The block ends
    with the real callback back in place, also after the kill."""
    real_end = checkpoint.EpochCheckpoint.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        real_end(self, epoch, logs)
        if saved is not None:
            saved.append(epoch + 1)
        if epoch + 1 == kill_after and folder in (None, self.checkpoint_dir.name):
            raise KeyboardInterrupt

    checkpoint.EpochCheckpoint.on_epoch_end = on_epoch_end
    try:
        yield
    finally:
        checkpoint.EpochCheckpoint.on_epoch_end = real_end
