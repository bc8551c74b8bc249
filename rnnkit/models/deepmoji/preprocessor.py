"""DeepMoji's preprocessor: its tokenizer inside rnnkit's one text stage.

Importing this module (``import rnnkit.models.deepmoji`` does) registers DeepMoji's
tokenizer with the text stage as ``TextPipeline(tokenizer="deepmoji")``
(:func:`rnnkit.text.pipeline.register_tokenizer`): the Python side is
:class:`~rnnkit.models.deepmoji.tokenizer.DeepMojiTokenizer`, the TensorFlow side its exact
in-graph form :func:`~rnnkit.models.deepmoji.tokenizer_graph.tf_deepmoji_words`. The text
stage sits at the bottom of the package and never imports this folder; a pipeline saved
with ``"tokenizer": "deepmoji"`` in its config loads (``TextPipeline.from_config`` /
``load``) once this folder is imported, with the same config and the same ids as before.

:func:`deepmoji_pipeline` builds that pipeline from a DeepMoji vocabulary (for exporting
DeepMoji models as raw-text SavedModels).
"""

from __future__ import annotations

from collections.abc import Mapping

from rnnkit.models.deepmoji.tokenizer import DeepMojiTokenizer
from rnnkit.models.deepmoji.tokenizer_graph import tf_deepmoji_words
from rnnkit.text.pipeline import TextPipeline, register_tokenizer

__all__ = ["deepmoji_pipeline"]

register_tokenizer("deepmoji", DeepMojiTokenizer, tf_deepmoji_words)


def deepmoji_pipeline(vocabulary: Mapping[str, int], max_length: int = 30) -> TextPipeline:
    """DeepMoji's preprocessing as a :class:`TextPipeline` (for exporting DeepMoji models).

    Python side: :class:`DeepMojiTokenizer`; TensorFlow side: its exact in-graph
    reimplementation with core TF ops only (:func:`tf_deepmoji_words`), so an exported
    model gives the ids, hence the predictions, of ``DeepMojiTokenizer(vocabulary).encode(
    texts, max_length)`` for every text. The code point tables (lowercase, NFKC, punctuation
    transliteration, word characters) come from the running Python's ``unicodedata`` and
    are constants of the exported graph.

    Args:
        vocabulary: DeepMoji's ``word -> id`` map (ids 0..N-1; 0 padding, 1 unknown).
        max_length: ids per text (DeepMoji's ``maxlen``).
    """
    by_id = sorted(vocabulary.items(), key=lambda kv: kv[1])
    ids = [i for _, i in by_id]
    if ids != list(range(len(ids))):
        raise ValueError(
            "deepmoji_pipeline: vocabulary ids must be 0..N-1 without gaps; got "
            f"{len(ids)} words with ids from {min(ids)} to {max(ids)}."
        )
    return TextPipeline(
        [w for w, _ in by_id], max_length, lowercase=True, replacements=[], tokenizer="deepmoji"
    )
