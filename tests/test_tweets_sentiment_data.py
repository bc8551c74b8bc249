"""The tweets-sentiment loader on the real file and on crafted files with bad bytes."""

from __future__ import annotations

import pandas as pd
import pytest

from rnnkit.data.paths import default_data_dir
from rnnkit.data.tweets_sentiment import LABELS, load_tweets_sentiment

REAL = default_data_dir() / "tweets-sentiment" / "crowdflower-tweets.csv"


def test_real_file_loads_whole_with_replacement_characters():
    frame = load_tweets_sentiment(drop_duplicates=False)
    assert list(frame.columns) == ["text", "sentiment", "confidence"]
    assert len(frame) == 38158  # every row of the file; none lost to the bad bytes
    assert set(frame.sentiment) == set(LABELS)
    assert frame.text.map(type).eq(str).all()
    # About 13% of the rows hold U+FFFD (README of the data folder).
    share = frame.text.str.contains("\ufffd").mean()
    assert 0.10 < share < 0.16
    dedup = load_tweets_sentiment()
    assert len(dedup) < len(frame)
    assert not dedup.duplicated(subset=["text", "sentiment"]).any()


def test_min_confidence_and_sample():
    confident = load_tweets_sentiment(min_confidence=0.9)
    assert (confident.confidence >= 0.9).all()
    a = load_tweets_sentiment(sample=50, random_state=3)
    b = load_tweets_sentiment(sample=50, random_state=3)
    assert len(a) == 50 and a.equals(b)
    with pytest.raises(ValueError, match="sample must be a positive integer"):
        load_tweets_sentiment(sample=0)


def test_stray_bytes_and_folder_path(tmp_path):
    raw = (
        b"sentiment,confidence,text\n"
        b"positive,1,caf\xe9 is great\n"  # latin-1 byte: invalid UTF-8
        b'negative,,"bad, really"\n'
        b"Neutral,0.5,ok \xff\xfe\n"
    )
    (tmp_path / "crowdflower-tweets.csv").write_bytes(raw)
    frame = load_tweets_sentiment(tmp_path)
    assert frame.text.tolist() == ["caf\ufffd is great", "bad, really", "ok \ufffd\ufffd"]
    assert frame.sentiment.tolist() == ["positive", "negative", "neutral"]
    assert pd.isna(frame.confidence[1])


def test_bad_files(tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("label,text\npositive,hi\n")
    with pytest.raises(ValueError, match="must have the columns"):
        load_tweets_sentiment(wrong)
    odd = tmp_path / "odd.csv"
    odd.write_text("sentiment,confidence,text\nhappy,1,hi\n")
    with pytest.raises(ValueError, match=r"unexpected sentiment labels \['happy'\]"):
        load_tweets_sentiment(odd)
    with pytest.raises(FileNotFoundError, match="Data not found"):
        load_tweets_sentiment(tmp_path / "missing.csv")
