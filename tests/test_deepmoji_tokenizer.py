"""DeepMojiTokenizer: agreement with the original preprocessing on real texts, and each
known behaviour of the original as a unit test."""

import json

import numpy as np
import pytest

from rnnkit.data.paths import resolve
from rnnkit.models.deepmoji import SPECIAL_TOKENS, DeepMojiTokenizer, load_vocabulary


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary(resolve(None, "deepmoji/vocabulary.json"))


@pytest.fixture(scope="module")
def tok(vocab):
    return DeepMojiTokenizer(vocab)


@pytest.fixture(scope="module")
def reference():
    path = resolve(None, "deepmoji/tokenizer-reference.jsonl")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_agrees_with_original_on_reference(tok, reference):
    assert len(reference) > 14000
    texts = [r["text"] for r in reference]
    words_ok = sum(tok.words(r["text"]) == r["words"] for r in reference)
    tokens_ok = sum(tok.tokens(r["text"]) == r["tokens"] for r in reference)
    ids = tok.encode(texts, maxlen=30)
    assert ids.dtype == np.int32 and ids.shape == (len(texts), 30)
    ref_ids = np.array([r["ids"] for r in reference])
    ids_ok = int(np.all(ids == ref_ids, axis=1).sum())
    assert words_ok / len(reference) >= 0.995, f"words agree on {words_ok}/{len(reference)}"
    assert ids_ok / len(reference) >= 0.995, f"ids agree on {ids_ok}/{len(reference)}"
    # The raw tokenizer on the original mixed-case text (exercises case-insensitive rules).
    assert tokens_ok / len(reference) >= 0.995, f"tokens agree on {tokens_ok}/{len(reference)}"


def test_special_ids(vocab):
    for i, token in enumerate(SPECIAL_TOKENS):
        assert vocab[token] == i


def test_lowercase_and_case_insensitive_patterns():
    tok = DeepMojiTokenizer()
    # Titles and emoticon letters match in any case; everything is lowercased.
    assert tok.words("Hello MR. Smith :D") == ["hello", "mr.", "smith", ":d"]
    assert tok.words("Dr. Who XD") == ["dr.", "who", "xd"]
    assert tok.words("HTTP://EXAMPLE.COM/A") == ["CUSTOM_URL"]


def test_runs_of_three_cut_to_two_in_ascii_tokens():
    tok = DeepMojiTokenizer()
    assert tok.words("sooooo good!!!!") == ["soo", "good", "!!"]
    assert tok.words("$$$$") == ["$$"]
    # Non-ASCII tokens keep their runs.
    assert tok.words("€€€€") == ["€€€€"]
    # The original replaces each run string everywhere, in order: "aaa" first, which
    # also cuts the front of "aaaa".
    assert tok.words("aaabaaaa") == ["aabaaa"]


def test_mentions():
    tok = DeepMojiTokenizer()
    assert tok.words("@bob_1 hi") == ["CUSTOM_AT", "hi"]
    assert tok.words("mail me@example.com") == ["mail", "CUSTOM_AT"]
    assert tok.words("@ home") == ["@", "home"]


def test_urls():
    tok = DeepMojiTokenizer()
    assert tok.words("see https://t.co/AbC123 now") == ["see", "CUSTOM_URL", "now"]
    # As in the original, "www" is shortened to "ww" before URL detection, so only
    # http(s) URLs reliably become CUSTOM_URL.
    assert tok.words("www.example.org") == ["ww.example.org"]
    assert tok.words("http://") == ["http", "://"]  # no URL; ":/" + "/" is an emoticon


def test_numbers_are_what_int_accepts():
    tok = DeepMojiTokenizer()
    assert tok.words("in 2017 the 3rd") == ["in", "CUSTOM_NUMBER", "the", "CUSTOM_NUMBER", "rd"]
    # Unicode decimal digits (Arabic-Indic three) are int()-able too; superscripts are not.
    assert tok.words("\u0663") == ["CUSTOM_NUMBER"]
    assert int("\u0663") == 3
    # NFKC turns the superscript of a non-ASCII word into "2" first.
    assert tok.words("x\u00b2") == ["x", "CUSTOM_NUMBER"]
    assert tok.words("1.5") == ["CUSTOM_NUMBER", ".", "CUSTOM_NUMBER"]


def test_line_breaks():
    tok = DeepMojiTokenizer()
    expected = ["a", "CUSTOM_BREAK", "b"]
    assert tok.words("a\nb") == expected
    assert tok.words("a\r\nb") == ["a", "CUSTOM_BREAK", "CUSTOM_BREAK", "b"]
    assert tok.words("a\\nb") == expected  # literal backslash-n
    assert tok.words("a<br>b") == expected
    assert tok.words("a<BR>b") == expected


def test_unicode_punctuation_only_in_non_ascii_words():
    tok = DeepMojiTokenizer()
    assert tok.words("don\u2019t") == ["don't"]
    assert tok.words("\u201cquoted\u201d") == ['"', "quoted", '"']
    assert tok.words("wait\u2026") == ["wait", ".."]  # NFKC "...", then cut to 2
    assert tok.words("\uff48\uff45\uff4c\uff4c\uff4f") == ["hello"]  # fullwidth, NFKC
    assert tok.words("\u00bfqu\u00e9?") == ["?", "qu", "\u00e9", "?"]


def test_emoji_each_its_own_token_and_variation_selectors_dropped():
    tok = DeepMojiTokenizer()
    assert tok.words("love\U0001f602\U0001f602 it") == ["love", "\U0001f602", "\U0001f602", "it"]
    assert tok.words("\u2764\ufe0f") == ["\u2764"]
    assert tok.words("\U0001f44d\U0001f3fd") == ["\U0001f44d", "\U0001f3fd"]  # skin tone kept


def test_encode_padding_truncation_unknown(tok, vocab):
    ids = tok.encode(["the cat", "qwzxqwzx", " ".join(["the"] * 50)], maxlen=5)
    assert ids.tolist()[0] == [vocab["the"], vocab["cat"], 0, 0, 0]
    assert ids.tolist()[1] == [1, 0, 0, 0, 0]
    assert ids.tolist()[2] == [vocab["the"]] * 5
    assert tok.decode(ids[0]) == ["the", "cat"]
    # A single str is one row.
    assert tok.encode("the", maxlen=2).tolist() == [[vocab["the"], 0]]


def test_documented_edge_cases(tok):
    # Empty / blank texts have no words: an all-padding row, or an error on request.
    assert tok.words("") == [] and tok.words("   \n ") == []
    assert tok.encode(["", "  "], maxlen=3).tolist() == [[0, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match=r"texts\[1\] has no words"):
        tok.encode(["ok", ""], maxlen=3, on_empty="raise")
    # Emoji-only and URL-only texts.
    assert tok.words("\U0001f602\U0001f60d") == ["\U0001f602", "\U0001f60d"]
    assert tok.words("http://a.b/c https://d.e") == ["CUSTOM_URL", "CUSTOM_URL"]
    assert tok.encode(["http://a.b/c"], maxlen=2).tolist() == [[3, 0]]


def test_bad_input(tok):
    with pytest.raises(ValueError, match=r"texts\[1\] must be a str; got int"):
        tok.encode(["fine", 3], maxlen=4)
    with pytest.raises(ValueError, match="expects a str text; got NoneType"):
        tok.words(None)
    with pytest.raises(ValueError, match="maxlen"):
        tok.encode(["x"], maxlen=0)
    with pytest.raises(ValueError, match="on_empty"):
        tok.encode(["x"], maxlen=2, on_empty="drop")
    with pytest.raises(ValueError, match="needs a vocabulary"):
        DeepMojiTokenizer().encode(["x"], maxlen=2)
    with pytest.raises(ValueError, match="mapping"):
        DeepMojiTokenizer(vocabulary=[("a", 1)])


def test_vocabulary_path_accepted(vocab):
    tok = DeepMojiTokenizer(resolve(None, "deepmoji/vocabulary.json"))
    assert tok.vocabulary == vocab


def test_punctuation_table_is_well_formed():
    import unicodedata

    from rnnkit.models.deepmoji.tokenizer import _PUNCT_TO_ASCII

    allowed = set("!\"#$'()+,-.:;<=>?@`~")
    for char, ascii_punct in _PUNCT_TO_ASCII.items():
        assert not char.isascii() and unicodedata.normalize("NFKC", char) == char
        assert ascii_punct and set(ascii_punct) <= allowed


def test_punctuation_table_matches_text_unidecode_when_installed():
    # The original transliterates with text_unidecode; when that optional package is
    # installed its full table is used, and the built-in table must agree with it.
    unidecode = pytest.importorskip("text_unidecode").unidecode
    from rnnkit.models.deepmoji.tokenizer import _PUNCT_TO_ASCII

    for char, ascii_punct in _PUNCT_TO_ASCII.items():
        assert unidecode(char).lower() == ascii_punct, hex(ord(char))
