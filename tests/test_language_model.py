"""Word-level LM: TBPTT batching, stateful LSTMs, perplexity, sampling, training."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest

from rnnkit.data.paths import default_data_dir
from rnnkit.data.ptb import (
    EOS,
    UNK,
    Vocabulary,
    contiguous_streams,
    load_ptb,
    num_windows,
    read_words,
    tbptt_arrays,
    tbptt_windows,
)
from rnnkit.models.language_model import LanguageModel, generate, perplexity, sample_logits
from rnnkit.training.tbptt import SequenceCrossentropy, learning_rate_at, train_tbptt

PTB = default_data_dir() / "ptb"


def small_model(vocab=30, batch=3, units=8, layers=2, **kwargs) -> LanguageModel:
    model = LanguageModel(vocab, units=units, num_layers=layers, batch_size=batch, **kwargs)
    model.build((batch, None))
    return model


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


# -- data layout ---------------------------------------------------------------------


def test_windows_are_contiguous_streams_numpy_reference():
    ids = np.arange(1000, 1103)  # 103 tokens, 3 dropped by the layout
    batch, unroll = 4, 5
    length = len(ids) // batch  # 25 tokens per stream
    windows = list(tbptt_windows(ids, batch, unroll))
    assert len(windows) == num_windows(len(ids), batch, unroll) == (length - 1) // unroll == 4
    for i, (x, y) in enumerate(windows):
        assert x.shape == y.shape == (batch, unroll) and x.dtype == np.int32
        for b in range(batch):
            for t in range(unroll):
                position = b * length + i * unroll + t  # stream b is ids[b*L:(b+1)*L]
                assert x[b, t] == ids[position]
                assert y[b, t] == ids[position + 1]
    np.testing.assert_array_equal(contiguous_streams(ids, batch), ids[:100].reshape(4, 25))
    x_all, y_all = tbptt_arrays(ids, batch, unroll)
    assert x_all.shape == (4 * batch, unroll)
    for i, (x, y) in enumerate(windows):
        np.testing.assert_array_equal(x_all[i * batch : (i + 1) * batch], x)
        np.testing.assert_array_equal(y_all[i * batch : (i + 1) * batch], y)


@pytest.mark.parametrize(
    "ids, batch, unroll, match",
    [
        (np.arange(10), 4, 5, "too short"),
        (np.arange(100).reshape(10, 10), 2, 5, "1-D"),
        (np.arange(100.0), 2, 5, "integer"),
        (np.arange(100), 0, 5, "batch_size"),
        (np.arange(100), 2, -1, "unroll"),
    ],
)
def test_windows_bad_input(ids, batch, unroll, match):
    with pytest.raises(ValueError, match=match):
        list(tbptt_windows(ids, batch, unroll))


def test_vocabulary_unknown_words_and_errors():
    vocab = Vocabulary.from_corpus("b a b c <eos> b".split())
    assert vocab.words[0] == "b" and UNK in vocab  # most frequent first
    assert vocab.encode(["a", "zebra"]).tolist() == [vocab.index["a"], vocab.unk_id]
    assert vocab.decode(vocab.encode(["c", "a"])) == ["c", "a"]
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        vocab.decode([7])
    with pytest.raises(ValueError, match="unknown token"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a", UNK])


@pytest.mark.skipif(not PTB.is_dir(), reason="shared PTB data not present")
def test_load_ptb_real_data():
    data = load_ptb(PTB)
    assert data.vocab_size == 10000
    for split in ("train", "valid", "test"):
        lines = Path(PTB / f"{split}.txt").read_text().splitlines()
        words = sum(len(line.split()) for line in lines)
        stream = getattr(data, split)
        assert len(stream) == words + len(lines)  # one <eos> per line
    eos = data.vocabulary.index[EOS]
    first = Path(PTB / "train.txt").read_text().splitlines()[0].split()
    assert data.vocabulary.decode(data.train[: len(first) + 1]) == [*first, EOS]
    assert data.train[len(first)] == eos
    assert read_words(PTB / "valid.txt")[:3] == Path(PTB / "valid.txt").read_text().split()[:3]


def test_load_ptb_missing_files(tmp_path):
    (tmp_path / "train.txt").write_text("a b\n")
    with pytest.raises(FileNotFoundError, match="valid.txt"):
        load_ptb(tmp_path)


# -- the model -----------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru", "minlstm"])
def test_stateful_states_carried_between_batches_and_reset(cell):
    model = small_model(cell=cell)
    ids = np.random.default_rng(0).integers(0, 30, size=(3, 12)).astype("int32")
    model.reset_states()
    full = np.asarray(model(ids))
    assert full.shape == (3, 12, 30)
    model.reset_states()
    pieces = [np.asarray(model(ids[:, i : i + 4])) for i in range(0, 12, 4)]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), full, atol=1e-5)
    # without a reset the second call starts from the carried state: different output
    again = np.asarray(model(ids[:, :4]))
    assert np.abs(again - full[:, :4]).max() > 1e-4
    model.reset_states()
    np.testing.assert_allclose(np.asarray(model(ids[:, :4])), full[:, :4], atol=1e-6)
    for layer in model.lstm_layers:
        assert layer.stateful


def test_initializers_uniform_scale():
    model = small_model(vocab=200, units=16, init_scale=0.02)
    for weight in model.trainable_weights:
        values = np.asarray(weight)
        assert np.abs(values).max() <= 0.02 + 1e-7, weight.path
        assert np.abs(values).max() > 0.01, weight.path  # not zeros / not a narrower init


def test_perplexity_equals_exp_mean_nll_numpy():
    model = small_model(vocab=25, batch=2, units=6)
    ids = np.random.default_rng(1).integers(0, 25, size=83)
    unroll = 5
    got = perplexity(model, ids, unroll=unroll)
    # reference: the two streams read in one pass with fresh states, NLL in NumPy
    streams = contiguous_streams(ids, 2)
    steps = num_windows(len(ids), 2, unroll) * unroll
    model.reset_states()
    logits = np.asarray(model(streams[:, :steps].astype("int32")))
    targets = streams[:, 1 : steps + 1]
    nll = -np.take_along_axis(log_softmax(logits), targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(got, math.exp(nll.mean()), rtol=1e-5)
    # another batch size: a copy of the model with the same weights, one stream
    got1 = perplexity(model, ids, unroll=unroll, batch_size=1)
    one = small_model(vocab=25, batch=1, units=6)
    one.set_weights(model.with_batch_size(1).get_weights())
    steps1 = num_windows(len(ids), 1, unroll) * unroll
    logits1 = np.asarray(one(ids[None, :steps1].astype("int32")))
    nll1 = -np.take_along_axis(log_softmax(logits1), ids[None, 1 : steps1 + 1, None], -1)
    np.testing.assert_allclose(got1, math.exp(nll1.mean()), rtol=1e-5)


def test_with_batch_size_keeps_weights():
    model = small_model(batch=3)
    ids = np.random.default_rng(2).integers(0, 30, size=(3, 6)).astype("int32")
    model.reset_states()
    ref = np.asarray(model(ids))
    single = model.with_batch_size(1)
    np.testing.assert_allclose(np.asarray(single(ids[1:2])), ref[1:2], atol=1e-6)


def test_model_bad_input():
    with pytest.raises(ValueError, match="`cell` must be one of lstm, gru, srnn, mingru"):
        LanguageModel(30, cell="transformer")
    model = small_model(batch=3)
    with pytest.raises(ValueError, match="batch_size=3"):
        model(np.zeros((2, 4), "int32"))
    with pytest.raises(ValueError, match="integer token ids"):
        model(np.zeros((3, 4), "float32"))
    with pytest.raises(ValueError, match="shape \\(batch, timesteps\\)"):
        model(np.zeros((3, 4, 2), "int32"))
    with pytest.raises(ValueError, match="vocab_size"):
        LanguageModel(0)
    with pytest.raises(ValueError, match="dropout"):
        LanguageModel(10, dropout=1.5)


@pytest.mark.parametrize("cell", ["lstm", "mingru"])
def test_save_load_round_trip(tmp_path, cell):
    model = small_model(dropout=0.2, cell=cell)
    ids = np.random.default_rng(3).integers(0, 30, size=(3, 7)).astype("int32")
    model.reset_states()
    ref = np.asarray(model(ids))
    path = tmp_path / "lm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, LanguageModel) and loaded.get_config()["dropout"] == 0.2
    assert loaded.cell == cell and type(loaded.lstm_layers[0]) is type(model.lstm_layers[0])
    loaded.reset_states()
    np.testing.assert_allclose(np.asarray(loaded(ids)), ref, atol=1e-6)


def test_use_fused_is_a_runtime_choice_not_saved():
    model = LanguageModel(30, units=8, num_layers=1, batch_size=3, use_fused=False)
    config = model.get_config()
    assert "use_fused" not in config
    assert all(layer.use_fused is False for layer in model.lstm_layers)
    # a copy for another batch size keeps this object's choice
    model.build((3, None))
    clone = model.with_batch_size(5)
    assert clone.batch_size == 5 and all(layer.use_fused is False for layer in clone.lstm_layers)
    # configs saved by rnnkit before 0.2 held it: read, ignored with a warning
    with pytest.warns(UserWarning, match="use_fused=False, which rnnkit no longer saves"):
        old = LanguageModel.from_config({**config, "use_fused": False})
    assert old.use_fused == "auto"
    assert LanguageModel.from_config({**config, "use_fused": "auto"}).use_fused == "auto"


# -- sampling ------------------------------------------------------------------------


def test_top_k_never_emits_tokens_outside_top_k():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=40)
    top = set(np.argsort(-logits)[:5].tolist())
    draws = sample_logits(np.tile(logits, (3000, 1)), temperature=1.5, top_k=5, rng=rng)
    assert set(draws.tolist()) == top  # all of the top 5, nothing else


def test_sampling_frequencies_follow_softmax():
    rng = np.random.default_rng(5)
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    draws = sample_logits(np.tile(logits, (20000, 1)), temperature=2.0, rng=rng)
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum()
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_temperature_zero_is_argmax():
    logits = np.random.default_rng(6).normal(size=(50, 30))
    np.testing.assert_array_equal(sample_logits(logits, temperature=0), logits.argmax(-1))
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(
        sample_logits(logits, temperature=1e-4, rng=rng), logits.argmax(-1)
    )


def test_sampling_bad_input():
    with pytest.raises(ValueError, match="temperature"):
        sample_logits(np.zeros(4), temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        sample_logits(np.zeros(4), top_k=0)
    with pytest.raises(ValueError, match="shape"):
        sample_logits(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("cell", ["lstm", "minlstm"])
def test_greedy_generation_matches_full_recompute(cell):
    model = small_model(vocab=20, batch=2, cell=cell)
    prompt = [3, 7, 1]
    out = generate(model, prompt, 6, temperature=0.0)
    assert len(out) == 6
    single = model.with_batch_size(1)
    seq = list(prompt)
    for token in out:
        single.reset_states()
        logits = np.asarray(single(np.array([seq], "int32")))[0, -1]
        assert token == int(logits.argmax())
        seq.append(token)
    with pytest.raises(ValueError, match="prompt_ids"):
        generate(model, [], 3)
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        generate(model, [25], 3)


# -- training ------------------------------------------------------------------------


def test_sequence_loss_sums_time_and_averages_batch():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(3, 4, 6)).astype("float32")
    targets = rng.integers(0, 6, size=(3, 4))
    got = float(SequenceCrossentropy()(targets, logits))
    nll = -np.take_along_axis(log_softmax(logits), targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(got, nll.sum(1).mean(), rtol=1e-5)


def test_learning_rate_schedule_zaremba():
    # lr 1 for epochs 1-4, halved every epoch after (Zaremba et al. 2014, small config)
    got = [learning_rate_at(e, 1.0, 0.5, 4) for e in range(1, 8)]
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]


@pytest.mark.skipif(not PTB.is_dir(), reason="shared PTB data not present")
def test_training_reduces_perplexity_on_tiny_ptb_sample():
    keras.utils.set_random_seed(0)
    words = read_words(PTB / "train.txt")[:2400]
    _, ids = np.unique(words, return_inverse=True)
    vocab = int(ids.max()) + 1
    model = small_model(vocab=vocab, batch=4, units=32, layers=1)
    before = perplexity(model, ids, unroll=10)
    history = train_tbptt(model, ids, ids, epochs=3, unroll=10, verbose=0)
    after = perplexity(model, ids, unroll=10)
    assert after < 0.6 * before
    assert history[-1].train_perplexity < history[0].train_perplexity
    np.testing.assert_allclose(history[-1].valid_perplexity, after, rtol=1e-6)
    assert [h.learning_rate for h in history] == [1.0, 1.0, 1.0]


def test_gradient_global_norm_is_clipped():
    model = small_model(vocab=30, batch=2, units=8)
    ids = np.random.default_rng(8).integers(0, 30, size=200)
    before = [np.asarray(w).copy() for w in model.trainable_weights]
    train_tbptt(model, ids, epochs=1, unroll=5, clip_norm=1e-3, max_windows=1, verbose=0)
    update = [np.asarray(w) - b for w, b in zip(model.trainable_weights, before)]
    norm = math.sqrt(sum(float((u**2).sum()) for u in update))
    # one SGD step with learning rate 1: the update is the clipped gradient
    np.testing.assert_allclose(norm, 1e-3, rtol=1e-3)
    for layer in model.lstm_layers:  # states are reset after training
        assert all(not np.asarray(s).any() for s in layer.states)
    with pytest.raises(ValueError, match="stateful"):
        train_tbptt(LanguageModel(30, units=4, stateful=False), ids, epochs=1, unroll=5)


def test_adam_first_step_moves_every_weight_by_the_learning_rate():
    # Adam's first bias-corrected step is lr * g / (|g| + eps): lr for every weight with
    # a gradient, whatever its size (SGD's step would be the gradient itself). The
    # embedding is left out: TensorFlow's sparse update of repeated rows differs.
    model = small_model(vocab=30, batch=2, units=8, cell="mingru")
    ids = np.random.default_rng(9).integers(0, 30, size=200)
    weights = [w for w in model.trainable_weights if "embedding" not in w.path]
    before = [np.asarray(w).copy() for w in weights]
    train_tbptt(
        model, ids, epochs=1, unroll=5, learning_rate=1e-3, max_windows=1, verbose=0,
        optimizer="adam", clip_norm=None,
    )  # fmt: skip
    moved = np.concatenate([np.abs(np.asarray(w) - b).ravel() for w, b in zip(weights, before)])
    np.testing.assert_allclose(np.median(moved), 1e-3, rtol=1e-2)
    assert moved.max() <= 1e-3 * (1 + 1e-4)
    with pytest.raises(ValueError, match="`optimizer` must be one of sgd, adam, got 'rmsprop'"):
        train_tbptt(model, ids, epochs=1, unroll=5, optimizer="rmsprop")


def test_a_killed_tbptt_run_resumes_from_its_last_epoch(tmp_path):
    """Three epochs in one call against one epoch, then (a new process would build a new
    model) two more from the checkpoint: the same weights, history and learning rates;
    Adam's moments are restored with the weights (else the resumed steps differ)."""
    ids = np.random.default_rng(3).integers(0, 30, size=400)
    kwargs = dict(unroll=5, decay_after=1, verbose=0, optimizer="adam", learning_rate=1e-2)

    keras.utils.set_random_seed(0)
    whole = small_model(vocab=30, batch=2, units=8)
    full = train_tbptt(whole, ids, ids, epochs=3, **kwargs)

    keras.utils.set_random_seed(0)
    first = small_model(vocab=30, batch=2, units=8)
    folder = tmp_path / "ckpt"
    part = train_tbptt(first, ids, ids, epochs=1, checkpoint_dir=folder, **kwargs)
    assert len(part) == 1 and (folder / "state.json").is_file()
    resumed = small_model(vocab=30, batch=2, units=8)  # other initial weights
    rest = train_tbptt(resumed, ids, ids, epochs=3, checkpoint_dir=folder, **kwargs)
    assert [r.epoch for r in rest] == [1, 2, 3]
    rates = [r.learning_rate for r in rest]
    assert rates == [r.learning_rate for r in full] == [1e-2, 5e-3, 2.5e-3]
    np.testing.assert_allclose(
        [r.valid_perplexity for r in rest], [r.valid_perplexity for r in full], rtol=1e-5
    )
    for got, want in zip(resumed.weights, whole.weights):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    # a finished checkpoint: nothing left to train, the history comes back
    again = small_model(vocab=30, batch=2, units=8)
    assert train_tbptt(again, ids, ids, epochs=3, checkpoint_dir=folder, **kwargs) == rest
    for got, want in zip(again.weights, whole.weights):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


def test_tbptt_checkpoint_of_other_settings_is_refused(tmp_path):
    ids = np.random.default_rng(4).integers(0, 30, size=200)
    folder = tmp_path / "ckpt"
    model = small_model(vocab=30, batch=2, units=8)
    train_tbptt(model, ids, epochs=1, unroll=5, max_windows=2, verbose=0, checkpoint_dir=folder)
    want = r"other settings \(learning_rate: checkpoint 1.0, now 0.5\)"
    with pytest.raises(ValueError, match=want):
        train_tbptt(
            small_model(vocab=30, batch=2, units=8), ids, epochs=2, unroll=5, max_windows=2,
            verbose=0, checkpoint_dir=folder, learning_rate=0.5,
        )  # fmt: skip
    with pytest.raises(ValueError, match="the model's config"):
        train_tbptt(
            small_model(vocab=30, batch=2, units=6), ids, epochs=2, unroll=5, max_windows=2,
            verbose=0, checkpoint_dir=folder,
        )  # fmt: skip
    # what else shapes the run is compared too; it may not replace the recorded settings
    with pytest.raises(ValueError, match=r"other settings \(seed: checkpoint None, now 7\)"):
        train_tbptt(
            small_model(vocab=30, batch=2, units=8), ids, epochs=2, unroll=5, max_windows=2,
            verbose=0, checkpoint_dir=folder, run_settings={"seed": 7},
        )  # fmt: skip
    with pytest.raises(ValueError, match="may not name the settings .* got learning_rate, unroll"):
        train_tbptt(
            small_model(vocab=30, batch=2, units=8), ids, epochs=2, unroll=5, max_windows=2,
            verbose=0, checkpoint_dir=folder, run_settings={"unroll": 9, "learning_rate": 2},
        )  # fmt: skip
    (folder / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not a train_tbptt checkpoint"):
        train_tbptt(model, ids, epochs=2, unroll=5, max_windows=2, verbose=0, checkpoint_dir=folder)
