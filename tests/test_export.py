"""Raw-text SavedModel export: pipeline equivalence, TF-only loading, layout, errors."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnkit.data.paths import resolve
from rnnkit.layers import LSTM, Bidirectional
from rnnkit.serving.export import TextModel, export, next_version
from rnnkit.serving.preprocessing import TextPipeline

TRICKY = [
    "Hello, World!!! :) http://t.co/abc @user_1 #tag",
    "İSTANBUL ΟΔΟΣ STRASSE ẞ ＡＢＣ Émile",
    "tabs\tand\nnew\r\nlines  \x0b\x0c multiple   spaces",
    "emoji 😂😂 ❤️ 👍🏽 and don't stop",
    "non\u00a0breaking\u2003space and ZWJ 👨\u200d👩\u200d👧",
    "",
    "   ",
    "numbers 3.14 1,000 $5",
]

# Runs in a fresh interpreter where rnnkit, keras, keras_hub and tensorflow_text cannot
# be imported at all (as in a stock TF Serving environment).
TF_ONLY = textwrap.dedent(
    """
    import json, sys
    BLOCKED = ("rnnkit", "keras", "keras_hub", "keras_nlp", "tensorflow_text", "tf_keras")
    for name in BLOCKED:
        sys.modules[name] = None
    import tensorflow as tf
    texts = json.load(open(sys.argv[2], encoding="utf-8"))
    fn = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    out = {k: v.numpy() for k, v in fn(text=tf.constant(texts)).items()}
    loaded = sorted(k for k in sys.modules
                    if k.split(".")[0] in BLOCKED and sys.modules[k] is not None)
    def plain(v):
        if v.dtype == object:
            return [[x.decode("utf-8") for x in r] if v.ndim == 2 else r.decode("utf-8")
                    for r in v]
        return v.tolist()
    print(json.dumps({"outputs": {k: plain(v) for k, v in out.items()}, "loaded": loaded}))
    """
)


def real_texts(n=120):
    path = resolve(None, "deepmoji-benchmarks/SS-Youtube.jsonl")
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    return [r["text"] for r in rows[:n]], [str(r["label"]) for r in rows[:n]]


def run_tf_only(version_dir, texts, tmp_path):
    texts_file = tmp_path / "texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    script = tmp_path / "tf_only.py"
    script.write_text(TF_ONLY)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, str(script), str(version_dir), str(texts_file)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tiny_classifier(vocab_size, num_classes, max_length):
    ids = keras.Input((max_length,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, 8, mask_zero=True)(ids)
    x = Bidirectional(LSTM(8))(x)
    out = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(ids, out)


def test_pipeline_python_equals_tf_on_real_text():
    path = resolve(None, "tweets-sentiment/crowdflower-tweets.csv")
    import pandas as pd

    texts = pd.read_csv(path, encoding_errors="replace")["text"].astype(str).tolist()[:3000]
    texts += TRICKY
    pipe = TextPipeline.fit(texts[:2000], max_length=30, max_vocabulary=3000)
    py = pipe.encode(texts)
    tfids = pipe.tf_encode(tf.constant(texts)).numpy()
    np.testing.assert_array_equal(py, tfids)
    for text in TRICKY:
        tf_tokens = [t.decode() for t in pipe.tf_tokens([text])[0].numpy()]
        assert pipe.tokenize(text) == tf_tokens
    # the rules do something: punctuation split, URLs and mentions replaced, unknown -> 1
    assert pipe.tokenize("Hi!! http://x.y @bob") == ["hi", "!", "!", "xxurl", "xxat"]
    assert pipe.encode(["zzzunseenzzz"])[0, 0] == 1
    assert (py[:, -1] == 0).any() and (py == 1).any()


def test_pipeline_errors_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match="must start with"):
        TextPipeline(["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        TextPipeline(["<pad>", "<unk>", "a", "a"])
    with pytest.raises(ValueError, match="max_length"):
        TextPipeline(["<pad>", "<unk>"], max_length=0)
    with pytest.raises(ValueError, match="expected a str"):
        TextPipeline(["<pad>", "<unk>"]).encode(["ok", None])
    pipe = TextPipeline.fit(["a b c", "a b", "a"], max_length=3)
    assert pipe.vocabulary == ["<pad>", "<unk>", "a", "b", "c"]
    pipe.save(tmp_path / "p.json")
    again = TextPipeline.load(tmp_path / "p.json")
    np.testing.assert_array_equal(again.encode(["c b a x"]), [[4, 3, 2]])


def test_classifier_export_tf_only_matches_python(tmp_path):
    # (the one-unit sigmoid head is covered by the binary DeepMoji export test)
    texts, labels = real_texts()
    pipe = TextPipeline.fit(texts, max_length=20, max_vocabulary=500)
    names = ["neg", "pos", "other"]
    model = tiny_classifier(len(pipe.vocabulary), len(names), 20)
    tm = TextModel(model, pipe, names)
    target = export(tm, tmp_path / "clf")
    assert target == tmp_path / "clf" / "1"
    assert (target / "saved_model.pb").is_file()
    probe = texts[:40] + TRICKY
    expected = tm.predict(probe)
    got = run_tf_only(target, probe, tmp_path)
    assert got["loaded"] == []
    assert set(got["outputs"]) == {"label", "probabilities"}
    probs = np.array(got["outputs"]["probabilities"])
    assert probs.shape == (len(probe), len(names))
    np.testing.assert_allclose(probs, expected["probabilities"], atol=1e-5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert got["outputs"]["label"] == list(expected["label"])
    # the prediction varies with the text (not a constant function)
    assert probs[:, 0].std() > 1e-4


@pytest.mark.parametrize("crf", [False, True], ids=["transducer", "bilstm_crf"])
def test_tagger_export_tf_only_matches_python(tmp_path, crf):
    from rnnkit.models.taggers import BiLSTMCRFTagger, build_transducer_tagger

    path = resolve(None, "ner-tweets/train.bio")
    sentences, tags, cur, cur_tags = [], [], [], []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            if cur:
                sentences.append(" ".join(cur))
                tags.append(cur_tags)
            cur, cur_tags = [], []
            if len(sentences) >= 60:
                break
            continue
        tok, tag = line.rstrip("\n").split("\t")
        cur.append(tok)
        cur_tags.append(tag)
    tag_names = sorted({t for row in tags for t in row})
    pipe = TextPipeline.fit(sentences, max_length=25, replacements=[])
    if crf:
        model = BiLSTMCRFTagger(len(pipe.vocabulary), len(tag_names), embedding_dim=8, units=8)
        model(pipe.encode(sentences[:2]))
    else:
        model = build_transducer_tagger(len(pipe.vocabulary), len(tag_names), 8, units=8)
    tm = TextModel(model, pipe, tag_names, task="tagger")
    target = export(tm, tmp_path / "tagger", version=7)
    assert target.name == "7"
    probe = sentences[:20]
    expected = tm.predict(probe)
    got = run_tf_only(target, probe, tmp_path)["outputs"]
    assert got["tags"] == expected["tags"].tolist()
    assert got["tokens"] == expected["tokens"].tolist()
    assert got["length"] == expected["length"].tolist()
    # tokens are the sentence's own tokens (replacements=[] keeps pre-split tokens intact)
    first = sentences[0].lower().split()[:25]
    assert got["tokens"][0][: len(first)] == first
    assert all(t == "" for t in got["tags"][0][len(first) :])
    assert all(t in tag_names for t in got["tags"][0][: len(first)])


def test_versions_layout_and_errors(tmp_path):
    texts, _ = real_texts(30)
    pipe = TextPipeline.fit(texts, max_length=10)
    tm = TextModel(tiny_classifier(len(pipe.vocabulary), 2, 10), pipe, ["a", "b"])
    assert next_version(tmp_path / "m") == 1
    export(tm, tmp_path / "m")
    (tmp_path / "m" / "notes").mkdir()
    assert export(tm, tmp_path / "m").name == "2"
    assert next_version(tmp_path / "m") == 3
    with pytest.raises(ValueError, match="already exists"):
        export(tm, tmp_path / "m", version=1)
    with pytest.raises(ValueError, match="needs pipeline"):
        export(tm.model, tmp_path / "x")
    with pytest.raises(ValueError, match="don't know how to export"):
        export(object(), tmp_path / "x")
    with pytest.raises(ValueError, match="at least 2 labels"):
        TextModel(tm.model, pipe, ["only"])
    with pytest.raises(ValueError, match="task must be"):
        TextModel(tm.model, pipe, ["a", "b"], task="regressor")
    # a keras model + pipeline + labels is accepted too
    target = export(tm.model, tmp_path / "k", pipeline=pipe, labels=["a", "b"])
    assert Path(target, "saved_model.pb").is_file()


def test_text_model_save_load(tmp_path):
    texts, _ = real_texts(30)
    pipe = TextPipeline.fit(texts, max_length=10)
    tm = TextModel(tiny_classifier(len(pipe.vocabulary), 2, 10), pipe, ["a", "b"])
    tm.save(tmp_path / "tm")
    again = TextModel.load(tmp_path / "tm")
    np.testing.assert_allclose(
        again.predict(texts)["probabilities"], tm.predict(texts)["probabilities"], atol=1e-6
    )
    with pytest.raises(ValueError, match="not an rnnkit model directory"):
        TextModel.load(tmp_path)


def test_sklearn_estimator_export_tf_only_matches_python(tmp_path):
    from rnnkit.sklearn import RNNClassifier

    texts, labels = real_texts(60)
    names = np.array(["neg", "pos"])[np.array(labels, dtype=int)]
    est = RNNClassifier(
        units=8, embedding_dim=8, max_length=15, epochs=1, random_state=0, verbose=0
    ).fit(texts, names)
    target = export(est, tmp_path / "est")
    probe = texts[:30] + TRICKY
    got = run_tf_only(target, probe, tmp_path)["outputs"]
    np.testing.assert_allclose(got["probabilities"], est.predict_proba(probe), atol=1e-5)
    assert got["label"] == [str(x) for x in est.predict(probe)]


def test_deepmoji_export_tf_only_matches_python(tmp_path):
    from rnnkit.models.deepmoji import deepmoji
    from rnnkit.serving.preprocessing import deepmoji_pipeline
    from rnnkit.text import DeepMojiTokenizer, load_vocabulary

    vocab = load_vocabulary(resolve(None, "deepmoji/vocabulary.json"))
    texts, _ = real_texts(400)
    pipe = deepmoji_pipeline(vocab, max_length=30)
    # the in-graph approximation agrees with DeepMoji's own tokenizer on most real texts
    ref = DeepMojiTokenizer(vocab).encode(texts, 30)
    got = pipe.encode(texts)
    assert (ref == got).all(axis=1).mean() >= 0.85
    assert (ref == got).mean() >= 0.95
    np.testing.assert_array_equal(got, pipe.tf_encode(tf.constant(texts)).numpy())
    assert pipe.tokenize("@bob LOOOOVE it!!! http://x.y 42 :)") == [
        "CUSTOM_AT",
        "loove",
        "it",
        "!!",
        "CUSTOM_URL",
        "CUSTOM_NUMBER",
        ":)",
    ]
    # a (tiny) DeepMoji model with the binary sigmoid head, exported and served raw text
    model = deepmoji(len(vocab), 2, 30, gate="hard_sigmoid", embedding_dim=8, lstm_units=8)
    tm = TextModel(model, pipe, ["negative", "positive"])
    target = export(tm, tmp_path / "deepmoji")
    probe = texts[:30] + TRICKY
    out = run_tf_only(target, probe, tmp_path)
    assert out["loaded"] == []
    expected = tm.predict(probe)
    np.testing.assert_allclose(
        out["outputs"]["probabilities"], expected["probabilities"], atol=1e-5
    )
    assert out["outputs"]["label"] == list(expected["label"])


def test_seq2seq_export_tf_only_matches_translate(tmp_path):
    import csv

    from rnnkit.models.seq2seq import Seq2Seq

    path = resolve(None, "en-fr-messages/pairs.tsv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:80]
    sources = [r["source"] for r in rows]
    pipe = TextPipeline.fit(sources, max_length=20)
    target_pipe = TextPipeline.fit([r["target"] for r in rows], max_length=20)
    # target ids: 0 pad, 1 unknown (never produced after training; here a normal token),
    # then words; start/end appended at the end of the vocabulary
    target_vocab = [*target_pipe.vocabulary, "<start>", "<end>"]
    n = len(target_vocab)
    model = Seq2Seq(
        len(pipe.vocabulary), n, embedding_dim=8, units=8, pad_id=0, start_id=n - 2, end_id=n - 1
    )
    model([pipe.encode(sources[:2]), np.ones((2, 3), "int32")])
    tm = TextModel(model, pipe, target_vocab, task="seq2seq", decode_length=12)
    target = export(tm, tmp_path / "s2s")
    probe = sources[:25] + ["", "zzz unseen words only"]
    expected = tm.predict(probe)["text"]
    assert expected[25] == ""  # no source token -> empty translation
    got = run_tf_only(target, probe, tmp_path)["outputs"]["text"]
    assert got == list(expected)
    assert any(len(t.split()) > 1 for t in got)  # real multi-token outputs were compared


def test_deepmoji_classifier_estimator_export(tmp_path):
    from rnnkit.serving.export import as_text_model
    from rnnkit.sklearn import DeepMojiClassifier

    texts, labels = real_texts(40)
    est = DeepMojiClassifier(
        finetune="new", embedding_dim=8, lstm_units=8, epochs=1, random_state=0, maxlen=20
    ).fit(texts, np.array(["neg", "pos"])[np.array(labels, dtype=int)])
    tm = as_text_model(est)
    assert tm.labels == ["neg", "pos"] and tm.pipeline.max_length == 20
    target = export(est, tmp_path / "dm")
    fn = tf.saved_model.load(str(target)).signatures["serving_default"]
    out = fn(text=tf.constant(texts[:10]))
    # the SavedModel runs the approximate in-graph tokenizer: equal to the TextModel's
    # Python side exactly, and to the estimator wherever the two tokenizers agree
    np.testing.assert_allclose(
        out["probabilities"].numpy(), tm.predict(texts[:10])["probabilities"], atol=1e-5
    )
    same = (tm.pipeline.encode(texts[:10]) == est._tokenizer().encode(texts[:10], 20)).all(1)
    assert same.any()
    np.testing.assert_allclose(
        out["probabilities"].numpy()[same], est.predict_proba(texts[:10])[same], atol=1e-5
    )


@pytest.mark.parametrize("crf", [False, True], ids=["softmax", "crf"])
def test_sequence_tagger_estimator_export(tmp_path, crf):
    from rnnkit.sklearn import RNNSequenceTagger

    path = resolve(None, "ner-tweets/train.bio")
    sents, tags, cur, cur_tags = [], [], [], []
    for line in open(path, encoding="utf-8"):
        if not line.strip():
            if cur:
                sents.append(cur)
                tags.append(cur_tags)
            cur, cur_tags = [], []
            if len(sents) >= 40:
                break
            continue
        tok, tag = line.rstrip("\n").split("\t")
        cur.append(tok)
        cur_tags.append(tag)
    est = RNNSequenceTagger(crf=crf, units=8, embedding_dim=8, epochs=1, random_state=0)
    est.fit(sents, tags)
    target = export(est, tmp_path / "ner", max_length=40)
    fn = tf.saved_model.load(str(target)).signatures["serving_default"]
    out = fn(text=tf.constant([" ".join(s) for s in sents[:15]]))
    got = [
        [t.decode() for t in row[:n]] for row, n in zip(out["tags"].numpy(), out["length"].numpy())
    ]
    assert got == est.predict(sents[:15])
