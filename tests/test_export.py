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
from rnnkit.text.pipeline import TextPipeline

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

# Hand-written cases for DeepMoji's tokenizer rules (the in-graph version must be exact).
DEEPMOJI_TRICKY = [
    "\u2764\ufe0f\u2764\ufe0f \U0001f468\u200d\U0001f469\u200d\U0001f467 "
    "\U0001f44d\U0001f3fd\U0001f44d",
    "\u263a\ufe0e text \u231a\ufe0f\U0001f602\U0001f602\U0001f602",
    "\uff26\uff35\uff2c\uff2c \uff57\uff49\uff44\uff54\uff48 \uff11\uff12\uff13 \ufb01ne \ufb02ow",
    "\u2122 \u210dello \U0001d401\U0001d40e\U0001d40b\U0001d403 \u2460\u2461 \u00bd x\u00b2 \u3231",
    "\U0001d402\U0001d414\U0001d412\U0001d413\U0001d40e\U0001d40c_"
    "\U0001d40c\U0001d400\U0001d412\U0001d40a x",
    "cafe\u0301 na\u0308ive a\u0302\u0323 \u0627\u0654 e\ufe0f\u0301",
    "\u1100\u1161\u11a8 \u3131\u314f \u314b\u314b\u314b \ud55c\uad6d\uc5b4",
    "\u201cquoted\u201d \u2018single\u2019 don\u2019t \u00abguillemets\u00bb \u2014 dash \u2013 en",
    "1,000 +5 -3 \u0663 \u0661\u0662 3.14 10% 2nd 007 1_000",
    "sooooo goooood!!!!!! ?????? hahahaaaa aaabaaaaaaa looolooooo",
    "........ :))))) <3333 </3 \u00a7\u00a7\u00a7 \u00b0\u00b0 \u20ac\u20ac\u20ac "
    "\u02c7\u02c7 \u00b4 \u00a8",
    "http://t.co/AbC https://www.example.com/x?y=1&z=%20 www.foo.bar HTTP://CAPS.COM wwww.x.com",
    "mail john.doe+x@example.co.uk. \u00e9-abc@x.com \u00e9abc@x.com a@b.c.\u00e9 x@y.z\u00e9",
    "@user_1 @@bob ##tag #tag1 x@y #\U0001f602 @ # @_ a@-b.c",
    ":) :( :D :P ;) xD -_- ^_^ o.o (: ): ;( >:( =) :-)) :'(",
    "don't I'm y'all Mr. Smith DR. who u.s.a. e.g. .a.b.c. a.b.c.d. \u00e9a.b.",
    "line1\\nline2\\\\nline3\nline4\r\nline5<br>line6 <BR> \\r \\N",
    "trailing newline\n",
    "\\n",
    "",
    " ",
    "\t\n \u3000\u00a0\u2028",
    "\x00ctrl\x01 \x10 \x13\x15 \x1c sep \x7f \x85",
    "well-known snake_case a-b-c --- ___",
    "\u0130stanbul \u039f\u0394\u039f\u03a3 \u03a3\u0391\u03a3 stra\u00dfe \u212a \u2c2f",
    "CUSTOM_BREAK custom_at CUSTOM_AT",
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


def test_min_gru_export_carries_no_xla_cluster(tmp_path):
    """MinGRU's coefficients run as an XLA cluster in TensorFlow on a CPU
    (``tf_xla_fused``), but an exported SavedModel must run where XLA's JIT is off (TF
    Serving's default): the export traces the generic coefficients, and the model still
    gives Python's predictions."""
    from rnnkit.layers import MinGRU, planner

    texts, _ = real_texts()
    pipe = TextPipeline.fit(texts, max_length=20, max_vocabulary=500)
    ids = keras.Input((20,), dtype="int32")
    x = keras.layers.Embedding(len(pipe.vocabulary), 8, mask_zero=True)(ids)
    out = keras.layers.Dense(2, activation="softmax")(MinGRU(8)(x))
    tm = TextModel(keras.Model(ids, out), pipe, ["neg", "pos"])
    with planner.recording() as rows:
        expected = tm.predict(texts[:30])
    assert {p.coefficients for _, p in rows} == {"tf_xla_fused"}
    target = export(tm, tmp_path / "mingru")
    graph = (target / "saved_model.pb").read_bytes()
    assert b"_XlaMustCompile" not in graph and b"XlaLaunch" not in graph
    got = run_tf_only(target, texts[:30], tmp_path)
    probs = np.array(got["outputs"]["probabilities"])
    np.testing.assert_allclose(probs, expected["probabilities"], atol=1e-5)


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
    # confidences: the SavedModel's equal the Python ones; marginals are distributions
    # over the tags on every token and 0 past the end; the sequence probability is the
    # product of the chosen tags' marginals (softmax) or at most the least of them (CRF:
    # the path's probability cannot exceed any one token's)
    marg, prob = np.asarray(got["marginals"]), np.asarray(got["probability"])
    np.testing.assert_allclose(marg, expected["marginals"], atol=1e-5)
    np.testing.assert_allclose(prob, expected["probability"], rtol=1e-4, atol=1e-6)
    valid = np.arange(25)[None] < np.asarray(got["length"])[:, None]
    np.testing.assert_allclose(marg.sum(-1)[valid], 1.0, atol=1e-5)
    assert np.all(marg[~valid] == 0.0)
    index = {t: i for i, t in enumerate(tag_names)}
    chosen = np.array(
        [
            [marg[r, i, index[t]] if t else 1.0 for i, t in enumerate(row)]
            for r, row in enumerate(got["tags"])
        ]
    )
    if crf:
        assert np.all(prob <= chosen.min(-1) + 1e-6) and np.all(prob > 0)
    else:
        np.testing.assert_allclose(prob, chosen.prod(-1), rtol=1e-4)
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


def test_export_and_save_are_atomic(tmp_path, monkeypatch):
    """A version folder appears only complete: a failure after the SavedModel is written
    but before the export ends leaves no version and no temporary folder; success leaves
    no hidden sibling; unicode-digit folders are not taken for versions."""
    export_module = sys.modules["rnnkit.serving.export"]  # (the package's `export` is the function)

    texts, _ = real_texts(30)
    pipe = TextPipeline.fit(texts, max_length=10)
    tm = TextModel(tiny_classifier(len(pipe.vocabulary), 2, 10), pipe, ["a", "b"])
    base = tmp_path / "m"
    (base / "\u00b2").mkdir(parents=True)  # "²".isdigit() is True, int("²") fails
    assert next_version(base) == 1

    class BrokenJson:
        @staticmethod
        def dumps(*args, **kwargs):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_module, "json", BrokenJson)
    with pytest.raises(OSError, match="No space left"):
        export(tm, base, version=1)
    assert sorted(p.name for p in base.iterdir()) == ["\u00b2"]
    monkeypatch.undo()
    target = export(tm, base)
    assert target.name == "1" and (target / "assets.extra" / "rnnkit.json").is_file()
    assert sorted(p.name for p in base.iterdir()) == ["1", "\u00b2"]
    tm.save(tmp_path / "tm")
    assert sorted(p.name for p in (tmp_path / "tm").iterdir()) == ["model.keras", "textmodel.json"]


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


def deepmoji_sample():
    """Thousands of real texts: every DeepMoji benchmark text, 6,000 tweets-sentiment
    tweets and the emoji tweets corpus."""
    import pandas as pd

    texts = []
    for name in ("SS-Twitter", "SS-Youtube", "SCv1", "SE0714", "PsychExp"):
        path = resolve(None, f"deepmoji-benchmarks/{name}.jsonl")
        texts += [json.loads(line)["text"] for line in open(path, encoding="utf-8")]
    path = resolve(None, "tweets-sentiment/crowdflower-tweets.csv")
    texts += pd.read_csv(path, encoding_errors="replace")["text"].astype(str).tolist()[:6000]
    path = resolve(None, "tweets-with-emoji/rtweet-fixtures.jsonl")
    texts += [json.loads(line)["text"] for line in open(path, encoding="utf-8")]
    return texts


def fuzz_texts(n, seed):
    """Random texts glued from fragments that exercise each rule and their interactions."""
    import random

    frags = list("abcxyzAZ019_.-+#@!?:;()/\\'\"<>3=*~$%&,^|[]{}`") + [
        *[" ", "  ", "\t", "\n", "\r", "\x0b", "\x1c", "\x85", "\u2028", "\u00a0", "\u3000"],
        *["\u0301", "\u0323", "\u0308", "\u0654", "\u0653", "\u05b4", "\u0f71", "\u0f72"],
        *["\u1100", "\u1161", "\u11a8", "\u3131", "\u314f", "\uac00", "\u0b47", "\u0b3e"],
        *["\u00e9", "e\u0301", "\u0130", "\u03a3", "\u00df", "\uff21", "\uff11", "\ufb01"],
        *["\u2122", "\u210d", "\U0001d400", "\u00b0", "\u00a7", "\u20ac", "\u02c7", "\u00b4"],
        *["\u00a8", "\u201c", "\u2019", "\u00ab", "\u2026", "\u00bd", "\u00b2", "\u0663"],
        *["\ufe0f", "\u200d", "\U0001f602", "\u2764", "\U0001f3fd", "\x00", "\x10", "\x7f"],
        *["\\n", "\\\\n", "<br>", "<BR>", "http://", "HTTPS://", "www.", "mr.", "u.s.", "aaa"],
        *["ooooo", "!!!!", "...", "@@", "##", "xx@yy.com", "-_-", ":D", ":))", "<33", "don't"],
        *["a-b", "1,000", "+5", "%20", "\u0627\u0654", "\u1e0d\u0307", "a\u0302\u0323", "\u3099"],
    ]
    rng = random.Random(seed)
    return ["".join(rng.choice(frags) for _ in range(rng.randint(0, 25))) for _ in range(n)]


@pytest.fixture(scope="module")
def deepmoji_pipe():
    from rnnkit.models.deepmoji import DeepMojiTokenizer, deepmoji_pipeline, load_vocabulary

    vocab = load_vocabulary(resolve(None, "deepmoji/vocabulary.json"))
    return deepmoji_pipeline(vocab, max_length=30), DeepMojiTokenizer(vocab)


def assert_deepmoji_exact(pipe, tok, texts, maxlen):
    spec = [tf.TensorSpec([None], tf.string)]
    table = pipe.tf_table()
    # pipe.tf_encode / tf_tokens traced once each, as in an export
    encode = tf.function(lambda x: pipe.tf_encode(x, table), input_signature=spec)
    words = tf.function(lambda x: pipe.tf_tokens(x), input_signature=spec)
    got = np.concatenate(
        [encode(tf.constant(texts[i : i + 4000])).numpy() for i in range(0, len(texts), 4000)]
    )
    ref = tok.encode(texts, maxlen)
    bad = [texts[i] for i in np.flatnonzero((got != ref).any(axis=1))]
    assert not bad, f"{len(bad)}/{len(texts)} texts differ, e.g. {bad[:3]!r}"
    for i in range(0, len(texts), 4000):
        chunk = texts[i : i + 4000]
        for text, row in zip(chunk, words(tf.constant(chunk)).to_list()):
            assert [w.decode("utf-8") for w in row] == tok.words(text), repr(text)


def test_deepmoji_pipeline_exact_on_real_texts(deepmoji_pipe):
    from rnnkit.models.deepmoji import deepmoji_pipeline

    pipe, tok = deepmoji_pipe
    texts = deepmoji_sample()
    assert len(texts) > 20000
    assert_deepmoji_exact(pipe, tok, texts, 30)
    # a long maxlen too, so that truncation hides no difference
    long = deepmoji_pipeline(tok.vocabulary, max_length=400)
    assert_deepmoji_exact(long, tok, texts[::4], 400)


def test_deepmoji_pipeline_exact_on_tricky_and_random_texts(deepmoji_pipe):
    pipe, tok = deepmoji_pipe
    texts = DEEPMOJI_TRICKY + TRICKY + fuzz_texts(4000, seed=7)
    assert_deepmoji_exact(pipe, tok, texts, 30)
    # the cases do exercise the rules (Python side = DeepMojiTokenizer itself)
    words = {t: tok.words(t) for t in DEEPMOJI_TRICKY}
    assert words["\\n"] == ["CUSTOM_BREAK"] and words["trailing newline\n"] == [
        "trailing",
        "newline",
    ]
    assert words[DEEPMOJI_TRICKY[5]][:4] == ["caf", "\u00e9", "n", "\u00e4"]  # NFKC composes
    assert words[DEEPMOJI_TRICKY[6]][:2] == ["\uac01", "\uac00"]  # Hangul jamo compose
    assert words[DEEPMOJI_TRICKY[4]][0] == "CUSTOM_MASK"  # id 0 even mid-row, as in Python
    assert "CUSTOM_NUMBER" in words[DEEPMOJI_TRICKY[8]]
    # e-mails need a Unicode word boundary at both ends ("\u00e9" is a word character)
    assert words[DEEPMOJI_TRICKY[12]][3:7] == ["\u00e9", "CUSTOM_AT", "\u00e9", "abc"]
    assert words[DEEPMOJI_TRICKY[12]][-5:] == ["x", "CUSTOM_AT", ".", "z", "\u00e9"]
    assert words[DEEPMOJI_TRICKY[13]][3:5] == ["#", "#tag"]  # "#+(?=#\w)"
    assert words[DEEPMOJI_TRICKY[9]][-2:] == ["aabaaaaa", "looloooo"]  # the run-cutting quirk
    assert tok.words("") == []
    pipe_ids = pipe.tf_encode(tf.constant(["", " ", "\t\n"])).numpy()
    assert pipe_ids.shape == (3, 30) and not pipe_ids.any()


def test_deepmoji_pipeline_config_round_trip(deepmoji_pipe, tmp_path):
    pipe, tok = deepmoji_pipe
    assert pipe.tokenizer == "deepmoji" and pipe.vocabulary[:2] == ["CUSTOM_MASK", "CUSTOM_UNKNOWN"]
    pipe.save(tmp_path / "p.json")
    again = TextPipeline.load(tmp_path / "p.json")
    assert again.get_config() == pipe.get_config()
    probe = DEEPMOJI_TRICKY[:12]
    np.testing.assert_array_equal(again.encode(probe), tok.encode(probe, 30))
    np.testing.assert_array_equal(again.tf_encode(tf.constant(probe)).numpy(), pipe.encode(probe))
    with pytest.raises(ValueError, match="no replacements"):
        TextPipeline(pipe.vocabulary, 30, replacements=[("a", "b")], tokenizer="deepmoji")
    with pytest.raises(ValueError, match="tokenizer must be"):
        TextPipeline(pipe.vocabulary, 30, tokenizer="bert")
    # configs written before the tokenizer field load as regex pipelines
    old = TextPipeline.fit(["a b"], max_length=3).get_config()
    del old["tokenizer"]
    assert TextPipeline.from_config(old).tokenizer == "regex"


def test_deepmoji_export_tf_only_matches_python(tmp_path, deepmoji_pipe):
    from rnnkit.models.deepmoji import deepmoji

    pipe, tok = deepmoji_pipe
    vocab = tok.vocabulary
    texts, _ = real_texts(400)
    np.testing.assert_array_equal(pipe.encode(texts), tok.encode(texts, 30))
    np.testing.assert_array_equal(pipe.tf_encode(tf.constant(texts)).numpy(), tok.encode(texts, 30))
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
    probe = texts[:30] + TRICKY + DEEPMOJI_TRICKY
    out = run_tf_only(target, probe, tmp_path)
    assert out["loaded"] == []
    # predictions of the Python tokenizer path (DeepMojiTokenizer ids) for every probe text
    probs = model.predict(tok.encode(probe, 30), verbose=0)
    expected = np.concatenate([1.0 - probs, probs], axis=-1)
    np.testing.assert_allclose(out["outputs"]["probabilities"], expected, atol=1e-5)
    assert out["outputs"]["label"] == list(tm.predict(probe)["label"])


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
    # export reads the estimator through its public text_model() (the export protocol)
    assert tm.model is est.model_ and tm.pipeline == est.text_model().pipeline

    class Broken:
        def text_model(self, max_length=None):
            return est.model_

    with pytest.raises(ValueError, match=r"Broken.text_model\(\) returned a .*expected an rnnkit"):
        as_text_model(Broken())
    target = export(est, tmp_path / "dm")
    fn = tf.saved_model.load(str(target)).signatures["serving_default"]
    probe = texts + DEEPMOJI_TRICKY
    out = fn(text=tf.constant(probe))
    # the SavedModel's in-graph tokenizer is exact: the estimator's own predictions
    np.testing.assert_allclose(out["probabilities"].numpy(), est.predict_proba(probe), atol=1e-5)
    assert [x.decode() for x in out["label"].numpy()] == [str(c) for c in est.predict(probe)]


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
    # word ids only (the default tagger's features: see the tests below)
    est = RNNSequenceTagger(
        crf=crf, units=8, embedding_dim=8, epochs=1, random_state=0, chars=None, case_features=False
    )
    est.fit(sents, tags)
    target = export(est, tmp_path / "ner", max_length=40)
    fn = tf.saved_model.load(str(target)).signatures["serving_default"]
    out = fn(text=tf.constant([" ".join(s) for s in sents[:15]]))
    got = [
        [t.decode() for t in row[:n]] for row, n in zip(out["tags"].numpy(), out["length"].numpy())
    ]
    assert got == est.predict(sents[:15])


#: tokens that exercise every rule of the tagger's inputs: case classes, Unicode digits,
#: letters without case, the final sigma and other context-dependent lowercasing
TAGGER_TRICKY = [
    "Paris",
    "NASA",
    "eBay",
    "@bob",
    "@",
    "#tag",
    "#",
    "42",
    "x2",
    "http://a.b",
    "HTTPS:x",
    "www.x",
    "Www.",
    "...",
    "\u039f\u0394\u039f\u03a3",
    "\u039f\u0394\u039f\u03a3'",
    "\u03a3",
    "A\u03a3",
    "A'\u03a3'",
    "A.\u03a3.B",
    "\u0130stanbul",
    "\u00b2\u00b3",
    "\u0663\u0664",
    "\u01c5emal",
    "\u00aab",
    "a\u0345\u03a3",
    ":\u03a3",
    "\u00df",
    "\u00c9COLE",
    "\u216b",
    "\u00bd",
    "a_b",
    "\u4e2d\u6587",
    "\U0001f600",
    "I'm",
    "aVeryLongTokenWithMoreThanTwentyCharacters",
]


def test_tagger_features_python_equal_tf():
    """TokenFeatures (rnnkit/text/token_features.py): the in-graph word, word-shape and
    character ids equal encode_tokens' (the estimator's own encoder) on real tweets,
    tricky tokens and random Unicode strings."""
    import random

    import rnnkit.models.taggers as taggers
    import rnnkit.serving.preprocessing as preprocessing
    from rnnkit.data.ner import load_bio
    from rnnkit.text import PAD, UNK
    from rnnkit.text.token_features import TokenFeatures, encode_tokens

    # the former import paths name the one implementation
    assert preprocessing.TokenFeatures is TokenFeatures
    assert taggers.encode_tokens is encode_tokens

    sentences = [s.tokens for s in load_bio()[:300]]
    rng = random.Random(0)
    pool = [chr(c) for c in range(0x20, 0x3000)] + [chr(c) for c in range(0x1F600, 0x1F650)]
    pool += ["\u03a3", "\u0130", "'", ".", ":", "\u0345", "@", "#"]
    sentences += [TAGGER_TRICKY[i : i + 7] for i in range(0, len(TAGGER_TRICKY), 7)]
    sentences += [
        ["".join(rng.choice(pool) for _ in range(rng.randint(1, 8))) for _ in range(6)]
        for _ in range(300)
    ]
    words = sorted({t.lower() for s in sentences[:200] for t in s})
    chars = sorted({c for s in sentences[:200] for t in s for c in t})
    width = max(len(s) for s in sentences)
    for lowercase in (True, False):
        feats = TokenFeatures(
            [PAD, UNK, *words],
            lowercase=lowercase,
            chars=[PAD, UNK, *chars],
            char_width=20,
            case_features=True,
        )
        expected = feats.encode(sentences, width=width)
        index = {w: i for i, w in enumerate(feats.vocabulary) if i >= 2}
        char_index = {c: i for i, c in enumerate(feats.chars) if i >= 2}
        direct = encode_tokens(sentences, index, char_index, lowercase, width=width, char_width=20)
        for key in expected:
            np.testing.assert_array_equal(expected[key], direct[key], err_msg=key)
        got = feats.tf_encode(tf.ragged.constant(sentences), width)
        assert set(got) == {"words", "case", "chars"}
        for key in expected:
            np.testing.assert_array_equal(got[key].numpy(), expected[key], err_msg=key)
        assert (expected["words"] == 1).any() and (expected["chars"] == 1).any()
        assert len(np.unique(expected["case"])) == 12  # every word-shape class occurs


def test_default_tagger_exports_and_matches_the_estimator(tmp_path):
    """The default tagger (character CNN, word shapes, CRF) exports: its SavedModel, in
    a TensorFlow-only process, gives the estimator's tags and marginals for raw text
    (original case kept, unknown words and characters included)."""
    from rnnkit.data.ner import load_bio
    from rnnkit.sklearn import RNNSequenceTagger

    data = load_bio()[:60]
    sents, tags = [s.tokens for s in data], [s.tags for s in data]
    est = RNNSequenceTagger(units=8, embedding_dim=8, char_units=8, epochs=2, random_state=0)
    est.fit(sents, tags)
    probe = [s.tokens for s in load_bio()[100:120]]
    probe += [TAGGER_TRICKY[i : i + 6] for i in range(0, len(TAGGER_TRICKY), 6)]
    texts = [" ".join(s) for s in probe]
    target = export(est, tmp_path / "ner", max_length=48)
    out = run_tf_only(target, texts, tmp_path)["outputs"]
    lengths = out["length"]
    assert [row[:n] for row, n in zip(out["tokens"], lengths)] == probe  # original case
    assert [row[:n] for row, n in zip(out["tags"], lengths)] == est.predict(probe)
    marginals = est.predict_marginals(probe)
    for row, n, expected in zip(out["marginals"], lengths, marginals):
        np.testing.assert_allclose(np.asarray(row)[:n], expected, atol=1e-5)
