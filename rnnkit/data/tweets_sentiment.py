"""Loader for the CrowdFlower tweet sentiment set (negative / neutral / positive).

The file ``tweets-sentiment/crowdflower-tweets.csv`` (columns ``sentiment``,
``confidence``, ``text``) is not valid UTF-8 throughout: a few rows hold stray
single bytes. They are decoded with ``encoding_errors="replace"`` (U+FFFD), as
the ~13% of rows that already hold U+FFFD from an earlier lossy encoding.
"""

from __future__ import annotations

import os

import pandas as pd

from rnnkit.data.paths import resolve

__all__ = ["load_tweets_sentiment", "DEFAULT_RELATIVE_PATH", "LABELS"]

DEFAULT_RELATIVE_PATH = "tweets-sentiment/crowdflower-tweets.csv"
LABELS = ("negative", "neutral", "positive")


def load_tweets_sentiment(
    path: str | os.PathLike | None = None,
    min_confidence: float | None = None,
    drop_duplicates: bool = True,
    sample: int | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Read the tweets as a DataFrame with columns ``text``, ``sentiment``, ``confidence``.

    Args:
        path: the CSV file, or a folder holding ``crowdflower-tweets.csv``; default
            ``<data root>/tweets-sentiment/crowdflower-tweets.csv``.
        min_confidence: keep only rows whose annotator confidence is at least this
            (rows without a confidence are then dropped too).
        drop_duplicates: drop repeated (text, sentiment) rows (retweets), keeping
            the first, so that copies cannot land in both a train and a test split.
        sample: if given, a random sample of this many rows (``random_state``).
        random_state: seed of the sample.

    Returns:
        A DataFrame with a fresh index; ``sentiment`` is one of ``LABELS``,
        ``confidence`` is a float (NaN where the file has none).

    Example:

    >>> df = load_tweets_sentiment(sample=3000)  # doctest: +SKIP
    >>> df.sentiment.value_counts()  # doctest: +SKIP
    """
    resolved = resolve(path, DEFAULT_RELATIVE_PATH)
    if resolved.is_dir():
        resolved = resolved / "crowdflower-tweets.csv"
    frame = pd.read_csv(
        resolved,
        encoding="utf-8",
        encoding_errors="replace",
        dtype={"sentiment": str, "text": str},
    )
    expected = {"sentiment", "confidence", "text"}
    if not expected <= set(frame.columns):
        raise ValueError(
            f"{resolved} must have the columns {sorted(expected)}, got {list(frame.columns)}."
        )
    frame = frame.dropna(subset=["text", "sentiment"])
    frame["text"] = frame["text"].astype(str)
    frame["sentiment"] = frame["sentiment"].astype(str).str.strip().str.lower()
    unknown = sorted(set(frame["sentiment"]) - set(LABELS))
    if unknown:
        raise ValueError(
            f"{resolved}: unexpected sentiment labels {unknown[:5]}; expected {list(LABELS)}."
        )
    frame["confidence"] = pd.to_numeric(frame["confidence"], errors="coerce")
    if min_confidence is not None:
        frame = frame[frame["confidence"] >= float(min_confidence)]
    if drop_duplicates:
        frame = frame.drop_duplicates(subset=["text", "sentiment"])
    if sample is not None:
        if sample < 1:
            raise ValueError(f"sample must be a positive integer, got {sample!r}.")
        frame = frame.sample(n=min(int(sample), len(frame)), random_state=random_state)
    return frame[["text", "sentiment", "confidence"]].reset_index(drop=True)
