"""What turns token lists into a tagger's inputs.

The token features are part of the text stage and are defined once, in
:mod:`rnnkit.text.token_features` (the Python encoder) and
:mod:`rnnkit.text.token_features_graph` (the same ids in-graph, for an exported
SavedModel); this module names the ones a tagger's inputs are made with:

* :func:`encode_tokens`: token lists -> ``{"words", "chars", "case"}`` padded id arrays,
  the inputs of :class:`~rnnkit.models.taggers.backbone.SequenceTagger`;
* :func:`case_class` and :data:`CASE_CLASSES`: the word shapes behind the ``"case"``
  input.
"""

from rnnkit.text.token_features import CASE_CLASSES, case_class, encode_tokens

__all__ = ["CASE_CLASSES", "case_class", "encode_tokens"]
