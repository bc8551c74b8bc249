"""Loader of the five DeepMoji benchmarks with the paper's splits."""

import json

import numpy as np
import pytest

from rnnkit.data.paths import resolve
from rnnkit.models.deepmoji import DEEPMOJI_BENCHMARKS, load_deepmoji_benchmark

# Split sizes of the paper's benchmark copies (train, val, test).
SIZES = {
    "SS-Twitter": (800, 100, 1213),
    "SS-Youtube": (800, 100, 1242),
    "SCv1": (800, 100, 1095),
    "SE0714": (200, 50, 1000),
    "PsychExp": (900, 100, 6480),
}


@pytest.mark.parametrize("name", list(DEEPMOJI_BENCHMARKS))
def test_splits_and_labels_match_the_file(name):
    data = load_deepmoji_benchmark(name)
    path = resolve(None, f"deepmoji-benchmarks/{name}.jsonl")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert tuple(len(data.texts[s]) for s in ("train", "val", "test")) == SIZES[name]
    for split in ("train", "val", "test"):
        expected = [r for r in rows if r["split"] == split]
        texts, y = data.split(split)
        assert texts == [r["text"] for r in expected]
        if data.task == "multilabel":
            assert y.shape == (len(expected), 3)
            names = [[data.classes[j] for j in np.flatnonzero(row)] for row in y]
            assert names == [sorted(r["label"]) for r in expected]
        else:
            assert y.tolist() == [r["label"] for r in expected]
        onehot = data.one_vs_rest(split)
        assert onehot.shape == (len(expected), len(data.classes))


def test_task_metadata():
    assert load_deepmoji_benchmark("SE0714").classes == ("fear", "joy", "sadness")
    assert load_deepmoji_benchmark("SCv1").metric == "f1"
    assert load_deepmoji_benchmark("PsychExp").metric == "class_avg_f1"
    # SE0714 keeps texts with no emotion as all-zero rows.
    y = load_deepmoji_benchmark("SE0714").labels["test"]
    assert (y.sum(axis=1) == 0).sum() > 0


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="Unknown DeepMoji benchmark"):
        load_deepmoji_benchmark("IMDB")
    bad = tmp_path / "SS-Twitter.jsonl"
    bad.write_text('{"text": "a", "label": 2, "split": "train"}\n')
    with pytest.raises(ValueError, match="label 2 is outside the 2 classes"):
        load_deepmoji_benchmark("SS-Twitter", tmp_path)
    bad = tmp_path / "SE0714.jsonl"
    bad.write_text('{"text": "a", "label": ["anger"], "split": "train"}\n')
    with pytest.raises(ValueError, match="list of names from"):
        load_deepmoji_benchmark("SE0714", bad)
    bad.write_text('{"text": "a", "label": [], "split": "dev"}\n')
    with pytest.raises(ValueError, match="split must be one of"):
        load_deepmoji_benchmark("SE0714", bad)
    bad.write_text('{"text": 5, "label": [], "split": "train"}\n')
    with pytest.raises(ValueError, match="text must be a string"):
        load_deepmoji_benchmark("SE0714", bad)
    with pytest.raises(ValueError, match="split"):
        load_deepmoji_benchmark("SS-Twitter").split("dev")
