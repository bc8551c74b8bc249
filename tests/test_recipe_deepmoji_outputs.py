"""The DeepMoji workflows' reporting (rnnkit.recipes): attention ratios against a
brute-force reference, result tables written only to the folder given (``make demo`` must
leave the tracked recipes/results/ untouched), and default locations relative to the
current folder, never to the repository."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from rnnkit.models.deepmoji.attention import attention_ratios
from rnnkit.recipes import deepmoji_attention, deepmoji_benchmark

REPO_RESULTS = Path(__file__).resolve().parents[1] / "recipes" / "results"


def test_attention_ratios_match_brute_force():
    rng = np.random.default_rng(0)
    rows = []
    for n in (1, 3, 7, 30):
        w = rng.random(n)
        w /= w.sum()
        rows.append([(f"w{i}", float(x)) for i, x in enumerate(w)])
    got = attention_ratios(rows)
    for row, ratio in zip(rows, got):
        weights = [x for _, x in row]
        assert ratio == pytest.approx(max(weights) / (1 / len(weights)))
    flat = [[("a", 0.25)] * 4]
    assert attention_ratios(flat)[0] == pytest.approx(1.0)
    assert np.isnan(attention_ratios([[]])[0])
    table = deepmoji_attention.attention_table(["a b", "flat|text"], [rows[1], flat[0]])
    assert table.count("\n") == 3 and "| NO |" in table and "flat/text" in table


def test_write_tables_goes_to_the_given_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in REPO_RESULTS.glob("*")}
    rows = [
        {
            "dataset": "SS-Twitter",
            "metric": "accuracy",
            "method": m,
            "seeds": "0 1",
            "mean": mean,
            "std": 0.01,
            "scores": "x",
            "val_mean": 0.5,
            "val_scores": "y",
            "config": "demo",
        }
        for m, mean in (("new", 0.6), ("chain_thaw", 0.7))
    ]
    csv_path, md_path = deepmoji_benchmark.write_tables(rows, "demo", {}, "t", tmp_path / "out")
    assert csv_path.parent == md_path.parent == tmp_path / "out"
    assert "chain-thaw 0.700 ± 0.010 vs new 0.600 ± 0.010: chain-thaw beats" in md_path.read_text()
    after = {p: p.stat().st_mtime_ns for p in REPO_RESULTS.glob("*")}
    assert after == before
    assert not (tmp_path / "runs").exists()  # nor the default folder


def test_attention_view_defaults_are_relative_to_the_current_folder(tmp_path, monkeypatch):
    from rnnkit.models.deepmoji import SPECIAL_TOKENS
    from rnnkit.models.deepmoji.transfer import build, get_config, save_pretrained

    monkeypatch.chdir(tmp_path)
    # a small model saved where `rnnkit pretrain --quick` puts it: ./runs/deepmoji/quick
    config = dataclasses.replace(get_config("quick"), embedding_dim=8, lstm_units=4)
    words = [*SPECIAL_TOKENS, "i", "love", "this", "worst", "day"]
    vocab = {w: i for i, w in enumerate(words)}
    model = build(config, nb_tokens=len(vocab), nb_classes=3)
    save_pretrained(model, vocab, config, Path("runs/deepmoji/quick"), {})
    texts = ["I love this", "worst day ever !!"]
    result = deepmoji_attention.main(["--quick", *texts])
    words = [[w for w, _ in row] for row in result["attention"]]
    assert words == [["i", "love", "this"], ["worst", "day", "ever", "!!"]]
    for row in result["attention"]:
        assert sum(w for _, w in row) == pytest.approx(1.0, abs=1e-5)
    assert result["heatmap"] == Path("runs/deepmoji/results/deepmoji_attention_quick.png")
    assert (tmp_path / result["heatmap"]).stat().st_size > 1000
    assert "| I love this | 3 |" in result["table"]
    with pytest.raises(FileNotFoundError, match="rnnkit pretrain --config medium"):
        deepmoji_attention.main(["some text"])  # medium: nothing pretrained here


def test_benchmark_without_a_pretrained_model_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"runs/deepmoji/quick .*rnnkit pretrain"):
        deepmoji_benchmark.main(["--quick"])
    with pytest.raises(SystemExit):  # argparse: an unknown data set is a usage error
        deepmoji_benchmark.main(["--quick", "--datasets", "SS-Nowhere"])


def test_another_cell_has_its_own_folder_and_must_match_the_pretrained_model(tmp_path, monkeypatch):
    """``--cell mingru``: the workflows look in ``runs/deepmoji/<config>-mingru``; the
    benchmark fine-tunes a MinGRU backbone (the models trained from scratch too) and says
    so in its table; a pretrained model of another cell is a clear error."""
    import argparse

    import keras

    from rnnkit.layers import MinGRU
    from rnnkit.models.deepmoji import SPECIAL_TOKENS
    from rnnkit.models.deepmoji.transfer import build, get_config, save_pretrained
    from rnnkit.recipes._deepmoji import artifacts_dir, chosen_config

    for cell, folder in ((None, "quick"), ("lstm", "quick"), ("mingru", "quick-mingru")):
        config = chosen_config(argparse.Namespace(quick=True, config="medium", cell=cell))
        assert config.cell == (cell or "lstm")
        assert artifacts_dir(config, "runs") == Path("runs") / folder
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"runs/deepmoji/quick-mingru "):
        deepmoji_benchmark.main(["--quick", "--cell", "mingru"])
    words = [*SPECIAL_TOKENS, "i", "love", "this", "worst", "day", "good", "bad"]
    vocab = {w: i for i, w in enumerate(words)}
    for cell in ("lstm", "mingru"):
        config = dataclasses.replace(get_config("quick"), cell=cell)  # the benchmark's sizes
        folder = "quick" if cell == "lstm" else "quick-mingru"
        save_pretrained(
            build(config, len(vocab), 3), vocab, config, Path("runs/deepmoji") / folder, {}
        )
    with pytest.raises(ValueError, match="pretrained with cell 'lstm'.*pass --cell lstm"):
        deepmoji_benchmark.main(
            ["--quick", "--cell", "mingru", "--pretrained", "runs/deepmoji/quick"]
        )
    result = deepmoji_benchmark.run(
        [
            "--quick",
            "--cell",
            "mingru",
            "--methods",
            "new",
            "chain_thaw",
            "--seeds",
            "0",
            "--save-model",
            "saved",
        ]  # fmt: skip
    )
    assert [(r["method"], r["cell"]) for r in result["rows"]] == [
        ("new", "mingru"),
        ("chain_thaw", "mingru"),
    ]
    assert "backbone cell mingru" in result["tables"][1].read_text()
    model = keras.models.load_model("saved/finetuned.keras", safe_mode=True)
    assert any(isinstance(layer, MinGRU) for layer in model._flatten_layers())


def test_a_killed_benchmark_goes_on_with_the_runs_still_to_do(tmp_path, monkeypatch, capsys):
    """Every finished (data set, method, seed) run is recorded beside the pretrained
    model: after a kill the same command runs only what was left (the shown chain-thaw
    model kept with the record), more methods add runs, and a model pretrained again
    sets the old record aside."""
    import json

    import keras

    from rnnkit.models.deepmoji import SPECIAL_TOKENS
    from rnnkit.models.deepmoji.transfer import build, get_config, save_pretrained

    monkeypatch.chdir(tmp_path)
    words = [*SPECIAL_TOKENS, "i", "love", "this", "worst", "day", "good", "bad"]
    vocab = {w: i for i, w in enumerate(words)}
    config = get_config("quick")
    pretrained = Path("runs/deepmoji/quick")
    save_pretrained(build(config, len(vocab), 3), vocab, config, pretrained, {})
    common = ["--quick", "--seeds", "0", "--save-model", "saved", "--out", "out"]
    first = deepmoji_benchmark.run([*common, "--methods", "new"])
    record = pretrained / "bench-record" / "state.json"
    assert [r["method"] for r in json.loads(record.read_text())["history"]] == ["new"]

    real, ran = deepmoji_benchmark._run_one, []

    def killed_before_the_second(task):
        ran.append(task["method"])
        if len(ran) == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(deepmoji_benchmark, "_run_one", killed_before_the_second)
    three = ["--methods", "new", "chain_thaw", "last"]
    with pytest.raises(KeyboardInterrupt):
        deepmoji_benchmark.run([*common, *three])
    assert ran == ["chain_thaw", "last"]  # "new" was not run again
    monkeypatch.setattr(deepmoji_benchmark, "_run_one", real)
    capsys.readouterr()
    result = deepmoji_benchmark.run([*common, *three])
    assert "Resuming from runs/deepmoji/quick/bench-record: 2 of 3 run(s) done" in (
        capsys.readouterr().out
    )
    assert [r["method"] for r in result["rows"]] == ["new", "chain_thaw", "last"]
    assert result["rows"][0]["mean"] == pytest.approx(first["rows"][0]["mean"])
    assert len(json.loads(record.read_text())["history"]) == 3
    # the shown chain-thaw model came from the earlier process's record
    keras.models.load_model("saved/finetuned.keras", safe_mode=True)
    assert result["attention"]

    # the same weights saved again (a rerun of the demo) are the same model: record kept
    same = keras.models.load_model(pretrained / "pretrained.keras", safe_mode=True)
    save_pretrained(same, vocab, config, pretrained, {"seconds": 5})
    capsys.readouterr()
    deepmoji_benchmark.run([*common, "--methods", "new"])
    assert "1 of 1 run(s) done" in capsys.readouterr().out
    # a model pretrained again: the old record is set aside
    save_pretrained(build(config, len(vocab), 3), vocab, config, pretrained, {"again": 1})
    capsys.readouterr()
    deepmoji_benchmark.run([*common, "--methods", "new"])
    out = capsys.readouterr().out
    assert "a record of another pretrained model or configuration, moved to" in out
    assert "Resuming" not in out
    assert len(list(pretrained.glob("bench-record-old-*"))) == 1
