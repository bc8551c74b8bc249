"""The PTB recipe's command line (recipes/ptb_lm.py): the overrides of a configuration,
the results file they name, and the errors of bad values (before any data is read)."""

from __future__ import annotations

import json

import pytest
from recipe_helpers import load_recipe


@pytest.fixture(scope="module")
def ptb_lm():
    return load_recipe("ptb_lm")


def test_results_file_names_the_overridden_settings(ptb_lm):
    config = dict(ptb_lm.CONFIGS["small"])
    assert ptb_lm.override_suffix("small", config) == ""
    config.update(optimizer="adam", learning_rate=0.002)
    assert ptb_lm.override_suffix("small", config) == "_adam_lr0.002"
    config = dict(ptb_lm.CONFIGS["small"], epochs=16, decay_after=8)
    assert ptb_lm.override_suffix("small", config) == "_e16_decay8"
    config["num_layers"] = 3
    assert ptb_lm.override_suffix("small", config) == "_e16_decay8_layers3"
    config = dict(ptb_lm.CONFIGS["small"], epochs=20, decay_after=6, decay=0.7)
    assert ptb_lm.override_suffix("small", config) == "_e20_decay6_factor0.7"
    config = dict(ptb_lm.CONFIGS["small"], epochs=16, decay_after=8, dropout=0.2)
    assert ptb_lm.override_suffix("small", config) == "_e16_decay8_dropout0.2"
    config["units"] = 222
    assert ptb_lm.override_suffix("small", config) == "_e16_decay8_units222_dropout0.2"
    # the quick configuration's own epochs are not an override of it
    assert ptb_lm.override_suffix("quick", dict(ptb_lm.CONFIGS["quick"])) == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["--learning-rate", "-1"], "--learning-rate must be positive, got -1.0"),
        (["--decay-after", "-2"], "--decay-after must be 0 or more, got -2"),
        (["--decay", "0"], "--decay must be in (0, 1], got 0.0"),
        (["--decay", "1.5"], "--decay must be in (0, 1], got 1.5"),
        (["--units", "0"], "--units must be a positive integer, got 0"),
        (["--dropout", "1"], "--dropout must be in [0, 1), got 1.0"),
        (["--dropout", "-0.1"], "--dropout must be in [0, 1), got -0.1"),
        (["--num-layers", "0"], "--num-layers must be a positive integer, got 0"),
        (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["--test-batch-size", "0"], "--test-batch-size must be a positive integer, got 0"),
    ],
)
def test_bad_overrides_are_refused_before_any_data_is_read(ptb_lm, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ptb_lm.main(["--config", "small", "--data", "/nonexistent", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_stopped_run_goes_on_from_its_checkpoint(ptb_lm, tmp_path, capsys, monkeypatch):
    """The recipe end to end on a tiny corpus: one epoch, then the same run asked for two
    goes on from the checkpoint (one more epoch, the first one's row kept), and the
    results table holds both epochs. Also: another seed is refused by that checkpoint,
    --units and --dropout reach the trained model, and another test protocol is named in
    the results but goes on from the training's checkpoint."""
    import numpy as np

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    data = tmp_path / "ptb"
    data.mkdir()
    for split, lines in (("train", 120), ("valid", 60), ("test", 20)):
        text = "\n".join(" ".join(rng.choice(words, 8)) for _ in range(lines))
        (data / f"{split}.txt").write_text(text + "\n")
    common = ["--config", "quick", "--data", str(data), "--out", str(tmp_path / "out")]
    common += ["--checkpoint", str(tmp_path / "ckpt"), "--verbose", "2", "--samples", "0"]
    assert ptb_lm.main([*common, "--epochs", "1"]) == 0  # 40 words: far below the quick bar
    first = capsys.readouterr().out
    assert "Resuming" not in first and "Epoch 1/1" in first
    # the configuration as it is meets its bar; a run that overrides it says so
    assert "| quick | nothing | lstm |" in first and "| yes |" in first
    assert ptb_lm.main([*common, "--epochs", "2"]) == 0
    second = capsys.readouterr().out
    assert "1 epoch(s) done" in second
    assert "Epoch 1/2" not in second and "Epoch 2/2" in second
    assert "| quick | e2 | lstm |" in second and "| yes, overridden |" in second
    rows = (tmp_path / "out" / "ptb_lm_quick_tensorflow_e2.csv").read_text().splitlines()
    assert len(rows) == 3  # header and both epochs
    # another seed's initial weights are another run: not continued from this checkpoint
    with pytest.raises(ValueError, match=r"other settings \(seed: checkpoint 1234, now 7\)"):
        ptb_lm.main([*common, "--epochs", "3", "--seed", "7"])
    # ... and its results file is its own
    seven = [*common, "--epochs", "1", "--seed", "7", "--checkpoint", str(tmp_path / "ckpt7")]
    assert ptb_lm.main(seven) == 0
    assert (tmp_path / "out" / "ptb_lm_quick_tensorflow_seed7.csv").exists()
    # --units and --dropout reach the model that is trained (its config in the checkpoint)
    wide = [*common, "--epochs", "1", "--units", "6", "--dropout", "0.3"]
    assert ptb_lm.main([*wide, "--checkpoint", str(tmp_path / "ckpt_wide")]) == 0
    state = json.loads((tmp_path / "ckpt_wide" / "state.json").read_text())
    model = state["settings"]["model"]
    assert (model["units"], model["embedding_dim"], model["dropout"]) == (6, 6, 0.3)
    assert (tmp_path / "out" / "ptb_lm_quick_tensorflow_units6_dropout0.3.csv").exists()
    # another test protocol is an override of the results, not of the training: the
    # default checkpoint (named without it) is continued, and the results name it
    monkeypatch.setattr(ptb_lm, "REPO", tmp_path)
    plain = [*common[: common.index("--checkpoint")], "--verbose", "2", "--samples", "0"]
    assert ptb_lm.main([*plain, "--epochs", "1"]) == 0
    assert (tmp_path / "runs" / "ptb_lm" / "ptb_lm_quick_tensorflow" / "state.json").exists()
    capsys.readouterr()
    assert ptb_lm.main([*plain, "--epochs", "1", "--test-batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 epoch(s) done" in out and "Epoch 1/1" not in out
    assert "| quick | test2 | lstm |" in out and "| yes, overridden |" in out
    assert (tmp_path / "out" / "ptb_lm_quick_tensorflow_test2.csv").exists()
    # a test layout the test stream cannot fill is refused before any training
    with pytest.raises(ValueError, match="too short for batch_size=1000 and unroll=20"):
        ptb_lm.main([*plain, "--epochs", "1", "--test-batch-size", "1000", "--seed", "3"])
    assert not (tmp_path / "runs" / "ptb_lm" / "ptb_lm_quick_tensorflow_seed3").exists()
