"""rnnkit.training.checkpoint.RunRecord, the record of a many-run job's finished runs, and
the benchmark that keeps one (benchmarks/minrnn_quality.py): a run recorded is not run
again, a record of other settings is refused by name, a run on other data is run again."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from recipe_helpers import BENCHMARKS, load_recipe

from rnnkit.training.checkpoint import STATE_FILE, RunRecord

KEY = ("dataset", "seed")


def test_a_recorded_run_is_found_by_a_new_record_of_the_same_folder(tmp_path):
    folder = tmp_path / "record"
    record = RunRecord(folder, {"data": "abc", "shape": (2, 3)}, KEY, "job")
    assert len(record) == 0 and not folder.exists()  # nothing written before a run ends
    record.add({"dataset": "a", "seed": np.int64(0), "score": np.float32(0.5)})
    record.add({"dataset": "a", "seed": 1, "score": 0.75})

    again = RunRecord(folder, {"data": "abc", "shape": (2, 3)}, KEY, "job")
    assert len(again) == 2
    assert again.get({"dataset": "a", "seed": 0, "other": "ignored"}) == {
        "dataset": "a",
        "seed": 0,
        "score": 0.5,
    }
    assert again.get({"dataset": "b", "seed": 0}) is None
    saved = json.loads((folder / STATE_FILE).read_text())
    assert saved["settings"] == {"data": "abc", "shape": [2, 3]}
    assert [type(r["seed"]) for r in saved["history"]] == [int, int]  # numbers, not text
    # a run recorded again replaces its row
    again.add({"dataset": "a", "seed": 1, "score": 0.8})
    assert RunRecord(folder, {"data": "abc", "shape": (2, 3)}, KEY, "job").get(
        {"dataset": "a", "seed": 1}
    )["score"] == pytest.approx(0.8)


def test_a_record_of_other_settings_or_not_a_record_is_refused(tmp_path):
    folder = tmp_path / "record"
    RunRecord(folder, {"data": "abc", "units": 8}, KEY, "job").add({"dataset": "a", "seed": 0})
    with pytest.raises(ValueError, match=r"other settings \(units: checkpoint 8, now 16\)"):
        RunRecord(folder, {"data": "abc", "units": 16}, KEY, "job")
    (folder / STATE_FILE).write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a job checkpoint"):
        RunRecord(folder, {"data": "abc", "units": 8}, KEY, "job")


def tiny_splits(texts_seed: int):
    """Two small runs of the benchmark's form: (dataset, seed, x_train, y_train, x_test, y_test)."""

    def splits(seeds):
        rng = np.random.default_rng(texts_seed)
        words = ["good", "great", "bad", "awful", "fine", "ok", "day", "film"]
        for name in ("tiny-a", "tiny-b"):
            texts = [" ".join(rng.choice(words, 5)) for _ in range(30)]
            labels = np.array(["pos" if ("good" in t or "great" in t) else "neg" for t in texts])
            for seed in seeds:
                yield name, seed, texts[:24], labels[:24], texts[24:], labels[24:]

    return splits


@pytest.fixture
def quality(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = load_recipe("minrnn_quality", BENCHMARKS)
    yield module
    sys.modules.pop("sklearn_baseline", None)


def test_the_quality_benchmark_fits_only_the_runs_not_recorded(quality, tmp_path, monkeypatch):
    fits = []

    class Counted(quality.RNNClassifier):
        def fit(self, X, y):  # a real fit, made short
            fits.append(X[0])
            self.set_params(ensemble_size=1, epochs=2)
            return super().fit(X, y)

    monkeypatch.setattr(quality, "RNNClassifier", Counted)
    monkeypatch.setattr(quality, "splits", tiny_splits(0))
    argv = ["--seeds", "0", "--cells", "gru", "--checkpoint", str(tmp_path / "rec")]
    first = quality.main(argv)
    assert len(fits) == 2 and len(first) == 2

    again = quality.main(argv)
    assert len(fits) == 2  # both taken from the record
    assert again.to_dict("records") == first.to_dict("records")

    more = quality.main([*argv[:2], "1", *argv[2:]])  # --seeds 0 1: a second seed adds runs
    assert len(fits) == 4 and len(more) == 4

    monkeypatch.setattr(quality, "splits", tiny_splits(1))  # other texts: done again
    quality.main(argv)
    assert len(fits) == 6

    none = quality.main([*argv[:4], "--no-checkpoint"])
    assert len(fits) == 8 and len(none) == 2


def test_the_tagging_benchmark_fits_only_the_runs_not_recorded(tmp_path, monkeypatch):
    tagging = load_recipe("tagging", BENCHMARKS)
    rng = np.random.default_rng(0)
    words = ["Paris", "is", "nice", "John", "went", "to", "London", "today"]

    def tiny_ner(seed, validation):
        sentences = [list(rng.choice(words, 6)) for _ in range(30)]
        tags = [["B-loc" if w in ("Paris", "London") else "O" for w in s] for s in sentences]
        return (sentences[:24], tags[:24]), (sentences[24:], tags[24:])

    made = []

    def counted_rnn_model(params, seed):
        made.append(seed)
        return make_rnn(params, seed)

    make_rnn = tagging.rnn_model
    monkeypatch.setattr(tagging, "ner_splits", tiny_ner)
    monkeypatch.setattr(tagging, "rnn_model", counted_rnn_model)
    small = ["epochs=2", "units=8", "embedding_dim=8", "chars=None"]
    argv = ["--tasks", "ner", "--models", "rnn", "--seeds", "0", "--out", str(tmp_path)]
    argv += [x for p in small for x in ("--rnn-param", p)]
    first = tagging.main(argv)
    assert made == [0] and (tmp_path / "record" / STATE_FILE).exists()
    assert "data" not in first.columns  # the run's identity is kept in the record only
    rng = np.random.default_rng(0)  # the same data again
    again = tagging.main(argv)
    assert made == [0]
    assert again.drop(columns="load").equals(first.drop(columns="load"))
    tagging.main([*argv, "--rnn-param", "units=12"])  # another model: fitted
    assert made == [0, 0]
