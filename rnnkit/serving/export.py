"""Export rnnkit models as TensorFlow SavedModels that take raw strings.

The exported ``serving_default`` signature takes one input, ``text``: a 1-D batch of
raw UTF-8 strings. The text preprocessing (:class:`rnnkit.text.TextPipeline`, the text stage) runs
inside the graph with core TensorFlow ops only (``tf.strings`` and a
``tf.lookup.StaticHashTable``), and rnnkit's layers trace to core ops on the TensorFlow
backend, so the SavedModel loads in a stock ``tensorflow_model_server`` (no rnnkit,
Keras, keras-hub or tensorflow-text needed at serving time).

Outputs by task:

- ``"classifier"``: ``label`` (string, ``(batch,)``) and ``probabilities``
  (float32, ``(batch, num_classes)``; a one-unit sigmoid output becomes two columns).
- ``"seq2seq"`` (:class:`rnnkit.models.seq2seq.Seq2Seq`): ``labels`` is the target
  vocabulary (id -> token); greedy decoding runs in-graph (``tf.while_loop``) for at
  most ``decode_length`` steps; output ``text`` (the decoded tokens joined by spaces, up
  to the end id; ``""`` for a text with no source token).
- ``"tagger"``: input sentences are split by the pipeline (for pre-split tokens, join
  them with spaces); outputs ``tokens`` and ``tags`` (strings, ``(batch, max_length)``,
  ``""`` past the end of each sentence), ``length`` (int32, ``(batch,)``), ``marginals``
  (float32, ``(batch, max_length, num_tags)``: each token's tag probabilities, from
  forward-backward for a CRF tagger; 0 past the end) and ``probability`` (float32,
  ``(batch,)``: the probability of the returned tag sequence, ``exp(score - log Z)`` of
  the Viterbi path for a CRF tagger, the product of the chosen tags' probabilities
  otherwise).

Directory layout: TF Serving's ``NAME/VERSION/`` with integer versions. ``export``
writes ``path/<version>/`` (the next free integer unless ``version`` is given).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from rnnkit.atomic import atomic_path
from rnnkit.layers import planner
from rnnkit.text.pipeline import TextPipeline
from rnnkit.text.token_features import TokenFeatures

TASKS = ("classifier", "tagger", "seq2seq")


@dataclass
class TextModel:
    """A Keras model over ids plus the text pipeline and label names that go with it.

    This is the unit the ``rnnkit`` command line trains, saves, exports and serves.

    Args:
        model: Keras model taking ``(batch, max_length)`` int ids. For ``"classifier"``
            it returns class probabilities ``(batch, C)`` (or ``(batch, 1)`` sigmoid);
            for ``"tagger"`` per-token probabilities ``(batch, max_length, K)``.
        pipeline: the :class:`TextPipeline` that made the ids.
        labels: class (or tag) names by output index.
        task: ``"classifier"``, ``"tagger"`` or ``"seq2seq"``.
        info: free-form JSON-serialisable metadata (training config, metrics).
        decode_length: most decoded tokens (``"seq2seq"``).
        features: for a tagger with word-shape or character features
            (:class:`rnnkit.models.taggers.SequenceTagger`), the
            :class:`TokenFeatures` that build its inputs from the tokens; the pipeline
            then only splits the text into tokens (it must not lower-case: the
            features keep the original case).

    Example:

    >>> tm = TextModel(model, pipeline, ["neg", "pos"])  # doctest: +SKIP
    >>> tm.predict(["great film"])["label"]  # doctest: +SKIP
    array(['pos'], dtype=object)
    """

    model: Any
    pipeline: TextPipeline
    labels: list[str]
    task: str = "classifier"
    info: dict[str, Any] = field(default_factory=dict)
    decode_length: int = 50
    features: TokenFeatures | None = None

    def __post_init__(self) -> None:
        self.labels = [str(x) for x in self.labels]
        if self.task not in TASKS:
            raise ValueError(f"TextModel: task must be one of {TASKS}, got {self.task!r}.")
        if len(self.labels) < 2:
            raise ValueError(f"TextModel: need at least 2 labels, got {self.labels!r}.")
        needs = bool(getattr(self.model, "char_vocab_size", None)) or bool(
            getattr(self.model, "case_features", False)
        )
        if self.features is None and needs:
            raise ValueError(
                "TextModel: this tagger uses character or word-shape features, expected "
                "features=TokenFeatures(...) to build them (as_text_model does this for a "
                "fitted RNNSequenceTagger)."
            )
        if self.features is not None:
            if self.task != "tagger":
                raise ValueError(f"TextModel: features are for taggers, got task={self.task!r}.")
            if self.pipeline.lowercase:
                raise ValueError(
                    "TextModel: with features the pipeline only splits tokens; expected "
                    "TextPipeline(..., lowercase=False) (TokenFeatures lower-cases the word "
                    "lookup itself)."
                )
            expected = {
                "char_vocab_size": len(self.features.chars) if self.features.chars else None,
                "case_features": self.features.case_features,
                "vocab_size": len(self.features.vocabulary),
            }
            actual = {k: getattr(self.model, k, v) for k, v in expected.items()}
            if actual != expected:
                raise ValueError(
                    f"TextModel: the model ({actual}) does not match its features ({expected})."
                )

    @property
    def crf_layer(self) -> Any:
        """The model's CRF layer (``.crf`` or a layer named ``"crf"``), else None."""
        layer = getattr(self.model, "crf", None)
        if layer is None:
            try:
                layer = self.model.get_layer("crf")
            except (ValueError, AttributeError):
                layer = None
        return layer if hasattr(layer, "decode") else None

    @property
    def is_crf(self) -> bool:
        """A CRF tagger (BiLSTMCRFTagger, an RNNSequenceTagger with crf=True): Viterbi."""
        return self.task == "tagger" and self.crf_layer is not None

    # ------------------------------------------------------------------ inference
    def inputs(self, texts: Sequence[str]) -> tuple[Any, np.ndarray]:
        """The model's inputs for ``texts`` from the Python pipeline (ids, or with
        ``features`` the dict of word, shape and character ids) and the word ids
        ``(batch, max_length)`` (0 at padding)."""
        if self.features is None:
            ids = self.pipeline.encode(texts)
            return ids, ids
        n = self.pipeline.max_length
        tokens = [self.pipeline.tokenize(t)[:n] for t in texts]
        x = self.features.encode(tokens, width=n)
        return x, x["words"]

    def probabilities(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class (or per-token tag) probabilities from the Python pipeline."""
        x, ids = self.inputs(texts)
        if self.is_crf:
            kwargs = {"decode": False} if hasattr(self.model, "crf") else {}
            potentials = self.model.predict(x, batch_size=batch_size, verbose=0, **kwargs)
            safe = ids != 0
            safe[:, 0] = True
            tags, _ = self.crf_layer.decode(potentials, safe)
            tags = keras.ops.convert_to_numpy(tags)
            return np.eye(len(self.labels), dtype="float32")[tags]  # one-hot Viterbi path
        probs = np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0))
        if self.task == "classifier" and probs.shape[-1] == 1:
            probs = np.concatenate([1.0 - probs, probs], axis=-1)
        return probs.astype("float32")

    def predict(self, texts: Sequence[str], batch_size: int = 256) -> dict[str, np.ndarray]:
        """Named outputs, as the exported ``serving_default`` signature returns them."""
        texts = _check_texts(texts)
        if self.task == "seq2seq":
            return {"text": self._translate(texts)}
        probs = self.probabilities(texts, batch_size)
        labels = np.asarray(self.labels, dtype=object)
        if self.task == "classifier":
            return {"label": labels[probs.argmax(-1)], "probabilities": probs}
        tokens = np.full((len(texts), self.pipeline.max_length), "", dtype=object)
        tags = np.full_like(tokens, "")
        lengths = np.zeros(len(texts), dtype="int32")
        best = probs.argmax(-1)
        for i, text in enumerate(texts):
            toks = self.pipeline.tokenize(text)[: self.pipeline.max_length]
            lengths[i] = len(toks)
            tokens[i, : len(toks)] = toks
            tags[i, : len(toks)] = labels[best[i, : len(toks)]]
        marginals, probability = self._confidences(texts, lengths, batch_size)
        return {
            "tokens": tokens,
            "tags": tags,
            "length": lengths,
            "marginals": marginals,
            "probability": probability,
        }

    def _confidences(
        self, texts: list[str], lengths: np.ndarray, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A tagger's per-token tag marginals ``(batch, max_length, K)`` (0 past each
        sentence) and the probability of its predicted tag sequence ``(batch,)``: for a
        CRF forward-backward marginals and ``exp(score(Viterbi path) - log Z)``, for
        independent softmaxes the softmaxes and the product of the chosen tags'
        probabilities."""
        x, ids = self.inputs(texts)
        valid = np.arange(ids.shape[1])[None, :] < lengths[:, None]
        if self.is_crf:
            kwargs = {"decode": False} if hasattr(self.model, "crf") else {}
            potentials = self.model.predict(x, batch_size=batch_size, verbose=0, **kwargs)
            safe = ids != 0
            safe[:, 0] = True
            crf = self.crf_layer
            _, _, log_p = crf.decode(potentials, safe, return_log_probability=True)
            marginals = keras.ops.convert_to_numpy(crf.marginals(potentials, safe))
            probability = np.exp(keras.ops.convert_to_numpy(log_p))
        else:
            marginals = np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0))
            chosen = np.where(valid, np.log(np.maximum(marginals.max(-1), 1e-38)), 0.0)
            probability = np.exp(chosen.sum(-1))
        marginals = np.where(valid[:, :, None], marginals, 0.0).astype("float32")
        return marginals, probability.astype("float32")

    def _translate(self, texts: list[str]) -> np.ndarray:
        ids = self.pipeline.encode(texts)
        out = np.full(len(texts), "", dtype=object)
        rows = np.flatnonzero((ids != 0).any(axis=1))
        if len(rows):
            tokens = self.model.translate(ids[rows], max_length=self.decode_length).tokens
            end, pad = self.model.decoder.end_id, self.model.decoder.pad_id
            for r, seq in zip(rows, np.asarray(tokens)):
                words = []
                for t in seq:
                    if t == end:
                        break
                    if t != pad:
                        words.append(self.labels[t])
                out[r] = " ".join(words)
        return out

    # ---------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``model.keras`` and ``textmodel.json`` into ``directory`` (each written
        to a temporary sibling and renamed into place when complete)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "model.keras", replace=True) as tmp:
            self.model.save(tmp)
        meta = {
            "format": "rnnkit.TextModel/1",
            "task": self.task,
            "labels": self.labels,
            "pipeline": self.pipeline.get_config(),
            "info": self.info,
        }
        if self.features is not None:
            meta["features"] = self.features.get_config()
        with atomic_path(directory / "textmodel.json", replace=True) as tmp:
            tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> TextModel:
        """Load what :meth:`save` wrote (Keras ``safe_mode=True``)."""
        directory = Path(directory)
        meta_path = directory / "textmodel.json"
        if not meta_path.is_file():
            raise ValueError(
                f"{directory} is not an rnnkit model directory: expected textmodel.json and "
                "model.keras in it (written by `rnnkit train` or TextModel.save)."
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        import rnnkit.layers  # noqa: F401  (registers the serializable layers)

        # register the model-level layers, and the model families' tokenizers for the
        # pipeline (a pipeline saved with "tokenizer": "deepmoji" needs rnnkit.models.deepmoji)
        try:
            import rnnkit.models  # noqa: F401
        except ImportError:  # pragma: no cover
            pass
        model = keras.saving.load_model(directory / "model.keras", safe_mode=True)
        return cls(
            model=model,
            pipeline=TextPipeline.from_config(meta["pipeline"]),
            labels=meta["labels"],
            task=meta.get("task", "classifier"),
            info=meta.get("info", {}),
            features=(
                TokenFeatures.from_config(meta["features"]) if meta.get("features") else None
            ),
        )


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("Expected a list of strings, got a single str; wrap it in a list.")
    texts = list(texts)
    if not texts:
        raise ValueError("Expected a non-empty list of strings, got an empty list.")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"Expected a list of strings; entry {i} is {type(t).__name__}: {t!r}.")
    return texts


def as_text_model(
    obj: Any,
    pipeline: TextPipeline | None = None,
    labels: Any = None,
    task: str | None = None,
    max_length: int = 64,
) -> TextModel:
    """Wrap what :func:`export` accepts into a :class:`TextModel`.

    Accepts a :class:`TextModel`; a Keras model plus ``pipeline`` and ``labels``; or
    anything with the export protocol, a ``text_model(max_length=None)`` method that
    returns a :class:`TextModel` (every fitted rnnkit estimator: ``RNNClassifier``,
    ``DeepMojiClassifier``, ``RNNSequenceTagger``; ``task`` then overrides its task); or
    an estimator with ``model_``, ``classes_`` and a :class:`TextPipeline` as
    ``pipeline_`` (or a :class:`TextModel` as ``text_model_``).
    """
    if isinstance(obj, TextModel):
        return obj
    if isinstance(obj, keras.Model):
        if pipeline is None or labels is None:
            raise ValueError(
                "export(keras_model, ...) needs pipeline=TextPipeline(...) and labels=[...] "
                "to build the raw-text signature; got "
                f"pipeline={pipeline!r}, labels={labels!r}."
            )
        return TextModel(obj, pipeline, list(labels), task or "classifier")
    method = getattr(obj, "text_model", None)
    if callable(method):  # the export protocol (every rnnkit estimator)
        tm = method(max_length=max_length)
        if not isinstance(tm, TextModel):
            raise ValueError(
                f"export: {type(obj).__name__}.text_model() returned a "
                f"{type(tm).__name__}, expected an rnnkit.serving.TextModel."
            )
        return tm if task is None else replace(tm, task=task)
    tm = getattr(obj, "text_model_", None)
    if isinstance(tm, TextModel):
        return tm
    model = getattr(obj, "model_", None)
    pipe = getattr(obj, "pipeline_", None) or pipeline
    if model is not None and isinstance(pipe, TextPipeline):
        classes = getattr(obj, "classes_", labels)
        return TextModel(model, pipe, [str(c) for c in classes], task or "classifier")
    raise ValueError(
        f"export: don't know how to export a {type(obj).__name__}. Expected an "
        "rnnkit.serving.TextModel, a keras.Model with pipeline= and labels=, or a fitted "
        "estimator with model_ and pipeline_ (a TextPipeline)."
    )


def _greedy_text(tf: Any, model: Any, ids: Any, vocab: Any, max_steps: int) -> Any:
    """In-graph greedy decoding of a ``Seq2Seq`` model (same choices as ``translate``)."""
    dec = model.decoder
    memory, mask, states = model.encode(ids, training=False)
    if mask is not None:
        memory = tf.where(mask[..., None], memory, tf.zeros_like(memory))
    keys = dec.attention.project_values(memory)
    batch = tf.shape(ids)[0]
    vocab_size = tf.shape(vocab)[0]
    banned = tf.reduce_any(
        tf.one_hot([dec.pad_id, dec.start_id], vocab_size, on_value=True, off_value=False),
        axis=0,
    )
    pad = tf.constant(dec.pad_id, tf.int32)

    def cond(t, last, finished, states, out):
        return tf.logical_and(t < max_steps, tf.logical_not(tf.reduce_all(finished)))

    def body(t, last, finished, states, out):
        log_probs, new_states, _ = dec.decode_step(last, states, keys, memory, mask)
        log_probs = tf.where(
            banned[None, :], tf.constant(-float("inf"), log_probs.dtype), log_probs
        )
        best = tf.cast(tf.argmax(log_probs, axis=-1), tf.int32)
        best = tf.where(finished, pad, best)
        return (
            t + 1,
            best,
            finished | tf.equal(best, dec.end_id),
            list(new_states),
            out.write(t, best),
        )

    init = (
        tf.constant(0),
        tf.fill([batch], tf.constant(dec.start_id, tf.int32)),
        tf.zeros([batch], tf.bool),
        list(states),
        tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None])),
    )
    _, _, _, _, out = tf.while_loop(cond, body, init)
    tokens = tf.transpose(out.stack())  # (batch, steps)
    before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(tokens, dec.end_id), tf.int32), axis=1), 0)
    keep = before_end & tf.not_equal(tokens, dec.pad_id)
    words = tf.ragged.boolean_mask(tf.gather(vocab, tokens), keep)
    text = tf.strings.reduce_join(words, axis=-1, separator=" ")
    has_source = tf.reduce_any(tf.not_equal(ids, 0), axis=1)
    return tf.where(has_source, text, tf.constant("", tf.string))


#: a version folder / URL version: ASCII digits only (not "²" or "٢"), at most 18 of
#: them (TF Serving's versions are int64)
VERSION_PATTERN = re.compile(r"[0-9]{1,18}")


def is_version_name(name: str) -> bool:
    """``name`` is an integer version as TF Serving reads one: 1-18 ASCII digits."""
    return VERSION_PATTERN.fullmatch(name) is not None


def next_version(base: str | os.PathLike) -> int:
    """One more than the largest integer sub-directory of ``base`` (1 if none)."""
    base = Path(base)
    versions = (
        [int(p.name) for p in base.iterdir() if p.is_dir() and is_version_name(p.name)]
        if (base.is_dir())
        else []
    )
    return max(versions, default=0) + 1


def export(
    model_or_estimator: Any,
    path: str | os.PathLike,
    *,
    version: int | None = None,
    pipeline: TextPipeline | None = None,
    labels: Any = None,
    task: str | None = None,
    max_length: int = 64,
    verbose: bool = False,
) -> Path:
    """Write a raw-text TF SavedModel to ``path/<version>/`` (TF Serving's layout).

    Args:
        model_or_estimator: a :class:`TextModel`, a Keras model (with ``pipeline`` and
            ``labels``), or a fitted estimator (see :func:`as_text_model`).
        path: the model base path (``NAME`` folder); versions are sub-folders.
        version: integer version; default the next free one.
        pipeline, labels, task, max_length: see :func:`as_text_model`.
        verbose: print Keras's export summary.

    Returns:
        The version directory written.

    Example:

    >>> export(text_model, "models/sentiment")  # doctest: +SKIP
    PosixPath('models/sentiment/1')
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "export needs the TensorFlow backend (the SavedModel is a TensorFlow graph); "
            f"KERAS_BACKEND is {keras.backend.backend()!r}. Save the model as .keras, then "
            "export it in a process started with KERAS_BACKEND=tensorflow."
        )
    import tensorflow as tf

    tm = as_text_model(model_or_estimator, pipeline, labels, task, max_length)
    base = Path(path)
    if version is None:
        version = next_version(base)
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"export: version must be a non-negative int, got {version!r}.")
    target = base / str(version)
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"export: {target} already exists and is not empty.")

    pipe = tm.pipeline
    table = pipe.tf_table() if tm.features is None else tm.features.tf_table()
    label_table = tf.constant(tm.labels, dtype=tf.string)
    model = tm.model

    def serve(text):
        if tm.features is None:
            ids = x = pipe.tf_encode(text, table)
        else:
            x = tm.features.tf_encode(
                pipe.tf_tokens(text)[:, : pipe.max_length], pipe.max_length, table
            )
            ids = x["words"]
        if tm.task == "seq2seq":
            return {"text": _greedy_text(tf, model, ids, label_table, tm.decode_length)}
        if tm.is_crf:
            potentials = model(x, training=False)
            safe = tf.concat([tf.ones_like(ids[:, :1], tf.bool), ids[:, 1:] != 0], axis=1)
            best, _, log_p = tm.crf_layer.decode(potentials, safe, return_log_probability=True)
            probs = tf.one_hot(tf.cast(best, tf.int32), len(tm.labels))
            marginals = tf.cast(tm.crf_layer.marginals(potentials, safe), tf.float32)
            probability = tf.exp(tf.cast(log_p, tf.float32))
        else:
            probs = tf.cast(model(x, training=False), tf.float32)
            marginals = probs
        if tm.task == "classifier":
            if probs.shape[-1] == 1:
                probs = tf.concat([1.0 - probs, probs], axis=-1)
            label = tf.gather(label_table, tf.argmax(probs, axis=-1))
            return {"label": label, "probabilities": probs}
        tokens = pipe.tf_tokens(text)[:, : pipe.max_length]
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        mask = tf.sequence_mask(lengths, pipe.max_length)
        tags = tf.gather(label_table, tf.argmax(probs, axis=-1))
        tags = tf.where(mask, tags, tf.constant("", tf.string))
        if not tm.is_crf:
            chosen = tf.math.log(tf.maximum(tf.reduce_max(probs, axis=-1), 1e-38))
            probability = tf.exp(tf.reduce_sum(tf.where(mask, chosen, 0.0), axis=-1))
        marginals = tf.where(mask[:, :, None], marginals, 0.0)
        return {
            "tokens": tokens.to_tensor(default_value="", shape=[None, pipe.max_length]),
            "tags": tags,
            "length": lengths,
            "marginals": marginals,
            "probability": probability,
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(table)
    # traced without XLA clusters: a serving binary may have no XLA JIT (TF Serving's
    # is off unless started with --xla_cpu_compilation_enabled)
    with planner.excluding("tf_xla_fused"):
        archive.add_endpoint(
            name="serving_default",
            fn=serve,
            input_signature=[tf.TensorSpec(shape=(None,), dtype=tf.string, name="text")],
        )
    # Written to a hidden temporary sibling and renamed to ``target`` when complete, so
    # a server (rnnkit serve, TF Serving) never sees a half-written version.
    with atomic_path(target) as tmp, planner.excluding("tf_xla_fused"):
        archive.write_out(str(tmp), verbose=verbose)
        (tmp / "assets.extra").mkdir(exist_ok=True)
        (tmp / "assets.extra" / "rnnkit.json").write_text(
            json.dumps({"task": tm.task, "labels": tm.labels}, ensure_ascii=False),
            encoding="utf-8",
        )
    return target
