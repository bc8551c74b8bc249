"""rnnkit.serving: raw-text SavedModel export and a TF-Serving-compatible REST server."""

from rnnkit.serving.export import TextModel, export
from rnnkit.serving.preprocessing import TextPipeline, deepmoji_pipeline

__all__ = ["TextModel", "TextPipeline", "deepmoji_pipeline", "export"]
