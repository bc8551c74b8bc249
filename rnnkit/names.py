"""Names shared by the layers, the estimators and the command line (bottom layer: imports
no deep-learning framework, so ``rnnkit --help`` can list them).

- :data:`CELL_NAMES`: the recurrent layers a model or estimator takes by name
  (``cell="gru"``), the keys of :data:`rnnkit.layers.factory.RECURRENT_LAYERS` that the
  command line's ``--cell`` offers.
"""

from __future__ import annotations

__all__ = ["CELL_NAMES"]

#: the canonical recurrent layer names, the classic cells first, then the parallel-scan ones
CELL_NAMES: tuple[str, ...] = ("lstm", "gru", "srnn", "mingru", "minlstm")
