"""Backwards-compatible names for the text stage.

The text pipeline (:class:`TextPipeline`, the replacement rules and the special tokens)
lives in :mod:`rnnkit.text.pipeline`, DeepMoji's (:func:`deepmoji_pipeline`) in
:mod:`rnnkit.models.deepmoji.preprocessor` and the tagger's token features
(:class:`TokenFeatures`) in :mod:`rnnkit.text.token_features`; they are re-exported here
so that code written against ``rnnkit.serving.preprocessing`` keeps working. Serving holds
no tokenization rule: it builds signatures from a text stage object.
"""

from __future__ import annotations

from rnnkit.models.deepmoji.preprocessor import deepmoji_pipeline
from rnnkit.text.pipeline import (
    DEFAULT_REPLACEMENTS,
    PAD,
    UNICODE_REPLACEMENTS,
    UNK,
    TextPipeline,
)
from rnnkit.text.token_features import TokenFeatures

__all__ = [
    "DEFAULT_REPLACEMENTS",
    "PAD",
    "UNICODE_REPLACEMENTS",
    "UNK",
    "TextPipeline",
    "TokenFeatures",
    "deepmoji_pipeline",
]
