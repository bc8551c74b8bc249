"""The one text stage (rnnkit.text.pipeline): RNNClassifier's vectorizer is a thin wrapper
over TextPipeline and gives, for every text, the ids of the separate implementation it
replaced (written out below as the reference: its regex rules, tf.strings.split and a
keras.layers.TextVectorization lookup); an estimator pickled by the earlier version
still loads and encodes as before; the special tokens are defined once."""

from __future__ import annotations

import base64
import pickle
from collections import Counter

import numpy as np
import pytest

from rnnkit.text.pipeline import UNICODE_REPLACEMENTS, TextPipeline
from rnnkit.text.special_tokens import PAD, UNK
from rnnkit.text.vectorizer import TextVectorizer, tokenize

#: emoji (with skin tones and ZWJ sequences), URLs, @mentions, accents and combining
#: marks, case rules beyond ASCII, punctuation, digits in several scripts, every kind of
#: whitespace, markers that look like special tokens, empty and long texts
TEXTS = [
    "I love it! 😀😀",
    "Visit https://example.com/a?b=1&c=2 now, or www.test.org/x.",
    "HTTP://CAPS.EXAMPLE.COM and http:// alone",
    "@alice_01 said hi to @Bob... and @ alone; e-mail bob@example.com",
    "Café déjà vu — naïve coöperation, façade; e\u0301 (combining)",
    "İstanbul ΣΊΣΥΦΟΣ Straße ǅemal ﬁne",
    "Numbers: 3.14, 1,000, ٣٤٥, ४२, ①②, ½ and 2nd place #1",
    "hashtag #HappyDay don't can't rock'n'roll under_score",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em\u3000ideo\u000bvt\u000cff",
    "👍🏽 👨‍👩‍👧 🇫🇷 ❤️ ✌︎ ™ © ° € $5 ¥",
    "中文文本，还有标点。日本語のテキスト！한국어 텍스트?",
    "[UNK] <unk> <pad> xxurl xxuser",
    "",
    "   ",
    "!!!???...",
    "word " * 60,
    "Ünïcödé ÀÉÎÕÜ àéîõü ÅØÆ åøæ",
    "quotes “curly” ‘single’ «guillemets» „low“",
]

_URL, _USER, _SYMBOL = r"(?:https?://|www\.)\S+", r"@\w+", r"([^\pL\pN\s'#_])"


def _reference_standardize(x):
    """The rules of the former ``rnnkit.text.vectorizer.standardize_tf``, written out."""
    import tensorflow as tf

    x = tf.strings.lower(x, encoding="utf-8")
    x = tf.strings.regex_replace(x, _URL, " xxurl ")
    x = tf.strings.regex_replace(x, _USER, " xxuser ")
    return tf.strings.regex_replace(x, _SYMBOL, r" \1 ")


def _reference_tokens(texts: list[str]) -> list[list[str]]:
    import tensorflow as tf

    rows = tf.strings.split(_reference_standardize(tf.constant(texts))).to_list()
    return [[t.decode("utf-8") for t in row] for row in rows]


def _reference_words(texts: list[str], max_vocabulary: int, min_count: int) -> list[str]:
    counts = Counter(t for row in _reference_tokens(texts) for t in row)
    ranked = sorted(
        (kv for kv in counts.items() if kv[1] >= min_count), key=lambda kv: (-kv[0 + 1], kv[0])
    )
    return [w for w, _ in ranked[: max_vocabulary - 2]]


def _reference_ids(texts: list[str], words: list[str], max_length: int) -> np.ndarray:
    """The former lookup: keras.layers.TextVectorization (0 padding, 1 [UNK])."""
    import keras
    import tensorflow as tf

    layer = keras.layers.TextVectorization(
        standardize=_reference_standardize,
        split="whitespace",
        output_mode="int",
        output_sequence_length=max_length,
        vocabulary=words,
    )
    return np.asarray(layer(tf.constant(texts)), dtype="int32")


def test_the_reference_rules_are_the_pipelines_rules():
    assert [tuple(r) for r in UNICODE_REPLACEMENTS] == [
        (_URL, " xxurl "),
        (_USER, " xxuser "),
        (_SYMBOL, r" \1 "),
    ]


@pytest.mark.parametrize(
    ("max_length", "max_vocabulary", "min_count"), [(12, 40, 1), (50, 200, 1), (7, 15, 2)]
)
def test_vectorizer_gives_the_ids_of_the_former_implementation(
    max_length, max_vocabulary, min_count
):
    train = TEXTS[: len(TEXTS) // 2 + 2] * 2 + TEXTS[-3:]
    vec = TextVectorizer(max_length, max_vocabulary, min_count).fit(train)
    words = _reference_words(train, max_vocabulary, min_count)
    assert vec.vocabulary_[2:] == words and len(words) > 5
    expected = _reference_ids(TEXTS, words, max_length)
    np.testing.assert_array_equal(vec.transform(TEXTS), expected)
    assert (expected == 1).any() and (expected > 1).any() and (expected == 0).any()
    assert tokenize(TEXTS) == _reference_tokens(TEXTS)


#: ``pickle.dumps`` of ``TextVectorizer(max_length=6, max_vocabulary=10).fit(OLD_TRAIN)``
#: made by the version before the one text stage (vocabulary ``["", "[UNK]", ...]``)
OLD_PICKLE = (
    "gASVpQAAAAAAAACMFnJubmtpdC50ZXh0LnZlY3Rvcml6ZXKMDlRleHRWZWN0b3JpemVykymBfSiMCm1heF9sZW5n"
    "dGhLBowObWF4X3ZvY2FidWxhcnlLCowJbWluX2NvdW50SwGMC3ZvY2FidWxhcnlfXSiMAIwFW1VOS12MBGxvdmWM"
    "AWmMAml0jATwn5iAjAEhjAEsjARoYXRljAV4eHVybGWMBl9sYXllck51Yi4="
)
OLD_TRAIN = ["I love it! 😀", "I hate it, @bob", "love love www.x.org 😀"]
#: what that version's transform gave for OLD_PROBE
OLD_PROBE = ["Love it!!", "@ann hates www.y.com 😀", "I, I, I, I, I, I, I"]
OLD_IDS = [[2, 4, 6, 6, 0, 0], [1, 1, 9, 5, 0, 0], [3, 7, 3, 7, 3, 7]]


def test_a_vectorizer_pickled_by_the_earlier_version_loads_with_the_same_ids():
    old = pickle.loads(base64.b64decode(OLD_PICKLE))
    assert old.vocabulary_[:2] == [PAD, UNK]
    assert old.vocabulary_[2:] == ["love", "i", "it", "😀", "!", ",", "hate", "xxurl"]
    assert old.transform(OLD_PROBE).tolist() == OLD_IDS
    fresh = TextVectorizer(max_length=6, max_vocabulary=10).fit(OLD_TRAIN)
    assert fresh.vocabulary_ == old.vocabulary_
    again = pickle.loads(pickle.dumps(old))
    assert again.transform(OLD_PROBE).tolist() == OLD_IDS


def test_an_unknown_pickle_state_and_bad_input_raise_clear_errors():
    vec = TextVectorizer.__new__(TextVectorizer)
    with pytest.raises(ValueError, match="cannot load this pickle"):
        vec.__setstate__({"max_length": 3, "vocabulary_": ["a", "b", "c"]})
    with pytest.raises(ValueError, match="not fitted"):
        TextVectorizer().transform(["a"])
    with pytest.raises(ValueError, match="entry 1 is int"):
        TextVectorizer(max_length=4).fit(["a b", 3])
    with pytest.raises(ValueError, match="no texts"):
        TextVectorizer().fit([])
    with pytest.raises(ValueError, match="max_vocabulary"):
        TextVectorizer(max_vocabulary=2)


def test_tensorflow_engine_fit_streams_in_chunks_like_one_batch(monkeypatch):
    """fit with engine="tensorflow" tokenizes in chunks of _TF_CHUNK texts: the
    vocabulary is the one of a single batch."""
    import rnnkit.text.pipeline as pipeline_module

    kwargs = dict(replacements=UNICODE_REPLACEMENTS, split="tf_whitespace", engine="tensorflow")
    whole = TextPipeline.fit(TEXTS * 3, max_length=9, **kwargs)
    monkeypatch.setattr(pipeline_module, "_TF_CHUNK", 4)
    chunked = TextPipeline.fit(iter(TEXTS * 3), max_length=9, **kwargs)
    assert chunked.vocabulary == whole.vocabulary
    assert chunked.tokenize_batch(TEXTS) == [chunked.tokenize(t) for t in TEXTS]
    np.testing.assert_array_equal(chunked.encode(TEXTS), whole.encode(TEXTS))


def test_in_graph_ids_equal_the_python_side():
    import tensorflow as tf

    vec = TextVectorizer(max_length=10, max_vocabulary=60).fit(TEXTS)
    pipe = vec.pipeline_
    fn = tf.function(
        lambda x: pipe.tf_encode(x, table), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    table = pipe.tf_table()
    np.testing.assert_array_equal(fn(tf.constant(TEXTS)).numpy(), vec.transform(TEXTS))
    np.testing.assert_array_equal(
        vec.transform(TEXTS), _reference_ids(TEXTS, vec.vocabulary_[2:], 10)
    )


def test_special_tokens_are_defined_once():
    """Every word vocabulary outside DeepMoji uses rnnkit.text.special_tokens."""
    from rnnkit.data import en_fr, ner, ptb
    from rnnkit.models import hierarchical
    from rnnkit.serving import preprocessing
    from rnnkit.text import pipeline

    assert (PAD, UNK) == ("<pad>", "<unk>")
    for module in (pipeline, preprocessing, hierarchical, en_fr):
        assert module.PAD is PAD and module.UNK is UNK, module.__name__
    assert ptb.UNK is UNK
    assert ner.PAD_TAG is PAD
    from rnnkit.data.conll import TaggedSentence

    vocab = ner.build_tagging_vocabulary([TaggedSentence(["Paris", "<unk>"], ["B-LOC", "O"])])
    # a literal "<unk>" in the data is the unknown word (it used to take id 2 and clash)
    assert vocab.words == {PAD: 0, UNK: 1, "paris": 2} and list(vocab.chars)[:2] == [PAD, UNK]
    assert (
        ptb.Vocabulary.from_corpus(["a", "b", "a"]).encode(["zebra"])[0]
        == (ptb.Vocabulary.from_corpus(["a", "b", "a"]).index[UNK])
    )


class _UpperWords:
    """A toy word tokenizer for the registry: uppercase words split on spaces."""

    def __init__(self, index):
        self.index = index

    def words(self, text):
        return text.upper().split()

    def encode(self, texts, maxlen):
        out = np.zeros((len(texts), maxlen), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [self.index.get(w, 1) for w in self.words(text)][:maxlen]
            out[row, : len(ids)] = ids
        return out


def _upper_words_graph(texts):
    import tensorflow as tf

    return tf.strings.split(tf.strings.upper(texts))


def test_a_registered_tokenizer_runs_inside_the_pipeline(monkeypatch, tmp_path):
    """The text stage knows a model family's tokenizer only by registration (it imports
    nothing from above): Python and in-graph ids agree, the config names the tokenizer."""
    import tensorflow as tf

    import rnnkit.text.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "_TOKENIZERS", dict(pipeline_module._TOKENIZERS))
    pipeline_module.register_tokenizer("upper", _UpperWords, _upper_words_graph)
    assert "upper" in pipeline_module.registered_tokenizers()
    pipe = TextPipeline(["PAD", "UNK", "HI", "YOU"], 3, replacements=[], tokenizer="upper")
    assert pipe.tokenize("hi you there") == ["HI", "YOU", "THERE"]
    np.testing.assert_array_equal(pipe.encode(["hi you there", "you"]), [[2, 3, 1], [3, 0, 0]])
    np.testing.assert_array_equal(
        pipe.tf_encode(tf.constant(["hi you there", "you"])).numpy(), [[2, 3, 1], [3, 0, 0]]
    )
    pipe.save(tmp_path / "p.json")
    assert TextPipeline.load(tmp_path / "p.json").get_config() == pipe.get_config()
    with pytest.raises(ValueError, match="takes no replacements"):
        TextPipeline(["PAD", "UNK"], 3, tokenizer="upper")
    with pytest.raises(ValueError, match="other than 'regex'"):
        pipeline_module.register_tokenizer("regex", _UpperWords, _upper_words_graph)


def test_an_unregistered_deepmoji_pipeline_names_the_module_to_import(monkeypatch):
    """A pipeline saved with "tokenizer": "deepmoji" loads once rnnkit.models.deepmoji is
    imported; in a process that has not imported it the error says so."""
    import rnnkit.text.pipeline as pipeline_module

    config = {
        "vocabulary": ["CUSTOM_MASK", "CUSTOM_UNKNOWN", "hi"],
        "max_length": 4,
        "lowercase": True,
        "replacements": [],
        "split": "ascii_whitespace",
        "engine": "python",
        "tokenizer": "deepmoji",
    }
    monkeypatch.setattr(pipeline_module, "_TOKENIZERS", {})
    with pytest.raises(ValueError, match=r"not registered .*import rnnkit\.models\.deepmoji"):
        TextPipeline.from_config(config)
    monkeypatch.undo()
    import rnnkit.models.deepmoji  # noqa: F401  (registers "deepmoji")

    pipe = TextPipeline.from_config(config)
    assert pipe.get_config() == config
    np.testing.assert_array_equal(pipe.encode(["Hiii hi there"]), [[1, 2, 1, 0]])
