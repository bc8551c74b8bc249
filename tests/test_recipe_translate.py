"""The translation recipe (recipes/translate_attention.py) end to end on a tiny corpus:
a run stopped after its first epoch goes on from its checkpoints, and a checkpoint of
other settings is refused by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from recipe_helpers import load_recipe


@pytest.fixture(scope="module")
def translate():
    return load_recipe("translate_attention")


def write_pairs(path) -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    lines = ["source\ttarget\tcatalog"]
    for _ in range(160):
        source = rng.choice(words, rng.integers(2, 6))
        lines.append(f"{' '.join(source)}\t{' '.join(w.upper() for w in source[::-1])}\tt")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_stopped_run_goes_on_from_its_checkpoints(translate, tmp_path, capsys):
    data = tmp_path / "pairs.tsv"
    write_pairs(data)
    common = ["--quick", "--data", str(data), "--out", str(tmp_path / "out"), "--heatmaps", "1"]
    common += ["--checkpoint", str(tmp_path / "ckpt")]
    first = translate.main([*common, "--epochs", "1"])
    assert list(first["epochs"]) == [1, 1]
    assert "Resuming" not in capsys.readouterr().out
    for model in ("attention", "no_attention"):
        assert (tmp_path / "ckpt" / model / "state.json").exists()

    second = translate.main([*common, "--epochs", "2"])
    out = capsys.readouterr().out
    assert out.count("1 epoch(s) done") == 2  # both models go on after their first epoch
    assert "Epoch 1/2" not in out and "Epoch 2/2" in out
    assert list(second["epochs"]) == [2, 2]
    # the first process's epoch is counted in the training time of the second
    assert (second["train_s"] >= first["train_s"]).all()
    saved = pd.read_csv(tmp_path / "out" / "translate_attention_quick.csv")
    assert list(saved["epochs"]) == [2, 2]
    assert (tmp_path / "out" / "translate_attention_quick_heatmap_0.png").exists()

    with pytest.raises(ValueError, match=r"other settings \(seed: checkpoint 0, now 1"):
        translate.main([*common, "--epochs", "2", "--seed", "1"])

    # --no-checkpoint: trains from scratch and writes no checkpoint
    plain = ["--quick", "--data", str(data), "--out", str(tmp_path / "out2"), "--heatmaps", "0"]
    table = translate.main([*plain, "--epochs", "1", "--no-checkpoint", "--seed", "1"])
    assert list(table["epochs"]) == [1, 1] and (table["val_loss"] > 0).all()
    assert "Resuming" not in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "out", "out2", "pairs.tsv"]


def test_bad_epochs_are_refused_before_any_data_is_read(translate, capsys):
    with pytest.raises(SystemExit) as exit_info:
        translate.main(["--epochs", "0", "--data", "/nonexistent"])
    assert exit_info.value.code == 2
    assert "--epochs must be a positive integer, got 0" in capsys.readouterr().err
