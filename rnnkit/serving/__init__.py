"""rnnkit.serving: raw-text SavedModel export and a TF-Serving-compatible REST server."""

from rnnkit.models.deepmoji.preprocessor import deepmoji_pipeline  # re-exported
from rnnkit.serving.export import TextModel, export
from rnnkit.serving.process import ServerProcess, free_port
from rnnkit.text.pipeline import TextPipeline  # re-exported

__all__ = [
    "ServerProcess",
    "TextModel",
    "TextPipeline",
    "deepmoji_pipeline",
    "export",
    "free_port",
]
