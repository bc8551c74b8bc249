"""DeepMoji's vocabularies: build one from a corpus, extend one with a target task's words.

A DeepMoji vocabulary is a ``dict`` word -> id with DeepMoji's ten special tokens at ids
0-9 (``CUSTOM_MASK`` 0, ``CUSTOM_UNKNOWN`` 1, ``CUSTOM_AT`` 2, ``CUSTOM_URL`` 3,
``CUSTOM_NUMBER`` 4, ``CUSTOM_BREAK`` 5, ``CUSTOM_BLANK_6`` ... ``CUSTOM_BLANK_9``) and the
other words at ids 10, 11, ... with no gaps. That format is fixed by the pretrained
DeepMoji weights and files, so it stays its own rather than rnnkit's
:class:`rnnkit.text.vocabulary.Vocabulary`. The file format (``vocabulary.json``) is read
and written by :func:`load_vocabulary` / :func:`save_vocabulary`, defined with the
tokenizer in :mod:`rnnkit.models.deepmoji.tokenizer` (which this module imports; the
tokenizer imports nothing from here) and re-exported here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from rnnkit.models.deepmoji.tokenizer import (
    SPECIAL_TOKENS,
    DeepMojiTokenizer,
    _check_vocabulary,
    load_vocabulary,
    save_vocabulary,
)

__all__ = [
    "load_vocabulary",
    "save_vocabulary",
    "count_words",
    "build_vocabulary",
    "extend_vocabulary",
]


def count_words(texts: Iterable[str], tokenizer: DeepMojiTokenizer | None = None) -> Counter[str]:
    """Word counts of ``texts`` (streamed) after DeepMoji preprocessing; the special
    tokens (``CUSTOM_URL`` ...) are not counted."""
    tokenizer = tokenizer or DeepMojiTokenizer()
    counts: Counter[str] = Counter()
    specials = set(SPECIAL_TOKENS)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] must be a str; got {type(text).__name__}.")
        counts.update(w for w in tokenizer.words(text) if w not in specials)
    return counts


def _ranked(counts: Mapping[str, int], min_count: int, exclude: Mapping[str, int]) -> list[str]:
    """Words with count >= min_count not in ``exclude``, most frequent first (ties by word)."""
    words = [w for w, c in counts.items() if c >= min_count and w not in exclude]
    words.sort(key=lambda w: (-counts[w], w))
    return words


def build_vocabulary(
    texts: Iterable[str] | Mapping[str, int],
    min_count: int = 2,
    max_size: int | None = 50000,
    tokenizer: DeepMojiTokenizer | None = None,
) -> dict[str, int]:
    """Build a DeepMoji-style vocabulary from a corpus.

    Args:
        texts: an iterable of texts (streamed once), or word counts from :func:`count_words`.
        min_count: keep words seen at least this often.
        max_size: total size including the 10 special tokens (None: no limit).
        tokenizer: the :class:`DeepMojiTokenizer` that splits texts (default: a new one).

    Returns:
        ``dict`` word -> id: special tokens at 0-9, then words by decreasing frequency
        (ties alphabetical).

    Example:

    >>> vocab = build_vocabulary(["a cat", "a dog", "a cat"], min_count=2)
    >>> vocab["a"], vocab["cat"], "dog" in vocab
    (10, 11, False)
    """
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"`min_count` must be an int >= 1; got {min_count!r}.")
    if max_size is not None and (not isinstance(max_size, int) or max_size < len(SPECIAL_TOKENS)):
        raise ValueError(
            f"`max_size` must be None or an int >= {len(SPECIAL_TOKENS)} (the special tokens "
            f"count towards it); got {max_size!r}."
        )
    counts = texts if isinstance(texts, Mapping) else count_words(texts, tokenizer)
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    words = _ranked(counts, min_count, vocab)
    if max_size is not None:
        words = words[: max_size - len(vocab)]
    for word in words:
        vocab[word] = len(vocab)
    return vocab


def extend_vocabulary(
    vocabulary: Mapping[str, int],
    texts: Iterable[str] | Mapping[str, int],
    max_new: int,
    min_count: int = 1,
    tokenizer: DeepMojiTokenizer | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Add up to ``max_new`` of the most frequent new words of ``texts`` (fine-tuning data).

    Existing ids are unchanged; new words get ids ``len(vocabulary)``, ``+1``, ... so a
    pretrained embedding matrix is extended by appending one row per added word, in id
    order (the pretrained rows are kept).

    Args:
        vocabulary: the pretrained vocabulary (not modified).
        texts: the target data's texts (iterable, streamed once) or word counts.
        max_new: the most words to add (0 adds none).
        min_count: only words seen at least this often are added.
        tokenizer: the tokenizer that splits texts (default: a new one).

    Returns:
        ``(extended_vocabulary, added)`` where ``added`` maps each new word to its id, in id
        order.

    Example:

    >>> base = build_vocabulary(["a b"], min_count=1)
    >>> extended, added = extend_vocabulary(base, ["c c d a"], max_new=1)
    >>> added
    {'c': 12}
    """
    vocab = _check_vocabulary(vocabulary, "vocabulary")
    if not isinstance(max_new, int) or max_new < 0:
        raise ValueError(f"`max_new` must be an int >= 0; got {max_new!r}.")
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"`min_count` must be an int >= 1; got {min_count!r}.")
    counts = texts if isinstance(texts, Mapping) else count_words(texts, tokenizer)
    added: dict[str, int] = {}
    for word in _ranked(counts, min_count, vocab)[:max_new]:
        added[word] = len(vocab)
        vocab[word] = added[word]
    return vocab, added
