"""Pretrain DeepMoji: this checkout's script for :mod:`rnnkit.recipes.deepmoji_pretrain`
(the same workflow as ``rnnkit pretrain``), with the artifacts in this repository's
``runs/deepmoji/<config>/`` (git-ignored) unless ``--runs`` or ``--out`` says otherwise.

    python recipes/deepmoji/pretrain.py --quick
    python recipes/deepmoji/pretrain.py --config medium
    python recipes/deepmoji/pretrain.py --config full --emoji-corpus 'tweets/*.jsonl.gz'
"""

import os
import sys
from pathlib import Path

# the frameworks' start-up lines only with --verbose N > 0 (read by `import rnnkit`)
os.environ.setdefault("RNNKIT_QUIET", "auto")

from rnnkit.recipes.deepmoji_pretrain import main

REPO = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    main(sys.argv[1:], runs=REPO / "runs" / "deepmoji")
