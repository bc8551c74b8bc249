"""A recurrent decoder with Bahdanau attention: teacher forcing, greedy and beam search."""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from rnnkit import config
from rnnkit.cells.base import RecurrentCell
from rnnkit.layers.bahdanau_attention import BahdanauAttention
from rnnkit.layers.planner import matmul_fast_path
from rnnkit.ops.recurrence import recurrence, resolve_loop
from rnnkit.ops.recurrent_matmul import RecurrentMatmul
from rnnkit.ops.validation import check_rank, static_shape


class Decoded(NamedTuple):
    """The result of :meth:`AttentionDecoder.greedy_decode` / ``beam_search``.

    Attributes:
        tokens: ``(batch, steps)`` int array of the output ids, the end id included
            where one was produced, padded with ``pad_id`` after it.
        lengths: ``(batch,)`` number of output ids (end id included).
        log_probs: ``(batch,)`` total log-probability of each output.
        scores: ``(batch,)`` length-normalised score ``log_probs / lengths**alpha``.
        alignments: ``(batch, steps, Tv)`` attention weights of every output step over
            the source (zeros after the end).
    """

    tokens: np.ndarray
    lengths: np.ndarray
    log_probs: np.ndarray
    scores: np.ndarray
    alignments: np.ndarray


@keras.saving.register_keras_serializable(package="rnnkit")
class AttentionDecoder(keras.Layer):
    """Recurrent decoder that feeds an attention context into each step.

    Bahdanau et al. (2015): at output step ``i`` the previous state ``s_{i-1}``
    queries the source states ``h`` (:class:`BahdanauAttention`), giving the
    context ``c_i`` and the alignment ``alpha_i``; the cell then reads
    ``[E y_{i-1}, c_i]`` and the output distribution is
    ``softmax(W_o [s_i, c_i, E y_{i-1}] + b_o)``.

    The cell can be any rnnkit cell (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, the
    parallel-scan models' step cells ``MinGRUCell`` and ``MinLSTMCell``, or another
    :class:`rnnkit.cells.RecurrentCell`); its first state is the query.

    * Training: ``decoder(target_in, values, values_mask=...)`` runs the whole
      teacher-forced target sequence in one call, with the shared recurrence loop
      (:func:`rnnkit.ops.recurrence.recurrence`).
    * Inference: :meth:`greedy_decode` and :meth:`beam_search` (with length
      normalisation), both built on :meth:`decode_step`, return the output ids and
      the alignment matrices.

    Args:
        cell: an rnnkit cell instance; its input is ``embedding_dim + Dv``.
        vocabulary_size: number of target ids (output classes).
        embedding_dim: size of the target embeddings.
        attention_units: hidden size of the attention scorer (default: the cell's
            units).
        pad_id: the padding id (never produced; target steps with it are masked).
        start_id: the id fed at the first step.
        end_id: the id that ends an output.
        embeddings_initializer: initializer of the target embedding matrix.
        dropout: dropout rate on the readout ``[s_i, c_i, E y_{i-1}]`` in training.
        loop: the recurrence loop (``"auto"``, ``"unrolled"``, ``"scan"``,
            ``"tf_while"``); mainly for tests. A runtime choice, not saved in the config;
            ``"auto"`` follows :mod:`rnnkit.config`.

    Call arguments:
        target_ids: ``(batch, T)`` int ids of the decoder inputs: the start id and
            the target shifted right (teacher forcing). Steps equal to ``pad_id`` are
            masked.
        values: ``(batch, Tv, Dv)`` encoder states.
        values_mask: optional boolean ``(batch, Tv)``; masked source steps get zero
            attention.
        initial_state: optional list of the cell's initial states ``(batch, n)``.
        training: whether dropout is active.
        return_alignments: also return the attention weights.

    Returns:
        logits ``(batch, T, vocabulary_size)``; with ``return_alignments=True`` a tuple
        ``(logits, alignments (batch, T, Tv))``.

    Example:

    >>> from rnnkit.cells import GRUCell
    >>> decoder = AttentionDecoder(GRUCell(32), vocabulary_size=100, embedding_dim=16)
    >>> values = keras.random.normal((2, 7, 24))
    >>> logits = decoder(keras.ops.ones((2, 5), "int32"), values)  # (2, 5, 100)
    >>> result = decoder.beam_search(values, beam_width=4, max_length=10)
    >>> result.tokens.shape, result.alignments.shape  # (2, <=10), (2, <=10, 7)
    """

    def __init__(
        self,
        cell: RecurrentCell,
        vocabulary_size: int,
        embedding_dim: int,
        attention_units: int | None = None,
        pad_id: int = 0,
        start_id: int = 2,
        end_id: int = 3,
        embeddings_initializer: Any = "uniform",
        dropout: float = 0.0,
        loop: str = "auto",
        **kwargs: Any,
    ) -> None:
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not isinstance(cell, RecurrentCell):
            raise ValueError(
                "AttentionDecoder expects an rnnkit cell (rnnkit.cells.SimpleRNNCell, "
                f"LSTMCell, GRUCell or a RecurrentCell subclass), got {type(cell).__name__}."
            )
        for name, value in (("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        ids = {"pad_id": pad_id, "start_id": start_id, "end_id": end_id}
        for name, value in ids.items():
            if not isinstance(value, int) or not 0 <= value < vocabulary_size:
                raise ValueError(
                    f"`{name}` must be an id in [0, {vocabulary_size}), got {value!r}."
                )
        if len(set(ids.values())) != 3:
            raise ValueError(f"pad_id, start_id and end_id must differ, got {ids}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        config.check_setting("loop", loop)
        super().__init__(**kwargs)
        self.cell = cell
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.attention_units = attention_units or cell.units
        self.pad_id, self.start_id, self.end_id = pad_id, start_id, end_id
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.dropout = float(dropout)
        self.loop = loop
        self.embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            name="embedding",
        )
        self.attention = BahdanauAttention(self.attention_units, name="attention")
        self.readout_dropout = keras.layers.Dropout(self.dropout)
        self.output_layer = keras.layers.Dense(vocabulary_size, name="output")

    # -- build ---------------------------------------------------------------------------
    def build(self, target_ids_shape: tuple, values_shape: tuple) -> None:
        values_shape = tuple(values_shape)
        if len(values_shape) != 3 or values_shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' expected values of shape (batch, Tv, Dv) with a "
                f"defined Dv, got shape {values_shape}."
            )
        self.value_dim = int(values_shape[-1])
        self.embedding.build((None, None))
        if not self.cell.built:
            self.cell.build((None, self.embedding_dim + self.value_dim))
        self.attention.build((None, self.cell.units), (None, None, self.value_dim))
        self.output_layer.build((None, None, self.cell.units + self.value_dim + self.embedding_dim))
        self.built = True

    # -- checks --------------------------------------------------------------------------
    def _check_values(self, values: Any, values_mask: Any) -> Any:
        vshape = check_rank(self.name, values, 3, "values", "(batch, Tv, Dv)")
        if self.built and vshape[-1] != self.value_dim:
            raise ValueError(
                f"Layer '{self.name}' was built for values with {self.value_dim} features, "
                f"got values of shape {vshape}."
            )
        if values_mask is None:
            return values, None
        mshape = static_shape(values_mask)
        if len(mshape) != 2 or not all(
            a is None or b is None or a == b for a, b in zip(mshape, vshape[:2])
        ):
            raise ValueError(
                f"Layer '{self.name}' expected a values mask of shape (batch, Tv) = "
                f"{vshape[:2]}, got a mask of shape {mshape}."
            )
        values_mask = ops.cast(values_mask, "bool")
        values = ops.where(ops.expand_dims(values_mask, -1), values, ops.zeros_like(values))
        return values, values_mask

    def _initial_state(self, initial_state: Any, batch: Any) -> list:
        if initial_state is None:
            return self.cell.get_initial_state(batch)
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if len(initial_state) != len(self.cell.state_size):
            raise ValueError(
                f"Layer '{self.name}' expected {len(self.cell.state_size)} initial state(s) "
                f"of sizes {self.cell.state_size}, got {len(initial_state)}."
            )
        for i, (state, n) in enumerate(zip(initial_state, self.cell.state_size)):
            shape = static_shape(state)
            if len(shape) != 2 or shape[-1] not in (None, n):
                raise ValueError(
                    f"Layer '{self.name}' expected initial state {i} of shape (batch, {n}), "
                    f"got {shape}."
                )
        return [ops.cast(s, self.cell.compute_dtype) for s in initial_state]

    # -- one step (shared by training and inference) --------------------------------------
    def _step(
        self,
        embedded: Any,
        states: list,
        keys: Any,
        values: Any,
        values_mask: Any,
        input_mask: Any = None,
        recurrent_mask: Any = None,
        matmul: RecurrentMatmul | None = None,
    ) -> tuple[Any, Any, Any, list]:
        context, alpha = self.attention.attend(states[0], keys, values, values_mask)
        projected = self.cell.project_inputs(
            ops.concatenate([embedded, context], axis=-1), input_mask, matmul
        )
        output, new_states = self.cell.step(projected, list(states), recurrent_mask, matmul)
        return output, context, alpha, list(new_states)

    # -- teacher-forced training -----------------------------------------------------------
    def call(
        self,
        target_ids: Any,
        values: Any,
        values_mask: Any = None,
        initial_state: Any = None,
        training: bool | None = False,
        return_alignments: bool = False,
    ) -> Any:
        check_rank(self.name, target_ids, 2, "target ids", "(batch, T)")
        values, values_mask = self._check_values(values, values_mask)
        batch = ops.shape(target_ids)[0]
        states = self._initial_state(initial_state, batch)
        target_ids = ops.cast(target_ids, "int32")
        embedded = self.embedding(target_ids)
        target_mask = ops.not_equal(target_ids, self.pad_id)
        keys = self.attention.project_values(values)
        input_mask, recurrent_mask = self.cell.dropout_masks(batch, training)
        units, value_dim = self.cell.output_size, self.value_dim
        # made before the loop (TensorFlow's loop: a pre-transposed kernel for the backward)
        loop = config.resolve(self)["loop"]
        matmul = self.cell.loop_matmul(matmul_fast_path(resolve_loop(loop, False)))

        def step(x_t: Any, st: list) -> tuple[Any, list]:
            output, context, alpha, new_states = self._step(
                x_t, st, keys, values, values_mask, input_mask, recurrent_mask, matmul
            )
            return ops.concatenate([output, context, alpha], axis=-1), new_states

        _, outputs, _ = recurrence(
            step,
            embedded,
            states,
            units + value_dim + ops.shape(values)[1],
            mask=target_mask,
            zero_output_for_mask=True,
            loop=loop,
        )
        hidden = outputs[..., : units + value_dim]
        alignments = outputs[..., units + value_dim :]
        readout = ops.concatenate([hidden, embedded], axis=-1)
        logits = self.output_layer(self.readout_dropout(readout, training=training))
        if return_alignments:
            return logits, alignments
        return logits

    # -- inference ------------------------------------------------------------------------
    def decode_step(
        self, token_ids: Any, states: list, keys: Any, values: Any, values_mask: Any = None
    ) -> tuple[Any, list, Any]:
        """One inference step.

        Args:
            token_ids: ``(batch,)`` previous output ids (``start_id`` at first).
            states: the cell states.
            keys: ``self.attention.project_values(values)``.
            values: ``(batch, Tv, Dv)`` (masked steps zeroed).
            values_mask: optional boolean ``(batch, Tv)``.

        Returns:
            ``(log_probs (batch, vocabulary_size), new_states, alignment (batch, Tv))``.
        """
        embedded = self.embedding(ops.cast(token_ids, "int32"))
        output, context, alpha, new_states = self._step(embedded, states, keys, values, values_mask)
        logits = self.output_layer(ops.concatenate([output, context, embedded], axis=-1))
        return ops.log_softmax(logits, axis=-1), new_states, alpha

    def _prepare(self, values: Any, values_mask: Any, initial_state: Any) -> tuple:
        values = ops.convert_to_tensor(values)
        if not self.built:
            self.build((None, None), tuple(values.shape))
        values, values_mask = self._check_values(values, values_mask)
        if values_mask is not None:
            empty = ~np.any(ops.convert_to_numpy(values_mask), axis=1)
            if empty.any():
                raise ValueError(
                    f"Layer '{self.name}' cannot decode an empty source: rows "
                    f"{np.flatnonzero(empty).tolist()} of values_mask have no unmasked step "
                    "(expected at least one source token per row)."
                )
        states = self._initial_state(initial_state, ops.shape(values)[0])
        return values, values_mask, states

    def _check_max_length(self, max_length: int) -> None:
        if not isinstance(max_length, int) or max_length <= 0:
            raise ValueError(f"`max_length` must be a positive integer, got {max_length!r}.")

    def _allowed(self, log_probs: Any) -> np.ndarray:
        log_probs = np.array(ops.convert_to_numpy(log_probs), dtype="float64")
        log_probs[..., self.pad_id] = -np.inf
        log_probs[..., self.start_id] = -np.inf
        return log_probs

    def greedy_decode(
        self,
        values: Any,
        values_mask: Any = None,
        initial_state: Any = None,
        max_length: int = 50,
        length_penalty: float = 1.0,
    ) -> Decoded:
        """Greedy decoding: the most probable id at every step, until ``end_id``.

        Args:
            values: ``(batch, Tv, Dv)`` encoder states.
            values_mask: optional boolean ``(batch, Tv)``.
            initial_state: optional initial cell states.
            max_length: the most output ids (end id included).
            length_penalty: ``alpha`` of the reported ``scores`` (``log_probs /
                length**alpha``); it does not change the greedy choice.

        Returns:
            A :class:`Decoded`.
        """
        self._check_max_length(max_length)
        values, values_mask, states = self._prepare(values, values_mask, initial_state)
        keys = self.attention.project_values(values)
        batch = int(values.shape[0])
        last = np.full((batch,), self.start_id, "int32")
        finished = np.zeros(batch, bool)
        log_probs = np.zeros(batch)
        tokens, alignments = [], []
        for _ in range(max_length):
            step_lp, states, alpha = self.decode_step(last, states, keys, values, values_mask)
            step_lp = self._allowed(step_lp)
            best = np.argmax(step_lp, axis=-1)
            best = np.where(finished, self.pad_id, best)
            gained = step_lp[np.arange(batch), best]
            log_probs += np.where(finished, 0.0, gained)
            alpha = np.where(finished[:, None], 0.0, ops.convert_to_numpy(alpha))
            tokens.append(best)
            alignments.append(alpha)
            finished |= best == self.end_id
            last = best.astype("int32")
            if finished.all():
                break
        tokens = np.stack(tokens, axis=1)
        lengths = np.sum(tokens != self.pad_id, axis=1)
        scores = log_probs / np.maximum(lengths, 1) ** length_penalty
        return Decoded(tokens, lengths, log_probs, scores, np.stack(alignments, axis=1))

    def beam_search(
        self,
        values: Any,
        values_mask: Any = None,
        initial_state: Any = None,
        beam_width: int = 4,
        max_length: int = 50,
        length_penalty: float = 1.0,
    ) -> Decoded:
        """Beam search with length normalisation.

        Every step extends the ``beam_width`` live hypotheses of each source by
        every id and keeps the best ``2 * beam_width`` extensions by total
        log-probability: an extension ending in ``end_id`` ranked within the first
        ``beam_width`` becomes a finished hypothesis, the best ``beam_width`` others
        stay live. A source is done when it has ``beam_width`` finished hypotheses;
        at ``max_length`` the live ones count as finished. The result is the finished
        hypothesis with the best normalised score ``log_prob / length**alpha``
        (``alpha = length_penalty``; 0 means none, 1 the mean log-probability per id).
        With ``beam_width=1`` this is greedy decoding.

        Args:
            values: ``(batch, Tv, Dv)`` encoder states.
            values_mask: optional boolean ``(batch, Tv)``.
            initial_state: optional initial cell states.
            beam_width: number of live hypotheses per source.
            max_length: the most output ids (end id included).
            length_penalty: the ``alpha`` above.

        Returns:
            A :class:`Decoded` with the best hypothesis of each source.
        """
        self._check_max_length(max_length)
        if not isinstance(beam_width, int) or beam_width <= 0:
            raise ValueError(f"`beam_width` must be a positive integer, got {beam_width!r}.")
        values, values_mask, states = self._prepare(values, values_mask, initial_state)
        batch, k, vocab = int(values.shape[0]), beam_width, self.vocabulary_size
        source_len = int(values.shape[1])

        def tile(x: Any) -> Any:
            return None if x is None else ops.repeat(x, k, axis=0)

        values, values_mask = tile(values), tile(values_mask)
        states = [tile(s) for s in states]
        keys = self.attention.project_values(values)
        scores = np.full((batch, k), -np.inf)
        scores[:, 0] = 0.0
        tokens = np.zeros((batch, k, 0), "int64")
        aligns = np.zeros((batch, k, 0, source_len))
        last = np.full((batch * k,), self.start_id, "int32")
        finished: list[list[tuple]] = [[] for _ in range(batch)]
        done = np.zeros(batch, bool)

        def normalise(log_prob: float, length: int) -> float:
            return log_prob / max(length, 1) ** length_penalty

        for t in range(max_length):
            step_lp, states, alpha = self.decode_step(last, states, keys, values, values_mask)
            step_lp = self._allowed(step_lp).reshape(batch, k, vocab)
            alpha = ops.convert_to_numpy(alpha).reshape(batch, k, source_len)
            candidates = (scores[:, :, None] + step_lp).reshape(batch, k * vocab)
            order = np.argsort(-candidates, axis=1, kind="stable")[:, : 2 * k]
            new_scores = np.full((batch, k), -np.inf)
            source_beam = np.zeros((batch, k), "int64")
            new_tokens = np.full((batch, k), self.pad_id, "int64")
            for b in range(batch):
                if done[b]:
                    continue
                live = 0
                for rank, index in enumerate(order[b]):
                    score = candidates[b, index]
                    if score == -np.inf:
                        break
                    beam, token = divmod(int(index), vocab)
                    if token == self.end_id:
                        if rank < k:
                            seq = np.append(tokens[b, beam], token)
                            align = np.concatenate([aligns[b, beam], alpha[b, beam][None]], 0)
                            finished[b].append((normalise(score, t + 1), score, seq, align))
                        continue
                    new_scores[b, live] = score
                    source_beam[b, live] = beam
                    new_tokens[b, live] = token
                    live += 1
                    if live == k:
                        break
                if len(finished[b]) >= k or live == 0:
                    done[b] = True
            if done.all():
                break
            gather = (np.arange(batch)[:, None] * k + source_beam).reshape(-1)
            tokens = np.concatenate(
                [tokens[np.arange(batch)[:, None], source_beam], new_tokens[:, :, None]], axis=2
            )
            picked_alpha = alpha[np.arange(batch)[:, None], source_beam]
            aligns = np.concatenate(
                [aligns[np.arange(batch)[:, None], source_beam], picked_alpha[:, :, None]], 2
            )
            states = [ops.take(s, ops.convert_to_tensor(gather, "int32"), axis=0) for s in states]
            scores = new_scores
            last = new_tokens.reshape(-1).astype("int32")
        for b in range(batch):
            if not done[b]:
                for beam in range(k):
                    if scores[b, beam] > -np.inf:
                        length = tokens.shape[2]
                        finished[b].append(
                            (
                                normalise(scores[b, beam], length),
                                scores[b, beam],
                                tokens[b, beam],
                                aligns[b, beam],
                            )
                        )
        best = [max(hyps, key=lambda h: h[0]) for hyps in finished]
        steps = max(len(h[2]) for h in best)
        out_tokens = np.full((batch, steps), self.pad_id, "int64")
        out_aligns = np.zeros((batch, steps, source_len))
        for b, (_, _, seq, align) in enumerate(best):
            out_tokens[b, : len(seq)] = seq
            out_aligns[b, : len(seq)] = align
        lengths = np.array([len(h[2]) for h in best])
        return Decoded(
            out_tokens,
            lengths,
            np.array([h[1] for h in best]),
            np.array([h[0] for h in best]),
            out_aligns,
        )

    # -- config ---------------------------------------------------------------------------
    def compute_output_spec(
        self,
        target_ids: Any,
        values: Any,
        values_mask: Any = None,
        initial_state: Any = None,
        training: bool | None = False,
        return_alignments: bool = False,
    ) -> Any:
        batch, steps = target_ids.shape[0], target_ids.shape[1]
        logits = keras.KerasTensor((batch, steps, self.vocabulary_size), self.compute_dtype)
        if return_alignments:
            return logits, keras.KerasTensor((batch, steps, values.shape[1]), self.compute_dtype)
        return logits

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "attention_units": self.attention_units,
            "pad_id": self.pad_id,
            "start_id": self.start_id,
            "end_id": self.end_id,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config: dict) -> AttentionDecoder:
        from rnnkit.layers.rnn import drop_runtime_args

        config = drop_runtime_args(dict(config))
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)
