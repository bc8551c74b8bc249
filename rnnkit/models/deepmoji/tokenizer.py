"""DeepMoji's text preprocessing, reimplemented.

:class:`DeepMojiTokenizer` reproduces the word sequence that the original DeepMoji
preprocessing (Felbo et al. 2017, ``SentenceTokenizer`` with its default word generator)
gives for a text, and maps it to DeepMoji's vocabulary ids. Behaviour, step by step:

1. ``strip()`` and lowercase the text.
2. Line breaks to `` CUSTOM_BREAK ``: real ``\\n``/``\\r``, the literal two-character
   escapes ``\\\\n``/``\\\\r`` (also with a doubled backslash) and ``<br>``.
3. Drop variation selectors (U+FE00-U+FE0F).
4. Every whitespace-separated word that is not pure ASCII is NFKC-normalised, and each of
   its characters whose ASCII transliteration is punctuation (quotes, dashes, guillemets,
   inverted marks, ...) is replaced by that ASCII punctuation. ASCII words are untouched.
5. Regex tokenisation with the original's token patterns in their priority order: URLs,
   e-mails, hyphen/underscore compounds, #hashtags, @mentions, hearts, emoticons,
   contractions, titles (Mr., Dr., ...), abbreviations (u.s.a.), numbers, words, runs of
   one repeated symbol, then any other single character (so every emoji is its own token).
   Literal letters in the patterns match case-insensitively.
6. Per token: in ASCII tokens runs of 3+ identical characters are cut to 2 (with the
   original's quirks); then a token that ``int()`` accepts becomes ``CUSTOM_NUMBER``, one
   holding ``@`` followed by a word character ``CUSTOM_AT``, one holding an http(s)/www URL
   ``CUSTOM_URL``.

Ids: 0 padding/mask, 1 unknown, 2 ``CUSTOM_AT``, 3 ``CUSTOM_URL``, 4 ``CUSTOM_NUMBER``,
5 ``CUSTOM_BREAK``, 6-9 blank; rows are padded with 0 at the end and cut at ``maxlen``.

Documented edge cases: a text that is empty or only whitespace has no words (the original
rejects it); :meth:`DeepMojiTokenizer.encode` gives it an all-padding row, or raises with
``on_empty="raise"``. Emoji-only texts give one token per emoji; URL-only texts give
``["CUSTOM_URL"]``. Non-string entries raise ``ValueError``.

The vocabulary file (DeepMoji's ``vocabulary.json``: the special tokens at ids 0-9, then
the words with no gaps) is read and written here (:func:`load_vocabulary`,
:func:`save_vocabulary`); building and extending vocabularies from a corpus is in
:mod:`rnnkit.models.deepmoji.vocabulary`, and the exact in-graph form of this tokenizer in
:mod:`rnnkit.models.deepmoji.tokenizer_graph`.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["DeepMojiTokenizer", "SPECIAL_TOKENS", "load_vocabulary", "save_vocabulary"]

SPECIAL_TOKENS: tuple[str, ...] = (
    "CUSTOM_MASK",
    "CUSTOM_UNKNOWN",
    "CUSTOM_AT",
    "CUSTOM_URL",
    "CUSTOM_NUMBER",
    "CUSTOM_BREAK",
    "CUSTOM_BLANK_6",
    "CUSTOM_BLANK_7",
    "CUSTOM_BLANK_8",
    "CUSTOM_BLANK_9",
)
_MASK, _UNKNOWN = 0, 1
_NUMBER = SPECIAL_TOKENS[4]
_AT = SPECIAL_TOKENS[2]
_URL = SPECIAL_TOKENS[3]
_BREAK = " " + SPECIAL_TOKENS[5] + " "

# --------------------------------------------------------------------------------------
# Token patterns. Order is priority: at each position the first alternative that matches
# wins (Python's leftmost-first alternation), exactly as in the original tokenizer.
# --------------------------------------------------------------------------------------


# -- the vocabulary file (DeepMoji's vocabulary.json) ------------------------------------
def _check_vocabulary(vocab: object, source: str) -> dict[str, int]:
    if not isinstance(vocab, Mapping):
        raise ValueError(
            f"{source} is not a DeepMoji vocabulary: expected a JSON object mapping word -> "
            f"int id, got a JSON {type(vocab).__name__}."
        )
    for word, idx in vocab.items():
        if not isinstance(word, str) or isinstance(idx, bool) or not isinstance(idx, int):
            raise ValueError(
                f"{source} is not a DeepMoji vocabulary: every entry must be word (str) -> "
                f"id (int); got {word!r} -> {idx!r}."
            )
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        if vocab.get(token) != expected_id:
            raise ValueError(
                f"{source} is not a DeepMoji vocabulary: expected the special token {token!r} "
                f"at id {expected_id}, got {vocab.get(token)!r}. DeepMoji vocabularies start "
                f"with {', '.join(SPECIAL_TOKENS)} at ids 0-9."
            )
    ids = sorted(vocab.values())
    if ids != list(range(len(ids))):
        missing = sorted(set(range(len(ids))) - set(ids))[:5]
        raise ValueError(
            f"{source} is not a DeepMoji vocabulary: ids must be 0..{len(ids) - 1} with no gaps "
            f"or repeats (one embedding row each); missing for example {missing}."
        )
    return dict(vocab)


def load_vocabulary(path: str | os.PathLike) -> dict[str, int]:
    """Read a DeepMoji ``vocabulary.json`` (a JSON object word -> id).

    Args:
        path: the JSON file, e.g. ``../shared/data/deepmoji/vocabulary.json``.

    Returns:
        ``dict`` word -> id.

    Raises:
        ValueError: when the file is not JSON, not an object of word -> int, lacks the
            special tokens at ids 0-9, or has gaps/repeats in its ids.

    Example:

    >>> vocab = load_vocabulary("../shared/data/deepmoji/vocabulary.json")  # doctest: +SKIP
    >>> vocab["CUSTOM_URL"], len(vocab)  # doctest: +SKIP
    (3, 50000)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Vocabulary file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            vocab = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not a DeepMoji vocabulary: expected a UTF-8 JSON object mapping word "
            f"-> int id ({err})."
        ) from None
    return _check_vocabulary(vocab, str(path))


def save_vocabulary(vocabulary: Mapping[str, int], path: str | os.PathLike) -> None:
    """Write ``vocabulary`` in DeepMoji's ``vocabulary.json`` format (ordered by id)."""
    vocab = _check_vocabulary(vocabulary, "vocabulary")
    ordered = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(ordered, f, ensure_ascii=False, indent=4)


def _ci(literal: str) -> str:
    """``literal`` as a regex whose ASCII letters match either case (and nothing else)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in literal)


_URL_CHARS = r"(?:[a-zA-Z0-9$-_@.&+!*(),]|%[0-9a-fA-F][0-9a-fA-F])"
_P_URL = f"(?:{_ci('http')}[sS]?://|{_ci('www.')})" + _URL_CHARS + "+"
_P_EMAIL = r"\b[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+\b"
_P_COMPOUND = r"[a-zA-Z]+[-_][a-zA-Z]+"
_P_HASHTAG = r"#[a-zA-Z0-9_]+"
_P_MENTION = r"@[a-zA-Z0-9_]+"
_P_HEART = r"(?:<+/?3+)+"


def _emoticon_pattern() -> str:
    extras = ["-_-", "x_x", "^_^", "o.o", "o_o", "(:", "):", ");", "(;"]
    eyes = [">:", ":", "=", ";"]
    noses = "-,^'\""
    # Each mouth character repeats on its own (":)))" but not ":)(").
    mouths = "Dpvo()3/|\\"
    eye = "(?:" + "|".join(re.escape(e) for e in eyes) + ")"
    nose = "[" + re.escape(noses) + "]?"
    mouth = "(?:" + "|".join(f"(?:{_ci(m)})+" for m in mouths) + ")"
    return "|".join(_ci(e) for e in extras) + "|" + eye + nose + mouth


_P_EMOTICON = _emoticon_pattern()
_P_CONTRACTION = r"[a-zA-Z]+'[a-zA-Z]+"
_P_TITLE = "|".join(_ci(t) for t in ("mr.", "ms.", "mrs.", "dr.", "prof."))
_P_ABBREVIATION = r"\b(?<!\.)(?:[A-Za-z]\.){2,}"
_P_NUMBER = r"[0-9]+"
_P_WORD = r"[a-zA-Z]+"
# A run of one repeated symbol. "#" and "@" runs leave their last character to a
# following hashtag / mention ("##tag" -> "#", "#tag").
_SYMBOLS = "()<!?.,/\\'\"-_=§|´ˇ°[]>{}~$^&*;:%+€`"
_P_SYMBOL = "|".join(re.escape(s) + "+" for s in _SYMBOLS) + (
    r"|#+(?=#[a-zA-Z0-9_]+)|@+(?=@[a-zA-Z0-9_]+)|#+|@+"
)
_P_ANY = r"."

_TOKEN_RE = re.compile(
    r"\s+|("
    + "|".join(
        [
            _P_URL,
            _P_EMAIL,
            _P_COMPOUND,
            _P_HASHTAG,
            _P_MENTION,
            _P_HEART,
            _P_EMOTICON,
            _P_CONTRACTION,
            _P_TITLE,
            _P_ABBREVIATION,
            _P_NUMBER,
            _P_WORD,
            _P_SYMBOL,
            _P_ANY,
        ]
    )
    + ")"
)
# Special-token detection (case-sensitive, as in the original).
_URL_RE = re.compile(r"(?:https?://|www\.)" + _URL_CHARS + "+")
_MENTION_RE = re.compile(_P_MENTION)
_VARIATION_RE = re.compile("[\ufe00-\ufe0f]")
_TRIPLE_RE = re.compile(r"(.)\1\1", re.DOTALL)
_CACHE_SIZE = 200_000  # processed-token cache entries per tokenizer (bounded memory)
_LINEBREAKS = ("\\\\n", "\\n", "\n", "\\\\r", "\\r", "\r", "<br>")

# Non-ASCII characters (after NFKC) whose ASCII transliteration (the original uses the
# ``text_unidecode`` package) is made only of the punctuation ``!"#$'()+,-.:;<=>?@`~``:
# they become that punctuation in non-ASCII words. This hand-written table covers the
# punctuation seen in real text; when ``text_unidecode`` is installed its complete table is
# used instead (it also turns e.g. Arabic alef-hamza or box-drawing characters into
# punctuation), which makes the preprocessing exact for every script. On the 40,527 real
# tweets of ``tweets-sentiment`` and ``tweets-with-emoji`` both tables give the same words.
_PUNCT_TO_ASCII: dict[str, str] = {
    # Latin-1
    "\u00a1": "!",  # inverted exclamation mark
    "\u00a4": "$?",  # currency sign
    "\u00ab": "<<",
    "\u00ac": "!",  # not sign
    "\u00b1": "+-",
    "\u00bb": ">>",
    "\u00bf": "?",
    # modifier letters used as apostrophes, quotes and signs
    "\u02b9": "'",
    "\u02ba": '"',
    "\u02bb": "`",
    "\u02bc": "'",
    "\u02bd": "`",
    "\u02be": "`",
    "\u02bf": "'",
    "\u02c2": "<",
    "\u02c3": ">",
    "\u02c8": "'",
    "\u02c9": "-",
    "\u02cc": ",",
    "\u02d0": ":",
    "\u02d1": ".",
    "\u02d6": "+",
    "\u02d7": "-",
    "\u02ee": '"',
    "\u044c": "'",  # Cyrillic soft sign
    "\u048d": '"',  # Cyrillic semisoft sign
    # Armenian punctuation (U+0589 also turns up in mis-decoded text)
    "\u055a": "'",
    "\u055c": "!",
    "\u055d": ",",
    "\u055e": "?",
    "\u055f": ".",
    "\u0589": ".",
    "\u058a": "-",
    # Hebrew and Arabic punctuation
    "\u05f3": "'",
    "\u05f4": '"',
    "\u060c": ",",
    "\u061b": ";",
    "\u061f": "?",
    "\u0623": "'",  # Arabic alef with hamza above
    "\u0629": "@",  # Arabic teh marbuta
    "\u0639": "`",  # Arabic ain
    "\u0649": "~",  # Arabic alef maksura
    "\u0654": "'",
    "\u0655": "'",
    "\u0671": "'",
    "\u0672": "'",
    "\u0673": "'",
    "\u06c3": "@",
    "\u05b0": "@",  # Hebrew sheva
    "\u05bc": "'",  # Hebrew dagesh
    "\u05e2": "`",  # Hebrew ayin
    "\u0259": "@",  # Latin schwa
    "\u01dd": "@",
    "\u0294": "?",  # glottal stop
    "\u04d9": "@",  # Cyrillic schwa
    # Indic, Thai, Lao, Tibetan, Myanmar, Ethiopic, Khmer signs and punctuation
    "\u093c": "'",
    "\u093d": "'",
    "\u0970": ".",
    "\u09bc": "'",
    "\u0a3c": "'",
    "\u0abc": "'",
    "\u0abd": "'",
    "\u0e2d": "`",  # Thai o ang
    "\u0e2f": "~",
    "\u0e3a": "'",
    "\u0e46": "+",  # Thai mai yamok
    "\u0ead": "`",
    "\u0eaf": "~",
    "\u0f0b": "-",  # Tibetan tsheg
    "\u0f60": "'",
    "\u1037": "'",
    "\u1038": ":",
    "\u1362": ".",
    "\u1363": ",",
    "\u1364": ";",
    "\u1365": ":",
    "\u1367": "?",
    "\u17d4": ".",
    "\u17d6": ":",
    "\u066b": ".",
    "\u066c": ",",
    "\u06d4": ".",
    "\u0709": "?",  # Syriac
    # dashes, quotes and other general punctuation
    "\u2010": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "--",
    "\u2015": "--",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": ",",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": ",,",
    "\u201f": '"',
    "\u2020": "+",  # dagger
    "\u2021": "++",
    "\u2027": ".",
    "\u2032": "'",
    "\u2035": "`",
    "\u2039": "<",
    "\u203a": ">",
    "\u203d": "!?",
    "\u2040": "-",
    "\u2043": "--",
    # arrows
    "\u2190": "-",
    "\u2192": "-",
    "\u2194": "-",
    "\u21d0": "=",
    "\u21d2": "=",
    "\u21d4": "=",
    # shapes
    "\u25b6": ">",
    "\u25b7": ">",
    "\u25b8": ">",
    "\u25b9": ">",
    "\u25ba": ">",
    "\u25bb": ">",
    "\u25c0": "<",
    "\u25c1": "<",
    "\u25c2": "<",
    "\u25c3": "<",
    "\u25c4": "<",
    "\u25c5": "<",
    "\u25a0": "#",
    "\u25a1": "#",
    "\u25aa": "#",
    "\u25ab": "#",
    "\u2588": "#",
    "\u2591": "#",
    "\u2592": "#",
    "\u2593": "#",
    "\u2500": "-",
    "\u2501": "-",
    "\u2550": "-",
    # CJK punctuation
    "\u3003": '"',
    "\u3005": '"',  # ideographic iteration mark
    "\u3008": "<",
    "\u300a": "<<",
    "\u3018": "((",
    "\u301d": "``",
    "\u301e": "''",
    "\u301f": ",,",
    "\u3030": "~",
}


def _unidecode_punct_table() -> dict[str, str] | None:
    """The complete table from ``text_unidecode`` when that package is installed."""
    try:
        from text_unidecode import unidecode
    except ImportError:
        return None
    allowed = set("!\"#$'()+,-.:;<=>?@`~")
    table = {}
    for cp in range(0x80, 0x10000):
        if 0xD800 <= cp < 0xE000:
            continue
        out = unidecode(chr(cp)).lower()
        if out and all(c in allowed for c in out):
            table[chr(cp)] = out
    return table


_PUNCT_TRANSLATION = {ord(k): v for k, v in (_unidecode_punct_table() or _PUNCT_TO_ASCII).items()}


def _ascii_punct_word(word: str) -> str:
    """Step 4 for one whitespace-separated word."""
    if word.isascii():
        return word
    return unicodedata.normalize("NFKC", word).translate(_PUNCT_TRANSLATION)


def _shorten(word: str) -> str:
    """Runs of 3+ identical characters to 2, in ASCII words (the original's algorithm:
    each distinct run string is replaced everywhere, in order of first appearance)."""
    if not word.isascii() or len(word) < 3 or not _TRIPLE_RE.search(word):
        return word
    runs = [m.group(0) for m in re.finditer(r"(.)\1{2,}", word, re.DOTALL)]
    for run in runs:
        word = word.replace(run, run[0] * 2)
    return word


def _special(word: str) -> str:
    if word.isdecimal():  # exactly the tokens int() accepts (tokens hold no sign/space)
        return _NUMBER
    if "@" in word and _MENTION_RE.search(word):
        return _AT
    if ("http" in word or "www." in word) and _URL_RE.search(word):
        return _URL
    return word


class DeepMojiTokenizer:
    """DeepMoji's preprocessing: text to words to vocabulary ids.

    Args:
        vocabulary: a mapping word -> id (such as DeepMoji's ``vocabulary.json``, read with
            :func:`load_vocabulary`), a path to such a JSON file, or ``None``
            for :meth:`words` only.

    Example:

    >>> tok = DeepMojiTokenizer({"CUSTOM_MASK": 0, "CUSTOM_UNKNOWN": 1, "hi": 10})
    >>> tok.words("Hiiii @bob!!! http://x.co")
    ['hii', 'CUSTOM_AT', '!!', 'CUSTOM_URL']
    >>> tok.encode(["hi there"], maxlen=4).tolist()
    [[10, 1, 0, 0]]
    """

    def __init__(self, vocabulary: Mapping[str, int] | str | os.PathLike | None = None):
        if isinstance(vocabulary, str | os.PathLike):
            vocabulary = load_vocabulary(vocabulary)
        if vocabulary is not None and not isinstance(vocabulary, Mapping):
            raise ValueError(
                "`vocabulary` must be a mapping word -> id, a path to a vocabulary.json, or "
                f"None; got {type(vocabulary).__name__}."
            )
        self.vocabulary = dict(vocabulary) if vocabulary is not None else None
        self._word_cache: dict[str, str] = {}

    def tokens(self, text: str) -> list[str]:
        """The original's raw tokenizer (step 5 alone) on ``text`` as it is: no lowercasing,
        line-break, Unicode or special-token processing."""
        if not isinstance(text, str):
            raise ValueError(
                f"DeepMojiTokenizer expects a str text; got {type(text).__name__}: {text!r:.80}"
            )
        return [t for t in _TOKEN_RE.findall(text) if t]

    def words(self, text: str) -> list[str]:
        """The processed words of ``text`` (empty list for an empty/blank text)."""
        if not isinstance(text, str):
            raise ValueError(
                f"DeepMojiTokenizer expects a str text; got {type(text).__name__}: {text!r:.80}"
            )
        text = text.strip()
        if not text.isascii():  # simple (one-to-one) lowercase mapping, as the original's
            text = text.replace("\u0130", "i").replace("\u03a3", "\u03c3")
        text = text.lower()
        if "\\" in text or "\n" in text or "\r" in text or "<br>" in text:
            for pattern in _LINEBREAKS:
                text = text.replace(pattern, _BREAK)
        if not text.isascii():
            if _VARIATION_RE.search(text):
                text = _VARIATION_RE.sub("", text)
            text = " ".join(_ascii_punct_word(w) for w in text.split())
        # Whitespace matches come back as "" (no token can be only whitespace).
        cache = self._word_cache
        words = []
        for token in _TOKEN_RE.findall(text):
            if token:
                word = cache.get(token)
                if word is None:  # per-token processing is a pure function: cached
                    if len(cache) >= _CACHE_SIZE:
                        cache.clear()
                    word = cache[token] = _special(_shorten(token))
                words.append(word)
        return words

    def encode(
        self,
        texts: Iterable[str] | str,
        maxlen: int,
        on_empty: str = "pad",
    ) -> np.ndarray:
        """Ids of ``texts`` as an int32 array of shape ``(len(texts), maxlen)``.

        Args:
            texts: a list (or other iterable) of str; a single str is encoded as one row.
            maxlen: row length; longer texts are cut, shorter ones padded with 0 at the end.
            on_empty: ``"pad"`` (default) gives a text without words an all-0 row;
                ``"raise"`` raises ``ValueError`` for it.

        Returns:
            ``np.ndarray`` of int32, 0 = padding, 1 = unknown word.
        """
        if self.vocabulary is None:
            raise ValueError(
                "encode() needs a vocabulary: DeepMojiTokenizer(vocabulary=...) with a "
                "mapping or the path of DeepMoji's vocabulary.json."
            )
        if not isinstance(maxlen, int | np.integer) or isinstance(maxlen, bool) or maxlen < 1:
            raise ValueError(f"`maxlen` must be a positive int; got {maxlen!r}.")
        if on_empty not in ("pad", "raise"):
            raise ValueError(f"`on_empty` must be 'pad' or 'raise'; got {on_empty!r}.")
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        out = np.zeros((len(texts), int(maxlen)), dtype=np.int32)
        vocab_get = self.vocabulary.get
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(
                    f"texts[{i}] must be a str; got {type(text).__name__}: {text!r:.80}"
                )
            words = self.words(text)
            if not words and on_empty == "raise":
                raise ValueError(f"texts[{i}] has no words after preprocessing: {text!r:.80}")
            ids = [vocab_get(w, _UNKNOWN) for w in words[:maxlen]]
            out[i, : len(ids)] = ids
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of one row of ids (padding dropped)."""
        if self.vocabulary is None:
            raise ValueError("decode() needs a vocabulary.")
        inverse = getattr(self, "_inverse", None)
        if inverse is None or len(inverse) != len(self.vocabulary):
            inverse = {i: w for w, i in self.vocabulary.items()}
            self._inverse = inverse
        return [inverse.get(int(i), SPECIAL_TOKENS[_UNKNOWN]) for i in ids if int(i) != _MASK]
