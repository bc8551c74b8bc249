"""AttentionDecoder (Bahdanau attention decoder) on every backend: teacher forcing
against step-by-step decoding, the loops against each other (values and gradients),
greedy and beam search against brute force, errors."""

import keras
import numpy as np
import pytest
from helpers import gradients, no_grad
from keras import ops

from rnnkit.cells import GRUCell, LSTMCell, MinGRUCell, MinLSTMCell
from rnnkit.layers import AttentionDecoder

VALUES_MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 1, 0]], bool)


def make_decoder(cell=None, vocab=9, seed=0, scale=1.0, **kwargs):
    keras.utils.set_random_seed(seed)
    decoder = AttentionDecoder(
        cell or LSTMCell(6), vocabulary_size=vocab, embedding_dim=4, **kwargs
    )
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(3, 5, 7)).astype("float32")
    decoder.build((None, None), values.shape)
    if scale != 1.0:
        kernel, bias = decoder.output_layer.get_weights()
        decoder.output_layer.set_weights([kernel * scale, rng.normal(size=bias.shape) * scale])
    return decoder, values


@pytest.mark.parametrize(
    "cell",
    [LSTMCell(6), GRUCell(6), MinGRUCell(6), MinLSTMCell(6)],
    ids=["lstm", "gru", "mingru", "minlstm"],
)
def test_teacher_forcing_matches_stepwise_decoding(cell):
    decoder, values = make_decoder(cell)
    target_in = np.array([[2, 4, 5, 6], [2, 7, 8, 0], [2, 1, 0, 0]], "int32")
    states = [ops.convert_to_tensor(np.random.default_rng(1).normal(size=(3, 6)), "float32")] * len(
        cell.state_size
    )
    logits, align = decoder(
        target_in, values, values_mask=VALUES_MASK, initial_state=states, return_alignments=True
    )
    log_probs = ops.convert_to_numpy(ops.log_softmax(logits, axis=-1))
    align = ops.convert_to_numpy(align)
    masked_values = np.where(VALUES_MASK[..., None], values, 0)
    keys = decoder.attention.project_values(masked_values)
    st = list(states)
    for t in range(target_in.shape[1]):
        lp, st, alpha = decoder.decode_step(target_in[:, t], st, keys, masked_values, VALUES_MASK)
        live = target_in[:, t] != 0  # padded target steps are masked in training
        np.testing.assert_allclose(ops.convert_to_numpy(lp)[live], log_probs[:, t][live], atol=1e-5)
        np.testing.assert_allclose(ops.convert_to_numpy(alpha)[live], align[:, t][live], atol=1e-6)
    assert np.all(align[np.broadcast_to(~VALUES_MASK[:, None], align.shape)] == 0)
    assert np.all(align[target_in == 0] == 0)
    # the generic unrolled loop gives the same logits
    config = decoder.get_config()
    config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
    unrolled = AttentionDecoder(**config, loop="unrolled")
    unrolled.build((None, None), values.shape)
    unrolled.set_weights(decoder.get_weights())
    logits2 = unrolled(target_in, values, values_mask=VALUES_MASK, initial_state=states)
    live = target_in != 0
    np.testing.assert_allclose(
        ops.convert_to_numpy(logits2)[live], ops.convert_to_numpy(logits)[live], atol=1e-5
    )
    # and the same gradients (TensorFlow's loop uses the pre-transposed recurrent matmul),
    # with respect to the attended values and every weight
    grads = [
        gradients(
            _TeacherForced(layer, target_in, states),
            values,
            lambda out: ops.sum(ops.square(out) * ops.cast(live, "float32")[..., None]),
        )
        for layer in (decoder, unrolled)
    ]
    assert len(grads[0]) == 1 + len(decoder.trainable_variables)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # inference without recorded gradients (torch: column-major products) agrees too
    with no_grad():
        logits3 = decoder(target_in, values, values_mask=VALUES_MASK, initial_state=states)
    np.testing.assert_allclose(
        ops.convert_to_numpy(logits3)[live], ops.convert_to_numpy(logits)[live], atol=1e-5
    )


class _TeacherForced(keras.Layer):
    """The decoder as a function of the attended values (fixed targets and states)."""

    def __init__(self, decoder, target_in, states, **kwargs):
        super().__init__(**kwargs)
        self.decoder, self.target_in, self.states = decoder, target_in, states
        self.built = True  # the decoder is built already (JAX's stateless_call checks)

    def call(self, values):
        return self.decoder(
            self.target_in, values, values_mask=VALUES_MASK, initial_state=self.states
        )


def test_greedy_equals_beam_width_one():
    decoder, values = make_decoder(vocab=12, seed=3, scale=3.0)
    greedy = decoder.greedy_decode(values, VALUES_MASK, max_length=8)
    beam = decoder.beam_search(values, VALUES_MASK, beam_width=1, max_length=8)
    np.testing.assert_array_equal(greedy.tokens, beam.tokens)
    np.testing.assert_array_equal(greedy.lengths, beam.lengths)
    np.testing.assert_allclose(greedy.log_probs, beam.log_probs, atol=1e-6)
    np.testing.assert_allclose(greedy.alignments, beam.alignments, atol=1e-6)
    assert greedy.alignments.shape == (3, greedy.tokens.shape[1], 5)
    # reserved ids are never produced; alignment rows of produced ids sum to 1
    assert not np.isin(greedy.tokens, [decoder.start_id]).any()
    for b in range(3):
        n = greedy.lengths[b]
        np.testing.assert_allclose(greedy.alignments[b, :n].sum(-1), 1.0, atol=1e-5)
        assert np.all(greedy.tokens[b, n:] == decoder.pad_id)


def brute_force(decoder, values, mask, max_length, alpha):
    """Best normalised score over every output of at most max_length ids, per source."""
    masked = np.where(mask[..., None], values, 0)
    allowed = [i for i in range(decoder.vocabulary_size) if i not in (0, decoder.start_id)]
    best = []
    for b in range(values.shape[0]):
        v, m = masked[b : b + 1], mask[b : b + 1]
        keys = decoder.attention.project_values(v)
        cands = []

        def expand(prefix, states, total, v=v, m=m, keys=keys, cands=cands):
            last = prefix[-1] if prefix else decoder.start_id
            lp, new_states, _ = decoder.decode_step(np.array([last]), states, keys, v, m)
            lp = ops.convert_to_numpy(lp)[0].astype("float64")
            for token in allowed:
                seq, score = prefix + [token], total + lp[token]
                if token == decoder.end_id or len(seq) == max_length:
                    cands.append((score / len(seq) ** alpha, seq))
                else:
                    expand(seq, new_states, score)

        expand([], decoder.cell.get_initial_state(1), 0.0)
        best.append(max(cands))
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_finds_best_path_vs_brute_force(alpha):
    decoder, values = make_decoder(GRUCell(5), vocab=5, seed=7, scale=2.0)
    # allowed ids {1, 3=end, 4}: at most 2**3 live prefixes and 3 * 2**3 = 24 extensions
    # at the last step, so a beam of 24 is exhaustive and must find the brute-force best
    max_length = 4
    expected = brute_force(decoder, values, VALUES_MASK, max_length, alpha)
    result = decoder.beam_search(
        values, VALUES_MASK, beam_width=24, max_length=max_length, length_penalty=alpha
    )
    for b, (score, seq) in enumerate(expected):
        assert result.tokens[b, : result.lengths[b]].tolist() == seq
        np.testing.assert_allclose(result.scores[b], score, atol=1e-5)
    # a narrower beam can only do as well or worse
    narrow = decoder.beam_search(
        values, VALUES_MASK, beam_width=2, max_length=max_length, length_penalty=alpha
    )
    assert np.all(narrow.scores <= result.scores + 1e-6)


def test_bad_input():
    decoder, values = make_decoder()
    with pytest.raises(ValueError, match="built for values with 7 features, got values of shape"):
        decoder(np.ones((3, 2), "int32"), np.ones((3, 5, 8), "float32"))
    with pytest.raises(ValueError, match="values mask of shape"):
        decoder(np.ones((3, 2), "int32"), values, values_mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="cannot decode an empty source"):
        decoder.greedy_decode(values, np.zeros((3, 5), bool))
    with pytest.raises(ValueError, match="`beam_width` must be a positive integer"):
        decoder.beam_search(values, beam_width=0)
    with pytest.raises(ValueError, match="pad_id, start_id and end_id must differ"):
        AttentionDecoder(GRUCell(4), 10, 4, start_id=3, end_id=3)
    with pytest.raises(ValueError, match="`end_id` must be an id in \\[0, 10\\)"):
        AttentionDecoder(GRUCell(4), 10, 4, end_id=10)
    with pytest.raises(ValueError, match="expects an rnnkit cell"):
        AttentionDecoder(keras.layers.GRUCell(4), 10, 4)
