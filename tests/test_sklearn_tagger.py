"""RNNSequenceTagger and the seqeval entity-F1 scorer."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
from checkpoint_helpers import epoch_saves
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks as ec

from rnnkit.sklearn import RNNSequenceTagger
from rnnkit.sklearn.scoring import entity_f1_score, entity_f1_scorer

SENTENCES = [
    ["alice", "lives", "in", "paris"],
    ["bob", "visited", "london", "today"],
    ["i", "met", "alice", "in", "berlin"],
    ["paris", "is", "big"],
    ["bob", "and", "alice", "went", "to", "new", "york"],
    ["london", "is", "rainy"],
    ["we", "love", "berlin"],
    ["carol", "smith", "lives", "in", "rome"],
]
TAGS = [
    ["B-PER", "O", "O", "B-LOC"],
    ["B-PER", "O", "B-LOC", "O"],
    ["O", "O", "B-PER", "O", "B-LOC"],
    ["B-LOC", "O", "O"],
    ["B-PER", "O", "B-PER", "O", "O", "B-LOC", "I-LOC"],
    ["B-LOC", "O", "O"],
    ["O", "O", "B-LOC"],
    ["B-PER", "I-PER", "O", "O", "B-LOC"],
]
X = SENTENCES * 3
Y = TAGS * 3


def tiny(**overrides) -> RNNSequenceTagger:
    params = dict(
        units=8,
        embedding_dim=8,
        char_embedding_dim=8,
        char_units=8,
        epochs=1,
        batch_size=8,
        validation_fraction=None,
        random_state=0,
    )
    params.update(overrides)
    return RNNSequenceTagger(**params)


@pytest.fixture(scope="module")
def fitted() -> RNNSequenceTagger:
    return tiny(crf=False, epochs=30, learning_rate=0.03, dropout=0.0).fit(X, Y)


def test_contract_and_learning(fitted):
    assert not [k for k in vars(RNNSequenceTagger()) if k.endswith("_")]
    assert list(fitted.tags_) == ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
    pred = fitted.predict(SENTENCES)
    assert [len(p) for p in pred] == [len(s) for s in SENTENCES]
    assert fitted.score(SENTENCES, TAGS) >= 0.9
    assert entity_f1_score(TAGS, pred) >= 0.8
    assert fitted.history_["loss"][-1] < fitted.history_["loss"][0]
    # Unknown words map to [UNK] and still get a tag for every token.
    assert len(fitted.predict([["zzz", "qqq"]])[0]) == 2
    assert fitted.predict([[]]) == [[]]


def test_vocabularies_are_the_one_vocabulary_type_and_old_pickles_load(fitted_crf):
    from rnnkit.text.special_tokens import PAD, UNK
    from rnnkit.text.vocabulary import Vocabulary

    words = Vocabulary.from_tokens(w for s in X for w in s)
    assert fitted_crf.vocabulary_ == words.words and fitted_crf.vocabulary_[:2] == [PAD, UNK]
    assert fitted_crf.chars_ == Vocabulary.from_tokens(c for s in X for w in s for c in w).words
    # A tagger pickled before the one Vocabulary type held "" and "[UNK]" at ids 0 and 1.
    state = fitted_crf.__getstate__()
    state["vocabulary_"] = ["", "[UNK]", *state["vocabulary_"][2:]]
    state["chars_"] = ["", "[UNK]", *state["chars_"][2:]]
    old = RNNSequenceTagger.__new__(RNNSequenceTagger)
    old.__setstate__(state)
    assert old.vocabulary_ == fitted_crf.vocabulary_ and old.chars_ == fitted_crf.chars_
    probe = [["alice", "visited", "<pad>", "Zürich"], ["[UNK]", "bob"]]
    assert old.predict(probe) == fitted_crf.predict(probe)
    np.testing.assert_array_equal(old._ids(probe), fitted_crf._ids(probe))
    assert fitted_crf._ids(probe)[0, 2] == 1  # a literal "<pad>" token is an unknown word
    for bad in (dict(max_vocabulary=2), dict(min_count=0), dict(min_count="2")):
        with pytest.raises(ValueError, match="max_vocabulary an int >= 3"):
            tiny(**bad).fit(X, Y)


def test_score_is_token_accuracy(fitted):
    pred = fitted.predict(SENTENCES)
    flat_true = [t for row in TAGS for t in row]
    flat_pred = [t for row in pred for t in row]
    expected = np.mean([a == b for a, b in zip(flat_true, flat_pred)])
    assert fitted.score(SENTENCES, TAGS) == pytest.approx(expected)


def test_entity_f1_against_hand_count():
    y_true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    # One entity exactly right (PER), LOC in row 0 missed, LOC in row 1 right, one false ORG.
    y_pred = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "B-ORG"]]
    precision, recall = 2 / 3, 2 / 3
    assert entity_f1_score(y_true, y_pred) == pytest.approx(
        2 * precision * recall / (precision + recall)
    )
    with pytest.raises(ValueError, match="2 true tags but 1 predicted"):
        entity_f1_score([["O", "O"]], [["O"]])


APPLICABLE_CHECKS = [
    # The rest of sklearn.utils.estimator_checks feed numeric matrices or 1-D targets,
    # which a tagger of token lists rejects by design; the properties they test
    # (pickle, refit, unfitted error, bad input) are tested below on token lists.
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
    ec.check_mixin_order,
    ec.check_do_not_raise_errors_in_init_or_set_params,
]


@pytest.mark.parametrize("check", APPLICABLE_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_estimator_checks(check):
    check("RNNSequenceTagger", RNNSequenceTagger())


def assert_round_trips(tagger: RNNSequenceTagger) -> None:
    """pickle and joblib give identical predictions and potentials; the pickle holds the
    Keras model as ``.keras`` bytes, no live TensorFlow object."""
    data = pickle.dumps(tagger)
    assert b"tensorflow.python" not in data
    buffer = io.BytesIO()
    joblib.dump(tagger, buffer)
    buffer.seek(0)
    x = tagger._encode(SENTENCES)
    expected = tagger.model_.predict(x, decode=False, verbose=0)
    for restored in (pickle.loads(data), joblib.load(buffer)):
        assert restored.predict(SENTENCES) == tagger.predict(SENTENCES)
        np.testing.assert_array_equal(restored.model_.predict(x, decode=False, verbose=0), expected)


def test_unfitted_clone_pickle(fitted):
    with pytest.raises(NotFittedError):
        RNNSequenceTagger().predict([["a"]])
    assert not hasattr(clone(fitted), "model_")
    assert_round_trips(fitted)


def test_deterministic_and_refit():
    a = tiny(case_features=False).fit(X, Y)
    b = tiny(case_features=False).fit(X, Y)
    assert a.history_ == b.history_
    x = a._encode(SENTENCES)
    np.testing.assert_array_equal(
        a.model_.predict(x, decode=False, verbose=0), b.model_.predict(x, decode=False, verbose=0)
    )
    a.fit([["x", "y"], ["y", "x"]], [["A", "B"], ["B", "A"]])
    assert list(a.tags_) == ["A", "B"] and "alice" not in a.vocabulary_


def test_gridsearch_and_cross_val_with_entity_f1():
    # GridSearchCV cross-validates with the scorer (as cross_val_score does); the
    # refit is left out to keep the test fast (RNNClassifier's test covers refit).
    search = GridSearchCV(
        # word ids only: the contract, not the features, is tested here (cheaper fits)
        tiny(chars=None, case_features=False),
        {"cell": ["gru", "srnn"]},
        cv=2,
        scoring=entity_f1_scorer,
        refit=False,
    )
    search.fit(X, Y)
    values = search.cv_results_["mean_test_score"]
    assert values.shape == (2,) and np.all((0 <= values) & (values <= 1))
    assert search.best_params_["cell"] in ("gru", "srnn")


@pytest.mark.parametrize(
    ("Xb", "yb", "match"),
    [
        ([["a", "b"], ["c"]], [["O", "B-X"], ["O", "O"]], "Sample 1 has 1 tokens but 2 tags"),
        ([["a", "b"]], [["O", "B-X"], ["O"]], r"len\(X\)=1, len\(y\)=2"),
        ([], [], "X is empty"),
        ([["a", None]], [["O", "B-X"]], r"X\[0\]\[1\] is None"),
        ([None, ["a"]], [["O"], ["O"]], r"X\[0\] is None"),
        (["a b", "c"], [["O", "O"], ["O"]], r"X\[0\] is 'a b'.*list of strings"),
        ([["a", "b"]], [["O", 3]], r"y\[0\]\[1\] is 3"),
        ([["a", "b"], ["c"]], [["O", "O"], ["O"]], "single tag"),
    ],
)
def test_bad_input(Xb, yb, match):
    with pytest.raises(ValueError, match=match):
        tiny().fit(Xb, yb)


def test_unseen_tags_in_score(fitted):
    with pytest.raises(ValueError, match=r"tags not seen during fit: \['B-ORG'\]"):
        fitted.score([["acme", "inc"]], [["B-ORG", "O"]])


@pytest.fixture(scope="module")
def fitted_crf() -> RNNSequenceTagger:
    # An empty sentence in the training data is left out (it carries no tags).
    return tiny(crf=True, epochs=30, learning_rate=0.03, dropout=0.0).fit(X + [[]], Y + [[]])


def test_crf_tagger_learns_decodes_and_round_trips(fitted_crf):
    assert fitted_crf.model_.get_layer("crf").num_tags == 5
    losses = fitted_crf.history_["loss"]
    assert losses[-1] < 0.2 * losses[0]
    pred = fitted_crf.predict(SENTENCES + [[]])
    assert pred[-1] == [] and [len(p) for p in pred[:-1]] == [len(s) for s in SENTENCES]
    assert fitted_crf.score(SENTENCES, TAGS) >= 0.9
    assert entity_f1_score(TAGS, pred[:-1]) >= 0.8
    # Viterbi output equals the CRF layer's decode of the model's potentials.
    x = fitted_crf._encode(SENTENCES)
    potentials = fitted_crf.model_.predict(x, decode=False, verbose=0)
    best, _ = fitted_crf.model_.get_layer("crf").decode(potentials, mask=x["words"] != 0)
    best = np.asarray(best)
    assert pred[0] == [str(fitted_crf.tags_[k]) for k in best[0, : len(SENTENCES[0])]]
    assert_round_trips(fitted_crf)


def test_defaults_use_chars_case_and_crf():
    tagger = RNNSequenceTagger()
    assert tagger.crf is True and tagger.chars == "cnn" and tagger.case_features is True


def test_character_features_tag_unseen_words_by_spelling(fitted_crf):
    # Two unseen words: without character and case features both are [UNK] and get
    # the same scores; with them, spelling and capitalisation change the scores.
    x = fitted_crf._encode([["Zorbaville", "is", "big"], ["qq", "is", "big"]])
    assert (x["words"][:, 0] == 1).all()
    scores = fitted_crf.model_.predict(x, decode=False, verbose=0)
    assert np.abs(scores[0, 0] - scores[1, 0]).max() > 1e-3
    plain = tiny(crf=True, chars=None, case_features=False).fit(X, Y)
    xp = plain._encode([["Zorbaville", "is", "big"], ["qq", "is", "big"]])
    assert set(xp) == {"words"}
    sp = plain.model_.predict(xp, decode=False, verbose=0)
    np.testing.assert_allclose(sp[0], sp[1], atol=1e-6)


def test_unknown_characters_map_to_the_unknown_id(fitted_crf):
    x = fitted_crf._encode([["\u20ac\u00df", "alice"]])
    assert x["chars"].shape[-1] == 20
    assert list(x["chars"][0, 0, :3]) == [1, 1, 0]
    assert (x["chars"][0, 1, :5] > 1).all()
    assert fitted_crf.chars_[:2] == ["<pad>", "<unk>"]
    assert len(fitted_crf.predict([["\u20ac\u00df"]])[0]) == 1


def test_invalid_bio_raises_or_is_repaired_and_early_stopping_keeps_best_epoch():
    bad = [list(t) for t in TAGS]
    bad[3] = ["I-LOC", "O", "O"]  # an entity starting with I-
    with pytest.raises(ValueError, match=r"y\[3\] is not valid BIO: tag 0 \('paris'\) is 'I-LOC'"):
        tiny().fit(SENTENCES, bad)
    with pytest.raises(ValueError, match="bio_errors must be"):
        tiny(bio_errors="fix").fit(SENTENCES, TAGS)
    tagger = tiny(
        bio_errors="repair",
        epochs=6,
        validation_fraction=0.25,
        n_iter_no_change=2,
        learning_rate=0.03,
    )
    with pytest.warns(UserWarning, match="3 tags in 3 sentences changed"):
        tagger.fit(X, bad * 3)
    assert "I-LOC" in tagger.tags_ and tagger.scheme_ == "BIO"
    scores = tagger.history_["val_score"]
    assert 1 <= len(scores) <= 6 and len(tagger.history_["loss"]) == len(scores)
    assert scores[tagger.best_epoch_] == max(scores)
    # Vocabulary from the training part only (6 of the 24 sentences held out).
    assert len(tagger.vocabulary_) <= 2 + len({w for s in SENTENCES for w in s})


def test_pretrained_vectors_and_tags_that_are_not_bio():
    rng = np.random.default_rng(0)
    vectors = {w: rng.normal(size=6).astype("float32") for w in ["alice", "paris", "london"]}
    pos = [["NN" if t == "O" else "NNP" for t in row] for row in Y]
    tagger = tiny(embeddings=vectors).fit(X, pos)
    assert tagger.scheme_ is None  # POS tags are not checked as BIO
    assert tagger.embeddings_found_ == 3
    weights = tagger.model_.word_embedding.get_weights()[0]
    assert weights.shape == (len(tagger.vocabulary_), 6)
    with pytest.raises(ValueError, match="embeddings must be None"):
        tiny(embeddings=3).fit(X, Y)


def test_bio_constraints_are_on_by_default_and_no_invalid_span_is_predicted(fitted_crf):
    from rnnkit.data.ner import bio_violations

    tags = list(fitted_crf.tags_)
    allowed = fitted_crf.constraints_["allowed_transitions"]
    assert not allowed[tags.index("O"), tags.index("I-LOC")]
    assert not allowed[tags.index("B-PER"), tags.index("I-LOC")]
    assert allowed[tags.index("B-LOC"), tags.index("I-LOC")]
    assert not fitted_crf.constraints_["allowed_start"][tags.index("I-PER")]
    # CRF weights that favour invalid spans (start with I-x, O -> I-x): an
    # unconstrained CRF then predicts them, the constrained one never does.
    rng = np.random.default_rng(0)
    words = sorted({w for s in SENTENCES for w in s}) + ["zzz", "Qqq"]
    random_x = [list(rng.choice(words, size=rng.integers(1, 12))) for _ in range(100)]

    def favour_invalid(tagger):
        crf = tagger.model_.get_layer("crf")
        transitions = np.zeros((5, 5), "float32")
        transitions[:, [tags.index("I-LOC"), tags.index("I-PER")]] = 20.0
        start = np.zeros(5, "float32")
        start[tags.index("I-PER")] = 20.0
        crf.transitions.assign(transitions)
        crf.start_transitions.assign(start)
        return tagger

    loose = favour_invalid(tiny(constrain=False).fit(X, Y))
    assert loose.constraints_ is None
    assert sum(bio_violations(p) for p in loose.predict(random_x)) > 50
    strict = favour_invalid(pickle.loads(pickle.dumps(fitted_crf)))
    assert sum(bio_violations(p) for p in strict.predict(random_x)) == 0
    # The constraints survive pickling.
    restored = pickle.loads(pickle.dumps(fitted_crf))
    assert restored.predict(random_x[:20]) == fitted_crf.predict(random_x[:20])


def test_predict_marginals(fitted_crf, fitted):
    tags = list(fitted_crf.tags_)
    probs = fitted_crf.predict_marginals(SENTENCES + [[]])
    assert [p.shape for p in probs] == [(len(s), 5) for s in SENTENCES] + [(0, 5)]
    for p in probs[:-1]:
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-4)
        # A sentence cannot start inside an entity: no probability for I-x first.
        assert p[0, tags.index("I-LOC")] < 1e-6 and p[0, tags.index("I-PER")] < 1e-6
    # The marginals' argmax agrees with the Viterbi tags on the learned toy data.
    pred = fitted_crf.predict(SENTENCES)
    best = [[tags[k] for k in p.argmax(-1)] for p in probs[:-1]]
    agree = np.mean([a == b for x, y in zip(best, pred) for a, b in zip(x, y)])
    assert agree >= 0.9
    soft = fitted.predict_marginals(SENTENCES[:2])
    np.testing.assert_allclose(soft[0].sum(-1), 1.0, atol=1e-4)


class _ScriptedTagger:
    """Stands in for the tagger in ``_BestOnValidation``: the given validation scores."""

    def __init__(self, scores):
        self.scores = iter(scores)

    def _validation_score(self, model, sentences, tags):
        return next(self.scores)


class _Model:
    stop_training = False

    def __init__(self):
        import keras

        self.optimizer = keras.optimizers.Adam(0.01)

    def get_weights(self):
        return []


def test_patience_starts_once_the_validation_score_is_above_zero():
    from rnnkit.sklearn.tagger import _BestOnValidation

    def run(scores):
        callback = _BestOnValidation(_ScriptedTagger(scores), [], [], patience=2)
        callback.set_model(_Model())
        for epoch in range(len(scores)):
            callback.on_epoch_end(epoch, {})
            if callback.model.stop_training:
                return epoch + 1, callback.best_epoch
        return len(scores), callback.best_epoch

    # Zero F1 for 4 epochs (only "O" predicted): no stop; then patience 2 after the best.
    assert run([0.0, 0.0, 0.0, 0.0, 0.3, 0.2, 0.25, 0.1]) == (7, 4)
    assert run([0.5, 0.4, 0.3, 0.9]) == (3, 0)


def test_learning_rate_decay_multiplies_the_rate_after_each_epoch_without_improvement():
    import keras

    from rnnkit.sklearn.tagger import _BestOnValidation

    scores = [0.5, 0.4, 0.6, 0.5, 0.4, 0.3]
    callback = _BestOnValidation(_ScriptedTagger(scores), [], [], 3, decay=0.5)
    callback.set_model(_Model())
    rates = []
    for epoch in range(6):
        callback.on_epoch_end(epoch, {})
        rates.append(float(keras.ops.convert_to_numpy(callback.model.optimizer.learning_rate)))
        if callback.model.stop_training:
            break
    # halved after epochs 1, 3 and 4 (no improvement); epoch 5 is the third in a row: stop
    np.testing.assert_allclose(rates, [0.01, 0.005, 0.005, 0.0025, 0.00125, 0.00125], rtol=1e-6)
    assert callback.model.stop_training and callback.best_epoch == 2
    for bad in (0.0, 1.5, -0.5, "half"):
        with pytest.raises(ValueError, match="learning_rate_decay must be a number in"):
            tiny(learning_rate_decay=bad).fit(X, Y)


def test_validation_data_drives_early_stopping_and_the_kept_epoch():
    """With validation_data the given sentences are scored after every epoch (seqeval
    entity F1), the best epoch's weights are kept (the fitted tagger scores exactly the
    best recorded value on them) and all of X is trained on (nothing held out)."""
    from seqeval.metrics import f1_score

    val_x = [["carol", "visited", "rome"], ["bob", "lives", "in", "berlin"]]
    val_y = [["B-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-LOC"]]
    tagger = tiny(
        crf=False, epochs=6, validation_fraction=0.5, n_iter_no_change=2, learning_rate=0.03
    )
    tagger.fit(X, Y, validation_data=(val_x, val_y))
    scores = tagger.history_["val_score"]
    assert 1 <= len(scores) <= 6 and scores[tagger.best_epoch_] == max(scores)
    assert f1_score(val_y, tagger.predict(val_x)) == pytest.approx(max(scores))
    # every training word is in the vocabulary: validation_fraction=0.5 held nothing out
    assert set(tagger.vocabulary_[2:]) == {w for s in SENTENCES for w in s}
    # the validation tags are checked like y's
    bad = [["I-PER", "O", "B-LOC"], val_y[1]]
    with pytest.raises(ValueError, match=r"validation_data\[1\]\[0\] is not valid BIO"):
        tiny().fit(X, Y, validation_data=(val_x, bad))
    with pytest.raises(ValueError, match="validation_data must be a pair"):
        tiny().fit(X, Y, validation_data=val_x + val_x[:1])  # 3 token lists, not a pair
    with pytest.raises(ValueError, match="Sample 1 has 4 tokens but 3 tags"):
        tiny().fit(X, Y, validation_data=(val_x, [val_y[0], val_y[0]]))


def test_parallel_scan_cell_tagger():
    """cell="mingru": the tagger's encoder is rnnkit's MinGRU; it learns the toy task."""
    tagger = tiny(cell="mingru", crf=False, epochs=30, learning_rate=0.03, dropout=0.0)
    tagger.fit(X, Y)
    from rnnkit.layers import MinGRU

    def walk(layer):
        yield layer
        for child in [*getattr(layer, "layers", []), *getattr(layer, "rnn_layers", [])]:
            yield from walk(child)
        for name in ("encoder", "forward_layer", "backward_layer"):
            if getattr(layer, name, None) is not None:
                yield from walk(getattr(layer, name))

    assert tagger.model_.get_config()["cell"] == "mingru"
    assert any(isinstance(x, MinGRU) for x in walk(tagger.model_))
    assert tagger.score(X, Y) >= 0.9
    with pytest.raises(ValueError, match="cell must be one of"):
        tiny(cell="transformer").fit(X, Y)


def test_kept_weights_are_the_moving_average_of_the_trained_weights(monkeypatch):
    """ema_momentum: the kept (and scored) weights are the exponential moving average of
    the weights after every training step, recomputed here in NumPy from the weights
    recorded after each step (Keras's rule: the first step copies, then
    m * average + (1 - m) * weights), at the best epoch; not the raw weights."""
    from rnnkit.sklearn import tagger as module

    seen: list[list[np.ndarray]] = []

    def record(self, batch, logs=None):
        seen.append([np.array(w) for w in self.model.trainable_weights])

    monkeypatch.setattr(module._BestOnValidation, "on_train_batch_end", record, raising=False)
    val_x = [["carol", "visited", "rome"], ["bob", "lives", "in", "berlin"]]
    val_y = [["B-PER", "O", "B-LOC"], ["B-PER", "O", "O", "B-LOC"]]
    m = 0.6
    tagger = tiny(epochs=4, learning_rate=0.05, ema_momentum=m, n_iter_no_change=4)
    tagger.fit(X, Y, validation_data=(val_x, val_y))
    epochs = len(tagger.history_["loss"])
    steps = len(seen) // epochs
    assert steps * epochs == len(seen) and steps == 3  # 24 sentences, batches of 8
    average = seen[0]
    at_epoch_end = []
    for i, weights in enumerate(seen):
        if i:
            average = [m * a + (1 - m) * w for a, w in zip(average, weights)]
        if (i + 1) % steps == 0:
            at_epoch_end.append(average)
    best = tagger.best_epoch_
    kept = [np.array(w) for w in tagger.model_.trainable_weights]
    for got, want in zip(kept, at_epoch_end[best]):
        np.testing.assert_allclose(got, want, atol=1e-5)
    raw = seen[(best + 1) * steps - 1]
    assert max(float(np.abs(a - b).max()) for a, b in zip(kept, raw)) > 1e-3
    for bad in (1.0, 0, "0.9", True):
        with pytest.raises(ValueError, match=r"ema_momentum must be a number in \(0, 1\)"):
            tiny(ema_momentum=bad).fit(X, Y)


def test_batches_of_many_widths_fit_whatever_the_first_two_batches_are():
    """Keras's PyDataset adapter (TensorFlow) reads the tf.data signature off the first two
    batches; when they shared a width, a wider batch later failed with "generator yielded
    an element of shape ... where ... was expected". Most batches here are 8 wide and one
    is 32 wide, so most shuffles put two 8-wide batches first."""
    from rnnkit.sklearn.tagger import _Batches

    short = [["w"] * 5] * 40
    long = [["w"] * 30] * 4
    sentences = short + long
    y_ids = [np.zeros(len(s), "int32") for s in sentences]
    for seed in range(20):
        data = _Batches(lambda s, width: s, sentences, y_ids, 4, seed)
        widths = [data._width(rows) for rows in data.batches]
        assert sorted(set(widths)) == [8, 32]
        assert widths[0] != widths[1], seed
        data.on_epoch_end()
        assert sorted(data._width(rows) for rows in data.batches) == sorted(widths)
    tags = [["A", "B", "A", "B", "A"]] * 40 + [["A", "B"] * 15] * 4
    for seed in (0, 1, 2):
        tagger = tiny(random_state=seed, batch_size=4, epochs=1).fit(sentences, tags)
        assert [len(p) for p in tagger.predict(sentences)] == [len(s) for s in sentences]


@pytest.mark.parametrize("ema_momentum", [0.9, None], ids=["ema", "raw"])
def test_a_killed_fit_goes_on_to_the_uninterrupted_result(tmp_path, ema_momentum):
    """``checkpoint_dir``: a fit killed after its third epoch and fitted again by a new
    estimator with the same parameters ends where an uninterrupted fit ends - the same
    kept weights, history and best epoch - with early stopping, learning-rate decay and
    the moving average (EMA) state carried over; other data is refused by name."""
    params = dict(
        crf=True,
        epochs=6,
        learning_rate=0.03,
        validation_fraction=0.25,
        n_iter_no_change=3,
        learning_rate_decay=0.5,
        ema_momentum=ema_momentum,
    )
    full = tiny(**params).fit(X, Y)

    folder = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt), epoch_saves(kill_after=3):
        tiny(**params, checkpoint_dir=folder).fit(X, Y)
    resumed = tiny(**params, checkpoint_dir=folder).fit(X, Y)

    assert resumed.history_.keys() == full.history_.keys()
    for key in full.history_:
        np.testing.assert_allclose(resumed.history_[key], full.history_[key], rtol=1e-4, atol=1e-6)
    assert resumed.best_epoch_ == full.best_epoch_
    for got, want in zip(resumed.model_.get_weights(), full.model_.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert resumed.predict(X) == full.predict(X)

    with pytest.raises(ValueError, match=r"other settings \(data_sha256: checkpoint"):
        tiny(**params, checkpoint_dir=folder).fit(X[::-1], Y[::-1])
    with pytest.raises(ValueError, match="checkpoint_dir needs an int random_state"):
        tiny(**dict(params, random_state=None), checkpoint_dir=folder).fit(X, Y)


@pytest.mark.parametrize("ema_momentum", [0.9, None], ids=["ema", "raw"])
def test_a_fit_that_stopped_early_is_taken_whole_from_its_checkpoint(tmp_path, ema_momentum):
    """A fit that stopped early and is fitted again with the same ``checkpoint_dir``
    (a kill after its last epoch) trains nothing more: the best epoch's weights kept
    in the checkpoint are the result, as in the first fit."""
    params = dict(
        crf=True,
        epochs=25,
        learning_rate=0.05,
        validation_fraction=0.25,
        n_iter_no_change=1,
        ema_momentum=ema_momentum,
        checkpoint_dir=tmp_path / "ckpt",
    )
    first = tiny(**params).fit(X, Y)
    assert len(first.history_["loss"]) < 25  # it stopped early ...
    assert first.best_epoch_ < len(first.history_["loss"]) - 1  # ... after its best epoch
    again = tiny(**params).fit(X, Y)
    assert again.history_ == first.history_ and again.best_epoch_ == first.best_epoch_
    for got, want in zip(again.model_.get_weights(), first.model_.get_weights()):
        np.testing.assert_array_equal(got, want)
