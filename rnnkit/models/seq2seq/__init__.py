"""The sequence-to-sequence (encoder-decoder) model family, one folder:

- :mod:`~rnnkit.models.seq2seq.backbone`: the model, :class:`Seq2Seq` (a bidirectional
  stacked RNN encoder and an attention decoder; without attention the decoder sees only
  the encoder summary) and :data:`CELLS`;
- :mod:`~rnnkit.models.seq2seq.search`: the task, :func:`translate` (greedy or beam search
  over the decoder's states; what :meth:`Seq2Seq.translate` runs).

Every name is re-exported here (``from rnnkit.models.seq2seq import Seq2Seq``).
Elsewhere in the package: the decoder and its searches
(:mod:`rnnkit.layers.attention_decoder`) and the SavedModel export with its in-graph
greedy search (:mod:`rnnkit.serving.export`).
"""

from rnnkit.models.seq2seq import backbone, search
from rnnkit.models.seq2seq.backbone import CELLS, Seq2Seq
from rnnkit.models.seq2seq.search import translate

__all__ = ["CELLS", "Seq2Seq", "backbone", "search", "translate"]
