"""What DeepMoji attends to: this checkout's script for
:mod:`rnnkit.recipes.deepmoji_attention`, with the pretrained model of this repository's
``runs/deepmoji/<config>/`` and the heatmap in ``recipes/results/`` unless ``--pretrained``,
``--model``, ``--runs``, ``--out`` or ``--png`` says otherwise.

    python recipes/deepmoji/attention_view.py --quick "I love this so much!!" "worst day ever"
"""

import os
import sys
from pathlib import Path

# the frameworks' start-up lines only with --verbose N > 0 (read by `import rnnkit`)
os.environ.setdefault("RNNKIT_QUIET", "auto")

from rnnkit.recipes.deepmoji_attention import main

REPO = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    main(sys.argv[1:], runs=REPO / "runs" / "deepmoji", out=REPO / "recipes" / "results")
