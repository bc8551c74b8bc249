"""The DeepMoji recipe's reporting helpers: attention ratios against a brute-force
reference, and result tables written only to the folder given (``make demo`` must leave
the tracked recipes/results/ untouched)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "deepmoji"


@pytest.fixture(scope="module")
def recipe():
    sys.path.insert(0, str(RECIPE))
    try:
        import attention_view
        import benchmark

        yield attention_view, benchmark
    finally:
        sys.path.remove(str(RECIPE))


def test_attention_ratios_match_brute_force(recipe):
    attention_view, _ = recipe
    rng = np.random.default_rng(0)
    rows = []
    for n in (1, 3, 7, 30):
        w = rng.random(n)
        w /= w.sum()
        rows.append([(f"w{i}", float(x)) for i, x in enumerate(w)])
    got = attention_view.attention_ratios(rows)
    for row, ratio in zip(rows, got):
        weights = [x for _, x in row]
        assert ratio == pytest.approx(max(weights) / (1 / len(weights)))
    flat = [[("a", 0.25)] * 4]
    assert attention_view.attention_ratios(flat)[0] == pytest.approx(1.0)
    assert np.isnan(attention_view.attention_ratios([[]])[0])
    table = attention_view.attention_table(["a b", "flat|text"], [rows[1], flat[0]])
    assert table.count("\n") == 3 and "| NO |" in table and "flat/text" in table


def test_write_tables_goes_to_the_given_folder(recipe, tmp_path):
    _, benchmark = recipe
    before = {p: p.stat().st_mtime_ns for p in benchmark.RESULTS.glob("*")}
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
    csv_path, md_path = benchmark.write_tables(rows, "demo", {}, "t", tmp_path / "out")
    assert csv_path.parent == md_path.parent == tmp_path / "out"
    assert "chain-thaw 0.700 ± 0.010 vs new 0.600 ± 0.010: chain-thaw beats" in md_path.read_text()
    after = {p: p.stat().st_mtime_ns for p in benchmark.RESULTS.glob("*")}
    assert after == before


def test_verbose_flag_is_read_before_tensorflow(recipe):
    _, benchmark = recipe
    assert benchmark._verbose_requested(["--verbose", "2"])
    assert benchmark._verbose_requested(["--x", "--verbose=1"])
    assert not benchmark._verbose_requested(["--verbose", "0"])
    assert not benchmark._verbose_requested(["--verbose"])
    assert not benchmark._verbose_requested([])
