"""DeepMoji transfer benchmarks: this checkout's script for
:mod:`rnnkit.recipes.deepmoji_benchmark` (the same workflow as ``rnnkit bench``), reading
the pretrained model from this repository's ``runs/deepmoji/<config>/`` and writing the
tables and the attention view to ``recipes/results/`` (the recorded results) unless
``--pretrained``, ``--runs`` or ``--out`` says otherwise.

    python recipes/deepmoji/benchmark.py --quick                  # SS-Twitter, 2 seeds
    python recipes/deepmoji/benchmark.py --config medium          # all five data sets
    python recipes/deepmoji/benchmark.py --config demo --datasets SS-Twitter --jobs 2
"""

import os
import sys
from pathlib import Path

# the frameworks' start-up lines only with --verbose N > 0 (read by `import rnnkit`)
os.environ.setdefault("RNNKIT_QUIET", "auto")

from rnnkit.recipes.deepmoji_benchmark import main

REPO = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    main(sys.argv[1:], runs=REPO / "runs" / "deepmoji", out=REPO / "recipes" / "results")
