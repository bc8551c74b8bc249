"""RNNClassifier: the scikit-learn estimator contract, round trips and bad input."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from checkpoint_helpers import epoch_saves
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as ec

from rnnkit.sklearn import RNNClassifier

POSITIVE = [
    "i love this phone",
    "what a great day",
    "so happy with the service",
    "awesome movie , loved it",
    "best coffee ever !",
    "great job , thank you",
    "really good food",
    "happy happy joy",
    "this is wonderful",
    "love love love it",
    "nice work team",
    "fantastic trip , great fun",
]
NEGATIVE = [
    "i hate this phone",
    "what a terrible day",
    "so angry with the service",
    "awful movie , hated it",
    "worst coffee ever !",
    "bad job , no thanks",
    "really bad food",
    "sad sad sad",
    "this is horrible",
    "hate hate hate it",
    "terrible work team",
    "awful trip , no fun",
]
TEXTS = POSITIVE + NEGATIVE
LABELS = np.array(["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE), dtype=object)


def tiny(**overrides) -> RNNClassifier:
    params = dict(
        units=8,
        embedding_dim=8,
        epochs=1,
        batch_size=8,
        validation_fraction=None,
        random_state=0,
        max_length=8,
        bidirectional=False,
        ensemble_size=1,
    )
    params.update(overrides)
    return RNNClassifier(**params)


@pytest.fixture(scope="module")
def fitted() -> RNNClassifier:
    return tiny(epochs=25, learning_rate=0.02, bidirectional=True).fit(TEXTS, LABELS)


# ------------------------------------------------------------------ contract
def test_init_stores_parameters_only():
    clf = RNNClassifier(units=7, cell="lstm")
    assert clf.get_params()["units"] == 7
    assert not [k for k in vars(clf) if k.endswith("_")]
    assert is_classifier(clf)
    tags = clf.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.estimator_type == "classifier"


def test_learns_and_exposes_fitted_attributes(fitted):
    assert list(fitted.classes_) == ["neg", "pos"]
    assert fitted.vocabulary_[:2] == ["<pad>", "<unk>"] and "love" in fitted.vocabulary_
    assert set(fitted.history_) >= {"loss", "accuracy"} and len(fitted.history_["loss"]) == 25
    assert fitted.history_["loss"][-1] < fitted.history_["loss"][0]
    assert fitted.score(TEXTS, LABELS) >= 0.9
    proba = fitted.predict_proba(["i love it", "i hate it"])
    assert proba.shape == (2, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert list(fitted.predict(["i love it", "i hate it"])) == ["pos", "neg"]


def test_accepts_list_array_series_and_dataframe(fitted):
    expected = fitted.predict_proba(TEXTS)
    for X in (
        np.array(TEXTS, dtype=object),
        np.array(TEXTS, dtype=object)[:, None],
        pd.Series(TEXTS),
        pd.DataFrame({"text": TEXTS}),
        tuple(TEXTS),
    ):
        np.testing.assert_array_equal(fitted.predict_proba(X), expected)


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        RNNClassifier().predict(["hello"])


def test_clone_and_nested_set_params():
    pipe = Pipeline([("identity", FunctionTransformer()), ("rnn", tiny())])
    pipe.set_params(rnn__units=5, rnn__cell="srnn")
    assert pipe.get_params()["rnn__units"] == 5
    cloned = clone(pipe)
    assert cloned.get_params()["rnn__cell"] == "srnn"
    assert not hasattr(cloned.named_steps["rnn"], "model_")


def test_fit_returns_self_and_refits_from_scratch():
    clf = tiny()
    assert clf.fit(TEXTS, LABELS) is clf
    clf.fit(["zebra apple", "mango kiwi", "zebra kiwi"], [1, 0, 1])
    assert list(clf.classes_) == [0, 1]
    assert "love" not in clf.vocabulary_ and "zebra" in clf.vocabulary_
    assert len(clf.history_["loss"]) == 1


def test_warm_start_continues_training():
    clf = tiny(warm_start=True).fit(TEXTS, LABELS)
    model, vocabulary = clf.model_, clf.vocabulary_
    before = clf.model_.get_weights()[0].copy()
    clf.fit(TEXTS, LABELS)
    assert clf.model_ is model and clf.vocabulary_ == vocabulary
    assert not np.array_equal(before, clf.model_.get_weights()[0])
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(TEXTS, np.where(LABELS == "pos", "a", "b"))


# The individual checks of sklearn.utils.estimator_checks that apply. check_estimator
# itself skips string-input estimators, and most checks feed numeric matrices
# (make_blobs etc.), which a raw-text estimator rejects by design. Left out:
# check_estimators_dtypes, check_fit_score_takes_y, check_dtype_object, check_fit2d_*,
# check_fit1d, check_estimators_empty_data_messages, check_estimators_nan_inf,
# check_classifiers_train, check_classifiers_classes, check_supervised_y_2d,
# check_methods_subset_invariance, check_methods_sample_order_invariance,
# check_fit_idempotent, check_n_features_in*, check_estimators_pickle,
# check_estimators_overwrite_params, check_dont_overwrite_parameters,
# check_classifiers_one_label, check_classifier_data_not_an_array,
# check_estimators_data_not_an_array, check_sample_weights_*, check_dict_unchanged,
# check_readonly_memmap_input, check_pipeline_consistency, check_class_weight_*,
# check_complex_data, check_estimators_unfitted, check_requires_y_none,
# check_supervised_y_no_nan, check_classifiers_regression_target,
# check_classifiers_multilabel_*, check_decision_proba_consistency,
# check_f_contiguous_array_estimator, check_positive_only_tag_during_fit,
# check_inplace_ensure_writeable, check_fit_check_is_fitted, check_sparsify_coefficients,
# check_estimator_sparse_*: all of these generate numeric (or sparse) X. Each property
# they test is tested below on text instead (pickle, idempotent refit, unfitted,
# one label, NaN input, empty data, data not an array, subset invariance, multi-label
# output format). check_param_validation: the estimator has no _parameter_constraints
# (parameters are validated in fit with their own ValueErrors).
# check_non_transformer_estimators_n_iter: no max_iter parameter (epochs instead), so it
# would test nothing; check_get_feature_names_out_error: transformers only. Array-API,
# transformer, regressor, clusterer and outlier checks do not apply to a classifier on
# text.
APPLICABLE_CHECKS = [
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
    check("RNNClassifier", RNNClassifier())


def test_subset_invariance_and_sample_order(fitted):
    full = fitted.predict_proba(TEXTS)
    np.testing.assert_allclose(fitted.predict_proba(TEXTS[:5]), full[:5], rtol=1e-5, atol=1e-6)
    order = np.arange(len(TEXTS))[::-1]
    np.testing.assert_allclose(
        fitted.predict_proba([TEXTS[i] for i in order]), full[order], rtol=1e-5, atol=1e-6
    )


# ------------------------------------------------------------- round trips
def test_pickle_and_joblib_round_trips(fitted):
    expected = fitted.predict_proba(TEXTS)
    data = pickle.dumps(fitted)
    state = fitted.__getstate__()
    assert "model_" not in state and isinstance(state["model_keras_bytes"], bytes)
    assert state["model_keras_bytes"][:2] == b"PK"  # a .keras (zip) archive
    assert b"tensorflow.python" not in data
    restored = pickle.loads(data)
    np.testing.assert_array_equal(restored.predict_proba(TEXTS), expected)
    np.testing.assert_array_equal(restored.predict(TEXTS), fitted.predict(TEXTS))
    buffer = io.BytesIO()
    joblib.dump(fitted, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).predict_proba(TEXTS), expected)


def test_deterministic_given_random_state():
    a = tiny(epochs=2, validation_fraction=0.25, n_iter_no_change=5).fit(TEXTS, LABELS)
    b = tiny(epochs=2, validation_fraction=0.25, n_iter_no_change=5).fit(TEXTS, LABELS)
    np.testing.assert_array_equal(a.predict_proba(TEXTS), b.predict_proba(TEXTS))
    assert a.history_ == b.history_
    c = tiny(epochs=2, random_state=1).fit(TEXTS, LABELS)
    assert not np.array_equal(a.predict_proba(TEXTS), c.predict_proba(TEXTS))


# ------------------------------------------------------------- integration
def test_pipeline_gridsearch_and_cross_val_score():
    pipe = make_pipeline(FunctionTransformer(lambda x: [t.lower() for t in x]), tiny())
    scores = cross_val_score(pipe, TEXTS, LABELS, cv=2, scoring="roc_auc")
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))
    search = GridSearchCV(
        pipe,
        {"rnnclassifier__cell": ["gru", "srnn"]},
        cv=2,
        scoring=["accuracy", "f1_macro", "roc_auc"],
        refit="f1_macro",
        error_score="raise",
    )
    search.fit(TEXTS, LABELS)
    for name in ("accuracy", "f1_macro", "roc_auc"):
        values = search.cv_results_[f"mean_test_{name}"]
        assert values.shape == (2,) and np.all((0 <= values) & (values <= 1))
    assert search.best_params_["rnnclassifier__cell"] in ("gru", "srnn")
    assert hasattr(search.best_estimator_[-1], "model_")
    assert search.predict(TEXTS[:3]).shape == (3,)


def test_multiclass_integer_labels_and_class_weight():
    y = np.array([0, 1, 2] * 8)
    clf = tiny(class_weight="balanced", cell="lstm", num_layers=2, attention=True)
    clf.fit(TEXTS, y)
    assert list(clf.classes_) == [0, 1, 2]
    assert clf.predict_proba(TEXTS).shape == (24, 3)
    assert set(clf.predict(TEXTS)) <= {0, 1, 2}
    clf.set_params(class_weight={0: 1.0, 1: 2.0, 2: 1.0}).fit(TEXTS, y)
    with pytest.raises(ValueError, match="not in y's classes"):
        clf.set_params(class_weight={7: 1.0}).fit(TEXTS, y)


def test_multilabel_indicator():
    rng = np.random.default_rng(0)
    y = (rng.random((len(TEXTS), 3)) > 0.5).astype(int)
    clf = tiny(epochs=2).fit(TEXTS, y)
    assert list(clf.classes_) == [0, 1, 2]
    proba = clf.predict_proba(TEXTS)
    assert proba.shape == (24, 3) and np.all((proba >= 0) & (proba <= 1))
    pred = clf.predict(TEXTS)
    assert pred.shape == (24, 3) and set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
    assert 0 <= clf.score(TEXTS, y) <= 1


def test_validation_fraction_early_stopping():
    clf = tiny(epochs=30, validation_fraction=0.25, n_iter_no_change=1, learning_rate=0.05)
    clf.fit(TEXTS, LABELS)
    assert "val_loss" in clf.history_
    assert len(clf.history_["val_loss"]) < 30


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (["good", None, "bad"], ["a", "b", "a"], r"X\[1\] is None.*missing"),
        (["good", float("nan"), "bad"], ["a", "b", "a"], r"X\[1\] is nan.*missing"),
        (pd.Series(["good", None, "bad"]), ["a", "b", "a"], r"X\[1\].*missing"),
        ([1, 2, 3], ["a", "b", "a"], r"X\[0\] is a int.*str"),
        (np.array([[1.0, 2.0], [3.0, 4.0]]), ["a", "b"], r"shape \(2, 2\)"),
        ("just one string", ["a"], "single str"),
        ([], [], "X is empty"),
        (["good", "bad", "ok"], ["a", "b"], r"len\(X\)=3, len\(y\)=2"),
        (["good", "bad"], ["a", "a"], "single class"),
        (["good", "bad"], ["a", None], r"y\[1\] is None"),
        (["good", "bad"], [0.5, 1.7], "continuous"),
        (pd.DataFrame({"a": ["x", "y"], "b": ["z", "w"]}), ["a", "b"], "one text column"),
    ],
)
def test_bad_input_raises_value_error(X, y, match):
    with pytest.raises(ValueError, match=match):
        tiny().fit(X, y)


def test_bad_input_at_predict_and_score(fitted):
    with pytest.raises(ValueError, match=r"X\[0\] is None"):
        fitted.predict([None])
    with pytest.raises(ValueError, match="X is empty"):
        fitted.predict([])
    with pytest.raises(ValueError, match=r"labels not seen during fit: \['maybe'\]"):
        fitted.score(["i love it", "so so"], ["pos", "maybe"])


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"cell": "transformer"}, "cell must be"),
        ({"units": 0}, "units must be a positive integer"),
        ({"ensemble_size": 0}, "ensemble_size must be a positive integer"),
        ({"dropout": 1.5}, "dropout"),
        ({"embedding_dropout": -0.1}, "embedding_dropout"),
        ({"pooling": "sum"}, "pooling must be one of"),
        ({"skip": "dense"}, "skip must be 'none', 'concat' or 'residual'"),
        ({"skip": "concat", "pooling": "last"}, "needs a pooling over time"),
        (
            {"max_length": 0},
            r"max_length must be a positive integer or None \(chosen from the data\)",
        ),
        ({"min_count": 0}, "min_count must be a positive integer"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"class_weight": "auto"}, "class_weight"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_parameters_raise_at_fit(params, match):
    with pytest.raises(ValueError, match=match):
        tiny(**params).fit(TEXTS, LABELS)


def test_pretrained_embeddings_path(tmp_path):
    rng = np.random.default_rng(0)
    words = ["love", "hate", "phone", "day"]
    vectors = {w: rng.normal(size=6).round(4) for w in words}
    path = tmp_path / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
    clf = tiny(embeddings=str(path), epochs=1, learning_rate=1e-9).fit(TEXTS, LABELS)
    table = clf.model_.get_layer("embedding").get_weights()[0]
    assert table.shape == (len(clf.vocabulary_), 6)  # embedding_dim comes from the file
    for word in words:
        np.testing.assert_allclose(table[clf.vocabulary_.index(word)], vectors[word], atol=1e-5)
    np.testing.assert_array_equal(table[0], 0.0)


def test_vectorizer_in_graph_matches_python(fitted):
    import tensorflow as tf

    from rnnkit.text.vectorizer import tokenize

    assert tokenize(["I don't LOVE it!! :) http://t.co/x @Bob #sxsw"]) == [
        ["i", "don't", "love", "it", "!", "!", ":", ")", "xxurl", "xxuser", "#sxsw"]
    ]
    pipe = fitted.vectorizer_.pipeline_
    table = pipe.tf_table()
    graph_fn = tf.function(
        lambda s: pipe.tf_encode(s, table), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    texts = ["I LOVE this phone!!", "worst coffee, ever", "unknownword"]
    np.testing.assert_array_equal(
        graph_fn(tf.constant(texts)).numpy(), fitted.vectorizer_.transform(texts)
    )
    ids = fitted.vectorizer_.transform(["love zzzunseen"])
    assert ids[0, 0] == fitted.vocabulary_.index("love") and ids[0, 1] == 1 and ids[0, 2] == 0
    # the export takes this text stage object as it is (no rules copied)
    assert fitted.text_model().pipeline is pipe and fitted.vocabulary_ == pipe.vocabulary


def test_a_classifier_pickled_before_the_one_text_stage_loads_with_the_same_ids(fitted):
    """An earlier version pickled ``vectorizer_`` as its vocabulary list with "" and
    "[UNK]" at ids 0 and 1, and ``vocabulary_`` the same: both load as the one text
    stage, with the same ids and predictions."""
    from rnnkit.text.vectorizer import TextVectorizer

    state = fitted.__getstate__()
    vec = fitted.vectorizer_
    old_words = ["", "[UNK]", *fitted.vocabulary_[2:]]
    state["vocabulary_"] = list(old_words)
    state["vectorizer_"] = TextVectorizer.__new__(TextVectorizer)
    state["vectorizer_"].__setstate__(
        {
            "max_length": vec.max_length,
            "max_vocabulary": vec.max_vocabulary,
            "min_count": vec.min_count,
            "vocabulary_": list(old_words),
            "_layer": None,
        }
    )
    old = RNNClassifier.__new__(RNNClassifier)
    old.__setstate__(state)
    assert old.vocabulary_ == fitted.vocabulary_ and old.vocabulary_[:2] == ["<pad>", "<unk>"]
    np.testing.assert_array_equal(old.vectorizer_.transform(TEXTS), vec.transform(TEXTS))
    np.testing.assert_allclose(old.predict_proba(TEXTS), fitted.predict_proba(TEXTS), atol=1e-6)


# ------------------------------------------------ small-data defaults (issue #6)
def test_new_parameters_get_params_and_clone_round_trip():
    clf = RNNClassifier(pooling="max", embedding_dropout=0.3, min_count=2, max_length=None)
    params = clf.get_params()
    assert {k: params[k] for k in ("pooling", "embedding_dropout", "min_count", "max_length")} == {
        "pooling": "max",
        "embedding_dropout": 0.3,
        "min_count": 2,
        "max_length": None,
    }
    cloned = clone(clf)
    assert cloned.get_params() == params
    cloned.set_params(pooling="last", max_length=12)
    assert cloned.get_params()["pooling"] == "last" and cloned.get_params()["max_length"] == 12
    defaults = RNNClassifier().get_params()
    assert defaults["max_length"] is None and defaults["pooling"] == "max_mean"


def test_data_driven_max_length_is_the_documented_percentile():
    from rnnkit.sklearn import classifier as module
    from rnnkit.text.vectorizer import tokenize

    # token counts 3..42 (one text per count): the 95th percentile is 40.05 -> 41
    texts = [" ".join([f"w{i}" for i in range(n)]) for n in range(3, 43)]
    labels = np.arange(len(texts)) % 2
    counts = [len(row) for row in tokenize(texts)]
    expected = int(np.ceil(np.percentile(counts, module.LENGTH_PERCENTILE)))
    assert expected == 41 and module.data_max_length(texts) == 41
    clf = tiny(max_length=None).fit(texts, labels)
    assert clf.max_length_ == 41 == clf.vectorizer_.max_length
    assert clf.vectorizer_.transform(["a b"]).shape == (1, 41)
    # clipped to [LENGTH_MIN, LENGTH_CAP]
    assert module.data_max_length(["a b", "c"]) == module.LENGTH_MIN
    long_text = " ".join(["x"] * (module.LENGTH_CAP + 50))
    assert module.data_max_length([long_text] * 3) == module.LENGTH_CAP
    # an explicit max_length is used as is
    assert tiny(max_length=5).fit(TEXTS, LABELS).vectorizer_.max_length == 5


def test_pooling_option_changes_the_model():
    def layer_names(clf):
        return {layer.name for layer in clf.model_.layers}

    max_mean = tiny(pooling="max_mean", bidirectional=True).fit(TEXTS, LABELS)
    assert "max_mean_pooling" in layer_names(max_mean)
    # [max, mean] of a 2 x 8 BiGRU output -> 32 features into the classifier
    assert max_mean.model_.get_layer("classifier").get_weights()[0].shape == (32, 2)
    last = tiny(pooling="last", bidirectional=True).fit(TEXTS, LABELS)
    assert not {"max_mean_pooling", "attention"} & layer_names(last)
    assert last.model_.get_layer("classifier").get_weights()[0].shape == (16, 2)
    assert "attention" in layer_names(tiny(pooling="max", attention=True).fit(TEXTS, LABELS))
    assert "max_pooling" in layer_names(tiny(pooling="max").fit(TEXTS, LABELS))
    mean = tiny(pooling="mean").fit(TEXTS, LABELS).model_.get_layer("mean_pooling")
    assert mean.mode == "mean"  # every pooling over time is the one masked layer


def test_embedding_dropout_and_min_count():
    clf = tiny(embedding_dropout=0.25, min_count=2).fit(TEXTS, LABELS)
    assert clf.model_.get_layer("embedding_dropout").rate == 0.25
    counts = {}
    for text in TEXTS:
        for token in text.split():
            counts[token] = counts.get(token, 0) + 1
    kept = set(clf.vocabulary_[2:])
    assert kept == {t for t, c in counts.items() if c >= 2}
    assert "wonderful" not in kept and "love" in kept
    unk = clf.vectorizer_.transform(["wonderful"])[0, 0]
    assert unk == 1
    assert "embedding_dropout" not in {
        layer.name for layer in tiny().fit(TEXTS, LABELS).model_.layers
    }


def test_masked_pooling_ignores_padding():
    import keras

    from rnnkit.layers import MaskedPooling

    x = np.array(
        [[[1.0, -2.0], [3.0, -4.0], [100.0, 100.0]], [[-5.0, 7.0], [9.0, 9.0], [9.0, 9.0]]]
    )
    mask = np.array([[True, True, False], [False, False, False]])
    out = keras.ops.convert_to_numpy(MaskedPooling("max_mean")(x, mask=mask))
    np.testing.assert_allclose(out[0], [3.0, -2.0, 2.0, -3.0])  # max, then mean, of 2 steps
    np.testing.assert_allclose(out[1], 0.0)  # fully masked: zeros
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(MaskedPooling("max")(x)), [[100.0, 100.0], [9.0, 9.0]]
    )
    layer = MaskedPooling.from_config(MaskedPooling("mean", name="p").get_config())
    assert layer.mode == "mean"
    with pytest.raises(ValueError, match="mode"):
        MaskedPooling("median")


def test_default_pooling_model_pickles(fitted):
    restored = pickle.loads(pickle.dumps(fitted))
    assert "max_mean_pooling" in {layer.name for layer in restored.model_.layers}
    np.testing.assert_allclose(
        restored.predict_proba(TEXTS), fitted.predict_proba(TEXTS), rtol=1e-5
    )


def test_ensemble_averages_independently_trained_members():
    clf = tiny(ensemble_size=2, epochs=3, validation_fraction=0.25).fit(TEXTS, LABELS)
    members = [layer for layer in clf.model_.layers if layer.name.startswith("rnn_classifier_")]
    assert [m.name for m in members] == ["rnn_classifier_0", "rnn_classifier_1"]
    assert len(clf.member_histories_) == 2 and clf.history_ is clf.member_histories_[0]
    ids = clf.vectorizer_.transform(TEXTS)
    outputs = [np.asarray(m.predict(ids, verbose=0)) for m in members]
    assert not np.allclose(outputs[0], outputs[1])  # different initializations
    np.testing.assert_allclose(clf.predict_proba(TEXTS), np.mean(outputs, axis=0), rtol=1e-5)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(TEXTS), clf.predict_proba(TEXTS), rtol=1e-5)
    again = tiny(ensemble_size=2, epochs=3, validation_fraction=0.25).fit(TEXTS, LABELS)
    np.testing.assert_allclose(again.predict_proba(TEXTS), clf.predict_proba(TEXTS), rtol=1e-5)


def test_multilabel_threshold_rules():
    y = np.zeros((len(TEXTS), 3), dtype=int)
    y[:3, 0] = 1  # a rare label
    y[:12, 1] = 1  # the positive texts
    y[::2, 2] = 1
    clf = tiny(epochs=2, threshold="prevalence").fit(TEXTS, y)
    np.testing.assert_allclose(clf.label_prevalence_, [3 / 24, 0.5, 0.5])
    proba = clf.predict_proba(TEXTS)
    np.testing.assert_array_equal(clf.predict(TEXTS), (proba >= [3 / 24, 0.5, 0.5]).astype(int))
    clf.set_params(threshold=0.3)
    np.testing.assert_array_equal(clf.predict(TEXTS), (proba >= 0.3).astype(int))
    for bad in ("auto", 1.0, 0, None, True):
        with pytest.raises(ValueError, match="threshold must be"):
            tiny(threshold=bad).fit(TEXTS, y)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_parallel_scan_cells_learn_and_round_trip(cell):
    """cell="mingru" / "minlstm": the model's recurrent layers are rnnkit's parallel-scan
    layers; the classifier learns the toy task and survives a pickle round trip."""
    clf = tiny(cell=cell, epochs=25, learning_rate=0.02, bidirectional=True).fit(TEXTS, LABELS)
    config = clf.model_.to_json()  # the nested layers' classes, as saved
    kind = {"mingru": "MinGRU", "minlstm": "MinLSTM"}[cell]
    assert f'"class_name": "{kind}"' in config and '"class_name": "GRU"' not in config
    assert clf.score(TEXTS, LABELS) >= 0.9
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(TEXTS), clf.predict_proba(TEXTS))


def test_quiet_by_default_no_framework_warnings():
    # the estimators run fit and predict inside framework_logs(verbose): TensorFlow's
    # Python warnings (tf.function retracing, when batches of new sizes arrive) are
    # dropped unless verbose, and the logger's level is restored after
    import logging

    import tensorflow as tf

    from rnnkit.sklearn.base import framework_logs

    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = tf.get_logger()
    level = logger.level
    handler = Collect()
    logger.addHandler(handler)
    try:
        with framework_logs(0):
            logger.warning("hidden")
        with framework_logs(1):
            logger.warning("shown")
        assert logger.level == level
        texts = [f"good movie {i}" for i in range(40)] + [f"bad film {i}" for i in range(40)]
        est = RNNClassifier(units=4, embedding_dim=4, epochs=1, bidirectional=False)
        est.fit(texts, [1] * 40 + [0] * 40)
        for n in (1, 2, 3, 5, 7, 9, 11, 13):  # a retrace each
            est.predict(texts[:n])
    finally:
        logger.removeHandler(handler)
    assert messages == ["shown"]


def _member_weights(clf: RNNClassifier, name: str) -> list:
    return clf.model_.get_layer(name).get_weights()


def test_a_killed_fit_goes_on_from_its_checkpoint(tmp_path, monkeypatch):
    """``checkpoint_dir``: an ensemble fit killed in its second network's second epoch
    and fitted again takes the first network whole and goes on with the second from
    its last finished epoch, on the same validation split; checkpointing itself does
    not change a fit; other data or no int random_state is refused."""
    from rnnkit.training import checkpoint

    params = dict(ensemble_size=2, epochs=4, validation_fraction=0.25, n_iter_no_change=3)
    plain_fit = tiny(**params).fit(TEXTS, LABELS)
    full = tiny(**params, checkpoint_dir=tmp_path / "full").fit(TEXTS, LABELS)
    np.testing.assert_array_equal(full.predict_proba(TEXTS), plain_fit.predict_proba(TEXTS))
    assert full.member_histories_ == plain_fit.member_histories_

    folder = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt), epoch_saves(kill_after=2, folder="member-1"):
        tiny(**params, checkpoint_dir=folder).fit(TEXTS, LABELS)
    # another process's random stream (on JAX and torch, fit itself draws from NumPy's):
    # the split must still be the one of the checkpoint
    monkeypatch.setattr(np.random, "randint", lambda *args, **kwargs: 12345)
    resumed = tiny(**params, checkpoint_dir=folder).fit(TEXTS, LABELS)
    monkeypatch.undo()

    first, second = resumed.member_histories_
    assert first == full.member_histories_[0]  # taken from its checkpoint
    for got, want in zip(
        _member_weights(resumed, "rnn_classifier_0"), _member_weights(full, "rnn_classifier_0")
    ):
        np.testing.assert_array_equal(got, want)
    assert {k: v[:2] for k, v in second.items()} == {
        k: v[:2] for k, v in full.member_histories_[1].items()
    }
    assert len(second["loss"]) == len(full.member_histories_[1]["loss"])
    # the second network held out in its second process what it held out in its first
    ends = [checkpoint.load_state(f / "member-1")["extra"] for f in (folder, tmp_path / "full")]
    assert ends[0]["finished"] and ends[0]["split_seed"] is not None and ends[0] == ends[1]

    with pytest.raises(ValueError, match=r"other settings \(data_sha256: checkpoint"):
        tiny(**params, checkpoint_dir=folder).fit(TEXTS[::-1], LABELS[::-1])
    with pytest.raises(ValueError, match=r"other settings \(units: checkpoint 8, now 9\)"):
        tiny(**dict(params, units=9), checkpoint_dir=folder).fit(TEXTS, LABELS)
    with pytest.raises(ValueError, match="checkpoint_dir needs an int random_state"):
        tiny(**dict(params, random_state=None), checkpoint_dir=folder).fit(TEXTS, LABELS)


def test_a_fit_killed_after_it_stopped_early_ends_with_its_best_weights(tmp_path, monkeypatch):
    """A network that stopped early, killed after its last epoch's checkpoint but before
    its end was saved, is ended from the checkpoint (the early-stopping state and best
    weights it kept), training nothing more: the result of the uninterrupted fit."""
    from rnnkit.training import checkpoint

    params = dict(epochs=30, learning_rate=0.05, validation_fraction=0.25, n_iter_no_change=1)
    full = tiny(**params).fit(TEXTS, LABELS)
    assert len(full.history_["loss"]) < 30  # it stopped early
    real_save = checkpoint.save

    def killed_before_the_end(model, directory, epoch, step, history, extra, **kwargs):
        if extra.get("extra", {}).get("finished"):
            raise KeyboardInterrupt
        return real_save(model, directory, epoch, step, history, extra, **kwargs)

    folder = tmp_path / "ckpt"
    monkeypatch.setattr(checkpoint, "save", killed_before_the_end)
    with pytest.raises(KeyboardInterrupt):
        tiny(**params, checkpoint_dir=folder).fit(TEXTS, LABELS)
    assert checkpoint.load_state(folder / "member-0")["extra"]["stopped"]
    monkeypatch.setattr(checkpoint, "save", real_save)
    ended = tiny(**params, checkpoint_dir=folder).fit(TEXTS, LABELS)
    assert ended.history_ == full.history_
    for got, want in zip(ended.model_.get_weights(), full.model_.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert checkpoint.load_state(folder / "member-0")["extra"]["finished"]
    again = tiny(**params, checkpoint_dir=folder).fit(TEXTS, LABELS)  # taken whole
    assert again.history_ == full.history_
    np.testing.assert_array_equal(again.predict_proba(TEXTS), full.predict_proba(TEXTS))
