"""The hierarchical classifier's and the translation loader's tokenization, now routed
through the shared text pipeline (``TextPipeline(engine="unicode")`` with
``WORD_APOSTROPHE_REPLACEMENTS`` / ``WORD_REPLACEMENTS``), give the tokens of their former
own regexes, written out below as the reference, on every text tried: fixed cases
(punctuation, apostrophes, French elisions, accents, digits, emoji, URLs, placeholders,
Unicode spaces, empty strings, sentence boundaries) and seeded random strings over an
alphabet of the characters where the regex semantics could differ."""

from __future__ import annotations

import random
import re

import pytest

from rnnkit.data import en_fr
from rnnkit.models import hierarchical
from rnnkit.text.pipeline import WORD_REPLACEMENTS, TextPipeline
from rnnkit.text.special_tokens import PAD, UNK

# ---------------------------------------------------------------- the former rules
_OLD_HIERARCHICAL_TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
_OLD_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_OLD_PUNCTUATION = re.compile(r"(?<=[.!?,;:])\s+|\n+")
_OLD_EN_FR_TOKEN = re.compile(
    r"%(?:\d+\$)?[-#0 +']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?[a-zA-Z%]"
    r"|\w+|[^\w\s]"
)


def old_hierarchical_tokenize(span: str, lowercase: bool = True) -> list[str]:
    return _OLD_HIERARCHICAL_TOKEN.findall(span.lower() if lowercase else span)


def old_split_spans(text: str, mode: str = "sentence") -> list[str]:
    pattern = _OLD_SENTENCE_END if mode == "sentence" else _OLD_PUNCTUATION
    return [span.strip() for span in pattern.split(text) if span.strip()]


def old_en_fr_tokenize(text: str) -> list[str]:
    return _OLD_EN_FR_TOKEN.findall(text)


# ---------------------------------------------------------------- the texts
FIXED = [
    "",
    " ",
    "   \t\n ",
    "Hello, world!",
    "Don't stop. It's fine... Really?! Yes!!",
    "rock'n'roll isn't 'quoted' or ''double'' ' lone'",
    "L'homme qu'on aime s'en va, aujourd'hui l'été à l'école.",
    "Élève, ÉCOLE, naïve façade; Straße İstanbul ΣΊΣΥΦΟΣ",
    "decomposed e\u0301cole and cafe\u0301",
    "3.14 and 1,000,000 and 42nd, ² ½ ٣ 一二三 Ⅻ",
    "emoji 😀😀 👍🏽 ❤️ family 👨\u200d👩\u200d👧 flags 🇫🇷!",
    "see https://example.com/a?b=c&d=e, http://x.y or www.z.org @user #tag",
    "multiple    spaces\t\ttabs\n\nnewlines\r\nwindows",
    "nbsp\u00a0here, em\u2003space, line\u2028sep, para\u2029sep, \x1cfs\x1d\x1e\x1f \x85nel",
    "under_score __init__ snake_case_word _ __",
    "First sentence. Second one! Third? Fourth\nfifth line\n\nsixth; seventh: eighth, ninth.",
    "No space.after period!and bang?and question",
    "...leading dots. trailing dots...",
    'Can\'t open "%s": %.*s (%1$lu)',
    "100% sure, 50 %done, %% literal, %5%, %-10s|%+d|% d|%#x|%08.3f|%lld|%zu|%'d",
    "%1$s and %2$d, %ls %hhd %jd %td %qd %Lf, bad %",
    "%\u0663s arabic-digit width and %٣$s",
    "tab\tseparated\tfields, 'quoted' and \"double\"",
    "C'est l'« avant-première » d'aujourd'hui : n'est-ce pas ?",
    "emails a.b@c.de, paths C:\\dir\\file.txt, /usr/bin/env",
    "ÀÉÎÕÜ àéîõü ÇçÑñ ŒœÆæ",
]

_ALPHABET = list(
    "aZ09_ '.,!?;:%$*#-+\"\n\t\r"
    "éÉçÑ\u0301²½٣一Ⅻİß"
    "\u00a0\u2003\u2028\u2029\x1c\x85\u200b\u200d"
    "😀🏽❤️«»’"
) + ["%s", "%1$s", "% d", "%.*s", "%lu", "%%", "l'", "'s", "http://a.b/c ", "www.x "]


def _random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(_ALPHABET, k=rng.randint(0, 40))) for _ in range(n)]


TEXTS = FIXED + _random_texts(3000, seed=18)


# ---------------------------------------------------------------- the checks
@pytest.mark.parametrize("lowercase", [True, False])
def test_hierarchical_tokenize_gives_the_former_tokens(lowercase):
    for text in TEXTS:
        assert hierarchical.tokenize(text, lowercase) == old_hierarchical_tokenize(
            text, lowercase
        ), text


@pytest.mark.parametrize("mode", hierarchical.SPLIT_MODES)
def test_hierarchical_spans_and_their_tokens_are_the_former_ones(mode):
    for text in TEXTS:
        spans = hierarchical.split_spans(text, mode)
        assert spans == old_split_spans(text, mode), text
        assert [hierarchical.tokenize(s) for s in spans] == [
            old_hierarchical_tokenize(s) for s in spans
        ], text


def test_hierarchical_vocabulary_and_ids_are_the_former_ones():
    from rnnkit.text.vocabulary import Vocabulary

    docs = [t for t in TEXTS if t.strip()]
    vocab = hierarchical.build_vocabulary(docs, max_words=None)
    old_tokens = (tok for text in docs for tok in old_hierarchical_tokenize(text))
    assert vocab == dict(Vocabulary.from_tokens(old_tokens, max_size=None).index)
    ids = hierarchical.encode_documents(docs[:200], vocab, mode="punctuation")
    old_docs = [
        [
            [vocab.get(t, 1) for t in old_hierarchical_tokenize(s)]
            for s in old_split_spans(d, "punctuation")
        ]
        for d in docs[:200]
    ]
    for row, old in zip(ids.tolist(), old_docs):
        old = [span for span in old if span]
        assert [[i for i in span if i] for span in row if any(span)] == old


def test_en_fr_tokenize_gives_the_former_tokens():
    for text in TEXTS:
        assert en_fr.tokenize(text) == old_en_fr_tokenize(text), text


def test_en_fr_placeholders_stay_single_tokens():
    assert en_fr.tokenize("100% sure %1$lu % d") == ["100", "% s", "ure", "%1$lu", "% d"]


def test_unicode_engine_is_python_only_and_checked():
    pipe = TextPipeline(
        [PAD, UNK, "été"],
        max_length=3,
        lowercase=False,
        replacements=WORD_REPLACEMENTS,
        split="unicode_whitespace",
        engine="unicode",
    )
    assert pipe.tokenize("été\u00a0l'été!") == ["été", "l", "'", "été", "!"]
    assert pipe.encode(["été x"]).tolist() == [[2, 1, 0]]
    assert TextPipeline.from_config(pipe.get_config()).tokenize("a\u2003b") == ["a", "b"]
    with pytest.raises(ValueError, match="no in-graph form"):
        pipe.tf_tokens(["x"])
    with pytest.raises(ValueError, match="both or neither"):
        TextPipeline([PAD, UNK], engine="unicode")
    with pytest.raises(ValueError, match="both or neither"):
        TextPipeline([PAD, UNK], split="unicode_whitespace")
