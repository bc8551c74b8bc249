"""The rnnkit command line: help, config files, train -> evaluate -> export -> predict."""

import importlib
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main as cli
from rnnkit.cli import tasks
from rnnkit.data.paths import resolve
from rnnkit.logs import verbose_requested

SUBCOMMANDS = ["train", "evaluate", "predict", "export", "serve", "pretrain", "finetune", "bench"]


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out
    assert "rnnkit train --data" in out  # the worked example


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(capsys, name):
    with pytest.raises(SystemExit) as e:
        cli.main([name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: rnnkit {name}" in out
    if name in cli.RECIPE_COMMANDS:  # options belong to rnnkit.recipes, passed through
        flat = " ".join(out.split())  # argparse wraps the description at the terminal width
        assert cli.RECIPE_MODULES[name] in flat and "-- --help" in flat
        assert "recipes/deepmoji" not in flat  # no file of a source checkout
    else:
        assert "--config" in out and "--verbose" in out


FRAMEWORKS = {"keras", "tensorflow", "jax", "jaxlib", "torch"}


def imported_packages(importtime_stderr: str) -> set[str]:
    """The top-level packages a ``python -X importtime`` run imported."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def command_lines() -> list[list[str]]:
    """``rnnkit --help`` and ``rnnkit SUBCOMMAND --help`` for every subcommand."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return [["--help"]] + [[name, "--help"] for name in sub.choices]


@pytest.mark.parametrize("argv", command_lines(), ids=lambda argv: " ".join(argv))
def test_help_imports_no_deep_learning_framework(argv):
    # `python -m rnnkit ... --help` in a fresh process: the help, and no Keras,
    # TensorFlow, JAX or torch imported (nor their log lines printed)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rnnkit", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: rnnkit" in done.stdout
    imported = imported_packages(done.stderr)
    assert "rnnkit" in imported  # the parse worked
    assert not imported & FRAMEWORKS, sorted(imported & FRAMEWORKS)


def test_console_script_help_is_as_light_and_import_rnnkit_registers_the_layers():
    import shutil

    script = shutil.which("rnnkit")
    if script is not None:  # installed with pip (make setup): the console script too
        done = subprocess.run(
            [sys.executable, "-X", "importtime", script, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert not imported_packages(done.stderr) & FRAMEWORKS
    # outside the command, `import rnnkit` registers the Keras serializables at once, so
    # keras.saving.load_model finds rnnkit's layers
    code = (
        "import rnnkit, keras; "
        "print(keras.saving.get_registered_object('rnnkit>LSTM') is rnnkit.layers.LSTM)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-2000:]


def test_a_script_asking_for_quiet_sees_no_framework_log_lines():
    """``RNNKIT_QUIET=1`` before ``import rnnkit`` (what ``recipes/main_job.py`` does
    without ``--verbose``): the frameworks' start-up lines never reach stderr, while the
    script's own ``sys.stderr`` still does."""
    code = (
        "import sys, rnnkit, keras, tensorflow as tf; "
        "tf.constant(1.0) + 1.0; print('own line', file=sys.stderr)"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    loud = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, env=env
    )
    assert loud.returncode == 0, loud.stderr[-2000:]
    quiet = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(env, RNNKIT_QUIET="1"),
    )
    assert quiet.returncode == 0
    assert quiet.stderr == "own line\n"
    # hiding again (a quiet script that also runs the command's code) does nothing: it
    # must not copy the null device left on descriptor 2 and lose sys.stderr as well
    again = subprocess.run(
        [
            sys.executable,
            "-c",
            code.replace("; print", "; rnnkit.logs.hide_framework_logs(); print"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(env, RNNKIT_QUIET="1"),
    )
    assert again.returncode == 0 and again.stderr == "own line\n", again.stderr[-2000:]
    # the lines it hides exist in this environment (else the check above proves nothing)
    assert loud.stderr != "own line\n", loud.stderr
    # RNNKIT_QUIET=auto (the thin recipe scripts): quiet unless the script's own
    # arguments say --verbose N with N > 0
    for args, hidden in ((["--config", "quick"], True), (["--verbose", "1"], False)):
        auto = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=180,
            env=dict(env, RNNKIT_QUIET="auto"),
        )
        assert auto.returncode == 0, auto.stderr[-2000:]
        assert (auto.stderr == "own line\n") == hidden, (args, auto.stderr[-2000:])


@pytest.mark.parametrize("quiet", ["1", "auto"])
def test_a_command_started_by_a_quiet_script_still_shows_its_errors(tmp_path, quiet):
    """A quiet script's ``RNNKIT_QUIET`` is inherited by the ``rnnkit`` commands it starts
    (``benchmarks/serve_load.py`` starts ``rnnkit serve``): the command decides from its
    own arguments, and an error it finds after importing the frameworks still reaches
    stderr (it once reached nothing, and the server's log was empty)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnkit",
            "serve",
            "--model_name",
            "m",
            "--model_base_path",
            str(tmp_path),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, RNNKIT_QUIET=quiet),
    )
    assert done.returncode != 0
    assert f"No servable version under {tmp_path}" in done.stderr, done.stderr[-2000:]


REPO = Path(__file__).resolve().parents[1]
#: the scripts a user runs: the thin recipes, and the benchmark scripts with a command line
#: (``benchmarks/gpu_diag.py``, a device diagnosis without one, keeps every log line)
QUIET_SCRIPTS = (
    sorted((REPO / "recipes").glob("*.py"))
    + sorted((REPO / "recipes" / "deepmoji").glob("*.py"))
    + [p for p in sorted((REPO / "benchmarks").glob("*.py")) if "ArgumentParser(" in p.read_text()]
)


def test_quiet_scripts_are_found():
    names = {p.relative_to(REPO).as_posix() for p in QUIET_SCRIPTS}
    assert {
        "recipes/ptb_lm.py",
        "recipes/tagging_ner.py",
        "recipes/translate_attention.py",
        "benchmarks/rnn.py",
        "benchmarks/pretrain_memory.py",
        "benchmarks/serve_load.py",
    } <= names


def run_help(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``script --help`` (after ``args``) in a process of its own, with no quiet setting
    inherited from this one; it must succeed."""
    quiet = ("TF_CPP_MIN_LOG_LEVEL", "RNNKIT_QUIET")
    base = {k: v for k, v in os.environ.items() if k not in quiet}
    done = subprocess.run(
        [sys.executable, str(script), *args, "--help"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**base, **env},
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.parametrize(
    "script", QUIET_SCRIPTS, ids=[p.relative_to(REPO).as_posix() for p in QUIET_SCRIPTS]
)
def test_scripts_are_quiet_by_default(script):
    """The recipe and benchmark scripts set ``RNNKIT_QUIET=auto`` before importing rnnkit
    or a framework: their ``--help`` (which imports the package, Keras and TensorFlow)
    writes nothing to stderr, and ``--verbose 1`` keeps the frameworks' lines."""
    done = run_help(script)
    assert "usage" in done.stdout
    if "RNNKIT_QUIET" in script.read_text():  # the frameworks' lines back on request
        assert "--verbose" in done.stdout
    assert done.stderr == "", done.stderr[-2000:]


def test_verbose_keeps_the_framework_lines_of_a_script():
    """The other side of the quiet default: ``--verbose 1`` keeps TensorFlow's start-up
    lines (this test fails if the quiet scripts are quiet for another reason, e.g. a
    TensorFlow that stopped printing them)."""
    done = run_help(REPO / "benchmarks" / "rnn.py", "--verbose", "1", KERAS_BACKEND="tensorflow")
    assert done.stderr != ""


def test_missing_required_options_and_bad_config(tmp_path):
    with pytest.raises(SystemExit, match="missing --data, --output"):
        cli.main(["train"])
    with pytest.raises(SystemExit, match="missing --model_name, --model_base_path"):
        cli.main(["serve"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nunits = 8\nnot_an_option = 1\n")
    with pytest.raises(SystemExit, match="unknown option"):
        cli.main(["train", "--config", str(bad)])
    broken = tmp_path / "broken.toml"
    broken.write_text("units = = 8")
    with pytest.raises(SystemExit, match="not valid TOML"):
        cli.main(["train", "--config", str(broken)])


def test_recipe_commands_fail_clearly_without_the_recipe(monkeypatch, capsys):
    real = importlib.import_module

    def fake(name, *a, **k):
        if name.startswith("rnnkit.recipes.deepmoji"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    for name in ("pretrain", "finetune", "bench"):
        with pytest.raises(SystemExit, match="DeepMoji recipe is not available") as e:
            cli.main([name])
        assert e.value.code == 1
        line = capsys.readouterr().err.strip()
        assert line.startswith(f"rnnkit {name}: error: ") and cli.RECIPE_MODULES[name] in line


def test_recipe_commands_run_the_package_workflows(monkeypatch):
    # each recipe command imports its workflow from the installed package (no sys.path
    # change, no repository lookup) and passes the arguments after the subcommand
    real = importlib.import_module
    calls = []

    def fake(name, *a, **k):
        module = real(name, *a, **k)  # the real workflow module imports
        if not name.startswith("rnnkit.recipes."):
            return module
        assert callable(module.main)

        def record(argv, prog):
            calls.append((module.__name__, list(argv), prog))

        return types.SimpleNamespace(main=record)

    monkeypatch.setattr(importlib, "import_module", fake)
    path_before = list(sys.path)
    assert cli.main(["pretrain", "--quick", "--samples", "50"]) == 0
    assert cli.main(["bench", "--", "--quick"]) == 0
    assert cli.main(["finetune", "--quick"]) == 0
    assert calls == [
        ("rnnkit.recipes.deepmoji_pretrain", ["--quick", "--samples", "50"], "rnnkit pretrain"),
        ("rnnkit.recipes.deepmoji_benchmark", ["--quick"], "rnnkit bench"),
        (
            "rnnkit.recipes.deepmoji_benchmark",
            ["--quick", "--methods", "chain_thaw"],
            "rnnkit finetune",
        ),
    ]
    assert sys.path == path_before


def test_recipe_verbose_flag():
    # --verbose N > 0 keeps the frameworks' log lines of `rnnkit pretrain/finetune/bench`
    assert verbose_requested(["--verbose", "2"])
    assert verbose_requested(["--x", "--verbose=1"])
    assert not verbose_requested(["--verbose", "0"])
    assert not verbose_requested(["--verbose"])
    assert not verbose_requested([])


def test_read_labelled_errors(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"body": "x", "label": 1}) + "\n")
    with pytest.raises(ValueError, match="no 'text'"):
        tasks.read_labelled(f)
    with pytest.raises(ValueError, match="not found"):
        tasks.read_labelled(tmp_path / "missing.csv")
    g = tmp_path / "d.txt"
    g.write_text("x")
    with pytest.raises(ValueError, match="Unsupported data file"):
        tasks.read_labelled(g)


def test_train_export_predict_end_to_end(tmp_path, capsys):
    src = resolve(None, "deepmoji-benchmarks/SS-Youtube.jsonl")
    rows = [json.loads(line) for line in open(src, encoding="utf-8")]
    data = tmp_path / "tiny.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for r in rows[:48]:
            f.write(json.dumps({"text": r["text"], "label": ["neg", "pos"][r["label"]]}) + "\n")
    config = tmp_path / "run.toml"
    config.write_text(
        f'data = "{data}"\n[train]\nunits = 8\nembedding_dim = 8\nepochs = 1\n'
        "max_length = 16\nbatch_size = 16\nquiet = true\nbidirectional = false\n"
    )
    model_dir = tmp_path / "model"
    assert cli.main(["train", "--config", str(config), "--output", str(model_dir)]) == 0
    out = capsys.readouterr().out
    assert "| epoch" in out and "val_accuracy" in out and "f1_macro" in out
    assert (model_dir / "training_curves.png").stat().st_size > 1000
    meta = json.loads((model_dir / "textmodel.json").read_text())
    assert meta["labels"] == ["neg", "pos"]
    assert meta["info"]["config"]["units"] == 8 and meta["info"]["config"]["bidirectional"] is False

    assert cli.main(["evaluate", "--model", str(model_dir), "--data", str(data)]) == 0
    assert "accuracy" in capsys.readouterr().out

    base = tmp_path / "exported" / "tiny"
    assert cli.main(["export", "--model", str(model_dir), "--export_base_path", str(base)]) == 0
    assert (base / "1" / "saved_model.pb").is_file()

    texts = [rows[100]["text"], rows[101]["text"], "what a great video!"]
    expected = tasks.predict(str(model_dir), texts)
    # `python -m rnnkit predict` in a fresh process, texts from stdin, table saved as CSV
    csv_path = tmp_path / "pred.csv"
    # quiet by default: no framework log line, although nothing here asks TensorFlow to
    # be quiet
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnkit",
            "predict",
            "--model",
            str(model_dir),
            "--input",
            "-",
            "--output_csv",
            str(csv_path),
        ],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| text" in proc.stdout
    assert proc.stderr == ""
    import pandas as pd

    table = pd.read_csv(csv_path)
    assert table["label"].tolist() == [r["label"] for r in expected]
    np.testing.assert_allclose(table["p(pos)"], [r["p(pos)"] for r in expected], atol=1e-5)

    # the exported SavedModel gives the same answers as the saved Keras model
    import tensorflow as tf

    fn = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
    got = fn(text=tf.constant(texts))
    np.testing.assert_allclose(
        got["probabilities"].numpy()[:, 1], [r["p(pos)"] for r in expected], atol=1e-5
    )


def test_bad_data_is_a_one_line_error_not_a_traceback(tmp_path):
    data = tmp_path / "one_class.csv"
    data.write_text("text,label\ngood day,pos\nnice one,pos\n")
    with pytest.raises(SystemExit, match=r"rnnkit train: error: .*single class"):
        cli.main(["train", "--data", str(data), "--output", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match=r"rnnkit predict: error: .*not an rnnkit model"):
        cli.main(["predict", "--model", str(tmp_path), "hello"])


def test_cell_names_are_written_once(tmp_path):
    """``--cell`` offers exactly :data:`rnnkit.names.CELL_NAMES`, each a layer of the factory,
    and the validation message lists the same names."""
    from rnnkit.layers.factory import RECURRENT_LAYERS, recurrent_layer
    from rnnkit.names import CELL_NAMES

    parser = cli.build_parser()
    train = next(
        a
        for a in parser._subparsers._group_actions[0].choices["train"]._actions
        if "--cell" in a.option_strings
    )
    assert tuple(train.choices) == CELL_NAMES
    for name in CELL_NAMES:
        assert isinstance(recurrent_layer(name, 3), RECURRENT_LAYERS[name])
    # a config file's value skips argparse's choices: the validation names the same list
    config = tmp_path / "train.toml"
    config.write_text('[train]\ncell = "cnn"\n')
    (tmp_path / "x.csv").write_text("text,label\ngood,1\nbad,0\n")
    with pytest.raises(SystemExit, match="expected lstm, gru, srnn, mingru or minlstm"):
        cli.main(
            [
                "train",
                "--config",
                str(config),
                "--data",
                str(tmp_path / "x.csv"),
                "--output",
                str(tmp_path / "m.keras"),
            ]
        )
