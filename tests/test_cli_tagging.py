"""Issue 19, "Command line": `rnnkit train --task tagging` on CoNLL files, and the tagger
side of `evaluate` (seqeval's table), `predict` (token<TAB>tag lines), `export` and
`serve`; bad CoNLL lines and BIO violations are one-line errors."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import error_line as _error_line
from cli_helpers import run_cli as _run

from rnnkit.cli import main as cli
from rnnkit.cli import tagging
from rnnkit.cli.validation import UsageError, validate_args
from rnnkit.data.paths import resolve

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FIRST = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank"]
LAST = ["Smith", "Jones"]
PLACES = [["Paris"], ["London"], ["Berlin"], ["New", "York"], ["Rome"], ["Tokyo"]]
TEMPLATES = [
    "{P} lives in {L}",
    "{P} visited {L} today",
    "i met {P} in {L} last week",
    "{L} is big",
    "we love {L}",
    "{P} and {P} went to {L}",
    "{P} said hello",
]


def _sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Synthetic person / location sentences (BIO tags), learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        tokens, tags = [], []
        for part in TEMPLATES[rng.integers(len(TEMPLATES))].split():
            if part == "{P}":
                name = [FIRST[rng.integers(len(FIRST))]]
                if rng.random() < 0.3:
                    name.append(LAST[rng.integers(len(LAST))])
                tokens += name
                tags += ["B-PER"] + ["I-PER"] * (len(name) - 1)
            elif part == "{L}":
                place = PLACES[rng.integers(len(PLACES))]
                tokens += place
                tags += ["B-LOC"] + ["I-LOC"] * (len(place) - 1)
            else:
                tokens.append(part)
                tags.append("O")
        out.append((tokens, tags))
    return out


def _write_conll(path: Path, sentences, docstart: bool = False) -> Path:
    text = "-DOCSTART- -X- O O\n\n" if docstart else ""
    text += "\n".join("".join(f"{t}\t{g}\n" for t, g in zip(*s)) for s in sentences)
    path.write_text(text, encoding="utf-8")
    return path


def _tweets(n: int) -> list[tuple[list[str], list[str]]]:
    """The first ``n`` sentences of ner-tweets (real BIO data)."""
    from rnnkit.data.conll import load_conll

    return [(s.tokens, s.tags) for s in load_conll(resolve(None, "ner-tweets/train.bio"))[:n]]


def _table(text: str, first: str) -> list[dict[str, str]]:
    """The rows of the printed pipe table whose header starts with ``| first``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first} "))
    keys = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(keys, (c.strip() for c in line.strip("|").split("|")))))
    return rows


TINY = dict(units=16, embedding_dim=16, batch_size=8, dropout=0.0, learning_rate=0.02)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tagging_data")
    train = _write_conll(folder / "train.conll", _sentences(40, 0), docstart=True)
    dev = _write_conll(folder / "dev.conll", _sentences(15, 1))
    return folder, train, dev


@pytest.fixture(scope="module")
def default_tagger(data):
    """The default tagger (character CNN, word shapes, CRF) trained through
    tagging.train_tagger, with the in-memory estimator it saved."""
    folder, train, dev = data
    warnings: list[str] = []
    result = tagging.train_tagger(
        str(train),
        str(folder / "default"),
        validation=str(dev),
        validation_fraction=0,
        epochs=6,
        verbose=0,
        warn=warnings.append,
        **TINY,
    )
    assert warnings == []
    return Path(result["output"]), result


@pytest.fixture(scope="module")
def word_tagger(data, tmp_path_factory):
    """A words-only tagger (exportable) trained through `rnnkit train --task tagging`,
    and what the command printed."""
    folder, train, dev = data
    out = folder / "words"
    argv = ["train", "--task", "tagging", "--data", str(train), "--validation", str(dev)]
    argv += ["--output", str(out), "--chars", "none", "--no-case_features", "--epochs", "6"]
    argv += ["--validation_fraction", "0.1", "--quiet", "--max_length", "12"]
    for key, value in TINY.items():
        argv += [f"--{key}", str(value)]
    try:
        code = cli.main(argv)
    except SystemExit as e:  # pragma: no cover - shown in the assertion below
        code = e
    assert code == 0
    return out


# ---------------------------------------------------------------------- training


def test_train_writes_the_folder_and_the_tagger_json(word_tagger):
    assert sorted(p.name for p in word_tagger.iterdir()) == ["model.keras", "tagger.json"]
    # the per-epoch checkpoint is removed once the tagger is saved
    assert not (word_tagger.parent / ".words.checkpoint").exists()
    assert not [p for p in word_tagger.parent.iterdir() if p.name.startswith(".")]
    meta = json.loads((word_tagger / "tagger.json").read_text(encoding="utf-8"))
    assert meta["format"] == "rnnkit.SequenceTagger/1"
    assert meta["tags"] == ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    assert meta["scheme"] == "BIO" and meta["vocabulary"][:2] == ["<pad>", "<unk>"]
    assert meta["params"]["chars"] is None and meta["params"]["case_features"] is False
    assert meta["params"]["epochs"] == 6 and meta["params"]["units"] == 16
    assert meta["params"]["crf"] is True and meta["constraints"] is not None
    assert meta["max_length"] == 12 and meta["sentences"] == 40
    assert len(meta["history"]["loss"]) <= 6 and "val_score" in meta["history"]
    assert meta["validation_report"]["sentences"] == 15
    # --validation drives early stopping: the kept epoch's score on dev.conll is the
    # micro-averaged entity F1 that the report after training gives for dev.conll
    micro = {r["type"]: r for r in meta["validation_report"]["rows"]}["micro avg"]["f1"]
    assert max(meta["history"]["val_score"]) == pytest.approx(micro)
    import zipfile

    assert zipfile.is_zipfile(word_tagger / "model.keras")  # a .keras archive, no pickle


def test_cli_train_output(data, tmp_path, capsys):
    """What `rnnkit train --task tagging` prints: the epochs, the kept epoch, the
    --validation report (seqeval table + token accuracy) and where it saved."""
    folder, train, dev = data
    argv = ["train", "--task", "tagging", "--data", str(train), "--validation", str(dev)]
    argv += ["--output", str(tmp_path / "m"), "--chars", "none", "--no-case_features"]
    argv += ["--epochs", "2", "--units", "4", "--embedding_dim", "4", "--quiet", "--limit", "12"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert [r["epoch"] for r in _table(out, "epoch")] == ["1", "2"]
    assert "(best val_score on dev.conll)" in out
    assert "dev.conll: entities (seqeval)" in out
    types = [r["type"] for r in _table(out, "type")]
    assert types == ["LOC", "PER", "micro avg", "macro avg", "weighted avg"]
    assert _table(out, "data")[0]["sentences"] == "15"
    assert f"Saved tagger to {tmp_path / 'm'}" in out
    assert json.loads((tmp_path / "m" / "tagger.json").read_text())["sentences"] == 12


def test_failed_training_leaves_no_folder_and_keeps_an_earlier_one(
    data, word_tagger, tmp_path, monkeypatch, capsys
):
    folder, train, dev = data

    def broken_save(tagger, directory, info=None):
        (Path(directory) / "model.keras").write_bytes(b"half a model")
        raise OSError(28, "No space left on device", str(Path(directory) / "model.keras"))

    monkeypatch.setattr(tagging, "save_tagger", broken_save)
    argv = ["train", "--task", "tagging", "--data", str(train), "--chars", "none"]
    argv += ["--epochs", "1", "--units", "4", "--embedding_dim", "4", "--quiet", "--limit", "8"]
    out = tmp_path / "m"
    code, _, err = _run([*argv, "--output", str(out)], capsys)
    assert code == 1 and "No space left on device" in _error_line(err, "train")
    # no folder, no temporary sibling; the finished epochs' checkpoint is kept
    assert [p.name for p in tmp_path.iterdir()] == [".m.checkpoint"]
    # an earlier tagger in --output survives a failed retrain untouched
    shutil.copytree(word_tagger, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = _run([*argv, "--output", str(out)], capsys)
    assert code == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.checkpoint", "m"]


# ------------------------------------------------------------- reload, evaluate


def test_reloaded_tagger_predicts_exactly_as_the_fitted_one(default_tagger, data):
    model_dir, result = default_tagger
    fitted = result["tagger"]
    assert fitted.chars == "cnn" and fitted.case_features and fitted.crf  # the defaults
    loaded = tagging.load_tagger(model_dir)
    assert list(loaded.tags_) == list(fitted.tags_)
    assert loaded.vocabulary_ == fitted.vocabulary_ and loaded.chars_ == fitted.chars_
    assert loaded.get_params() == fitted.get_params()
    for key, value in fitted.constraints_.items():
        np.testing.assert_array_equal(loaded.constraints_[key], value)
    sentences = [s for s, _ in _sentences(15, 1)] + [
        ["Zoë", "flew", "to", "Oslo", "#travel"],  # unseen words and characters
        ["NEW", "YORK", "is", "big"],
        ["x"],
        [],
    ]
    assert loaded.predict(sentences) == fitted.predict(sentences)
    for a, b in zip(loaded.predict_marginals(sentences), fitted.predict_marginals(sentences)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    # ... and the tagger learned something, so the comparison is not all "O"
    assert any(t != "O" for row in loaded.predict(sentences) for t in row)


def test_evaluate_prints_seqeval_table_of_the_reloaded_taggers_predictions(
    default_tagger, data, capsys
):
    from seqeval.metrics import accuracy_score, classification_report

    model_dir, _ = default_tagger
    folder, train, dev = data
    code, out, err = _run(["evaluate", "--model", str(model_dir), "--data", str(dev)], capsys)
    assert code == 0, err
    assert "dev.conll: entities (seqeval)" in out
    sentences = _sentences(15, 1)
    truth = [t for _, t in sentences]
    pred = tagging.load_tagger(model_dir).predict([s for s, _ in sentences])
    expected = classification_report(truth, pred, output_dict=True, zero_division=0)
    rows = _table(out, "type")
    assert [r["type"] for r in rows] == list(expected)
    for row in rows:
        ref = expected[row["type"]]
        for key, ref_key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert float(row[key]) == pytest.approx(float(ref[ref_key]), abs=5e-5), row
        assert int(row["support"]) == int(ref["support"])
    assert float(expected["micro avg"]["f1-score"]) > 0  # a real table, not all zeros
    summary = _table(out, "data")[0]
    assert summary["sentences"] == "15"
    assert int(summary["tokens"]) == sum(len(t) for t in truth)
    assert float(summary["token_accuracy"]) == pytest.approx(accuracy_score(truth, pred), abs=5e-5)
    # --limit: the first sentences only
    code, out, _ = _run(
        ["evaluate", "--model", str(model_dir), "--data", str(dev), "--limit", "3"], capsys
    )
    assert code == 0 and _table(out, "data")[0]["sentences"] == "3"


def test_evaluate_non_bio_tags_reports_per_tag_and_token_accuracy(tmp_path, capsys):
    """POS-style tags: no entity scheme, so a per-tag table over tokens."""
    from sklearn.metrics import accuracy_score, f1_score

    pos = {"the": "DET", "a": "DET", "dog": "NOUN", "cat": "NOUN", "runs": "VERB", "sees": "VERB"}
    rng = np.random.default_rng(0)
    sentences = []
    for _ in range(24):
        words = [rng.choice(["the", "a"]), rng.choice(["dog", "cat"]), rng.choice(["runs", "sees"])]
        sentences.append((words, [pos[w] for w in words]))
    data = _write_conll(tmp_path / "pos.conll", sentences)
    result = tagging.train_tagger(
        str(data), str(tmp_path / "pos"), chars="none", case_features=False, crf=False,
        epochs=3, validation_fraction=0, verbose=0, **TINY,
    )  # fmt: skip
    assert result["tagger"].scheme_ is None
    code, out, err = _run(
        ["evaluate", "--model", str(tmp_path / "pos"), "--data", str(data)], capsys
    )
    assert code == 0, err
    assert "pos.conll: tags (per token)" in out
    truth = [t for row in (t for _, t in sentences) for t in row]
    pred = [t for row in result["tagger"].predict([s for s, _ in sentences]) for t in row]
    rows = {r["type"]: r for r in _table(out, "type")}
    assert set(rows) >= {"DET", "NOUN", "VERB", "macro avg", "weighted avg"}
    macro = f1_score(truth, pred, average="macro", labels=sorted(set(truth) | set(pred)))
    assert float(rows["macro avg"]["f1"]) == pytest.approx(macro, abs=5e-5)
    assert float(_table(out, "data")[0]["token_accuracy"]) == pytest.approx(
        accuracy_score(truth, pred), abs=5e-5
    )


# ----------------------------------------------------------------------- predict


def test_predict_prints_token_tag_lines_from_arguments_file_and_stdin(
    default_tagger, tmp_path, capsys, monkeypatch
):
    model_dir, result = default_tagger
    fitted = result["tagger"]
    texts = ["Alice lives in New York", "  we   love\tParis ", "Bob said hello"]
    expected_tags = fitted.predict([t.split() for t in texts])
    expected = "\n\n".join(
        "\n".join(f"{tok}\t{tag}" for tok, tag in zip(t.split(), tags))
        for t, tags in zip(texts, expected_tags)
    )
    code, out, err = _run(["predict", "--model", str(model_dir), *texts], capsys)
    assert code == 0, err
    assert out == expected + "\n"
    # one sentence per line from a file (blank lines skipped), and from stdin
    lines = tmp_path / "sentences.txt"
    lines.write_text(texts[0] + "\n\n" + texts[1] + "\n" + texts[2] + "\n", encoding="utf-8")
    code, out, _ = _run(["predict", "--model", str(model_dir), "--input", str(lines)], capsys)
    assert code == 0 and out == expected + "\n"
    stdin = io.TextIOWrapper(io.BytesIO(("\n".join(texts) + "\n").encode("utf-8")))
    monkeypatch.setattr(sys, "stdin", stdin)
    csv_path = tmp_path / "tags.csv"
    argv = ["predict", "--model", str(model_dir), "--input", "-", "--output_csv", str(csv_path)]
    code, out, _ = _run(argv, capsys)
    assert code == 0 and out == expected + "\n"
    import csv

    with open(csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["sentence"], r["token"], r["tag"]) for r in rows] == [
        (str(i + 1), tok, tag)
        for i, (t, tags) in enumerate(zip(texts, expected_tags))
        for tok, tag in zip(t.split(), tags)
    ]
    # nothing to tag: a usage error
    code, _, err = _run(["predict", "--model", str(model_dir), "   "], capsys)
    assert code == 2 and "no sentences" in _error_line(err, "predict")


# -------------------------------------------------------------------- bad input


def test_malformed_conll_line_is_an_error_naming_file_and_line(data, word_tagger, tmp_path, capsys):
    folder, train, dev = data
    bad = tmp_path / "bad.conll"
    lines = "".join(f"{t}\t{g}\n" for t, g in zip(*_tweets(1)[0]))
    bad.write_text(lines + "\nthis line has\tthree\tcolumns\n", encoding="utf-8")
    n = lines.count("\n") + 2
    out_dir = tmp_path / "out"
    for argv, command in (
        (["train", "--task", "tagging", "--data", str(bad), "--output", str(out_dir)], "train"),
        # a bad --validation file is found before any training
        (
            ["train", "--task", "tagging", "--data", str(train), "--validation", str(bad),
             "--output", str(out_dir)],
            "train",
        ),
        (["evaluate", "--model", str(word_tagger), "--data", str(bad)], "evaluate"),
    ):  # fmt: skip
        code, out, err = _run(argv, capsys)
        line = _error_line(err, command)
        assert code == 1 and f"{bad}:{n}: 3 columns" in line, line
        assert out == ""
    assert not out_dir.exists()
    # a token line with a single column, and bytes that are not UTF-8
    bad.write_bytes(b"EU\tB-ORG\nrejects\n")
    code, _, err = _run(["train", "--task", "tagging", "--data", str(bad), "--output",
                         str(out_dir)], capsys)  # fmt: skip
    assert code == 1 and f"{bad}:2: expected at least 2 columns" in _error_line(err, "train")
    bad.write_bytes(b"EU\tB-ORG\n\nr\xe9jects\tO\n")
    code, _, err = _run(["train", "--task", "tagging", "--data", str(bad), "--output",
                         str(out_dir)], capsys)  # fmt: skip
    assert code == 1 and f"{bad}:3: not valid UTF-8" in _error_line(err, "train")
    # ... which --encoding reads
    argv = ["train", "--task", "tagging", "--data", str(bad), "--output", str(out_dir)]
    code, _, err = _run([*argv, "--encoding", "latin-1", "--epochs", "0"], capsys)
    assert code == 2 and "--epochs is 0" in _error_line(err, "train")
    tokens, tags, starts = tagging.read_tagged(bad, encoding="latin-1")
    assert tokens == [["EU"], ["réjects"]] and starts == [1, 3]


def test_bio_violation_names_the_sentence_or_is_repaired_with_a_count(tmp_path, capsys):
    sentences = _tweets(12)
    # ner-tweets sentence 2 ("Empire State Building = ESB ."): B-facility -> I-facility
    i = next(k for k, (_, tags) in enumerate(sentences) if "B-facility" in tags)
    tokens, tags = sentences[i]
    j = tags.index("B-facility")
    sentences[i] = (tokens, tags[:j] + ["I-facility"] + tags[j + 1 :])
    data = _write_conll(tmp_path / "iob1.conll", sentences, docstart=True)
    line_of = 3 + sum(len(t) + 1 for t, _ in sentences[:i]) + j  # DOCSTART + blank first
    assert data.read_text().splitlines()[line_of - 1] == f"{tokens[j]}\tI-facility"
    out_dir = tmp_path / "out"
    argv = ["train", "--task", "tagging", "--data", str(data), "--output", str(out_dir)]
    code, out, err = _run(argv, capsys)
    line = _error_line(err, "train")
    assert code == 1 and out == "" and not out_dir.exists()
    assert f"{data}:{line_of}: sentence {i + 1} (" in line
    assert f"token {j + 1} ({tokens[j]!r}) is tagged 'I-facility' after 'O'" in line
    assert "--bio_errors repair" in line
    # with --bio_errors repair: trained, and the count of changed tags is printed
    argv += ["--bio_errors", "repair", "--chars", "none", "--no-case_features", "--epochs", "1"]
    argv += ["--units", "4", "--embedding_dim", "4", "--quiet"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert f"rnnkit train: warning: {data}: --bio_errors repair changed 1 tag in 1 sentence" in err
    assert (out_dir / "tagger.json").is_file()


def test_tagging_options_are_checked_before_any_work(data, default_tagger, tmp_path, capsys):
    folder, train, dev = data
    base = ["train", "--data", str(train), "--output", str(tmp_path / "o")]
    for extra, code_expected, message in [
        (["--chars", "cnn"], 2, "--chars is an option of --task tagging"),
        (["--no-crf"], 2, "--no-crf is an option of --task tagging"),
        (["--validation", str(dev)], 2, "(--validation_data is the classification one)"),
        (["--task", "tagging", "--validation_data", str(dev)], 2,
         "--validation_data is a classification option, expected --validation FILE"),
        (["--task", "tagging", "--attention"], 2, "--attention is a classification option"),
        (["--task", "tagging", "--no-bidirectional"], 2, "--no-bidirectional is not supported"),
        (["--task", "tagging", "--validation", str(tmp_path / "none.conll")], 2,
         "--validation " + str(tmp_path / "none.conll") + " does not exist"),
        (["--task", "tagging", "--chars", "rnn"], 2, "invalid choice: 'rnn'"),
        (["--task", "tagging", "--epochs", "0"], 2, "--epochs is 0, expected an integer >= 1"),
        (["--task", "tagging", "--dropout", "1"], 2, "--dropout is 1.0, expected"),
    ]:  # fmt: skip
        code, out, err = _run(base + extra, capsys)
        assert code == code_expected, (extra, err)
        assert message in err, (extra, err)
        assert out == "" and not (tmp_path / "o").exists()
    # an output folder holding a classifier is not replaced by a tagger
    other = tmp_path / "classifier"
    other.mkdir()
    (other / "textmodel.json").write_text("{}")
    code, _, err = _run(["train", "--task", "tagging", "--data", str(train), "--output",
                         str(other)], capsys)  # fmt: skip
    assert code == 2 and "holds files and no tagger.json" in _error_line(err, "train")
    # the defaults of each task fill the options left unset
    args = cli.build_parser().parse_args(["train", "--task", "tagging", "--data", str(train)])
    args.output = str(tmp_path / "o")
    validate_args(args)
    assert (args.epochs, args.units, args.dropout, args.chars, args.crf) == (
        40,
        200,
        0.5,
        "cnn",
        True,
    )
    args = cli.build_parser().parse_args(["train", "--data", str(train), "--epochs", "7"])
    args.output = str(tmp_path / "o")
    validate_args(args)
    assert (args.epochs, args.units, args.dropout, args.chars) == (7, 64, 0.0, None)
    args.chars = "cnn"
    with pytest.raises(UsageError, match="--chars is an option of --task tagging"):
        validate_args(args)
    # evaluate --split with a tagger
    code, _, err = _run(["evaluate", "--model", str(default_tagger[0]), "--data", str(dev),
                         "--split", "test"], capsys)  # fmt: skip
    assert code == 2 and "--split is for JSONL data" in _error_line(err, "evaluate")


def test_corrupt_tagger_files_are_named(default_tagger, data, tmp_path, capsys):
    model_dir, _ = default_tagger
    folder, train, dev = data
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    keras_bytes = (model_dir / "model.keras").read_bytes()
    (broken / "model.keras").write_bytes(keras_bytes[: len(keras_bytes) // 2])
    code, _, err = _run(["predict", "--model", str(broken), "Alice"], capsys)
    assert code == 1 and f"{broken / 'model.keras'} is corrupt" in _error_line(err, "predict")
    shutil.copy(model_dir / "model.keras", broken / "model.keras")
    meta = (model_dir / "tagger.json").read_text()
    (broken / "tagger.json").write_text(meta[: len(meta) // 2])
    code, _, err = _run(["evaluate", "--model", str(broken), "--data", str(dev)], capsys)
    assert code == 1 and f"{broken / 'tagger.json'} is truncated or not valid JSON" in (
        _error_line(err, "evaluate")
    )
    # a tagger.json whose vocabulary does not match model.keras
    doc = json.loads(meta)
    doc["vocabulary"] = doc["vocabulary"][:-1]
    (broken / "tagger.json").write_text(json.dumps(doc))
    code, _, err = _run(["predict", "--model", str(broken), "Alice"], capsys)
    assert code == 1 and "does not match tagger.json" in _error_line(err, "predict")


# ------------------------------------------------------------------ export, serve


@pytest.mark.parametrize("which", ["word_tagger", "default_tagger"])
def test_export_and_serve_a_tagger_match_cli_predict(which, request, tmp_path, capsys):
    """Words-only and default taggers (character CNN, word shapes: their ids built
    in-graph) export, and the SavedModel and `rnnkit serve` give `rnnkit predict`'s tags."""
    import tensorflow as tf

    from rnnkit.serving.server import LoadedModel, format_response

    word_tagger = request.getfixturevalue(which)
    if which == "default_tagger":
        word_tagger = word_tagger[0]

    base = tmp_path / "exported" / "ner"
    code, out, err = _run(
        ["export", "--model", str(word_tagger), "--export_base_path", str(base)], capsys
    )
    assert code == 0, err
    assert (base / "1" / "saved_model.pb").is_file() and f"{base / '1'}" in out
    texts = [" ".join(s) for s, _ in _sentences(12, 2)]
    texts += [
        "Zoe flew to Oslo",
        "paris",
        "ZOE  \u00c9mile \u0130stanbul \u039f\u0394\u039f\u03a3 @zoe #x 42",
    ]
    code, out, _ = _run(["predict", "--model", str(word_tagger), *texts], capsys)
    assert code == 0
    expected = [
        [line.split("\t")[1] for line in block.splitlines()] for block in out.strip().split("\n\n")
    ]
    assert any(t != "O" for row in expected for t in row)
    fn = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
    got = fn(text=tf.constant(texts))
    if which == "word_tagger":
        assert got["tags"].shape[1] == 12  # --max_length of the training run
    tags = [
        [t.decode() for t in row[:n]] for row, n in zip(got["tags"].numpy(), got["length"].numpy())
    ]
    assert tags == expected
    tokens = [
        [t.decode() for t in row[:n]]
        for row, n in zip(got["tokens"].numpy(), got["length"].numpy())
    ]
    assert tokens == [t.split()[: got["tags"].shape[1]] for t in texts]  # as given
    # `rnnkit serve` loads and answers with the same tags
    served = LoadedModel("ner", base)
    response = format_response("row", served.predict({"text": texts}))
    rows = response["predictions"]
    assert [row["tags"][: row["length"]] for row in rows] == expected


def test_cli_tagging_defaults_are_the_estimators_defaults():
    """`rnnkit train --task tagging` and `tagging.train_tagger` train what a default
    RNNSequenceTagger trains (the CLI keeps its own copy so that `--help` imports no
    framework; this pins the two together)."""
    import inspect

    from rnnkit.cli.validation import TRAIN_DEFAULTS
    from rnnkit.sklearn import RNNSequenceTagger

    estimator = RNNSequenceTagger().get_params()
    signature = inspect.signature(tagging.train_tagger).parameters
    for name, value in TRAIN_DEFAULTS["tagging"].items():
        if name in estimator:
            assert value == estimator[name], name
            assert signature[name].default == value, name
    assert signature["validation_fraction"].default == estimator["validation_fraction"]
