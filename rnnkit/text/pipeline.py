"""The text stage: raw strings to ids, one pipeline with a Python and an in-graph form.

This is the one implementation of "raw text -> token ids" in rnnkit: the scikit-learn
estimators train with it (``RNNClassifier`` through :class:`rnnkit.text.TextVectorizer`,
a thin wrapper), the command line builds it, and :mod:`rnnkit.serving` only turns a
pipeline object into a SavedModel signature (it holds no tokenization rule of its own).

:class:`TextPipeline` turns raw strings into fixed-length int32 id rows. Its Python
implementation (:meth:`TextPipeline.tokenize`, :meth:`TextPipeline.encode`) is what
training uses; its TensorFlow implementation (:meth:`TextPipeline.tf_encode`) uses core
TensorFlow ops only (``tf.strings.lower``, ``tf.strings.regex_replace``,
``tf.strings.split``, ``tf.lookup.StaticHashTable``) so an exported SavedModel runs in a
stock TF Serving binary. With ``engine="python"`` the two agree because every rule is
restricted to what Python's ``re`` (with ``re.ASCII``) and RE2 do identically; with
``engine="tensorflow"`` (for RE2-only patterns such as ``\\pL``, e.g.
:data:`UNICODE_REPLACEMENTS`) the Python-side methods run the same TF ops eagerly:

1. optional lowercasing (``str.lower`` / ``tf.strings.lower(encoding="utf-8")``),
2. an ordered list of regex replacements (pattern, replacement), ``\\1``-style groups,
3. splitting on runs of ASCII whitespace, dropping empty tokens (or, with
   ``split="tf_whitespace"``, ``tf.strings.split``'s own whitespace rule),
4. vocabulary lookup (0 = padding, 1 = unknown, words from id 2), truncation to
   ``max_length`` tokens and right padding with 0.

Ids 0 and 1 are reserved: ``vocabulary[0]`` and ``vocabulary[1]`` are the padding and
unknown markers (:data:`rnnkit.text.special_tokens.PAD` and ``UNK``) and are never
matched as words.

Another tokenizer can replace steps 1-3 on both sides: ``tokenizer="<name>"`` names one
registered with :func:`register_tokenizer` (a Python form, text -> words, and an exact
in-graph form, strings -> ragged words); the vocabulary is then that tokenizer's, by id,
and every entry is looked up (unknown words -> 1). The one registered in rnnkit is
DeepMoji's (``tokenizer="deepmoji"``), which ``import rnnkit.models.deepmoji`` registers
(``rnnkit.models.deepmoji.deepmoji_pipeline`` builds such a pipeline). The text stage sits
at the bottom of the package and imports nothing from above it, so it knows a model's
tokenizer only by that registration: building or loading a pipeline that names a
tokenizer no module has registered yet raises a ``ValueError`` that names the module to
import. DeepMoji's tokenizer is a tokenizer inside the pipeline, not a set of
replacements, because its rules (Unicode word boundaries, NFKC, look-arounds,
repeated-character shortening) are not expressible as ``re``/RE2 replacements, and its
words and special tokens are fixed by the pretrained model.

With ``engine="unicode"`` (and ``split="unicode_whitespace"``) the rules run with Python's
own Unicode ``re`` semantics (``\\w`` is ``str.isalnum()`` or ``_``, ``\\s`` and the split
are Python's Unicode whitespace) and there is no in-graph form (:meth:`TextPipeline.tf_tokens`
refuses): this is the Python-only tokenization of the hierarchical classifier
(:data:`WORD_APOSTROPHE_REPLACEMENTS`) and of the translation loader
(:data:`WORD_REPLACEMENTS`), which never run in an exported graph.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.text.special_tokens import PAD, UNK
from rnnkit.text.vocabulary import Vocabulary

__all__ = [
    "PAD",
    "UNK",
    "DEFAULT_REPLACEMENTS",
    "UNICODE_REPLACEMENTS",
    "WORD_APOSTROPHE_REPLACEMENTS",
    "WORD_REPLACEMENTS",
    "TextPipeline",
    "WordTokenizer",
    "register_tokenizer",
    "registered_tokenizers",
]

# Splits punctuation and symbols off words: every character that is neither an ASCII
# word character nor ASCII whitespace becomes its own token (emoji included).
DEFAULT_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    (r"https?://[^ \t\n\r\f\v]+", " xxurl "),
    (r"@[A-Za-z0-9_]+", " xxat "),
    (r"([^A-Za-z0-9_ \t\n\r\f\v'])", r" \1 "),
)

#: ``RNNClassifier``'s rules (RE2 only: ``\pL``/``\pN`` are Unicode letters and digits,
#: so run them with ``engine="tensorflow"`` and ``split="tf_whitespace"``): URLs (also
#: ``www.``) become ``xxurl``, ``@user`` mentions ``xxuser``, and every character that is
#: not a letter, digit, whitespace, apostrophe, ``#`` or ``_`` (punctuation, emoji,
#: symbols) becomes its own token.
UNICODE_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    (r"(?:https?://|www\.)\S+", " xxurl "),
    (r"@\w+", " xxuser "),
    (r"([^\pL\pN\s'#_])", r" \1 "),
)

#: ``engine="unicode"`` rules (Python ``re`` Unicode semantics, no in-graph form): every
#: word (a ``\w`` run, with at most one inner apostrophe followed by more word characters:
#: ``l'homme``, ``don't``) and every other non-space character becomes a token; the same
#: tokens as ``re.findall(r"\w+(?:'\w+)?|[^\w\s]", text)``. The hierarchical classifier's.
WORD_APOSTROPHE_REPLACEMENTS: tuple[tuple[str, str], ...] = ((r"(\w+(?:'\w+)?|[^\w\s])", r" \1 "),)
#: ``engine="unicode"`` rules: every ``\w`` run and every other non-space character is a
#: token (``re.findall(r"\w+|[^\w\s]", text)``). The translation loader's, between its
#: printf placeholders.
WORD_REPLACEMENTS: tuple[tuple[str, str], ...] = ((r"(\w+|[^\w\s])", r" \1 "),)
_WHITESPACE = r"[ \t\n\r\f\v]+"
_SPLITTERS = {
    "ascii_whitespace": re.compile(_WHITESPACE),
    "unicode_whitespace": re.compile(r"\s+"),  # Python's Unicode whitespace (str.isspace)
}
#: texts per eager TensorFlow call when an ``engine="tensorflow"`` pipeline tokenizes a list
_TF_CHUNK = 4096


def _python_replacement(repl: str) -> str:
    """RE2 replacements use ``\\1``; Python's ``re.sub`` accepts the same form."""
    return repl


@dataclass(frozen=True)
class WordTokenizer:
    """A tokenizer that replaces a :class:`TextPipeline`'s lowercasing, replacements and
    split, registered under a name with :func:`register_tokenizer`.

    Attributes:
        name: the value of ``TextPipeline(tokenizer=...)`` (saved in the pipeline's config).
        python: ``python(index)`` with ``index`` the vocabulary (word -> id, every entry)
            gives the Python-side object: ``.words(text) -> list[str]`` and
            ``.encode(texts, maxlen) -> np.ndarray`` (int32, unknown words 1, padding 0).
        graph: ``graph(texts)``: a ``tf.RaggedTensor`` of the words of a 1-D string tensor,
            equal to ``.words`` on every text (core TensorFlow ops only).
    """

    name: str
    python: Callable[[Mapping[str, int]], Any]
    graph: Callable[[Any], Any]


_TOKENIZERS: dict[str, WordTokenizer] = {}
#: the module that registers each tokenizer rnnkit knows of, named in the error raised
#: for a pipeline whose tokenizer is not registered yet (a name, never imported here)
_REGISTERED_BY = {"deepmoji": "rnnkit.models.deepmoji"}


def register_tokenizer(
    name: str, python: Callable[[Mapping[str, int]], Any], graph: Callable[[Any], Any]
) -> WordTokenizer:
    """Make ``TextPipeline(tokenizer=name)`` available (see :class:`WordTokenizer`).

    A model family whose tokenizer is not a set of replacements registers it when its
    package is imported (``import rnnkit.models.deepmoji`` registers ``"deepmoji"``), so
    the text stage never imports a higher layer. Registering a name again replaces it.

    Returns:
        The registered :class:`WordTokenizer`.
    """
    if not isinstance(name, str) or not name or name == "regex":
        raise ValueError(
            f"register_tokenizer: name must be a str other than 'regex'; got {name!r}."
        )
    if not callable(python) or not callable(graph):
        raise ValueError("register_tokenizer: python and graph must be callables.")
    spec = WordTokenizer(name, python, graph)
    _TOKENIZERS[name] = spec
    return spec


def registered_tokenizers() -> list[str]:
    """The names ``TextPipeline(tokenizer=...)`` accepts now: ``"regex"`` and the registered."""
    return ["regex", *sorted(_TOKENIZERS)]


def _word_tokenizer(name: str) -> WordTokenizer:
    spec = _TOKENIZERS.get(name)
    if spec is not None:
        return spec
    if name in _REGISTERED_BY:
        raise ValueError(
            f"TextPipeline: tokenizer {name!r} is not registered in this process: "
            f"`import {_REGISTERED_BY[name]}` (which registers it) before building or "
            "loading this pipeline."
        )
    raise ValueError(
        f"TextPipeline: tokenizer must be one of {registered_tokenizers()} (another one is "
        f"registered with rnnkit.text.pipeline.register_tokenizer), got {name!r}."
    )


@dataclass
class TextPipeline:
    """Raw text to ids, identically in Python and in a TensorFlow graph.

    Args:
        vocabulary: words by id; entries 0 and 1 must be the padding and unknown markers.
        max_length: number of ids per row (truncated / right-padded with 0).
        lowercase: lowercase the text first.
        replacements: ordered ``(pattern, replacement)`` pairs applied after lowercasing.
        split: ``"ascii_whitespace"`` (runs of ASCII whitespace, the default),
            ``"tf_whitespace"`` (``tf.strings.split``'s own whitespace rule) or
            ``"unicode_whitespace"`` (runs of Python's Unicode whitespace; only with
            ``engine="unicode"``, which needs it).
        engine: ``"python"`` (``re`` with ``re.ASCII``; the patterns must mean the same in
            Python and RE2), ``"tensorflow"`` (the Python-side methods run the TF ops
            eagerly: exact by construction, for RE2-only patterns such as ``\\pL``) or
            ``"unicode"`` (Python's ``re`` with its Unicode semantics; Python side only,
            no in-graph form).
        tokenizer: ``"regex"`` (the default: ``lowercase``, ``replacements`` and
            ``split``) or the name of a registered tokenizer (:func:`register_tokenizer`),
            e.g. ``"deepmoji"`` (DeepMoji's own tokenizer, exact on both sides, registered
            by ``import rnnkit.models.deepmoji``); ``replacements`` must then be empty and
            ``vocabulary`` is that tokenizer's words by id, with any words at ids 0 and 1
            (see ``rnnkit.models.deepmoji.deepmoji_pipeline``).

    Example:

    >>> pipe = TextPipeline.fit(["Good movie!", "bad movie"], max_length=4)
    >>> pipe.encode(["good movie"]).tolist()
    [[5, 2, 0, 0]]
    """

    vocabulary: list[str]
    max_length: int = 40
    lowercase: bool = True
    replacements: list[tuple[str, str]] = field(
        default_factory=lambda: [tuple(r) for r in DEFAULT_REPLACEMENTS]
    )
    split: str = "ascii_whitespace"
    engine: str = "python"
    tokenizer: str = "regex"

    def __post_init__(self) -> None:
        self.vocabulary = [str(w) for w in self.vocabulary]
        self.replacements = [(str(p), str(r)) for p, r in self.replacements]
        if self.tokenizer != "regex":
            self._init_word_tokenizer(_word_tokenizer(self.tokenizer))
            return
        if len(self.vocabulary) < 2 or self.vocabulary[:2] != [PAD, UNK]:
            raise ValueError(
                f"TextPipeline: vocabulary must start with [{PAD!r}, {UNK!r}] (ids 0 and 1); "
                f"got {self.vocabulary[:2]!r}."
            )
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("TextPipeline: vocabulary entries must be unique.")
        if not isinstance(self.max_length, int) or self.max_length < 1:
            raise ValueError(
                f"TextPipeline: max_length must be a positive int, got {self.max_length!r}."
            )
        if self.split not in ("ascii_whitespace", "tf_whitespace", "unicode_whitespace"):
            raise ValueError(
                "TextPipeline: split must be 'ascii_whitespace', 'tf_whitespace' or "
                f"'unicode_whitespace', got {self.split!r}."
            )
        if self.engine not in ("python", "tensorflow", "unicode"):
            raise ValueError(
                "TextPipeline: engine must be 'python', 'tensorflow' or 'unicode', "
                f"got {self.engine!r}."
            )
        if self.split == "tf_whitespace" and self.engine != "tensorflow":
            raise ValueError("TextPipeline: split='tf_whitespace' needs engine='tensorflow'.")
        if (self.split == "unicode_whitespace") != (self.engine == "unicode"):
            raise ValueError(
                "TextPipeline: engine='unicode' goes with split='unicode_whitespace' "
                f"(both or neither); got engine={self.engine!r}, split={self.split!r}."
            )
        if self.engine == "tensorflow":
            self._compiled = []
            self._index = {w: i for i, w in enumerate(self.vocabulary) if i >= 2}
            return
        flags = 0 if self.engine == "unicode" else re.ASCII
        self._compiled = [
            (re.compile(p, flags), _python_replacement(r)) for p, r in self.replacements
        ]
        self._index = {w: i for i, w in enumerate(self.vocabulary) if i >= 2}

    def _init_word_tokenizer(self, spec: WordTokenizer) -> None:
        if len(self.vocabulary) < 2:
            raise ValueError(f"TextPipeline: a {spec.name} vocabulary needs at least ids 0 and 1.")
        if len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError("TextPipeline: vocabulary entries must be unique.")
        if not isinstance(self.max_length, int) or self.max_length < 1:
            raise ValueError(
                f"TextPipeline: max_length must be a positive int, got {self.max_length!r}."
            )
        if self.replacements:
            raise ValueError(f"TextPipeline: tokenizer={spec.name!r} takes no replacements.")
        if self.engine not in ("python", "tensorflow"):
            raise ValueError(
                f"TextPipeline: engine must be 'python' or 'tensorflow', got {self.engine!r}."
            )
        self._compiled = []
        self._index = {w: i for i, w in enumerate(self.vocabulary)}
        self._words_graph = spec.graph
        self._word_tokenizer = spec.python(self._index)

    # ------------------------------------------------------------------ Python side
    def tokenize(self, text: str) -> list[str]:
        """The tokens of one text (before vocabulary lookup)."""
        if not isinstance(text, str):
            raise ValueError(f"TextPipeline: expected a str, got {type(text).__name__}: {text!r}.")
        if self.engine == "tensorflow":
            return [t.decode("utf-8") for t in self.tf_tokens([text])[0].numpy().tolist()]
        if self.tokenizer != "regex":
            return self._word_tokenizer.words(text)
        if self.lowercase:
            text = text.lower()
        for pattern, repl in self._compiled:
            text = pattern.sub(repl, text)
        return [t for t in _SPLITTERS[self.split].split(text) if t]

    def tokenize_batch(self, texts: Iterable[str]) -> list[list[str]]:
        """The tokens of each text, as :meth:`tokenize` gives them (one TF call per
        4096 texts with ``engine="tensorflow"``).

        Args:
            texts: the raw strings.

        Returns:
            One token list per text.

        Example:

        >>> TextPipeline([PAD, UNK]).tokenize_batch(["Hi, you!"])
        [['hi', ',', 'you', '!']]
        """
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise ValueError(
                    f"TextPipeline: expected str entries; entry {i} is {type(t).__name__}."
                )
        if self.engine != "tensorflow":
            return [self.tokenize(t) for t in texts]
        out: list[list[str]] = []
        for start in range(0, len(texts), _TF_CHUNK):
            rows = self.tf_tokens(texts[start : start + _TF_CHUNK]).to_list()
            out.extend([t.decode("utf-8") for t in row] for row in rows)
        return out

    def encode(self, texts: Iterable[str]) -> np.ndarray:
        """``(len(texts), max_length)`` int32 ids."""
        texts = list(texts)
        if self.engine == "tensorflow":
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise ValueError(
                        f"TextPipeline: expected str entries; entry {i} is {type(t).__name__}."
                    )
            if not texts:
                return np.zeros((0, self.max_length), dtype="int32")
            return np.asarray(self.tf_encode(texts), dtype="int32")
        if self.tokenizer != "regex":
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise ValueError(
                        f"TextPipeline: expected str entries; entry {i} is {type(t).__name__}."
                    )
            return self._word_tokenizer.encode(texts, self.max_length)
        out = np.zeros((len(texts), self.max_length), dtype="int32")
        for row, text in enumerate(texts):
            ids = [self._index.get(t, 1) for t in self.tokenize(text)][: self.max_length]
            out[row, : len(ids)] = ids
        return out

    @classmethod
    def fit(
        cls,
        texts: Iterable[str],
        max_length: int = 40,
        max_vocabulary: int = 20000,
        min_count: int = 1,
        lowercase: bool = True,
        replacements: Sequence[tuple[str, str]] | None = None,
        split: str = "ascii_whitespace",
        engine: str = "python",
    ) -> TextPipeline:
        """Build the vocabulary from ``texts``: the tokens seen at least ``min_count``
        times, most frequent first, ties in alphabetical order (deterministic; a
        :class:`rnnkit.text.vocabulary.Vocabulary` built from the token counts).

        Args:
            texts: the training texts (streamed with ``engine="python"``).
            max_length: ids per row of the fitted pipeline.
            max_vocabulary: most ids, padding and unknown included.
            min_count: tokens seen fewer times are left out (they map to id 1).
            lowercase, replacements, split, engine: as in :class:`TextPipeline`
                (``replacements=None``: :data:`DEFAULT_REPLACEMENTS`).

        Returns:
            The fitted pipeline.

        Example:

        >>> TextPipeline.fit(["a b", "b"], max_length=3).vocabulary
        ['<pad>', '<unk>', 'b', 'a']
        """
        if replacements is None:
            replacements = [tuple(r) for r in DEFAULT_REPLACEMENTS]
        probe = cls([PAD, UNK], max_length, lowercase, list(replacements), split, engine)
        counts: collections.Counter[str] = collections.Counter()
        n = 0
        chunk: list[str] = []
        for text in texts:
            n += 1
            if engine == "tensorflow":
                chunk.append(text)
                if len(chunk) == _TF_CHUNK:
                    counts.update(t for row in probe.tokenize_batch(chunk) for t in row)
                    chunk = []
            else:
                counts.update(probe.tokenize(text))
        if chunk:
            counts.update(t for row in probe.tokenize_batch(chunk) for t in row)
        if n == 0:
            raise ValueError("TextPipeline.fit: no texts given.")
        words = Vocabulary.from_counts(counts, min_count, max_vocabulary).words
        return cls(words, max_length, lowercase, list(replacements), split, engine)

    # -------------------------------------------------------------- TensorFlow side
    def tf_tokens(self, texts: Any) -> Any:
        """``tf.RaggedTensor`` of tokens for a 1-D string tensor (core TF ops only)."""
        import tensorflow as tf

        if self.engine == "unicode":
            raise ValueError(
                "TextPipeline: engine='unicode' (Python's Unicode re semantics) has no "
                "in-graph form; use engine='python' or 'tensorflow' for an exported pipeline."
            )
        x = tf.convert_to_tensor(texts, dtype=tf.string)
        if self.tokenizer != "regex":
            return self._words_graph(x)
        if self.lowercase:
            x = tf.strings.lower(x, encoding="utf-8")
        for pattern, repl in self.replacements:
            x = tf.strings.regex_replace(x, pattern, repl)
        if self.split == "tf_whitespace":
            return tf.strings.split(x)
        x = tf.strings.regex_replace(x, _WHITESPACE, " ")
        tokens = tf.strings.split(x, sep=" ")
        return tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)

    def tf_table(self) -> Any:
        """The vocabulary as a ``tf.lookup.StaticHashTable`` (unknown words -> 1)."""
        import tensorflow as tf

        first = 2 if self.tokenizer == "regex" else 0  # a word tokenizer looks up every entry
        keys = tf.constant(self.vocabulary[first:], dtype=tf.string)
        values = tf.range(first, len(self.vocabulary), dtype=tf.int64)
        return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), 1)

    def tf_encode(self, texts: Any, table: Any = None) -> Any:
        """``(batch, max_length)`` int32 ids, equal to :meth:`encode` (core TF ops only)."""
        import tensorflow as tf

        table = self.tf_table() if table is None else table
        tokens = self.tf_tokens(texts)
        ids = tf.ragged.map_flat_values(table.lookup, tokens)
        ids = ids[:, : self.max_length]
        dense = ids.to_tensor(default_value=0, shape=[None, self.max_length])
        return tf.cast(dense, tf.int32)

    # ------------------------------------------------------------------ persistence
    def get_config(self) -> dict[str, Any]:
        """A JSON-serialisable description (round-trips through :meth:`from_config`)."""
        cfg = asdict(self)
        cfg["replacements"] = [list(r) for r in self.replacements]
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextPipeline:
        return cls(
            vocabulary=list(config["vocabulary"]),
            max_length=int(config["max_length"]),
            lowercase=bool(config.get("lowercase", True)),
            replacements=[tuple(r) for r in config.get("replacements", DEFAULT_REPLACEMENTS)],
            split=config.get("split", "ascii_whitespace"),
            engine=config.get("engine", "python"),
            tokenizer=config.get("tokenizer", "regex"),
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.get_config(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TextPipeline:
        return cls.from_config(json.loads(Path(path).read_text(encoding="utf-8")))
