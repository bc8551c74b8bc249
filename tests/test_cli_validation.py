"""Issue 21: the command line rejects bad arguments and inputs before any work, with one
line ``rnnkit <command>: error: <what>, <expected>`` (exit 2 usage, 1 data), drops
missing labels with a count, replaces undecodable bytes the same way everywhere, and
never leaves a half-written model, export or CSV."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from checkpoint_helpers import epoch_saves
from cli_helpers import error_line as _one_error_line
from cli_helpers import run_cli as _run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.atomic import atomic_path
from rnnkit.cli import main as cli
from rnnkit.cli import tasks
from rnnkit.cli.validation import DataError, UsageError, validate_args
from rnnkit.data.paths import resolve

TINY = dict(units=4, embedding_dim=4, max_length=8, bidirectional=False, verbose=0)


def _rows(n: int) -> list[dict]:
    src = resolve(None, "deepmoji-benchmarks/SS-Youtube.jsonl")
    with open(src, encoding="utf-8") as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    return [{"text": r["text"], "label": ["neg", "pos"][r["label"]]} for r in rows]


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny model trained through tasks.train (1 epoch), shared by the module."""
    folder = tmp_path_factory.mktemp("cli_validation")
    data = _write_jsonl(folder / "tiny.jsonl", _rows(40))
    result = tasks.train(str(data), str(folder / "model"), epochs=1, **TINY)
    return folder, data, Path(result["output"])


# ------------------------------------------------------------------- arguments


def _train_args(**overrides) -> argparse.Namespace:
    args = cli.build_parser().parse_args(["train"])
    args.data, args.output = overrides.pop("data"), overrides.pop("output")
    for k, v in overrides.items():
        setattr(args, k, v)
    return args


NUMBERS = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(epochs=NUMBERS, batch_size=NUMBERS, limit=NUMBERS, fraction=NUMBERS)
def test_validate_args_property(tmp_path, epochs, batch_size, limit, fraction):
    """Any value of --epochs/--batch_size/--limit/--validation_fraction is either valid
    (ints >= 1 or None; fraction 0 or in (0, 1)) or a UsageError naming the
    first wrong option in the 'what, expected' style; never anything else."""
    data = tmp_path / "d.csv"
    if not data.exists():
        data.write_text("text,label\na,x\n")

    def is_int(v, low):
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    def is_fraction(v):
        return isinstance(v, int | float) and not isinstance(v, bool) and (v == 0 or 0 < v < 1)

    ok = {
        "limit": limit is None or is_int(limit, 1),
        "validation_fraction": is_fraction(fraction),
        # None: not given, the --task default applies
        "epochs": epochs is None or is_int(epochs, 1),
        "batch_size": batch_size is None or is_int(batch_size, 1),
    }
    args = _train_args(
        data=str(data),
        output=str(tmp_path / "out"),
        epochs=epochs,
        batch_size=batch_size,
        limit=limit,
        validation_fraction=fraction,
    )
    try:
        validate_args(args)
    except UsageError as e:
        message = str(e)
        first_bad = next(name for name, good in ok.items() if not good)
        assert message.startswith(f"--{first_bad} is "), message
        assert ", expected " in message and "\n" not in message
    else:
        assert all(ok.values()), ok
    assert not (tmp_path / "out").exists()  # validation never writes


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flag=st.sampled_from(["--epochs", "--batch_size", "--limit", "--validation_fraction"]),
    value=st.one_of(st.integers(-5, 5), st.floats(-2, 2), st.sampled_from(["nan", "inf", "-0"])),
)
def test_cli_numbers_rejected_with_exit_2_or_accepted(tmp_path, capsys, flag, value):
    """End to end through main(): a rejected value ends with exit 2 and one line; an
    accepted one reaches the data, whose first line is not an object (exit 1 naming the
    file and line) - so nothing is ever trained here."""
    data = tmp_path / "bad.jsonl"
    data.write_text("5\n")
    code, out, err = _run(
        ["train", "--data", str(data), "--output", str(tmp_path / "o"), f"{flag}={value}"], capsys
    )
    if code == 2:
        line = _one_error_line(err, "train")
        assert (flag in line and ", expected " in line) or "invalid" in line
    else:
        assert code == 1
        assert f"{data}, line 1: a JSON int" in _one_error_line(err, "train")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "extra,expected",
    [
        (["--epochs", "0"], "--epochs is 0, expected an integer >= 1"),
        (["--epochs", "-1"], "--epochs is -1, expected an integer >= 1"),
        (["--batch_size", "0"], "--batch_size is 0, expected an integer >= 1"),
        (["--limit", "-100"], "--limit is -100, expected an integer >= 1"),
        (["--limit", "0"], "--limit is 0, expected an integer >= 1"),
        (
            ["--validation_fraction", "1.0"],
            "--validation_fraction is 1.0, expected a number in (0, 1)",
        ),
        (["--validation_fraction", "-0.5"], "--validation_fraction is -0.5, expected"),
        (["--validation_fraction", "nan"], "--validation_fraction is nan, expected"),
        (["--learning_rate", "0"], "--learning_rate is 0.0, expected a positive number"),
        (["--dropout", "1"], "--dropout is 1.0, expected a number in [0, 1)"),
        (["--encoding", "klingon"], "--encoding 'klingon' is not a known encoding"),
        (
            ["--validation_data", "/nonexistent.csv"],
            "--validation_data /nonexistent.csv does not exist",
        ),
    ],
)
def test_train_argument_errors_exit_2_before_any_work(tmp_path, capsys, extra, expected):
    data = _write_jsonl(tmp_path / "d.jsonl", _rows(10))
    out_dir = tmp_path / "out"
    code, out, err = _run(["train", "--data", str(data), "--output", str(out_dir), *extra], capsys)
    assert code == 2
    line = _one_error_line(err, "train")
    assert line.startswith("rnnkit train: error: ") and expected in line, line
    assert out == "" and not out_dir.exists()


def test_output_paths_checked_before_work(trained, tmp_path, capsys):
    folder, data, model = trained
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    # train --output naming an existing file: before training
    code, out, err = _run(["train", "--data", str(data), "--output", str(a_file)], capsys)
    assert code == 2 and "is a file, expected a folder" in _one_error_line(err, "train")
    assert out == "" and a_file.read_text() == "x"
    # ... or a folder of other files (it would be replaced)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    code, _, err = _run(["train", "--data", str(data), "--output", str(other)], capsys)
    assert code == 2 and "holds files and no textmodel.json" in _one_error_line(err, "train")
    assert (other / "notes.txt").read_text() == "keep"
    # predict --output_csv naming a folder: before predicting (nothing printed)
    code, out, err = _run(
        ["predict", "--model", str(model), "--output_csv", str(tmp_path), "hi"], capsys
    )
    assert code == 2 and "is a folder, expected a file name" in _one_error_line(err, "predict")
    assert out == ""
    # predict --output_csv under a file
    code, _, err = _run(
        ["predict", "--model", str(model), "--output_csv", str(a_file / "x.csv"), "hi"], capsys
    )
    assert code == 2 and "is a file, expected a folder there" in _one_error_line(err, "predict")
    # export --export_base_path naming a file
    code, out, err = _run(
        ["export", "--model", str(model), "--export_base_path", str(a_file)], capsys
    )
    assert code == 2 and "is a file, expected a folder" in _one_error_line(err, "export")
    # missing model folder / not a model folder
    code, _, err = _run(
        ["evaluate", "--model", str(tmp_path / "none"), "--data", str(data)], capsys
    )
    assert code == 2 and "does not exist, expected an existing folder" in _one_error_line(
        err, "evaluate"
    )
    code, _, err = _run(["predict", "--model", str(tmp_path), "hi"], capsys)
    assert code == 2 and "is not an rnnkit model folder" in _one_error_line(err, "predict")


def test_serve_arguments(tmp_path, capsys):
    for extra, expected in [
        (
            ["--rest_api_port", "99999"],
            "--rest_api_port is 99999, expected an integer from 1 to 65535",
        ),
        (["--rest_api_port", "0"], "--rest_api_port is 0, expected an integer from 1 to 65535"),
        (["--max_batch", "0"], "--max_batch is 0, expected an integer >= 1"),
        (["--num_batch_threads", "0"], "--num_batch_threads is 0, expected an integer >= 1"),
    ]:
        argv = ["serve", "--model_name", "m", "--model_base_path", str(tmp_path), *extra]
        code, out, err = _run(argv, capsys)
        assert code == 2 and expected in _one_error_line(err, "serve"), err
        assert "Serving" not in out
    code, _, err = _run(
        ["serve", "--model_name", "m", "--model_base_path", str(tmp_path / "x")], capsys
    )
    assert code == 2 and "does not exist" in _one_error_line(err, "serve")


def test_prepare_corpus_arguments(tmp_path, capsys):
    src = _write_jsonl(tmp_path / "t.jsonl", _rows(3))
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for extra, expected in [
        (["--workers", "0"], "--workers is 0, expected an integer >= 1"),
        (["--maxlen", "-3"], "--maxlen is -3, expected an integer >= 1"),
        (
            ["--validation_fraction", "1"],
            "--validation_fraction is 1.0, expected a number in [0, 1)",
        ),
        (["--output", str(a_file)], f"--output {a_file} is a file, expected a corpus folder"),
    ]:
        argv = ["prepare-corpus", "--input", str(src), "--output", str(tmp_path / "c"), *extra]
        code, _, err = _run(argv, capsys)
        assert code == 2 and expected in _one_error_line(err, "prepare-corpus"), err
    assert not (tmp_path / "c").exists()


def test_usage_errors_from_config_and_missing_flags_exit_2(tmp_path, capsys):
    code, _, err = _run(["train"], capsys)
    assert code == 2 and "missing --data, --output" in _one_error_line(err, "train")
    config = tmp_path / "c.toml"
    config.write_text('[train]\nepochs = "three"\n')
    data = _write_jsonl(tmp_path / "d.jsonl", _rows(4))
    argv = ["train", "--config", str(config), "--data", str(data), "--output", str(tmp_path / "o")]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "--epochs is 'three', expected an integer >= 1" in _one_error_line(
        err, "train"
    )


# ------------------------------------------------------------------------ data


def test_missing_labels_dropped_with_count_or_rejected_with_strict(tmp_path):
    rows = [
        {"text": "a", "label": "pos"},
        {"text": "b", "label": None},
        {"text": "c", "label": ""},
        {"text": "d", "label": "  "},
        {"text": "e"},
        {"text": "f", "label": "neg"},
    ]
    path = tmp_path / "d.jsonl"
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in rows) + '{"text": "g", "label": NaN}\n',
        encoding="utf-8",
    )
    warnings = []
    texts, labels = tasks.read_labelled(path, warn=warnings.append)
    assert texts == ["a", "f"] and labels == ["pos", "neg"]
    assert len(warnings) == 1 and "dropped 5 rows with a missing label" in warnings[0]
    assert "lines 2, 3, 4, 5, 7" in warnings[0]
    with pytest.raises(DataError, match=r"d.jsonl, line 2: the label is missing \(None\)"):
        tasks.read_labelled(path, strict=True)
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("text,label\na,pos\nb,\nc,NaN\nd,null\ne\nf,neg\n")
    warnings.clear()
    texts, labels = tasks.read_labelled(csv_path, warn=warnings.append)
    assert labels == ["pos", "neg"] and "dropped 4 rows" in warnings[0]
    # a label column that no row has is a naming error, not "all labels missing"
    with pytest.raises(DataError, match="no row has a 'sentiment' field"):
        tasks.read_labelled(path, label_column="sentiment")


def test_missing_labels_never_become_classes_end_to_end(tmp_path, capsys):
    rows = _rows(30)
    for i in (3, 7, 11):
        rows[i]["label"] = [None, "", "NaN"][i % 3]
    data = _write_jsonl(tmp_path / "d.jsonl", rows)
    argv = ["train", "--data", str(data), "--output", str(tmp_path / "m"), "--epochs", "1",
            "--units", "4", "--embedding_dim", "4", "--quiet", "--no-bidirectional",
            "--validation_fraction", "0"]  # fmt: skip
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    assert "dropped 3 rows with a missing label" in err
    meta = json.loads((tmp_path / "m" / "textmodel.json").read_text())
    assert meta["labels"] == ["neg", "pos"]
    code, _, err = _run(
        ["train", "--data", str(data), "--output", str(tmp_path / "m2"), "--strict"], capsys
    )
    assert code == 1 and "line 4: the label is missing" in _one_error_line(err, "train")
    assert not (tmp_path / "m2").exists()


def test_jsonl_and_csv_errors_name_file_and_line(tmp_path, capsys):
    for bad, expected in [
        ("5", "a JSON int"),
        ('[1, "a"]', "a JSON list"),
        ("{oops", "not valid JSON"),
    ]:
        path = tmp_path / "d.jsonl"
        path.write_text(json.dumps({"text": "a", "label": "x"}) + "\n\n" + bad + "\n")
        with pytest.raises(DataError, match=rf"d.jsonl, line 3: {expected}"):
            tasks.read_labelled(path)
    big = tmp_path / "big.csv"
    big.write_text("text,label\nok,pos\n" + "x" * 140_000 + ",neg\n")
    with pytest.raises(
        DataError, match=r"big.csv, line 3: field larger than field limit .*131,072"
    ):
        tasks.read_labelled(big)
    code, _, err = _run(["train", "--data", str(big), "--output", str(tmp_path / "o")], capsys)
    assert code == 1 and "big.csv, line 3" in _one_error_line(err, "train")
    wrong = tmp_path / "cols.csv"
    wrong.write_text("body,label\na,b\n")
    with pytest.raises(DataError, match=r"no 'text' column; columns are \['body', 'label'\]"):
        tasks.read_labelled(wrong)


def test_invalid_bytes_replaced_and_counted_in_every_command(trained, tmp_path, capsys):
    folder, data, model = trained
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in _rows(12)]
    lines[2] = lines[2].replace(b'"text": "', b'"text": "\xff\xfe ')
    lines[5] = lines[5].replace(b'"text": "', b'"text": "\xc3(')
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines) + b"\n")
    code, out, err = _run(["evaluate", "--model", str(model), "--data", str(bad)], capsys)
    assert code == 0, err
    assert "2 rows had bytes that are not valid utf-8 (first at line 3)" in err
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"fine text\nbad \xff text\n\nanother \xe9 one\n")
    csv_out = tmp_path / "sub" / "pred.csv"
    argv = ["predict", "--model", str(model), "--input", str(texts), "--output_csv", str(csv_out)]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert f"{texts}: 2 rows had bytes that are not valid utf-8 (first at line 2)" in err
    assert "bad \ufffd text" in out and csv_out.is_file()
    # a text argument with bytes that were not valid in the locale (surrogate escapes)
    code, out, err = _run(["predict", "--model", str(model), "caf\udce9 ok"], capsys)
    assert code == 0 and "a text argument had invalid bytes" in err and "caf\ufffd ok" in out
    # the same file read with the right encoding: no replacement, no warning
    code, out, err = _run([*argv[:3], "--encoding", "latin-1", "--input", str(texts)], capsys)
    assert code == 0 and "not valid" not in err and "another \xe9 one" in out


def test_cp1252_file_gets_a_warning_with_the_count(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("text,label\ncafé crème,pos\nnaïve “quote”,neg\nplain,pos\n".encode("cp1252"))
    warnings = []
    texts, _ = tasks.read_labelled(path, warn=warnings.append)
    assert len(warnings) == 1
    assert "2 rows had bytes that are not valid utf-8" in warnings[0]
    assert "looks like cp1252" in warnings[0] and "--encoding cp1252" in warnings[0]
    warnings.clear()
    texts, _ = tasks.read_labelled(path, encoding="cp1252", warn=warnings.append)
    assert texts[0] == "café crème" and texts[1] == "naïve “quote”" and not warnings
    # a UTF-8 file with one broken line is not called cp1252
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("text,label\ncafé,pos\n".encode() + b"caf\xe9,neg\n")
    tasks.read_labelled(mixed, warn=warnings.append)
    assert "1 row had bytes" in warnings[0] and "looks like cp1252" not in warnings[0]


def test_evaluate_warns_about_labels_the_model_never_saw(trained, tmp_path, capsys):
    folder, data, model = trained
    rows = _rows(10)
    for i in range(4):
        rows[i]["label"] = "0" if i < 2 else "1"
    other = _write_jsonl(tmp_path / "other.jsonl", rows)
    code, out, err = _run(["evaluate", "--model", str(model), "--data", str(other)], capsys)
    assert code == 0
    assert "4 of 10 rows have labels the model never saw ('0', '1')" in err
    assert "| unseen" in out


def test_corrupt_model_files_are_named(trained, tmp_path, capsys):
    import shutil

    folder, data, model = trained
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    keras_bytes = (model / "model.keras").read_bytes()
    (broken / "model.keras").write_bytes(keras_bytes[: len(keras_bytes) // 2])
    code, _, err = _run(["predict", "--model", str(broken), "hi"], capsys)
    line = _one_error_line(err, "predict")
    assert code == 1 and f"{broken / 'model.keras'} is corrupt" in line and "not found" not in line
    shutil.copy(model / "model.keras", broken / "model.keras")
    meta = (model / "textmodel.json").read_text()
    (broken / "textmodel.json").write_text(meta[: len(meta) // 2])
    code, _, err = _run(["evaluate", "--model", str(broken), "--data", str(data)], capsys)
    line = _one_error_line(err, "evaluate")
    assert code == 1 and f"{broken / 'textmodel.json'} is truncated or not valid JSON" in line


# ------------------------------------------------------------ nothing half-written


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "half.bin").write_bytes(b"x" * 100)
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(FileExistsError):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "new.txt").write_text("new")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    with atomic_path(target, directory=True, replace=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    f = tmp_path / "f.csv"
    with atomic_path(f, replace=True) as tmp:
        tmp.write_text("a")
    assert f.read_text() == "a" and tmp.name.startswith(".tmp-") and tmp.name.endswith(".f.csv")


def test_failed_training_leaves_no_output_and_keeps_an_earlier_model(
    trained, tmp_path, monkeypatch
):
    folder, data, model = trained
    out = tmp_path / "m"

    def broken_plot(history, path):
        Path(path).write_bytes(b"half a png")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(tasks, "plot_history", broken_plot)
    with pytest.raises(OSError):
        tasks.train(str(data), str(out), epochs=1, **TINY)
    # no output, no temporary folder; the finished epoch's checkpoint is kept
    assert [p.name for p in tmp_path.iterdir()] == [".m.checkpoint"]
    # a previous model in --output survives a failed retrain untouched
    import shutil

    shutil.copytree(model, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OSError):
        tasks.train(str(data), str(out), epochs=1, **TINY)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.checkpoint", "m"]


def test_a_killed_training_goes_on_from_its_last_epoch(trained, tmp_path, capsys):
    """``rnnkit train`` checkpoints every finished epoch beside ``--output``: the same
    command after a kill trains only the epochs left, reports the whole history, and
    removes the checkpoint once the model is saved; other data is refused by name."""
    _, data, _ = trained
    out = tmp_path / "m"
    saved_epochs = []
    with pytest.raises(KeyboardInterrupt), epoch_saves(kill_after=2, saved=saved_epochs):
        tasks.train(str(data), str(out), epochs=3, **TINY)
    assert not out.exists() and (tmp_path / ".m.checkpoint" / "state.json").exists()
    first_losses = [row["loss"] for row in json.loads(
        (tmp_path / ".m.checkpoint" / "state.json").read_text())["history"]]  # fmt: skip

    with epoch_saves(saved=saved_epochs):
        result = tasks.train(str(data), str(out), epochs=3, **dict(TINY, verbose=1))
    assert saved_epochs == [1, 2, 3]  # epochs 1 and 2 were not trained again
    assert "Resuming from" in capsys.readouterr().out
    assert len(result["history"]["loss"]) == 3
    assert result["history"]["loss"][:2] == pytest.approx(first_losses)
    info = json.loads((out / "textmodel.json").read_text())
    assert len(info["info"]["history"]["val_loss"]) == 3
    assert not (tmp_path / ".m.checkpoint").exists()

    # a checkpoint of other data is refused, by name
    with pytest.raises(KeyboardInterrupt), epoch_saves(kill_after=2):
        tasks.train(str(data), str(out), epochs=3, **TINY)
    other = _write_jsonl(tmp_path / "other.jsonl", _rows(40)[::-1])
    with pytest.raises(ValueError, match=r"other settings \(data_sha256: checkpoint"):
        tasks.train(str(other), str(out), epochs=3, **TINY)


def test_python_m_rnnkit_errors_have_no_traceback(tmp_path):
    """In a fresh process: exit status 1 and exactly one error line on stderr (the
    in-process tests above check the same line and the exit status 2 cases)."""
    data = tmp_path / "d.jsonl"
    data.write_text('[1, "a"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "rnnkit", "train", "--data", str(data), "--output",
         str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if ": error:" in line]
    assert errors == [
        f'rnnkit train: error: {data}, line 1: a JSON list ([1, "a"]), expected a JSON '
        "object with 'text' and 'label' keys"
    ], proc.stderr[-2000:]
    assert not (tmp_path / "o").exists()


def test_a_missing_extra_is_named(monkeypatch):
    # a package of an extra that is not installed: the error says which extra brings it
    from rnnkit import extras

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    with pytest.raises(ImportError, match=r"rnnkit serve needs the 'uvicorn' package, which "
                       r"is not installed: pip install \"rnnkit\[serve\]\""):  # fmt: skip
        extras.require("uvicorn", "rnnkit serve")
    monkeypatch.setitem(sys.modules, "fastapi", None)
    from rnnkit.serving.server import create_app

    with pytest.raises(ImportError, match=r"rnnkit\[serve\]"):
        create_app("m", "/nonexistent")


def test_train_without_matplotlib_saves_the_model_and_says_why_no_curves(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"good {i},pos\nbad {i},neg\n" for i in range(12)))
    out = tmp_path / "m"
    result = tasks.train(str(data), str(out), epochs=1, **TINY)
    assert result["plot"] is None and (out / "textmodel.json").is_file()
    assert not (out / "training_curves.png").exists()
    err = capsys.readouterr().err
    assert 'pip install "rnnkit[plot]"' in err and "The curves were not saved." in err
