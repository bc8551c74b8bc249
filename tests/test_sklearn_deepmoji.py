"""DeepMojiClassifier: contract, fine-tuning methods, round trips and bad input.

Tiny sizes (8-d embedding, 8 LSTM units) with DeepMoji's real 50k vocabulary from the
data root; no pretrained weights are available offline, so these test the wiring, not
transfer quality (see benchmarks for that).
"""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
from deepmoji_numpy import random_weights, write_keras2_file
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec

from rnnkit.models.deepmoji import deepmoji, load_keras2_weights
from rnnkit.sklearn import DeepMojiClassifier

TEXTS = [
    "i love this so much",
    "what a great day :)",
    "best news ever!!!",
    "so happy for you",
    "this is awful",
    "i hate mondays",
    "worst day ever :(",
    "so sad and tired",
] * 2
LABELS = np.array(["pos"] * 4 + ["neg"] * 4 + ["pos"] * 4 + ["neg"] * 4)


def tiny(**overrides) -> DeepMojiClassifier:
    params = dict(
        finetune="last",
        embedding_dim=8,
        lstm_units=8,
        maxlen=10,
        epochs=1,
        batch_size=8,
        validation_fraction=0.25,
        random_state=0,
    )
    params.update(overrides)
    return DeepMojiClassifier(**params)


@pytest.fixture(scope="module")
def fitted() -> DeepMojiClassifier:
    return tiny().fit(TEXTS, LABELS)


def test_contract(fitted):
    assert is_classifier(DeepMojiClassifier())
    assert not [k for k in vars(DeepMojiClassifier()) if k.endswith("_")]
    assert DeepMojiClassifier().__sklearn_tags__().input_tags.string
    assert not hasattr(clone(fitted), "model_")
    with pytest.raises(NotFittedError):
        DeepMojiClassifier().predict(["hi"])
    assert list(fitted.classes_) == ["neg", "pos"]
    assert fitted.vocabulary_["CUSTOM_MASK"] == 0 and len(fitted.vocabulary_) == 50000
    assert [step["name"] for step in fitted.history_] == ["new_layers"]
    proba = fitted.predict_proba(TEXTS)
    assert proba.shape == (16, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(fitted.predict(TEXTS)) <= {"neg", "pos"}


@pytest.mark.parametrize(
    "check",
    [
        # As for RNNClassifier (see tests/test_sklearn_classifier.py): the remaining
        # checks feed numeric matrices, which a raw-text estimator rejects by design.
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
    ],
    ids=lambda c: c.__name__,
)
def test_sklearn_estimator_checks(check):
    check("DeepMojiClassifier", DeepMojiClassifier())


def test_pickle_joblib_round_trips_and_determinism(fitted):
    expected = fitted.predict_proba(TEXTS)
    data = pickle.dumps(fitted)
    assert b"tensorflow.python" not in data
    buffer = io.BytesIO()
    joblib.dump(fitted, buffer)
    buffer.seek(0)
    for restored in (pickle.loads(data), joblib.load(buffer)):
        np.testing.assert_array_equal(restored.predict_proba(TEXTS), expected)
        np.testing.assert_array_equal(restored.predict(TEXTS), fitted.predict(TEXTS))
    again = tiny().fit(TEXTS, LABELS)
    np.testing.assert_array_equal(again.predict_proba(TEXTS), expected)


def test_chain_thaw_runs_every_step_multiclass():
    y = np.array([0, 1, 2, 3] * 4)
    clf = tiny(finetune="chain-thaw").fit(TEXTS, y)
    assert [step["name"] for step in clf.history_] == [
        "new_layers",
        "embedding",
        "bi_lstm_0",
        "bi_lstm_1",
        "attlayer",
        "all",
    ]
    assert clf.predict_proba(TEXTS).shape == (16, 4)


ENCODER = ("embedding", "bi_lstm_0", "bi_lstm_1", "attlayer")


@pytest.mark.parametrize("method", ["last", "full", "new", "chain-thaw"])
def test_pretrained_weights_file_per_finetune_method(tmp_path, method):
    """``weights=`` loads every layer but the head from the file; then "last" keeps the
    encoder exactly as loaded, "full" and "chain-thaw" train it from there, "new"
    re-initialises it (no transfer)."""
    path = tmp_path / "deepmoji_weights.hdf5"
    write_keras2_file(path, random_weights(np.random.default_rng(4), 50000, 2))
    params = dict(finetune=method, weights=str(path), embedding_dim=6, lstm_units=5)
    # The reference: the same architecture loaded from the file by the loader itself.
    reference = deepmoji(50000, 2, 10, embedding_dim=6, lstm_units=5)
    load_keras2_weights(reference, path, exclude=("softmax",))
    clf = tiny(**params, learning_rate=1e-2, next_learning_rate=1e-2).fit(TEXTS, LABELS)
    for name in ENCODER:
        ours = clf.model_.get_layer(name).get_weights()
        loaded = reference.get_layer(name).get_weights()
        if method == "last":
            for a, b in zip(ours, loaded):
                np.testing.assert_array_equal(a, b)
            continue
        # The first weight tensor of the layer (embedding rows, forward LSTM kernel,
        # attention vector): trained from the file, or fresh.
        changed = not np.array_equal(ours[0], loaded[0])
        correlation = np.corrcoef(ours[0].ravel(), loaded[0].ravel())[0, 1]
        assert changed, (method, name)
        if method == "new":
            assert abs(correlation) < 0.2, (name, correlation)
        else:
            assert correlation > 0.9, (method, name, correlation)
    assert [step["name"] for step in clf.history_][0] == (
        "all" if method in ("full", "new") else "new_layers"
    )
    assert clf.predict_proba(TEXTS).shape == (16, 2)


@pytest.mark.parametrize(
    ("params", "X", "y", "match"),
    [
        ({"finetune": "thaw"}, TEXTS, LABELS, "finetune must be one of"),
        ({"validation_fraction": None}, TEXTS, LABELS, "validation_fraction"),
        ({}, ["hi", None], ["a", "b"], r"X\[1\] is None"),
        ({}, [1, 2], ["a", "b"], r"X\[0\] is a int"),
        ({}, [], [], "X is empty"),
        ({}, ["a", "b"], ["x"], r"len\(X\)=2, len\(y\)=1"),
        ({}, ["a", "b"], ["x", "x"], "single class"),
        ({}, ["a", "b"], np.array([[1, 0], [0, 1]]), "OneVsRestClassifier"),
        ({"weights": "/nonexistent/deepmoji.hdf5"}, TEXTS, LABELS, "weights file not found"),
    ],
)
def test_bad_input(params, X, y, match):
    with pytest.raises(ValueError, match=match):
        tiny(**params).fit(X, y)


def test_unseen_labels_in_score(fitted):
    with pytest.raises(ValueError, match=r"labels not seen during fit: \['meh'\]"):
        fitted.score(["so so"], ["meh"])
