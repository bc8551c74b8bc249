"""The package as a user installs it: the wheel built from this checkout, installed into a
fresh virtual environment in a temporary folder outside the checkout, runs every CLI
subcommand's ``--help`` and short real commands (train, then predict; a DeepMoji
pretraining, whose workflow is part of the package)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.cli import main as cli
from rnnkit.data.paths import default_data_dir

REPO = Path(__file__).resolve().parents[1]


def run(
    argv: list, cwd: Path, timeout: int = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the venv's ``rnnkit`` command, a working folder outside the checkout)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: building writes build/ and *.egg-info
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "rnnkit", source / "rnnkit", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = root / "dist"
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", dist, source],
        root,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("rnnkit-*.whl")
    # the dependencies come from this interpreter's site-packages; rnnkit from the wheel
    venv = root / "venv"
    made = run([sys.executable, "-m", "venv", "--system-site-packages", venv], root)
    assert made.returncode == 0, made.stderr[-2000:]
    python = venv / "bin" / "python"
    done = run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], root)
    assert done.returncode == 0, done.stderr[-2000:]
    work = root / "work"
    work.mkdir()
    where = run([python, "-c", "import rnnkit.cli.main as m; print(m.__file__)"], work)
    assert where.returncode == 0, where.stderr[-2000:]
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the checkout
    return venv / "bin" / "rnnkit", work


def test_every_subcommand_help_from_the_installed_wheel(installed):
    command, work = installed
    parser = cli.build_parser()
    names = next(a for a in parser._actions if a.dest == "command").choices
    for argv in [["--help"]] + [[name, "--help"] for name in names]:
        done = run([command, *argv], work, timeout=120)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
        assert "usage: rnnkit" in done.stdout, argv


def test_train_and_predict_from_the_installed_wheel(installed):
    command, work = installed
    data = work / "tiny.csv"
    rows = [f"a good film number {i},pos\na bad film number {i},neg\n" for i in range(12)]
    data.write_text("text,label\n" + "".join(rows))
    trained = run(
        [command, "train", "--data", data, "--output", work / "model", "--epochs", "1",
         "--units", "4", "--embedding_dim", "4", "--max_length", "8", "--quiet"],
        work,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (work / "model" / "textmodel.json").is_file()
    predicted = run([command, "predict", "--model", work / "model", "a good film"], work)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert "a good film" in predicted.stdout and "p(pos)" in predicted.stdout
    assert predicted.stderr == ""  # quiet: no framework log line


def test_deepmoji_pretrain_from_the_installed_wheel(installed):
    # `rnnkit pretrain` runs the workflow of the installed package (no checkout needed)
    # and writes relative to the current folder: ./runs/deepmoji/<config>
    command, work = installed
    venv = command.parents[1]
    code = (
        "import rnnkit.recipes.deepmoji_pretrain as p, rnnkit.recipes.deepmoji_benchmark as b; "
        "print(p.__file__); print(b.__file__)"
    )
    where = run([venv / "bin" / "python", "-c", code], work)
    assert where.returncode == 0, where.stderr[-2000:]
    files = [Path(line) for line in where.stdout.split()]
    assert len(files) == 2 and all(f.is_relative_to(venv) for f in files), files
    checkout_run = REPO / "runs" / "deepmoji" / "quick" / "pretrain.json"
    before = checkout_run.stat().st_mtime_ns if checkout_run.exists() else None
    env = dict(os.environ, RNNKIT_DATA=str(default_data_dir()))  # the data, not the code
    done = run(
        [command, "pretrain", "--quick", "--samples", "300", "--epochs", "1", "--verbose", "0"],
        work,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    folder = work / "runs" / "deepmoji" / "quick"
    info = json.loads((folder / "pretrain.json").read_text())
    assert info["config"]["name"] == "quick" and len(info["history"]) == 1
    assert 250 < info["n_train"] + info["n_val"] <= 300  # texts without a word are dropped
    assert (folder / "pretrained.keras").is_file() and (folder / "vocabulary.json").is_file()
    assert "| epoch | loss |" in done.stdout and f"Saved {folder.relative_to(work)}" in done.stdout
    assert done.stderr == ""  # quiet: no framework log line
    after = checkout_run.stat().st_mtime_ns if checkout_run.exists() else None
    assert after == before  # nothing written into the checkout
