"""rnnkit.serving: raw-text SavedModel export and a TF-Serving-compatible REST server."""

from rnnkit.serving.export import TextModel, export
from rnnkit.serving.preprocessing import TextPipeline, deepmoji_pipeline
from rnnkit.serving.process import ServerProcess, free_port

__all__ = [
    "ServerProcess",
    "TextModel",
    "TextPipeline",
    "deepmoji_pipeline",
    "export",
    "free_port",
]
