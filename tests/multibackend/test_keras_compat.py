"""rnnkit's LSTM, GRU, SimpleRNN and Bidirectional as drop-in replacements for keras.layers'.

1. Keras's own test classes for these layers (``keras/src/layers/rnn/*_test.py``, shipped
   inside the installed keras package) run here with rnnkit's classes substituted for
   Keras's: no copy of Keras's code in this repository.
2. The configs have exactly keras.layers' keys and move between the two libraries.
3. Runtime execution settings (rnnkit.config) stay out of the config; configs that
   rnnkit 0.1 saved with them still load, with a warning.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras.src import layers as keras_src_layers
from keras.src.layers.rnn import bidirectional_test, gru_test, lstm_test, simple_rnn_test

import rnnkit
from rnnkit.layers import GRU, LSTM, Bidirectional, SimpleRNN, StackedRNN

SUBSTITUTES = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN, "Bidirectional": Bidirectional}


@pytest.fixture(autouse=True)
def rnnkit_as_keras_layers(monkeypatch):
    """Inside every test of this module, keras.layers.X is rnnkit's X (Keras's test
    modules look the classes up at call time through ``keras.src.layers``)."""
    for name, cls in SUBSTITUTES.items():
        monkeypatch.setattr(keras_src_layers, name, cls)
        monkeypatch.setattr(keras.layers, name, cls)


# -- 1. Keras's own tests ---------------------------------------------------------------
KerasLSTMTest = lstm_test.LSTMTest
KerasGRUTest = gru_test.GRUTest
KerasSimpleRNNTest = simple_rnn_test.SimpleRNNTest


class KerasBidirectionalTest(bidirectional_test.SimpleRNNTest):
    # These two call Keras-private methods of keras.layers.Bidirectional
    # (_can_attempt_fused_lstm / _gru), not the layer's public behaviour; rnnkit's fused
    # paths are tested against the generic loop in test_recurrent_layers.py.
    test_fused_lstm_eligibility = None
    test_fused_gru_eligibility = None


def test_keras_test_classes_hold_the_expected_tests():
    """The substitution runs Keras's tests, not an empty class (a Keras upgrade that
    renamed them would show here)."""
    for cls, least in ((KerasLSTMTest, 5), (KerasGRUTest, 7), (KerasSimpleRNNTest, 5)):
        names = [n for n in dir(cls) if n.startswith("test") and callable(getattr(cls, n))]
        assert len(names) >= least, (cls, names)
    assert keras.layers.LSTM is LSTM  # the fixture is active for plain tests too


# -- 2. configs --------------------------------------------------------------------------
#: where Keras defines its own classes (keras.layers.X is rnnkit's inside these tests)
KERAS_MODULES = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
def test_config_keys_are_keras_keys_and_move_both_ways(name):
    import importlib

    module = importlib.import_module(f"keras.src.layers.rnn.{KERAS_MODULES[name]}")
    theirs_cls = getattr(module, name)
    ours_cls = SUBSTITUTES[name]
    options = dict(
        units=3,
        return_sequences=True,
        dropout=0.1,
        activity_regularizer=keras.regularizers.L2(0.01),
        kernel_regularizer=keras.regularizers.L1(0.02),
    )
    ours, theirs = ours_cls(**options), theirs_cls(**options)
    assert set(ours.get_config()) == set(theirs.get_config())
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    # rnnkit config -> Keras layer, Keras config -> rnnkit layer: same function
    for source, target_cls in ((ours, theirs_cls), (theirs, ours_cls)):
        source(x)
        target = target_cls.from_config(source.get_config())
        target(x)
        target.set_weights(source.get_weights())
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(target(x)), keras.ops.convert_to_numpy(source(x)), atol=1e-5
        )
        expected = source.get_config()
        if target_cls is theirs_cls and name == "SimpleRNN":
            # keras.layers.SimpleRNN takes activity_regularizer but drops it (it never
            # reaches keras.Layer), so its config says None
            expected["activity_regularizer"] = None
        assert target.get_config() == expected
    # the activity regularizer is saved and applied
    ours2 = ours_cls.from_config(ours.get_config())
    ours2(x)
    assert len(ours2.losses) == len(ours.losses) >= 2


def test_legacy_configs_with_runtime_arguments_load_with_a_warning():
    config = LSTM(3, name="old").get_config()
    old = {**config, "use_fused": True, "loop": "scan", "projection": "auto", "batch_split": 2}
    with pytest.warns(UserWarning, match=r"'old'.*'use_fused': True.*'loop': 'scan'.*ignored"):
        layer = LSTM.from_config(old)
    assert layer.use_fused == "auto" and layer.loop == "auto" and layer.batch_split == "auto"
    assert layer.get_config() == config
    # a 0.1 config whose runtime arguments were all "auto" loads silently
    quiet = {**config, "use_fused": "auto", "loop": "auto", "projection": "auto"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LSTM.from_config(quiet)


# -- 3. runtime settings --------------------------------------------------------------
def test_runtime_settings_precedence_and_errors(monkeypatch):
    from rnnkit import config

    layer, own = LSTM(3), LSTM(3, loop="unrolled")
    assert config.get_execution() == {"loop": "auto", "projection": "auto", "batch_split": "auto"}
    monkeypatch.setenv("RNNKIT_LOOP", "scan")
    monkeypatch.setenv("RNNKIT_BATCH_SPLIT", "2")
    assert config.resolve(layer)["loop"] == "scan" and config.resolve(layer)["batch_split"] == 2
    try:
        config.set_execution(loop="tf_while" if keras.backend.backend() == "tensorflow" else "scan")
        with config.execution(loop="unrolled", projection="per_step") as inside:
            assert inside["loop"] == "unrolled"
            assert config.resolve(layer)["projection"] == "per_step"
            with config.execution(projection="hoisted"):
                assert config.resolve(layer)["loop"] == "unrolled"  # the outer block's
                assert config.resolve(layer)["projection"] == "hoisted"
        assert config.resolve(layer)["projection"] == "auto"
        assert config.resolve(own)["loop"] == "unrolled"  # the layer's own value wins
    finally:
        config.set_execution(loop="auto")
    monkeypatch.setenv("RNNKIT_LOOP", "fast")
    with pytest.raises(ValueError, match=r"environment variable RNNKIT_LOOP must be one of"):
        config.get_execution()
    with pytest.raises(ValueError, match=r"`batch_split` must be 'auto' or a positive int"):
        with config.execution(batch_split=0):
            pass
    assert "loop" not in layer.get_config() and "use_fused" not in layer.get_config()


def test_runtime_settings_give_the_same_function():
    x = np.random.default_rng(1).normal(size=(4, 6, 5)).astype("float32")
    mask = np.arange(6)[None, :] < np.array([6, 3, 1, 0])[:, None]
    layer = LSTM(3, return_sequences=True)
    expected = keras.ops.convert_to_numpy(layer(x, mask=mask))
    for settings in ({"loop": "unrolled"}, {"projection": "per_step"}, {"batch_split": 2}):
        with rnnkit.config.execution(**settings):
            got = keras.ops.convert_to_numpy(layer(x, mask=mask))
        np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("wrap", ["bidirectional", "stacked"])
def test_use_cudnn_true_stays_strict_inside_wrappers(wrap):
    """use_cudnn=True (use_fused=True) is kept by the copies that Bidirectional and
    StackedRNN make from the config (which does not hold it), so a configuration with
    no fused kernel is still an error naming the condition."""
    inner = LSTM(3, use_cudnn=True, recurrent_dropout=0.2, return_sequences=True)
    layer = Bidirectional(inner) if wrap == "bidirectional" else StackedRNN([inner])
    subs = (
        [layer.forward_layer, layer.backward_layer]
        if wrap == "bidirectional"
        else [layer.rnn_layers[0]]
    )
    assert all(s.use_cudnn is True and s.use_fused is True for s in subs)
    x = np.ones((2, 4, 5), "float32")
    with pytest.raises(ValueError, match=r"use_fused=True but no fused kernel applies"):
        layer(x, training=True)
