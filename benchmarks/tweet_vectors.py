"""Word vectors from unlabelled tweets (PPMI + truncated SVD), for the tagging benchmark.

``RNNSequenceTagger(embeddings=...)`` takes pretrained vectors; none ship with the
project and none can be downloaded here, so this script makes in-domain ones from the
unlabelled tweet text under the data root: ``tweets-sentiment`` (38k tweets, labels
ignored), ``tweets-with-emoji`` and the DeepMoji benchmark texts. Co-occurrence counts
in a +-2 word window (weighted 1/distance) -> positive PMI (context counts smoothed
with exponent 0.75) -> the top ``--dim`` singular vectors (``U * sqrt(S)``), rows
L2-normalised, written as a GloVe text file (``word v1 ... vd``).

Usage::

    python benchmarks/tweet_vectors.py --out runs/tweet_vectors.txt
    python benchmarks/tagging.py --tasks ner --models rnn \\
        --rnn-param embeddings=runs/tweet_vectors.txt --label "rnn + tweet vectors"
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import svds

# the frameworks' start-up lines only with --verbose N > 0: read by `import rnnkit`,
# which must come before the first framework import
os.environ.setdefault("RNNKIT_QUIET", "auto")

import rnnkit  # noqa: F401, I001

from rnnkit.data.paths import default_data_dir  # noqa: E402

_TOKEN = re.compile(r"https?://\S+|[@#]?\w+(?:['’]\w+)*|[^\w\s]")


def texts(root: Path) -> list[str]:
    import pandas as pd

    out = (
        pd.read_csv(
            root / "tweets-sentiment" / "crowdflower-tweets.csv", encoding_errors="replace"
        )["text"]
        .astype(str)
        .tolist()
    )
    for path in [root / "tweets-with-emoji" / "rtweet-fixtures.jsonl"] + sorted(
        (root / "deepmoji-benchmarks").glob("*.jsonl")
    ):
        with open(path, encoding="utf-8", errors="replace") as f:
            out += [json.loads(line)["text"] for line in f if line.strip()]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--verbose", type=int, default=0, help="1: the frameworks' log lines as well"
    )
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--out", default="runs/tweet_vectors.txt")
    args = parser.parse_args(argv)
    root = Path(args.data_root) if args.data_root else default_data_dir()
    sentences = [[t.lower() for t in _TOKEN.findall(text)] for text in texts(root)]
    counts = Counter(t for s in sentences for t in s)
    words = [w for w, c in counts.most_common() if c >= args.min_count]
    index = {w: i for i, w in enumerate(words)}
    rows, cols, vals = [], [], []
    for s in sentences:
        ids = [index.get(t, -1) for t in s]
        for i, a in enumerate(ids):
            if a < 0:
                continue
            for d in range(1, args.window + 1):
                if i + d < len(ids) and ids[i + d] >= 0:
                    rows += [a, ids[i + d]]
                    cols += [ids[i + d], a]
                    vals += [1.0 / d, 1.0 / d]
    n = len(words)
    m = sparse.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    total = m.sum()
    row_sum = np.asarray(m.sum(1)).ravel()
    ctx = np.asarray(m.sum(0)).ravel() ** 0.75
    ctx /= ctx.sum()
    m = m.tocoo()
    pmi = np.log(m.data * 1.0 / total) - np.log(row_sum[m.row] / total) - np.log(ctx[m.col])
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (m.row[keep], m.col[keep])), shape=(n, n))
    u, s, _ = svds(ppmi, k=args.dim, random_state=0)
    vectors = u * np.sqrt(s)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for w, v in zip(words, vectors):
            f.write(w + " " + " ".join(f"{x:.5f}" for x in v) + "\n")
    print(f"{len(sentences)} texts, {sum(counts.values())} tokens, {n} words -> {out}")


if __name__ == "__main__":
    main()
