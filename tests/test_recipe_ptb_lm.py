"""The PTB recipe's command line (recipes/ptb_lm.py): the overrides of a configuration,
the results file they name, and the errors of bad values (before any data is read)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "ptb_lm.py"


@pytest.fixture(scope="module")
def ptb_lm():
    spec = importlib.util.spec_from_file_location("ptb_lm_recipe", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_file_names_the_overridden_settings(ptb_lm):
    config = dict(ptb_lm.CONFIGS["small"])
    assert ptb_lm.override_suffix("small", config) == ""
    config.update(optimizer="adam", learning_rate=0.002)
    assert ptb_lm.override_suffix("small", config) == "_adam_lr0.002"
    config = dict(ptb_lm.CONFIGS["small"], epochs=16, decay_after=8)
    assert ptb_lm.override_suffix("small", config) == "_e16_decay8"
    config["num_layers"] = 3
    assert ptb_lm.override_suffix("small", config) == "_e16_decay8_layers3"
    # the quick configuration's own epochs are not an override of it
    assert ptb_lm.override_suffix("quick", dict(ptb_lm.CONFIGS["quick"])) == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
        (["--learning-rate", "-1"], "--learning-rate must be positive, got -1.0"),
        (["--decay-after", "-2"], "--decay-after must be 0 or more, got -2"),
        (["--num-layers", "0"], "--num-layers must be a positive integer, got 0"),
        (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    ],
)
def test_bad_overrides_are_refused_before_any_data_is_read(ptb_lm, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ptb_lm.main(["--config", "small", "--data", "/nonexistent", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
