"""DeepMoji model: size, names, NumPy forward pass, attention, save/load, vocabulary extension."""

import keras
import numpy as np
import pytest
from deepmoji_numpy import deepmoji_forward, random_weights

from rnnkit.models.deepmoji import LAYER_NAMES, deepmoji, extend_embedding

IDS = np.array(
    [
        [5, 9, 3, 11, 0, 0, 0],
        [1, 2, 3, 4, 5, 6, 7],
        [12, 0, 0, 0, 0, 0, 0],
    ],
    dtype="int32",
)


def small(nb_classes=4, gate="hard_sigmoid", return_attention=False, **kw):
    return deepmoji(
        nb_tokens=13,
        nb_classes=nb_classes,
        maxlen=7,
        embedding_dim=6,
        lstm_units=5,
        gate=gate,
        return_attention=return_attention,
        **kw,
    )


def set_weights(model, weights):
    for name in LAYER_NAMES:
        values = weights[name]
        model.get_layer(name).set_weights(
            [np.asarray(v, "float32") for v in (values if isinstance(values, list) else [values])]
        )


def test_full_size_parameter_count_and_layer_names():
    model = deepmoji(nb_tokens=50000, nb_classes=64, maxlen=30)
    assert model.count_params() == 22_395_200
    names = [layer.name for layer in model.layers if layer.weights]
    assert names == list(LAYER_NAMES)
    assert model.get_layer("attlayer").attention_vector.shape == (2304,)
    assert model.get_layer("bi_lstm_1").output.shape == (None, 30, 1024)
    assert model.output.shape == (None, 64)


@pytest.mark.parametrize("gate", ["hard_sigmoid", "sigmoid"])
def test_matches_numpy_forward_pass(gate):
    model = small(gate=gate, return_attention=True)
    weights = random_weights(np.random.default_rng(0), 13, 4)
    set_weights(model, weights)
    probs, attention = model.predict(IDS, verbose=0)
    ref_probs, ref_attention = deepmoji_forward(IDS, weights, gate=gate)
    np.testing.assert_allclose(probs, ref_probs, atol=1e-5)
    np.testing.assert_allclose(attention, ref_attention, atol=1e-5)
    # padding gets exactly zero attention, real tokens sum to one
    assert np.all(attention[IDS == 0] == 0)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-6)


def test_gate_choice_matters():
    weights = random_weights(np.random.default_rng(1), 13, 4)
    hard, soft = small(gate="hard_sigmoid"), small(gate="sigmoid")
    set_weights(hard, weights)
    set_weights(soft, weights)
    assert not np.allclose(hard.predict(IDS, verbose=0), soft.predict(IDS, verbose=0), atol=1e-4)


def test_binary_head_is_one_sigmoid_unit():
    model = small(nb_classes=2)
    assert model.output.shape == (None, 1)
    weights = random_weights(np.random.default_rng(2), 13, 2)
    set_weights(model, weights)
    np.testing.assert_allclose(
        model.predict(IDS, verbose=0), deepmoji_forward(IDS, weights)[0], atol=1e-5
    )


def test_save_load_round_trip(tmp_path):
    model = small(return_attention=True, embed_dropout=0.2, final_dropout=0.3)
    set_weights(model, random_weights(np.random.default_rng(3), 13, 4))
    path = tmp_path / "deepmoji.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    for a, b in zip(model.predict(IDS, verbose=0), loaded.predict(IDS, verbose=0)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert (
        loaded.get_layer("bi_lstm_0").forward_layer.cell.get_config()["recurrent_activation"]
        == "keras2_hard_sigmoid"
    )


def test_extend_embedding_keeps_pretrained_rows():
    model = small()
    weights = random_weights(np.random.default_rng(4), 13, 4)
    set_weights(model, weights)
    bigger = extend_embedding(model, 5, seed=0)
    emb = keras.ops.convert_to_numpy(bigger.get_layer("embedding").embeddings)
    assert emb.shape == (18, 6)
    np.testing.assert_allclose(emb[:13], weights["embedding"], atol=1e-7)
    np.testing.assert_allclose(
        bigger.predict(IDS, verbose=0), model.predict(IDS, verbose=0), atol=1e-6
    )
    new_ids = IDS.copy()
    new_ids[0, 0] = 17
    assert bigger.predict(new_ids, verbose=0).shape == (3, 4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`gate` must be one of"):
        small(gate="relu")
    with pytest.raises(ValueError, match="`nb_classes` must be an integer >= 2"):
        deepmoji(100, 1, 10)
    with pytest.raises(ValueError, match="`embed_dropout` must be a float in"):
        small(embed_dropout=1.5)
    with pytest.raises(ValueError, match="layer named 'embedding'"):
        extend_embedding(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), 3)


def test_the_family_folder_exports_the_old_module_names():
    import importlib

    import rnnkit.models
    from rnnkit.models.deepmoji import backbone, weights

    package = importlib.import_module("rnnkit.models.deepmoji")
    for name in ("GATES", "LAYER_NAMES", "deepmoji", "extend_embedding"):
        assert getattr(package, name) is getattr(backbone, name)
    for name in (
        "read_keras2_weights",
        "load_keras2_weights",
        "convert_torchmoji_state_dict",
        "load_torchmoji_weights",
    ):
        assert getattr(package, name) is getattr(weights, name)
    assert rnnkit.models.deepmoji is deepmoji  # `from rnnkit.models import deepmoji`
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("rnnkit.models.deepmoji_weights")


def test_transfer_copies_the_pretrained_layers_and_grows_the_embedding():
    import dataclasses

    from rnnkit.models.deepmoji.transfer import TRANSFERRED_LAYERS, build, get_config, transfer

    config = dataclasses.replace(get_config("quick"), embedding_dim=6, lstm_units=5, maxlen=7)
    pretrained = build(config, nb_tokens=13, nb_classes=4)
    set_weights(pretrained, random_weights(np.random.default_rng(5), 13, 4))
    model = transfer(pretrained, config, nb_tokens=16, nb_added=3, nb_classes=2, seed=0)
    assert model.output_shape == (None, 1)  # binary target: DeepMoji's one sigmoid unit
    emb = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
    old = keras.ops.convert_to_numpy(pretrained.get_layer("embedding").embeddings)
    assert emb.shape == (16, 6)
    np.testing.assert_array_equal(emb[:13], old)
    for name in TRANSFERRED_LAYERS[1:]:
        ours, theirs = model.get_layer(name), pretrained.get_layer(name)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)
    fresh = transfer(None, config, nb_tokens=16, nb_added=3, nb_classes=2, seed=0)
    vector = fresh.get_layer("attlayer").get_weights()[0]
    assert not np.allclose(vector, pretrained.get_layer("attlayer").get_weights()[0])
    with pytest.raises(ValueError, match="unknown DeepMoji configuration 'tiny'"):
        get_config("tiny")


def test_pretrained_folder_round_trip(tmp_path):
    import json

    from rnnkit.models.deepmoji.transfer import (
        get_config,
        load_pretrained,
        save_pretrained,
        target_vocabulary,
    )

    model = small()
    set_weights(model, random_weights(np.random.default_rng(6), 13, 4))
    from rnnkit.models.deepmoji import SPECIAL_TOKENS

    vocab = {w: i for i, w in enumerate([*SPECIAL_TOKENS, "good", "day", "sun"])}
    folder = save_pretrained(model, vocab, get_config("quick"), tmp_path / "p", {"n_train": 9})
    loaded, loaded_vocab = load_pretrained(folder)
    assert loaded_vocab == vocab
    np.testing.assert_allclose(loaded.predict(IDS, verbose=0), model.predict(IDS, verbose=0))
    info = json.loads((folder / "pretrain.json").read_text())
    assert info["n_train"] == 9 and info["config"]["name"] == "quick"
    with pytest.raises(FileNotFoundError, match="no pretrained DeepMoji model"):
        load_pretrained(tmp_path / "missing")
    extended, added = target_vocabulary(vocab, ["day brandnew brandnew other"], get_config("quick"))
    assert added == 2 and extended["brandnew"] == 13 and extended["day"] == 11


def test_attention_model_shares_the_weights_and_weighs_only_words():
    from rnnkit.models.deepmoji.attention import attention_model

    model = small()
    set_weights(model, random_weights(np.random.default_rng(7), 13, 4))
    both = attention_model(model)
    probabilities, attention = both.predict(IDS, verbose=0)
    np.testing.assert_allclose(probabilities, model.predict(IDS, verbose=0), atol=1e-6)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(attention[IDS == 0] < 1e-6)  # padding gets no weight
    assert attention_model(both) is both
