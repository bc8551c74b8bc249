"""Models for the usage patterns of recurrent networks."""

from rnnkit.models.acceptor import build_acceptor

__all__ = ["build_acceptor"]
