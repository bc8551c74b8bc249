"""The DeepMoji paper's transfer benchmarks (Felbo et al. 2017) with the paper's splits.

Files: ``<name>.jsonl`` with one ``{"text", "label", "split"}`` per line, split in
``train``/``val``/``test``; ``label`` an int class id, or for SE0714 a list of label names
(possibly empty).

============  ===========  =========  ====================================================
name          task         classes    metric in the paper
============  ===========  =========  ====================================================
SS-Twitter    binary       2          accuracy
SS-Youtube    binary       2          accuracy
SCv1          binary       2          F1 (of the positive class, sarcasm)
SE0714        multilabel   3          class-average F1 (one binary model per emotion)
PsychExp      multiclass   7          class-average F1 (one binary model per class)
============  ===========  =========  ====================================================
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from rnnkit.data.paths import resolve

__all__ = ["DEEPMOJI_BENCHMARKS", "DeepMojiBenchmark", "load_deepmoji_benchmark"]

SPLITS = ("train", "val", "test")

# name -> (task, class names, metric)
DEEPMOJI_BENCHMARKS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "SS-Twitter": ("binary", ("0", "1"), "accuracy"),
    "SS-Youtube": ("binary", ("0", "1"), "accuracy"),
    "SCv1": ("binary", ("0", "1"), "f1"),
    "SE0714": ("multilabel", ("fear", "joy", "sadness"), "class_avg_f1"),
    "PsychExp": ("multiclass", tuple(str(i) for i in range(7)), "class_avg_f1"),
}


@dataclass
class DeepMojiBenchmark:
    """One benchmark data set.

    Attributes:
        name: e.g. ``"SS-Twitter"``.
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        classes: class names (index = class id).
        metric: ``"accuracy"``, ``"f1"`` or ``"class_avg_f1"``.
        texts: split -> list of texts.
        labels: split -> int array ``(n,)`` of class ids (binary/multiclass) or 0/1 array
            ``(n, len(classes))`` (multilabel).
    """

    name: str
    task: str
    classes: tuple[str, ...]
    metric: str
    texts: dict[str, list[str]]
    labels: dict[str, np.ndarray]

    def split(self, split: str) -> tuple[list[str], np.ndarray]:
        """``(texts, labels)`` of ``"train"``, ``"val"`` or ``"test"``."""
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}; got {split!r}.")
        return self.texts[split], self.labels[split]

    def one_vs_rest(self, split: str) -> np.ndarray:
        """0/1 array ``(n, len(classes))``: one binary task per class (for class-average
        F1, where the paper trains one binary model per class)."""
        _, y = self.split(split)
        if self.task == "multilabel":
            return y
        return np.eye(len(self.classes), dtype=np.int32)[y]


def load_deepmoji_benchmark(name: str, path: str | os.PathLike | None = None) -> DeepMojiBenchmark:
    """Load one of the five DeepMoji benchmarks with the paper's train/val/test split.

    Args:
        name: ``"SS-Twitter"``, ``"SS-Youtube"``, ``"SCv1"``, ``"SE0714"`` or ``"PsychExp"``.
        path: the ``.jsonl`` file, or the folder holding ``<name>.jsonl``; default
            ``deepmoji-benchmarks/`` in the data root.

    Returns:
        :class:`DeepMojiBenchmark`.

    Raises:
        ValueError: unknown name; a line that is not JSON, lacks text/label/split, has a
            non-string text, an unknown split, or a label outside the declared classes.

    Example:

    >>> data = load_deepmoji_benchmark("SS-Twitter")  # doctest: +SKIP
    >>> texts, y = data.split("train")  # doctest: +SKIP
    >>> len(texts), data.metric  # doctest: +SKIP
    (800, 'accuracy')
    """
    if name not in DEEPMOJI_BENCHMARKS:
        raise ValueError(
            f"Unknown DeepMoji benchmark {name!r}; expected one of {list(DEEPMOJI_BENCHMARKS)}."
        )
    task, classes, metric = DEEPMOJI_BENCHMARKS[name]
    if path is not None and os.path.isdir(path):
        path = os.path.join(path, f"{name}.jsonl")
    file = resolve(path, f"deepmoji-benchmarks/{name}.jsonl")
    texts: dict[str, list[str]] = {s: [] for s in SPLITS}
    labels: dict[str, list] = {s: [] for s in SPLITS}
    index = {c: i for i, c in enumerate(classes)}
    with open(file, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{file}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err}).") from None
            if not isinstance(row, dict) or not {"text", "label", "split"} <= row.keys():
                raise ValueError(f"{where}: expected an object with text, label and split.")
            text, label, split = row["text"], row["label"], row["split"]
            if not isinstance(text, str):
                raise ValueError(f"{where}: text must be a string; got {type(text).__name__}.")
            if split not in texts:
                raise ValueError(f"{where}: split must be one of {SPLITS}; got {split!r}.")
            if task == "multilabel":
                if not isinstance(label, list) or any(lab not in index for lab in label):
                    raise ValueError(
                        f"{where}: {name} labels must be a list of names from {classes}; "
                        f"got {label!r}."
                    )
                row_y = np.zeros(len(classes), dtype=np.int32)
                row_y[[index[lab] for lab in label]] = 1
                labels[split].append(row_y)
            else:
                if isinstance(label, bool) or not isinstance(label, int):
                    raise ValueError(f"{where}: label must be an int class id; got {label!r}.")
                if not 0 <= label < len(classes):
                    raise ValueError(
                        f"{where}: label {label} is outside the {len(classes)} classes of "
                        f"{name} (0..{len(classes) - 1})."
                    )
                labels[split].append(label)
            texts[split].append(text)
    out_labels = {}
    for s in SPLITS:
        if task == "multilabel":
            out_labels[s] = np.array(labels[s], dtype=np.int32).reshape(-1, len(classes))
        else:
            out_labels[s] = np.array(labels[s], dtype=np.int32)
    return DeepMojiBenchmark(name, task, classes, metric, texts, out_labels)
