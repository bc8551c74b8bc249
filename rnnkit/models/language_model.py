"""Word-level language model: embedding -> stacked LSTM -> softmax over the vocabulary.

The model is a transducer: it predicts token ``t+1`` from tokens ``<= t`` at every
position. For truncated backpropagation through time its LSTM layers are stateful
(rnnkit's :class:`rnnkit.layers.LSTM` with ``stateful=True``): the final states of a
batch are the initial states of the next, so a model fed consecutive windows of
:func:`rnnkit.data.ptb.tbptt_windows` sees unbroken streams. ``reset_states()``
zeroes them (at the start of each epoch and of each evaluation).

The model returns logits; the softmax is applied in the loss
(:class:`rnnkit.training.tbptt.SequenceCrossentropy`), in :func:`perplexity` and in
:func:`sample_logits`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from rnnkit.layers.lstm import LSTM
from rnnkit.ops.validation import static_shape


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


@keras.saving.register_keras_serializable(package="rnnkit")
class LanguageModel(keras.Model):
    """Word-level LSTM language model (Zaremba et al. 2014).

    Args:
        vocab_size: Number of words (ids ``0 .. vocab_size-1``).
        units: LSTM units per layer (also the embedding size unless
            ``embedding_dim`` is given).
        num_layers: Number of stacked LSTM layers.
        embedding_dim: Embedding size (default ``units``).
        dropout: Dropout rate on the embeddings, between layers and before the
            softmax (Zaremba's regularized configurations; 0 for the non-regularized).
        init_scale: Every weight (embedding, LSTM kernels and biases, softmax) is
            initialised uniform in ``[-init_scale, init_scale]``; ``None`` keeps
            Keras's default initializers.
        batch_size: The fixed batch size of a stateful model.
        stateful: Carry the LSTM states from one batch to the next (TBPTT).
        use_fused: Passed to the LSTM layers (fused cuDNN / torch kernels): a runtime
            choice of this object, kept by :meth:`with_batch_size`, not saved in the
            config (as the layers do not save it).

    Call arguments:
        inputs: int ``(batch_size, timesteps)`` token ids.
        training: whether dropout is active.

    Returns:
        Logits ``(batch_size, timesteps, vocab_size)``.

    Example:

    >>> model = LanguageModel(vocab_size=100, units=16, num_layers=2, batch_size=4)
    >>> logits = model(np.zeros((4, 5), "int32"))  # (4, 5, 100)
    >>> model.reset_states()
    """

    def __init__(
        self,
        vocab_size: int,
        units: int = 200,
        num_layers: int = 2,
        embedding_dim: int | None = None,
        dropout: float = 0.0,
        init_scale: float | None = 0.1,
        batch_size: int = 20,
        stateful: bool = True,
        use_fused: bool | str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.units = _positive_int("units", units)
        self.num_layers = _positive_int("num_layers", num_layers)
        self.embedding_dim = _positive_int(
            "embedding_dim", units if embedding_dim is None else embedding_dim
        )
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        if init_scale is not None and not float(init_scale) > 0:
            raise ValueError(f"`init_scale` must be positive or None, got {init_scale!r}.")
        self.dropout = float(dropout)
        self.init_scale = None if init_scale is None else float(init_scale)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.stateful = bool(stateful)
        self.use_fused = use_fused

        def init(default: str) -> Any:
            if self.init_scale is None:
                return default
            return keras.initializers.RandomUniform(-self.init_scale, self.init_scale)

        self.embedding = keras.layers.Embedding(
            self.vocab_size,
            self.embedding_dim,
            embeddings_initializer=init("uniform"),
            name="embedding",
        )
        self.lstm_layers = [
            LSTM(
                self.units,
                return_sequences=True,
                stateful=self.stateful,
                kernel_initializer=init("glorot_uniform"),
                recurrent_initializer=init("orthogonal"),
                bias_initializer=init("zeros"),
                unit_forget_bias=self.init_scale is None,
                use_fused=use_fused,
                name=f"lstm_{i}",
            )
            for i in range(self.num_layers)
        ]
        self.dropout_layers = [
            keras.layers.Dropout(self.dropout, name=f"dropout_{i}")
            for i in range(self.num_layers + 1)
        ]
        self.softmax_layer = keras.layers.Dense(
            self.vocab_size,
            kernel_initializer=init("glorot_uniform"),
            bias_initializer=init("zeros"),
            name="softmax",
        )

    def build(self, input_shape: tuple) -> None:
        batch = self.batch_size if self.stateful else input_shape[0]
        self.embedding.build((batch, None))
        shape = (batch, None, self.embedding_dim)
        for layer in self.lstm_layers:
            layer.build(shape)
            shape = (batch, None, self.units)
        self.softmax_layer.build(shape)
        self.built = True

    def _check_inputs(self, inputs: Any) -> None:
        shape = static_shape(inputs)
        if len(shape) != 2:
            raise ValueError(
                f"LanguageModel expected token ids of shape (batch, timesteps), got shape {shape}."
            )
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "int" not in dtype:
            raise ValueError(f"LanguageModel expected integer token ids, got dtype {dtype}.")
        if self.stateful and shape[0] is not None and shape[0] != self.batch_size:
            raise ValueError(
                f"This stateful LanguageModel was built for batch_size={self.batch_size}, got "
                f"a batch of {shape[0]}. Use `model.with_batch_size({shape[0]})` for a copy "
                "with the same weights and another batch size."
            )

    def call(self, inputs: Any, training: bool | None = False) -> Any:
        self._check_inputs(inputs)
        x = self.embedding(inputs)
        x = self.dropout_layers[0](x, training=training)
        for lstm, drop in zip(self.lstm_layers, self.dropout_layers[1:]):
            x = drop(lstm(x, training=training), training=training)
        return self.softmax_layer(x)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape), self.vocab_size)

    def reset_states(self) -> None:
        """Zeroes the LSTM states (start of an epoch, an evaluation or a generation)."""
        for layer in self.lstm_layers:
            layer.reset_states()

    reset_state = reset_states

    def with_batch_size(self, batch_size: int) -> LanguageModel:
        """A copy with another batch size and the same trainable weights (fresh states)."""
        config = self.get_config()
        config["batch_size"] = batch_size
        config.pop("name", None)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        clone = LanguageModel(**config, use_fused=self.use_fused)
        clone.build((batch_size, None))
        for source, target in zip(self.trainable_weights, clone.trainable_weights):
            target.assign(ops.convert_to_numpy(source))
        return clone

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "units": self.units,
            "num_layers": self.num_layers,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout,
            "init_scale": self.init_scale,
            "batch_size": self.batch_size,
            "stateful": self.stateful,
        }

    @classmethod
    def from_config(cls, config: dict) -> LanguageModel:
        config = dict(config)
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        if config.get("use_fused", "auto") != "auto":
            # saved by rnnkit before 0.2; a runtime choice, not part of the model
            import warnings

            warnings.warn(
                f"LanguageModel '{config.get('name')}': its saved config holds "
                f"use_fused={config['use_fused']!r}, which rnnkit no longer saves (a runtime "
                "choice: it changes speed, not results); ignored.",
                stacklevel=2,
            )
        config.pop("use_fused", None)
        return cls(**config)


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-token negative log-likelihood ``-log softmax(logits)[target]`` in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    picked = np.take_along_axis(shifted, np.asarray(targets)[..., None], axis=-1)[..., 0]
    return log_norm - picked


def perplexity(
    model: LanguageModel, ids: np.ndarray, unroll: int = 20, batch_size: int | None = None
) -> float:
    """Perplexity ``exp(mean NLL)`` of ``model`` on a token stream.

    The stream is laid out as ``batch_size`` contiguous streams (default: the model's
    batch size) read in windows of ``unroll`` steps with the states carried across
    windows and reset first. Every predicted token counts once.

    Args:
        model: A :class:`LanguageModel`.
        ids: 1-D int token stream.
        unroll: Window length.
        batch_size: Number of parallel streams (a copy of the model is made when it
            differs from the model's).

    Returns:
        The perplexity, a Python float.
    """
    from rnnkit.data.ptb import tbptt_windows

    batch_size = model.batch_size if batch_size is None else batch_size
    if batch_size != model.batch_size and model.stateful:
        model = model.with_batch_size(batch_size)
    model.reset_states()
    total, count = 0.0, 0
    for x, y in tbptt_windows(ids, batch_size, unroll):
        logits = model.predict_on_batch(x)
        total += float(token_nll(logits, y).sum())
        count += y.size
    model.reset_states()
    return math.exp(total / count)


def sample_logits(
    logits: Any,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Draws one id per row of ``logits`` (``(vocab,)`` or ``(batch, vocab)``).

    Args:
        logits: Unnormalised log-probabilities.
        temperature: Divides the logits; ``0`` means greedy (argmax), values below 1
            sharpen and above 1 flatten the distribution.
        top_k: If given, sample only among the ``top_k`` most likely ids.
        rng: A NumPy generator (default: a fresh unseeded one).

    Returns:
        int64 ids, shape ``()`` or ``(batch,)``.
    """
    logits = np.asarray(ops.convert_to_numpy(logits), dtype=np.float64)
    if logits.ndim not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(
            f"Expected logits of shape (vocab,) or (batch, vocab), got {logits.shape}."
        )
    if not temperature >= 0:
        raise ValueError(f"`temperature` must be >= 0, got {temperature!r}.")
    vocab = logits.shape[-1]
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or not 0 < top_k):
        raise ValueError(f"`top_k` must be a positive integer or None, got {top_k!r}.")
    rows = logits.reshape(-1, vocab)
    if temperature == 0:
        out = rows.argmax(axis=-1)
        return out.reshape(logits.shape[:-1])
    rng = rng if rng is not None else np.random.default_rng()
    scaled = rows / temperature
    if top_k is not None and top_k < vocab:
        # keep exactly top_k ids per row (ties at the threshold broken by index)
        order = np.argsort(-scaled, axis=-1, kind="stable")[:, :top_k]
        keep = np.zeros_like(scaled, dtype=bool)
        np.put_along_axis(keep, order, True, axis=-1)
        scaled = np.where(keep, scaled, -np.inf)
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=-1, keepdims=True)
    out = np.array([rng.choice(vocab, p=p) for p in probs])
    return out.reshape(logits.shape[:-1])


def generate(
    model: LanguageModel,
    prompt_ids: Sequence[int],
    num_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    stop_id: int | None = None,
) -> list[int]:
    """Generates ``num_tokens`` ids after ``prompt_ids`` (one stream, states reset first).

    Args:
        model: A trained :class:`LanguageModel` (any batch size: a batch-1 copy is used).
        prompt_ids: The context, at least one id (e.g. ``[eos_id]`` to start a sentence).
        num_tokens: How many ids to generate.
        temperature, top_k: See :func:`sample_logits`.
        seed: Seed of the sampler.
        stop_id: Stop early after generating this id (e.g. ``<eos>``).

    Returns:
        The generated ids (without the prompt).
    """
    prompt = np.asarray(list(prompt_ids), dtype=np.int32)
    if prompt.ndim != 1 or prompt.size == 0:
        raise ValueError(
            f"`prompt_ids` must be a non-empty sequence of ids, got shape {prompt.shape}."
        )
    if prompt.min() < 0 or prompt.max() >= model.vocab_size:
        raise ValueError(
            f"`prompt_ids` must lie in [0, {model.vocab_size}), got values from "
            f"{prompt.min()} to {prompt.max()}."
        )
    if not isinstance(num_tokens, (int, np.integer)) or num_tokens < 0:
        raise ValueError(f"`num_tokens` must be a non-negative integer, got {num_tokens!r}.")
    single = model if (model.batch_size == 1 or not model.stateful) else model.with_batch_size(1)
    rng = np.random.default_rng(seed)
    single.reset_states()
    logits = single.predict_on_batch(prompt[None, :])[0, -1]
    generated: list[int] = []
    for _ in range(num_tokens):
        token = int(sample_logits(logits, temperature, top_k, rng))
        generated.append(token)
        if stop_id is not None and token == stop_id:
            break
        logits = single.predict_on_batch(np.array([[token]], dtype=np.int32))[0, -1]
    single.reset_states()
    return generated
