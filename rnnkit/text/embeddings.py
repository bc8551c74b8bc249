"""Pretrained word embeddings: GloVe / word2vec text files and NumPy ``.npy`` matrices.

Formats:

* text: one word per line followed by its vector (``word v1 ... vd``, space-separated).
  A first line ``<count> <dim>`` (word2vec's text format) is recognised and skipped.
* ``.npy``: a ``(n, d)`` float matrix with its words, one per line, in a ``.vocab``
  file of the same stem (``glove.npy`` + ``glove.vocab``) or given as ``words``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OOV_POLICIES = ("random", "zeros", "error")


@dataclass
class EmbeddingMatrix:
    """An embedding matrix aligned with a vocabulary, and how it was filled."""

    matrix: np.ndarray
    found: int
    oov_words: list[str]


def read_embeddings(
    path: str | os.PathLike, words: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Read a pretrained embedding file into ``{word: vector}`` (see module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Embedding file not found: {path}.")
    if path.suffix == ".npy":
        matrix = np.load(path, allow_pickle=False)
        if matrix.ndim != 2:
            raise ValueError(f"{path}: expected a (words, dim) matrix, got shape {matrix.shape}.")
        if words is None:
            vocab_path = path.with_suffix(".vocab")
            if not vocab_path.exists():
                raise ValueError(
                    f"{path}: a .npy matrix needs its words, one per line, in {vocab_path} "
                    "or passed as `words`."
                )
            words = vocab_path.read_text(encoding="utf-8").splitlines()
        if len(words) != matrix.shape[0]:
            raise ValueError(
                f"{path}: {matrix.shape[0]} vectors but {len(words)} words; expected one "
                "word per row."
            )
        return {w: matrix[i].astype("float32") for i, w in enumerate(words)}
    vectors: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header "<count> <dim>"
            if len(parts) < 2:
                if not line.strip():
                    continue
                raise ValueError(f"{path}:{number}: expected 'word v1 ... vd', got {line!r}.")
            try:
                vec = np.asarray(parts[1:], dtype="float32")
            except ValueError as err:
                raise ValueError(
                    f"{path}:{number}: expected 'word v1 ... vd' with float values, "
                    f"got {line[:80]!r}."
                ) from err
            if dim is None:
                dim = vec.size
            elif vec.size != dim:
                raise ValueError(
                    f"{path}:{number}: expected {dim} values (as in the first vector), "
                    f"got {vec.size}."
                )
            vectors[parts[0]] = vec
    if not vectors:
        raise ValueError(f"{path}: no vectors found.")
    return vectors


def embedding_matrix(
    vectors: Mapping[str, np.ndarray] | str | os.PathLike,
    vocabulary: Mapping[str, int],
    oov: str = "random",
    lowercase_fallback: bool = True,
    reserved: int = 2,
    scale: float | None = None,
    seed: int = 0,
) -> EmbeddingMatrix:
    """An embedding matrix for ``vocabulary`` (word -> row id) from pretrained vectors.

    Args:
        vectors: ``{word: vector}`` or a path for :func:`read_embeddings`.
        vocabulary: word -> row id (ids ``0 .. n-1``).
        oov: what words without a vector get: ``"random"`` (normal with the pretrained
            vectors' standard deviation), ``"zeros"``, or ``"error"`` (ValueError
            listing them).
        lowercase_fallback: look up ``word.lower()`` when ``word`` is missing.
        reserved: ids below this (padding, unknown) are zero rows, not counted as OOV.
        scale: standard deviation of random rows (default: that of the vectors).
        seed: random seed of the OOV rows.

    Returns:
        An :class:`EmbeddingMatrix` ``(len(vocabulary), dim)`` float32.

    Example:

    >>> emb = embedding_matrix("glove.6B.100d.txt", {"<pad>": 0, "<unk>": 1, "the": 2})
    >>> emb.matrix.shape, emb.oov_words
    """
    if oov not in OOV_POLICIES:
        raise ValueError(f"Unknown oov policy {oov!r}: expected one of {OOV_POLICIES}.")
    if not isinstance(vectors, Mapping):
        vectors = read_embeddings(vectors)
    if not vectors:
        raise ValueError("embedding_matrix got no pretrained vectors.")
    dim = next(iter(vectors.values())).shape[0]
    size = max(vocabulary.values()) + 1 if vocabulary else 0
    matrix = np.zeros((size, dim), "float32")
    std = float(np.std(np.stack(list(vectors.values())[:10000]))) if scale is None else scale
    rng = np.random.default_rng(seed)
    found = 0
    oov_words = []
    for word, i in sorted(vocabulary.items(), key=lambda kv: kv[1]):
        if i < reserved:
            continue
        vec = vectors.get(word)
        if vec is None and lowercase_fallback:
            vec = vectors.get(word.lower())
        if vec is None:
            oov_words.append(word)
            if oov == "random":
                matrix[i] = rng.normal(0.0, std, dim)
            continue
        if vec.shape != (dim,):
            raise ValueError(f"Vector of {word!r} has shape {vec.shape}, expected ({dim},).")
        matrix[i] = vec
        found += 1
    if oov == "error" and oov_words:
        raise ValueError(
            f"{len(oov_words)} words have no pretrained vector (oov='error'), e.g. "
            f"{oov_words[:10]}."
        )
    return EmbeddingMatrix(matrix, found, oov_words)
