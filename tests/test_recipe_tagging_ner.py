"""The NER recipe (recipes/tagging_ner.py) on a tiny BIO file: every finished run is
recorded, a killed command goes on with the runs still to do, more seeds add runs, and a
record of other settings is refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
from recipe_helpers import load_recipe


@pytest.fixture(scope="module")
def tagging_ner():
    return load_recipe("tagging_ner")


def write_bio(path) -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(20)]
    lines = []
    for _ in range(40):
        for _ in range(rng.integers(3, 7)):
            if rng.random() < 0.2:
                lines += ["Paris\tB-geo-loc", "Town\tI-geo-loc"]
            else:
                lines.append(f"{rng.choice(words)}\tO")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_killed_run_goes_on_with_the_runs_still_to_do(tagging_ner, tmp_path, capsys, monkeypatch):
    data = tmp_path / "tiny.bio"
    write_bio(data)
    record = tmp_path / "record"
    common = ["--quick", "--data", str(data), "--out", str(tmp_path / "out"), "--epochs", "2"]
    common += ["--checkpoint", str(record), "--verbose", "0"]
    first = tagging_ner.main([*common, "--seeds", "1"])
    assert list(first["model"]) == ["softmax", "crf-chars"]
    assert "Resuming" not in capsys.readouterr().out

    # two more runs (seed 1); the process dies in the second one
    real = tagging_ner.make_tagger
    made = []

    def dies_on_the_second(kind, args, seed):
        made.append((kind, seed))
        if len(made) == 2:
            raise KeyboardInterrupt
        return real(kind, args, seed)

    monkeypatch.setattr(tagging_ner, "make_tagger", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        tagging_ner.main([*common, "--seeds", "2"])
    assert made == [("softmax", 1), ("crf-chars", 1)]  # seed 0's runs were not redone
    state = json.loads((record / "state.json").read_text())
    assert [(r["seed"], r["model"]) for r in state["history"]] == [
        (0, "softmax"), (0, "crf-chars"), (1, "softmax"),
    ]  # fmt: skip

    monkeypatch.setattr(tagging_ner, "make_tagger", real)
    capsys.readouterr()
    table = tagging_ner.main([*common, "--seeds", "2"])
    out = capsys.readouterr().out
    assert "3 run(s) done" in out and out.count("== held-out seed") == 1
    assert [(s, m) for s, m in zip(table["seed"], table["model"])] == [
        (0, "softmax"), (0, "crf-chars"), (1, "softmax"), (1, "crf-chars"),
    ]  # fmt: skip
    # the recorded runs' results are the ones reported
    assert table["f1"].iloc[0] == pytest.approx(first["f1"].iloc[0])
    # fewer seeds: the table holds the runs asked for
    assert len(tagging_ner.main([*common, "--seeds", "1"])) == 2

    with pytest.raises(ValueError, match=r"other settings \(lr: checkpoint [0-9.]+, now 0\.5\)"):
        tagging_ner.main([*common, "--seeds", "1", "--lr", "0.5"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0"], "--seeds must be a positive integer, got 0"),
        (["--folds", "1"], "--folds must be 2 or more, got 1"),
        (["--test-fraction", "1.5"], "--test-fraction must be between 0 and 1, got 1.5"),
    ],
)
def test_bad_arguments_are_refused_before_any_data_is_read(tagging_ner, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tagging_ner.main(["--data", "/nonexistent", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
