"""Prepared corpora: distant-supervision data prepared once, in parallel, as TFRecord shards.

DeepMoji's pretraining data (``rnnkit prepare-corpus``; read by the generic pretraining
loop, :mod:`rnnkit.training.pretrain`). :func:`prepare_corpus` streams raw texts (JSONL,
CSV, TSV or text files, optionally ``.gz``; any number of files or globs, read with
:mod:`rnnkit.data.text_files`) through DeepMoji's rules
(:func:`~rnnkit.models.deepmoji.emoji_corpus.extract_examples`: labels found and removed,
retweets, exact duplicates and texts with too few content words dropped, one example per
distinct label), tokenizes with :class:`~rnnkit.models.deepmoji.tokenizer.DeepMojiTokenizer`
and writes a corpus directory:

- ``manifest.json``: settings, inputs, label names, vocabulary hash, every finished shard
  with its counts and sha256, statistics, a content hash, ``complete``;
- ``vocabulary.json`` (DeepMoji format);
- ``train-UUUUU-PPPP.tfrecord`` / ``validation-UUUUU-PPPP.tfrecord`` shards of at most
  ``shard_size`` ``tf.train.Example`` records (``ids``: ``maxlen`` int64, 0-padded;
  ``label``; ``key``: the first 8 bytes of blake2b of the cleaned text, below 2**62).
  ``UUUUU`` is the work unit (a file, or a byte range of a large uncompressed JSONL/text
  file), ``PPPP`` the shard's number within it. A shard's records are written in a random
  order drawn from ``(seed, UUUUU, PPPP)`` (a shard is held in memory until it is
  written, so memory is bounded by ``shard_size``): input sorted by label or date still
  reads mixed through the bounded shuffle buffer of :func:`corpus_dataset`.

How the work is split (memory never grows with the corpus; the output does not depend on
the number of workers):

1. scan (parallel, per work unit): read, find labels, drop retweets; write the 16-byte
   hash of every remaining text to a work file (no tokenizing).
2. duplicates (this process, in input order): the hashes go through one fixed-size Bloom
   filter (:class:`rnnkit.data.bloom.BloomFilter`, same sizes and hash as
   :func:`extract_examples`), so exactly the texts :func:`extract_examples` would drop
   are dropped, whatever the number of workers; a keep-mask per unit is written.
3. count (parallel, only without a given vocabulary): word counts per unit, merged here in
   unit order into one counter bounded to ``max_count_words`` entries (beyond it the rarest
   words are forgotten, which can only lower counts of words near the cut-off).
4. write (parallel): tokenize, encode, write each unit's shards (``<name>.tmp`` then
   renamed), then a per-unit done record; the manifest lists a unit's shards only after
   that, so a kill never leaves a half-written shard listed.

Resume: the manifest (``complete: false``) holds the settings and the inputs' sizes and
mtimes. Running the same command again on the same inputs keeps every finished scan,
count and write unit and redoes the rest (shard files of unfinished units are deleted);
a directory holding a corpus of other settings or inputs is refused unless
``overwrite=True``; a non-empty directory that holds no corpus is always refused.

Worker processes are started with the ``forkserver`` method (``spawn`` where there is
none), which is safe when TensorFlow is loaded in this process; they import only the
text-processing modules (``import rnnkit`` would load Keras, so workers bypass the
packages' ``__init__``) and write TFRecords with the small pure-Python writer of
:mod:`rnnkit.data.tfrecord` (the documented TFRecord framing with masked CRC32C), not with
TensorFlow.

Reading: :func:`load_corpus` (checks), :func:`corpus_dataset` (``tf.data``, feeds every
Keras backend), :func:`corpus_steps`.

Example:

>>> info = prepare_corpus("tweets/*.jsonl.gz", "corpus/", workers=8)  # doctest: +SKIP
>>> ds = corpus_dataset(info, "train", batch_size=256, epoch=0)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.bloom import BloomFilter
from rnnkit.data.light_imports import stand_in_source
from rnnkit.data.text_files import expand_paths, file_format, iter_records
from rnnkit.data.tfrecord import frame, int64_example, verify_shard
from rnnkit.models.deepmoji.emoji_corpus import (
    EmojiCorpusStats,
    LabelFinder,
    _ExampleRules,
    load_emoji_classes,
)
from rnnkit.models.deepmoji.tokenizer import SPECIAL_TOKENS, DeepMojiTokenizer
from rnnkit.models.deepmoji.vocabulary import (
    _check_vocabulary,
    build_vocabulary,
    load_vocabulary,
    save_vocabulary,
)

__all__ = [
    "CorpusInfo",
    "prepare_corpus",
    "load_corpus",
    "corpus_dataset",
    "corpus_steps",
]

FORMAT = "rnnkit-corpus"
VERSION = 1
MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.json"
WORK = ".work"
KEY_BITS = 62
SPLIT_BUCKETS = 10_000
_UNKNOWN = 1


def _example(ids: Sequence[int], label: int, key: int) -> bytes:
    """A serialized ``tf.train.Example`` with int64 features ids, label, key."""
    return int64_example({b"ids": ids, b"key": (key,), b"label": (label,)})


class _ShardWriter:
    """Writes one shard to ``<name>.tmp``; :meth:`close` renames it and returns its entry."""

    def __init__(
        self, directory: Path, name: str, split: str, num_labels: int, seed: Sequence[int]
    ):
        self.path = directory / name
        self.tmp = directory / (name + ".tmp")
        self.seed = list(seed)
        self.records: list[bytes] = []
        self.entry = {
            "name": name,
            "split": split,
            "num_examples": 0,
            "label_counts": [0] * num_labels,
            "bytes": 0,
        }

    def write(self, record: bytes, label: int) -> None:
        self.records.append(record)
        self.entry["num_examples"] += 1
        self.entry["label_counts"][label] += 1

    def close(self) -> dict:
        """Write the records in a random order drawn from ``seed``, then rename."""
        order = np.random.default_rng(self.seed).permutation(len(self.records))
        sha = hashlib.sha256()
        with open(self.tmp, "wb") as f:
            for i in order:
                framed = frame(self.records[i])
                f.write(framed)
                sha.update(framed)
                self.entry["bytes"] += len(framed)
            f.flush()
            os.fsync(f.fileno())
        self.records = []
        os.replace(self.tmp, self.path)
        self.entry["sha256"] = sha.hexdigest()
        return self.entry


# --------------------------------------------------------------------------------------
# Worker processes.
#
# ``import rnnkit`` imports Keras (the package __init__ loads the layers), and so do the
# ``__init__`` of ``rnnkit.models`` and of this folder (the models). A worker needs only
# the text-processing modules (this one, ``emoji_corpus``, ``tokenizer``, ``vocabulary``
# and ``rnnkit.data`` / ``rnnkit.text``), so the pool's initializer (the builtin ``exec``,
# which pickles by name) installs stand-ins for those three packages
# (:mod:`rnnkit.data.light_imports`): their submodules import normally, and each loads its
# real ``__init__`` on the first attribute asked of it. The modules a worker imports
# therefore take names from submodules (``from rnnkit.models.deepmoji.tokenizer import
# ...``), never from these packages.

_BOOTSTRAP = stand_in_source("rnnkit.models.deepmoji.corpus")

_WORKER_CACHE: dict[str, Any] = {}


def _tokenizer(vocabulary_path: str | None) -> DeepMojiTokenizer:
    key = f"tokenizer:{vocabulary_path}"
    tok = _WORKER_CACHE.get(key)
    if tok is None:
        _WORKER_CACHE.clear()
        tok = DeepMojiTokenizer(load_vocabulary(vocabulary_path) if vocabulary_path else None)
        _WORKER_CACHE[key] = tok
    return tok


class _Progress:
    """Prints ``texts/s`` of a long-running step every ``every`` seconds (verbose only)."""

    def __init__(self, label: str, verbose: int, every: float = 30.0):
        self.label, self.verbose, self.every = label, verbose, every
        self.start = self.last = time.monotonic()

    def tick(self, texts: int) -> None:
        now = time.monotonic()
        if self.verbose and now - self.last >= self.every:
            self.last = now
            rate = texts / max(now - self.start, 1e-9)
            print(f"  {self.label}: {texts:,} texts ({rate:,.0f} texts/s)", flush=True)


def _stats_dict(stats: EmojiCorpusStats) -> dict:
    return {k: v for k, v in vars(stats).items() if k != "per_class"}


def _read(unit: dict, cfg: dict, stats: EmojiCorpusStats):
    return iter_records(
        unit["path"],
        cfg["text_field"],
        cfg["label_field"],
        start=unit["start"],
        end=unit["end"],
        skip_bad_records=cfg["skip_bad_records"],
        stats=stats,
    )


def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _scan_unit(task: tuple[dict, dict, LabelFinder]) -> dict:
    """Pass 1: hashes of the texts that have a label and pass the pre-duplicate filters."""
    unit, cfg, finder = task
    work = Path(cfg["work"])
    stats = EmojiCorpusStats()
    rules = _ExampleRules(finder, cfg["min_words"], cfg["drop_retweets"], cfg["drop_url_texts"])
    found_counts: Counter[str] = Counter()
    progress = _Progress(f"scan {Path(unit['path']).name}", cfg["verbose"])
    tmp = work / f"scan-{unit['index']:05d}.bin.tmp"
    candidates = 0
    digest = BloomFilter.digest
    with open(tmp, "wb") as out:
        for text, value in _read(unit, cfg, stats):
            found = rules.candidate(text, value, stats)
            if found:
                candidates += 1
                out.write(digest(text))
                if finder.names is None:
                    found_counts.update(found)
            if stats.texts % 10_000 == 0:
                progress.tick(stats.texts)
    os.replace(tmp, work / f"scan-{unit['index']:05d}.bin")
    result = {
        "index": unit["index"],
        "candidates": candidates,
        "found": dict(found_counts),
        "texts": stats.texts,
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "pid": os.getpid(),
    }
    _atomic_json(work / f"scan-{unit['index']:05d}.json", result)
    return result


def _kept_texts(unit: dict, cfg: dict, finder: LabelFinder, stats: EmojiCorpusStats, tok):
    """Yields (clean text, words, label ids) of the unit's kept texts (after duplicates)."""
    work = Path(cfg["work"])
    keep = np.fromfile(work / f"keep-{unit['index']:05d}.bin", dtype=np.uint8)
    rules = _ExampleRules(
        finder, cfg["min_words"], cfg["drop_retweets"], cfg["drop_url_texts"], tokenizer=tok
    )
    i = 0
    for text, value in _read(unit, cfg, stats):
        found = rules.candidate(text, value, stats)
        if not found:
            continue
        i += 1
        if i > len(keep):
            continue
        if not keep[i - 1]:
            stats.duplicates += 1
            continue
        labels = finder.ids(found)
        kept = rules.finish(text, labels, stats)
        if kept is not None:
            yield kept[0], kept[1], labels
    if i != len(keep):
        raise ValueError(
            f"{unit['path']}: the labels found changed between two reads of the same input "
            f"({len(keep)} texts with a label in the first, {i} in the second); a label "
            "function must be deterministic and the input must not change during preparation."
        )


def _count_unit(task: tuple[dict, dict, LabelFinder]) -> dict:
    """Pass 3: word counts of the unit's kept texts (for the vocabulary)."""
    unit, cfg, finder = task
    stats = EmojiCorpusStats()
    specials = set(SPECIAL_TOKENS)
    counts: Counter[str] = Counter()
    progress = _Progress(f"count {Path(unit['path']).name}", cfg["verbose"])
    for n, (_, words, _) in enumerate(_kept_texts(unit, cfg, finder, stats, _tokenizer(None))):
        counts.update(w for w in words if w not in specials)
        if n % 10_000 == 0:
            progress.tick(stats.texts)
    result = {"index": unit["index"], "counts": dict(counts), "texts": stats.texts}
    _atomic_json(Path(cfg["work"]) / f"counts-{unit['index']:05d}.json", result)
    return {"index": unit["index"], "texts": stats.texts}


def _text_key(clean: str) -> int:
    digest = hashlib.blake2b(clean.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << KEY_BITS) - 1)


def _write_unit(task: tuple[dict, dict, LabelFinder]) -> dict:
    """Pass 4: tokenize, encode and write the unit's shards, then its done record."""
    unit, cfg, finder = task
    out_dir = Path(cfg["output_dir"])
    u = unit["index"]
    stats = EmojiCorpusStats()
    tok = _tokenizer(cfg["vocabulary_path"])
    vocab_get = tok.vocabulary.get
    maxlen = cfg["maxlen"]
    threshold = round(cfg["validation_fraction"] * SPLIT_BUCKETS)
    num_labels = len(finder.names)
    writers: dict[str, _ShardWriter] = {}
    parts = {"train": 0, "validation": 0}
    shards: list[dict] = []
    progress = _Progress(f"write {Path(unit['path']).name}", cfg["verbose"])
    for n, (clean, words, labels) in enumerate(_kept_texts(unit, cfg, finder, stats, tok)):
        ids = [vocab_get(w, _UNKNOWN) for w in words[:maxlen]]
        ids += [0] * (maxlen - len(ids))
        key = _text_key(clean)
        split = "validation" if key % SPLIT_BUCKETS < threshold else "train"
        for label in labels:
            writer = writers.get(split)
            if writer is None:
                name = f"{split}-{u:05d}-{parts[split]:04d}.tfrecord"
                writer = writers[split] = _ShardWriter(
                    out_dir, name, split, num_labels, (cfg["seed"], u, parts[split])
                )
                parts[split] += 1
            writer.write(_example(ids, label, key), label)
            if writer.entry["num_examples"] >= cfg["shard_size"]:
                shards.append(writers.pop(split).close())
        if n % 10_000 == 0:
            progress.tick(stats.texts)
    for split in sorted(writers):
        shards.append(writers[split].close())
    result = {
        "index": u,
        "shards": shards,
        "stats": _stats_dict(stats),
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "pid": os.getpid(),
    }
    _atomic_json(Path(cfg["work"]) / f"done-{u:05d}.json", result)
    return result


# --------------------------------------------------------------------------------------
# Preparation (this process).


@dataclass
class CorpusInfo:
    """A prepared corpus: what :func:`prepare_corpus` and :func:`load_corpus` return.

    Attributes:
        directory: the corpus directory.
        labels: label names, index = class id.
        maxlen: ids per example.
        vocabulary_size: words in ``vocabulary.json``.
        num_examples: train + validation examples.
        label_counts: examples per label name (train + validation).
        splits: ``{"train": n, "validation": n}``.
        shards: the manifest's shard entries.
        manifest: the whole manifest.
    """

    directory: Path
    labels: list[str]
    maxlen: int
    vocabulary_size: int
    num_examples: int
    label_counts: dict[str, int]
    splits: dict[str, int]
    shards: list[dict]
    manifest: dict = field(repr=False)

    def shard_paths(self, split: str) -> list[Path]:
        """The shard files of ``split`` (``"train"`` or ``"validation"``), manifest order."""
        _check_split(split)
        return [self.directory / s["name"] for s in self.shards if s["split"] == split]

    def vocabulary(self) -> dict[str, int]:
        """The corpus's vocabulary (word -> id)."""
        return load_vocabulary(self.directory / VOCABULARY)

    def split_label_counts(self, split: str) -> list[int]:
        """Examples per class id in ``split``."""
        _check_split(split)
        return list(self.manifest["label_counts"][split])


def _check_split(split: str) -> None:
    if split not in ("train", "validation"):
        raise ValueError(f"`split` must be 'train' or 'validation'; got {split!r}.")


def _vocab_sha(vocab: Mapping[str, int]) -> str:
    words = [w for w, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    return hashlib.sha256(json.dumps(words, ensure_ascii=False).encode("utf-8")).hexdigest()


def _label_finder(labels: Any, label_field: str | None) -> LabelFinder:
    if label_field is not None:
        if labels is not None and not isinstance(labels, Sequence | LabelFinder):
            raise ValueError(
                "With `label_field` the labels come from that field; `labels` may only be "
                f"None or the list of label names to keep; got {labels!r:.80}."
            )
        if isinstance(labels, LabelFinder):
            return labels
        names = list(labels) if labels is not None and not isinstance(labels, str) else None
        return LabelFinder.field(label_field, names=names)
    if labels is None or labels == "deepmoji":
        return LabelFinder.emoji(load_emoji_classes())
    if isinstance(labels, LabelFinder):
        return labels
    if hasattr(labels, "pattern") and hasattr(labels, "findall"):
        return LabelFinder.regex(labels)
    if isinstance(labels, str) and labels.startswith("regex:"):
        return LabelFinder.regex(labels[len("regex:") :])
    if isinstance(labels, str | os.PathLike):
        path = Path(labels)
        if not path.is_file():
            raise FileNotFoundError(
                f"Label spec {str(labels)!r}: no such emoji list file (labels may be None for "
                "DeepMoji's 64 emoji, an emoji list file, 'regex:PATTERN', a compiled regex, "
                "a callable, or label_field=...)."
            )
        return LabelFinder.emoji(load_emoji_classes(path, unicode_path=None))
    if callable(labels):
        return LabelFinder.function(labels)
    if isinstance(labels, Sequence) and all(isinstance(x, str) for x in labels):
        return LabelFinder.emoji(list(labels))
    raise ValueError(f"Unsupported label spec {labels!r:.80}.")


def _plan_units(files: list[Path], fmt: str | None, unit_bytes: int) -> list[dict]:
    units = []
    for path in files:
        size = path.stat().st_size
        splittable = not path.name.lower().endswith(".gz") and (fmt or file_format(path)) in (
            "jsonl",
            "txt",
        )
        pieces = max(1, math.ceil(size / unit_bytes)) if splittable else 1
        for k in range(pieces):
            start = k * unit_bytes if pieces > 1 else 0
            end = min(size, (k + 1) * unit_bytes) if pieces > 1 else None
            units.append({"index": len(units), "path": str(path), "start": start, "end": end})
    return units


def _inputs_record(files: list[Path]) -> list[dict]:
    return [
        {"path": str(p.resolve()), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
        for p in files
    ]


def _corpus_files(directory: Path) -> list[Path]:
    """The entries of ``directory`` that a corpus preparation writes."""
    own = []
    for p in directory.iterdir():
        n = p.name
        if n in (MANIFEST, MANIFEST + ".tmp", VOCABULARY, WORK) or (
            n.startswith(("train-", "validation-")) and ".tfrecord" in n
        ):
            own.append(p)
    return own


def _remove(paths: Iterable[Path]) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def _open_output(out: Path, settings: dict, inputs: list[dict], overwrite: bool) -> dict | None:
    """Prepares ``out``; returns the existing manifest when it can be resumed."""
    if not out.exists():
        out.mkdir(parents=True)
        return None
    if not out.is_dir():
        raise ValueError(f"Output {out} exists and is not a directory.")
    entries = list(out.iterdir())
    if not entries:
        return None
    own = set(_corpus_files(out))
    foreign = sorted(p.name for p in entries if p not in own)
    if foreign:
        raise ValueError(
            f"Output directory {out} is not empty and holds files that are not part of a "
            f"corpus ({', '.join(foreign[:5])}); choose an empty or new directory."
        )
    manifest = None
    if (out / MANIFEST).is_file():
        try:
            manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            manifest = None
    if (
        isinstance(manifest, dict)
        and manifest.get("format") == FORMAT
        and manifest.get("settings") == settings
        and manifest.get("inputs") == inputs
    ):
        return manifest
    if not overwrite:
        if isinstance(manifest, dict) and manifest.get("format") == FORMAT:
            diff = sorted(
                k
                for k in set(settings) | set(manifest.get("settings", {}))
                if settings.get(k) != manifest.get("settings", {}).get(k)
            )
            what = f"settings {diff}" if diff else "inputs (files, sizes or modification times)"
            raise ValueError(
                f"Output directory {out} holds another corpus (different {what}); pass "
                "overwrite=True (--overwrite) to replace it, or choose another directory."
            )
        raise ValueError(
            f"Output directory {out} holds corpus files without a valid manifest; pass "
            "overwrite=True (--overwrite) to replace them, or choose another directory."
        )
    _remove(own)
    return None


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While workers start, the caller's ``__main__`` looks like an interactive session's,
    so ``spawn`` / ``forkserver`` children do not re-run the caller's script (which
    usually imports Keras, seconds a worker); the worker functions live in this module.
    """
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main and k in main.__dict__}
    try:
        for k in saved:
            if k == "__spec__":
                main.__spec__ = None
            else:
                del main.__dict__[k]
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


def _pool_map(fn: Callable, tasks: list, processes: int, pool_box: list) -> Iterable[dict]:
    if processes <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield fn(t)
        return
    if not pool_box:
        import multiprocessing as mp

        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        with _main_module_hidden():
            pool_box.append(ctx.Pool(processes, initializer=exec, initargs=(_BOOTSTRAP,)))
    yield from pool_box[0].imap_unordered(fn, tasks)


def _write_manifest(out: Path, manifest: dict) -> None:
    _atomic_json(out / MANIFEST, manifest)


def prepare_corpus(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    output_dir: str | os.PathLike,
    *,
    labels: Any = None,
    vocabulary: Mapping[str, int] | str | os.PathLike | None = None,
    maxlen: int = 30,
    workers: int | None = None,
    shard_size: int = 100_000,
    seed: int = 0,
    text_field: str = "text",
    label_field: str | None = None,
    validation_fraction: float = 0.05,
    vocab_size: int = 50_000,
    min_count: int = 2,
    min_words: int = 1,
    drop_retweets: bool = True,
    drop_url_texts: bool = False,
    drop_duplicates: bool = True,
    duplicate_capacity: int = 10_000_000,
    duplicate_error_rate: float = 1e-6,
    skip_bad_records: bool = False,
    format: str | None = None,
    unit_bytes: int = 32 * 2**20,
    max_count_words: int = 5_000_000,
    overwrite: bool = False,
    verbose: int = 1,
) -> CorpusInfo:
    """Prepare a corpus directory of TFRecord shards from raw texts, in parallel.

    Args:
        inputs: files, folders or glob patterns (JSONL, CSV, TSV, text; ``.gz`` allowed).
        output_dir: the corpus directory (created; see the module doc for resume rules).
        labels: ``None``: DeepMoji's 64 emoji; a path: an emoji list file (one emoji a line,
            literal or ``\\U0001f602``-escaped, the ``wanted_emojis.csv`` format); a list of
            emoji; ``"regex:PATTERN"`` or a compiled regex (every distinct match is a label;
            names = the sorted distinct matches found in the data; matches removed from the
            text); a callable ``text -> list[str]`` (names sorted as found; text kept; it
            must be picklable for ``workers > 1``: a module-level function, not a lambda);
            or a :class:`LabelFinder`. With ``label_field``: None (names = the
            sorted distinct values) or the list of names to keep.
        vocabulary: a DeepMoji vocabulary (mapping or ``vocabulary.json``); ``None``: built
            from the kept texts (DeepMoji's rule: the ``vocab_size`` most frequent words
            seen at least ``min_count`` times, special tokens first).
        maxlen: ids per example (longer texts cut, shorter 0-padded).
        workers: processes (None: all cores; 1: this process only).
        shard_size: the most examples in one shard.
        seed: the seed of the record order within each shard; recorded in the manifest
            (the default seed of the reading functions).
        text_field: JSON key / column of the text.
        label_field: JSON key / column of a given label (already-labelled data).
        validation_fraction: share of texts (by hash of the cleaned text, so stable across
            runs) in the validation split.
        vocab_size, min_count: vocabulary rules when none is given.
        min_words, drop_retweets, drop_url_texts, drop_duplicates, duplicate_capacity,
            duplicate_error_rate: DeepMoji's filters (:func:`extract_examples`).
        skip_bad_records: skip (and count) malformed input records instead of raising.
        format: input format for every file (default: from each file's suffix).
        unit_bytes: uncompressed JSONL/text files larger than this are split into byte
            ranges of this size (work units); gzip and CSV/TSV files are one unit each.
        max_count_words: the most distinct words kept while merging counts.
        overwrite: replace a corpus of other settings or inputs in ``output_dir``.
        verbose: 0 silent; 1 progress and a summary table.

    Returns:
        :class:`CorpusInfo` of the finished corpus.

    Raises:
        FileNotFoundError: an input that matches no file.
        ValueError: no input, an empty input, a label spec that matches nothing, an
            output directory that holds something else, bad arguments.

    Example:

    >>> info = prepare_corpus("tweets.csv", "corpus/", label_field="sentiment",
    ...                       workers=2)  # doctest: +SKIP
    >>> info.num_examples, info.label_counts  # doctest: +SKIP
    """
    started = time.monotonic()
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise ValueError("No inputs given: expected files, folders or glob patterns.")
    for name, value, low in (("maxlen", maxlen, 1), ("shard_size", shard_size, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"`{name}` must be an int >= {low}; got {value!r}.")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"`validation_fraction` must be in [0, 1); got {validation_fraction!r}.")
    if workers is None:
        workers = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"`workers` must be None or an int >= 1; got {workers!r}.")
    files = expand_paths(inputs)
    if not files:
        raise ValueError(f"No input files found in {[str(i) for i in inputs]}.")
    if all(p.stat().st_size == 0 for p in files):
        raise ValueError(f"The input files are empty: {[str(p) for p in files][:5]}.")
    finder = _label_finder(labels, label_field)
    if workers > 1:
        try:
            pickle.dumps(finder)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise ValueError(
                f"The label function {finder.describe()} cannot be sent to worker processes "
                f"({err}): define it at module level (not a lambda or nested function), or "
                "pass workers=1 to run in this process."
            ) from None
    given_vocab: dict[str, int] | None = None
    if vocabulary is not None:
        given_vocab = (
            load_vocabulary(vocabulary)
            if isinstance(vocabulary, str | os.PathLike)
            else _check_vocabulary(vocabulary, "`vocabulary`")
        )
    out = Path(output_dir)
    settings = {
        "maxlen": maxlen,
        "label_spec": finder.describe(),
        "fixed_labels": finder.names,
        "text_field": text_field,
        "label_field": label_field,
        "format": format,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "vocabulary": _vocab_sha(given_vocab) if given_vocab else None,
        "vocab_size": vocab_size,
        "min_count": min_count,
        "min_words": min_words,
        "drop_retweets": drop_retweets,
        "drop_url_texts": drop_url_texts,
        "drop_duplicates": drop_duplicates,
        "duplicate_capacity": duplicate_capacity,
        "duplicate_error_rate": duplicate_error_rate,
        "skip_bad_records": skip_bad_records,
        "shard_size": shard_size,
        "unit_bytes": unit_bytes,
        "max_count_words": max_count_words,
    }
    inputs_rec = _inputs_record(files)
    previous = _open_output(out, settings, inputs_rec, overwrite)
    if previous is not None and previous.get("complete"):
        if verbose:
            print(f"Corpus {out} is already complete (same settings and inputs).")
        return load_corpus(out)
    work = out / WORK
    work.mkdir(exist_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "complete": False,
        "maxlen": maxlen,
        "labels": finder.names,
        "label_spec": finder.describe(),
        "vocabulary_file": VOCABULARY,
        "vocabulary_size": None,
        "vocabulary_sha256": None,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "inputs": inputs_rec,
        "settings": settings,
        "shards": [],
    }
    _write_manifest(out, manifest)
    units = _plan_units(files, format, unit_bytes)
    cfg = {
        "work": str(work),
        "output_dir": str(out),
        "text_field": text_field,
        "label_field": label_field,
        "skip_bad_records": skip_bad_records,
        "min_words": min_words,
        "drop_retweets": drop_retweets,
        "drop_url_texts": drop_url_texts,
        "maxlen": maxlen,
        "validation_fraction": validation_fraction,
        "shard_size": shard_size,
        "seed": seed,
        "vocabulary_path": None,
        "verbose": verbose,
    }
    processes = min(workers, len(units))
    pool_box: list = []
    worker_tf: bool | None = None  # None: no worker process ran
    try:
        # 1. scan
        todo = [u for u in units if not (work / f"scan-{u['index']:05d}.json").is_file()]
        _say(
            verbose,
            f"Scanning {len(files)} file(s) in {len(units)} unit(s), {processes} process(es)",
        )
        for r in _pool_map(_scan_unit, [(u, cfg, finder) for u in todo], processes, pool_box):
            worker_tf = _worker_tf(worker_tf, r)
        scans = [
            json.loads((work / f"scan-{u['index']:05d}.json").read_text(encoding="utf-8"))
            for u in units
        ]
        texts_read = sum(s["texts"] for s in scans)
        if texts_read == 0:
            raise ValueError(f"The inputs hold no texts: {[str(p) for p in files][:5]}.")
        if sum(s["candidates"] for s in scans) == 0:
            raise ValueError(
                f"The label spec {finder.describe()[:80]!r} matches nothing: none of the "
                f"{texts_read:,} texts has a label (that is not a retweet). Check the spec, "
                "the text field and the label field."
            )
        if finder.names is None:
            found: set[str] = set()
            for s in scans:
                found.update(s["found"])
            finder = finder.with_names(sorted(found))
        manifest["labels"] = finder.names
        # 2. duplicates, in input order
        if not (work / "dedupe.json").is_file():
            bloom = (
                BloomFilter(duplicate_capacity, duplicate_error_rate) if drop_duplicates else None
            )
            for u in units:
                src = work / f"scan-{u['index']:05d}.bin"
                tmp = work / f"keep-{u['index']:05d}.bin.tmp"
                with open(src, "rb") as f, open(tmp, "wb") as dst:
                    while chunk := f.read(16 * 65536):
                        if bloom is None:
                            keep = np.ones(len(chunk) // 16, np.uint8)
                        else:
                            keep = (~bloom.add_digests(chunk)).astype(np.uint8)
                        dst.write(keep.tobytes())
                os.replace(tmp, work / f"keep-{u['index']:05d}.bin")
            _atomic_json(work / "dedupe.json", {"units": len(units)})
        # 3. vocabulary
        vocab_file = out / VOCABULARY
        if given_vocab is not None:
            if not vocab_file.is_file():
                save_vocabulary(given_vocab, vocab_file)
        elif not (work / "vocabulary.done").is_file():
            todo = [u for u in units if not (work / f"counts-{u['index']:05d}.json").is_file()]
            _say(verbose, "Counting words for the vocabulary")
            tasks = [(u, cfg, finder) for u in todo]
            for _ in _pool_map(_count_unit, tasks, processes, pool_box):
                pass
            counts: Counter[str] = Counter()
            for u in units:
                path = work / f"counts-{u['index']:05d}.json"
                counts.update(json.loads(path.read_text(encoding="utf-8"))["counts"])
                if len(counts) > max_count_words:
                    counts = Counter(dict(counts.most_common(max_count_words)))
            vocab = build_vocabulary(counts, min_count=min_count, max_size=vocab_size)
            save_vocabulary(vocab, vocab_file)
            (work / "vocabulary.done").write_text("ok")
        vocab = load_vocabulary(vocab_file)
        manifest["vocabulary_size"] = len(vocab)
        manifest["vocabulary_sha256"] = _vocab_sha(vocab)
        cfg["vocabulary_path"] = str(vocab_file)
        # 4. write shards
        done = {}
        for u in units:
            path = work / f"done-{u['index']:05d}.json"
            if path.is_file():
                done[u["index"]] = json.loads(path.read_text(encoding="utf-8"))
        stale = [
            p
            for p in out.iterdir()
            if p.name.startswith(("train-", "validation-"))
            and (p.name.endswith(".tmp") or int(p.name.split("-")[1]) not in done)
        ]
        _remove(stale)
        todo = [u for u in units if u["index"] not in done]
        _say(verbose, f"Writing shards ({len(todo)} of {len(units)} unit(s) to do)")
        manifest["shards"] = _listed(done)
        _write_manifest(out, manifest)
        t0, texts_done = time.monotonic(), 0
        for r in _pool_map(_write_unit, [(u, cfg, finder) for u in todo], processes, pool_box):
            worker_tf = _worker_tf(worker_tf, r)
            done[r["index"]] = r
            texts_done += r["stats"]["texts"]
            manifest["shards"] = _listed(done)
            _write_manifest(out, manifest)
            if verbose:
                rate = texts_done / max(time.monotonic() - t0, 1e-9)
                print(
                    f"  units {len(done)}/{len(units)}: {texts_done:,} texts written "
                    f"({rate:,.0f} texts/s)",
                    flush=True,
                )
    finally:
        for pool in pool_box:
            pool.terminate()
            pool.join()
    stats = EmojiCorpusStats()
    for r in done.values():
        stats.merge(EmojiCorpusStats(**r["stats"]))
    _finish_manifest(manifest, finder.names, stats, worker_tf, time.monotonic() - started)
    _write_manifest(out, manifest)
    shutil.rmtree(work, ignore_errors=True)
    info = load_corpus(out)
    if verbose:
        print(summary_table(info))
    return info


def _worker_tf(flag: bool | None, result: dict) -> bool | None:
    if result["pid"] == os.getpid():
        return flag
    return bool(flag) or result["tensorflow_loaded"]


def _say(verbose: int, message: str) -> None:
    if verbose:
        print(message, flush=True)


def _listed(done: dict[int, dict]) -> list[dict]:
    return [s for u in sorted(done) for s in done[u]["shards"]]


def _finish_manifest(
    manifest: dict,
    names: list[str],
    stats: EmojiCorpusStats,
    worker_tf: bool | None,
    seconds: float,
) -> None:
    num = {"train": 0, "validation": 0}
    counts = {"train": [0] * len(names), "validation": [0] * len(names)}
    for s in manifest["shards"]:
        num[s["split"]] += s["num_examples"]
        counts[s["split"]] = [a + b for a, b in zip(counts[s["split"]], s["label_counts"])]
    manifest["num_examples"] = num
    manifest["label_counts"] = counts
    st = _stats_dict(stats)
    manifest["stats"] = {
        "texts": st["texts"],
        "no_label": st["no_class_emoji"],
        "retweets": st["retweets"],
        "url_texts": st["url_texts"],
        "duplicates": st["duplicates"],
        "too_short": st["too_short"],
        "bad_records": st["bad_records"],
        "kept_texts": st["kept_texts"],
        "examples": st["examples"],
        "invalid_bytes_replaced": st["invalid_bytes"],
        "seconds": round(seconds, 3),
        "workers_imported_tensorflow": worker_tf,
    }
    manifest["content_hash"] = _content_hash(manifest)
    manifest["complete"] = True


def _content_hash(manifest: dict) -> str:
    h = hashlib.sha256()
    for sha in sorted(s["sha256"] for s in manifest["shards"]):
        h.update(sha.encode())
    h.update(str(manifest["vocabulary_sha256"]).encode())
    h.update(json.dumps(manifest["settings"], sort_keys=True).encode())
    return h.hexdigest()


def summary_table(info: CorpusInfo) -> str:
    """A plain-text table of a corpus: texts read, dropped per reason, examples per split
    and per label."""
    st = info.manifest.get("stats", {})
    rows = [(k, v) for k, v in st.items() if isinstance(v, int) and not isinstance(v, bool)]
    rows += [("train examples", info.splits["train"])]
    rows += [("validation examples", info.splits["validation"])]
    rows += [("shards", len(info.shards))]
    secs = st.get("seconds")
    lines = [f"Corpus {info.directory}"]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {v:>12,}" for k, v in rows]
    if secs:
        lines.append(f"  {'texts/s':<{width}}  {st.get('texts', 0) / secs:>12,.0f}")
    lines.append("  label counts (train + validation):")
    lw = max(len(repr(n)) for n in info.labels)
    for name in info.labels:
        lines.append(f"    {name!r:<{lw}}  {info.label_counts[name]:>12,}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Loading and reading.


_REQUIRED = (
    "format",
    "version",
    "maxlen",
    "labels",
    "vocabulary_file",
    "vocabulary_size",
    "vocabulary_sha256",
    "shards",
    "num_examples",
    "label_counts",
    "complete",
)


def load_corpus(
    directory: str | os.PathLike,
    *,
    expect_vocabulary: Mapping[str, int] | str | os.PathLike | None = None,
    expect_maxlen: int | None = None,
    verify: bool = False,
) -> CorpusInfo:
    """Open a prepared corpus, checking it.

    Args:
        directory: a directory written by :func:`prepare_corpus`.
        expect_vocabulary: the vocabulary the caller's model uses (mapping or
            ``vocabulary.json``): the corpus must have been encoded with exactly it.
        expect_maxlen: the sequence length the caller expects.
        verify: also check every shard's sha256 (reads all shards); a mismatch names the
            first bad record. Without it only sizes are checked.

    Returns:
        :class:`CorpusInfo`.

    Raises:
        FileNotFoundError: no manifest.
        ValueError: an invalid or incomplete manifest, a missing, truncated or corrupt
            shard, a changed vocabulary file, an incompatible vocabulary or maxlen.

    Example:

    >>> info = load_corpus("corpus/", expect_maxlen=30)  # doctest: +SKIP
    """
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} holds no corpus: {MANIFEST} not found (prepare one with "
            "prepare_corpus / `rnnkit prepare-corpus`)."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a valid corpus manifest (not JSON: {err}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not a corpus manifest (format {FORMAT!r} expected).")
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"{path}: corpus format version {manifest.get('version')!r}; this rnnkit reads "
            f"version {VERSION}."
        )
    if not manifest.get("complete"):
        raise ValueError(
            f"Corpus {directory} is incomplete (its preparation was interrupted or is still "
            "running): run the same prepare_corpus command again to finish it."
        )
    missing = [k for k in _REQUIRED if k not in manifest]
    if missing:
        raise ValueError(f"{path} is not a valid corpus manifest: missing keys {missing}.")
    maxlen = manifest["maxlen"]
    if expect_maxlen is not None and expect_maxlen != maxlen:
        raise ValueError(
            f"Corpus {directory} holds sequences of maxlen {maxlen}, expected {expect_maxlen}: "
            f"prepare the corpus again with maxlen={expect_maxlen} (it is never mixed or cut "
            "silently)."
        )
    vocab_path = directory / manifest["vocabulary_file"]
    if not vocab_path.is_file():
        raise ValueError(f"Corpus {directory}: its vocabulary file {vocab_path.name} is missing.")
    vocab = load_vocabulary(vocab_path)
    if _vocab_sha(vocab) != manifest["vocabulary_sha256"]:
        raise ValueError(
            f"Corpus {directory}: {vocab_path.name} was changed after the shards were written "
            "(its hash differs from the manifest's); the ids in the shards belong to the "
            "original vocabulary."
        )
    if expect_vocabulary is not None:
        expected = (
            load_vocabulary(expect_vocabulary)
            if isinstance(expect_vocabulary, str | os.PathLike)
            else dict(expect_vocabulary)
        )
        if _vocab_sha(expected) != manifest["vocabulary_sha256"]:
            diff = next(
                (
                    f"{w!r} is id {vocab.get(w)} in the corpus, {i} expected"
                    for w, i in sorted(expected.items(), key=lambda kv: kv[1])
                    if vocab.get(w) != i
                ),
                "the corpus has words the expected vocabulary lacks",
            )
            raise ValueError(
                f"Corpus {directory} was encoded with another vocabulary ({len(vocab):,} words) "
                f"than the expected one ({len(expected):,} words): {diff}. Prepare the corpus "
                "with vocabulary=<the model's vocabulary> (ids are never mixed silently)."
            )
    for s in manifest["shards"]:
        shard = directory / s["name"]
        if not shard.is_file():
            raise ValueError(f"Corpus {directory}: shard {s['name']} is listed but missing.")
        size = shard.stat().st_size
        if "bytes" in s and size != s["bytes"]:
            raise ValueError(
                f"Corpus {directory}: shard {s['name']} has {size:,} bytes, the manifest says "
                f"{s['bytes']:,} (truncated or changed)."
            )
        if verify:
            h = hashlib.sha256()
            with open(shard, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            if h.hexdigest() != s["sha256"]:
                where = "its records' CRCs pass, so a whole record was changed"
                try:
                    verify_shard(shard)
                except ValueError as err:
                    where = str(err)
                raise ValueError(
                    f"Corpus {directory}: shard {s['name']} is corrupt (sha256 differs from the "
                    f"manifest): {where}."
                )
    labels = list(manifest["labels"])
    totals = [
        a + b for a, b in zip(*(manifest["label_counts"][k] for k in ("train", "validation")))
    ]
    return CorpusInfo(
        directory=directory,
        labels=labels,
        maxlen=maxlen,
        vocabulary_size=manifest["vocabulary_size"],
        num_examples=sum(manifest["num_examples"].values()),
        label_counts=dict(zip(labels, totals)),
        splits=dict(manifest["num_examples"]),
        shards=list(manifest["shards"]),
        manifest=manifest,
    )


def _as_info(corpus: CorpusInfo | str | os.PathLike) -> CorpusInfo:
    return corpus if isinstance(corpus, CorpusInfo) else load_corpus(corpus)


def _worker_shards(
    info: CorpusInfo,
    split: str,
    seed: int,
    epoch: int,
    shuffle: bool,
    num_workers: int,
    worker_index: int,
) -> list[dict]:
    _check_split(split)
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"`num_workers` must be an int >= 1; got {num_workers!r}.")
    if not 0 <= worker_index < num_workers:
        raise ValueError(f"`worker_index` must be in [0, {num_workers}); got {worker_index!r}.")
    shards = [s for s in info.shards if s["split"] == split]
    if not shards:
        raise ValueError(f"Corpus {info.directory} has no {split} shards.")
    if num_workers > len(shards):
        raise ValueError(
            f"Corpus {info.directory} has {len(shards)} {split} shard(s), fewer than the "
            f"{num_workers} workers (each worker reads whole shards): prepare it with a smaller "
            "shard_size."
        )
    order = (
        np.random.default_rng([seed, epoch]).permutation(len(shards))
        if shuffle
        else np.arange(len(shards))
    )
    return [shards[i] for i in order[worker_index::num_workers]]


def corpus_steps(
    corpus: CorpusInfo | str | os.PathLike,
    split: str,
    batch_size: int,
    *,
    num_workers: int = 1,
    worker_index: int = 0,
    drop_remainder: bool = False,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
) -> int:
    """Batches :func:`corpus_dataset` yields for these arguments (``balanced=False``).

    With several workers the shards a worker reads depend on ``(seed, epoch)``, hence
    those arguments. Returns the number of batches.

    Example:

    >>> corpus_steps("corpus/", "train", 256)  # doctest: +SKIP
    """
    info = _as_info(corpus)
    shards = _worker_shards(info, split, seed, epoch, shuffle, num_workers, worker_index)
    n = sum(s["num_examples"] for s in shards)
    return n // batch_size if drop_remainder else -(-n // batch_size)


_READ_BLOCK = 256  # records counted at a time by corpus_dataset's truncation check


def corpus_dataset(
    corpus: CorpusInfo | str | os.PathLike,
    split: str = "train",
    *,
    batch_size: int,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    shuffle_buffer: int = 10_000,
    balanced: bool = False,
    num_workers: int = 1,
    worker_index: int = 0,
    skip_batches: int = 0,
    skip_bad_records: bool = False,
    drop_remainder: bool = False,
    steps: int | None = None,
):
    """A ``tf.data.Dataset`` of ``(ids int32 (b, maxlen), label int32 (b,))`` batches.

    Deterministic for a given ``(seed, epoch)``: the shard order is a permutation drawn
    from ``(seed, epoch)``; worker ``i`` of ``n`` reads the shards ``order[i::n]``; the
    shards are interleaved record by record, shuffled in a bounded buffer of
    ``shuffle_buffer`` serialized records seeded by ``(seed, epoch)``, batched, then
    ``skip_batches`` batches are skipped before parsing (an exact, cheap resume: the
    batches after the skip are the tail of the unskipped stream), then parsed.

    Args:
        corpus: a :class:`CorpusInfo` or a corpus directory.
        split: ``"train"`` or ``"validation"``.
        batch_size: examples per batch.
        seed, epoch: the stream's seed; pass the epoch number for a new order each epoch.
        shuffle: shuffle shard order and records (False: manifest order).
        shuffle_buffer: records in the shuffle buffer (memory bound).
        balanced: DeepMoji's class-balanced sampling: an example of class ``c`` is kept with
            probability ``min_count / count_c`` (counts of the split, classes with examples),
            decided by a stateless hash of ``(key, seed, epoch)``: deterministic.
        num_workers, worker_index: file-level sharding between data-parallel workers.
        skip_batches: batches to skip (resume).
        skip_bad_records: a shard with a corrupt or truncated record is read up to that
            record and the rest of it skipped (TFRecord cannot resynchronize), counted in
            the returned dataset's ``bad_records`` variable; without it reading stops with
            an error naming the shard and the record.
        drop_remainder: drop a last partial batch.
        steps: yield at most this many batches (counted before ``skip_batches``).

    Returns:
        ``tf.data.Dataset``; usable with ``model.fit`` on every Keras backend.

    Raises:
        ValueError: a missing or truncated shard (checked by size when the dataset is
            made), no shards in the split, bad arguments.

    Example:

    >>> ds = corpus_dataset("corpus/", "train", batch_size=256, epoch=3)  # doctest: +SKIP
    """
    import tensorflow as tf

    info = _as_info(corpus)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an int >= 1; got {batch_size!r}.")
    if not isinstance(skip_batches, int) or skip_batches < 0:
        raise ValueError(f"`skip_batches` must be an int >= 0; got {skip_batches!r}.")
    shards = _worker_shards(info, split, seed, epoch, shuffle, num_workers, worker_index)
    for s in shards:
        path = info.directory / s["name"]
        if not path.is_file():
            raise ValueError(f"Corpus {info.directory}: shard {s['name']} is missing.")
        if "bytes" in s and path.stat().st_size != s["bytes"]:
            raise ValueError(
                f"Corpus {info.directory}: shard {s['name']} has {path.stat().st_size:,} "
                f"bytes, the manifest says {s['bytes']:,} (truncated or changed)."
            )
    maxlen = info.maxlen
    bad_records = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_records")
    paths = [str(info.directory / s["name"]) for s in shards]
    expected = [s["num_examples"] for s in shards]
    names = [s["name"] for s in shards]

    def read_shard(path, count, name):
        # ignore_errors ends a shard at its first bad record; the count read is then
        # compared with the manifest's at the shard's end (a sentinel empty block). The
        # records are counted in blocks of _READ_BLOCK, not one by one: every per-record
        # tf.data stage costs about as much as reading the record.
        records = tf.data.TFRecordDataset(path).ignore_errors().batch(_READ_BLOCK)
        flagged = records.map(lambda r: (r, False)).concatenate(
            tf.data.Dataset.from_tensors((tf.constant([], tf.string), True))
        )

        def check(n, item):
            block, last = item
            if skip_bad_records:
                lost = tf.where(last, count - n, tf.constant(0, tf.int64))
                with tf.control_dependencies([bad_records.assign_add(lost)]):
                    return n + tf.size(block, tf.int64), (tf.identity(block), last)
            ok = tf.logical_or(tf.logical_not(last), tf.equal(n, count))
            message = tf.strings.join(
                [
                    "Corpus shard ",
                    name,
                    " is corrupt or truncated: record ",
                    tf.strings.as_string(n),
                    " (0-based) cannot be read (",
                    tf.strings.as_string(count),
                    " records expected). Rerun with skip_bad_records=True to skip the rest "
                    "of the shard.",
                ]
            )
            assertion = tf.debugging.Assert(ok, [message])
            with tf.control_dependencies([assertion]):
                return n + tf.size(block, tf.int64), (tf.identity(block), last)

        checked = flagged.scan(tf.constant(0, tf.int64), check)
        return checked.filter(lambda r, last: tf.logical_not(last)).map(lambda r, last: r).unbatch()

    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(paths), tf.constant(expected, tf.int64), tf.constant(names))
    )
    ds = ds.interleave(
        read_shard,
        cycle_length=min(8, len(paths)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if balanced:
        counts = np.array(info.split_label_counts(split), dtype=np.float64)
        present = counts[counts > 0]
        keep_p = np.where(counts > 0, present.min() / np.maximum(counts, 1), 0.0)
        keep_table = tf.constant(keep_p, tf.float64)
        mix = seed * 1_000_003 + epoch

        def keep(record):
            parsed = tf.io.parse_single_example(
                record,
                {
                    "label": tf.io.FixedLenFeature([], tf.int64),
                    "key": tf.io.FixedLenFeature([], tf.int64),
                },
            )
            u = tf.random.stateless_uniform(
                [], seed=tf.stack([parsed["key"], tf.constant(mix, tf.int64)]), dtype=tf.float64
            )
            return u < tf.gather(keep_table, parsed["label"])

        ds = ds.filter(keep)
    if shuffle:
        shuffle_seed = int(np.random.default_rng([seed, epoch, 1]).integers(2**31 - 1))
        ds = ds.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if steps is not None:
        ds = ds.take(steps)
    if skip_batches:
        ds = ds.skip(skip_batches)
    spec = {
        "ids": tf.io.FixedLenFeature([maxlen], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(batch):
        parsed = tf.io.parse_example(batch, spec)
        return tf.cast(parsed["ids"], tf.int32), tf.cast(parsed["label"], tf.int32)

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    ds.bad_records = bad_records
    return ds
