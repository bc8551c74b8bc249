"""Weight import from DeepMoji's Keras 2 HDF5 file layout and torchMoji state dicts."""

import h5py
import numpy as np
import pytest
import torch
from deepmoji_numpy import deepmoji_forward, random_weights, write_keras2_file

from rnnkit.models.deepmoji import (
    deepmoji,
    extend_embedding,
    load_keras2_weights,
    load_torchmoji_weights,
)

IDS = np.array([[5, 9, 3, 11, 0, 0], [1, 2, 3, 4, 5, 6], [12, 0, 0, 0, 0, 0]], dtype="int32")


def small(nb_tokens=13, nb_classes=4):
    return deepmoji(nb_tokens, nb_classes, 6, embedding_dim=6, lstm_units=5)


def torchmoji_state_dict(w):
    """A torchMoji state dict: (4 units, in) matrices and two biases that sum to Keras's."""
    rng = np.random.default_rng(9)
    sd = {"embed.weight": w["embedding"]}
    for i, name in enumerate(("bi_lstm_0", "bi_lstm_1")):
        for d, suffix in enumerate(("", "_reverse")):
            kernel, recurrent, bias = w[name][3 * d : 3 * d + 3]
            split = rng.normal(size=bias.shape)
            sd[f"lstm_{i}.weight_ih_l0{suffix}"] = kernel.T
            sd[f"lstm_{i}.weight_hh_l0{suffix}"] = recurrent.T
            sd[f"lstm_{i}.bias_ih_l0{suffix}"] = bias - split
            sd[f"lstm_{i}.bias_hh_l0{suffix}"] = split
    sd["attention_layer.attention_vector"] = w["attlayer"]
    sd["output_layer.0.weight"] = w["softmax"][0].T
    sd["output_layer.0.bias"] = w["softmax"][1]
    return {k: torch.tensor(np.asarray(v, "float32")) for k, v in sd.items()}


@pytest.mark.parametrize("shuffle", [False, True])
def test_keras2_hdf5_import_matches_numpy(tmp_path, shuffle):
    w = random_weights(np.random.default_rng(0), 13, 4)
    path = tmp_path / "deepmoji_weights.hdf5"
    write_keras2_file(path, w, shuffle_lstm_order=shuffle)
    model = small()
    loaded = load_keras2_weights(model, path)
    assert loaded == ["embedding", "attlayer", "softmax", "bi_lstm_0", "bi_lstm_1"]
    np.testing.assert_allclose(
        model.predict(IDS, verbose=0), deepmoji_forward(IDS, w)[0], atol=1e-5
    )


def test_torchmoji_import_matches_numpy(tmp_path):
    w = random_weights(np.random.default_rng(1), 13, 4)
    path = tmp_path / "pytorch_model.bin"
    torch.save(torchmoji_state_dict(w), path)
    model = small()
    load_torchmoji_weights(model, path)
    np.testing.assert_allclose(
        model.predict(IDS, verbose=0), deepmoji_forward(IDS, w)[0], atol=1e-5
    )
    # the same from the in-memory dict
    other = small()
    load_torchmoji_weights(other, torchmoji_state_dict(w))
    np.testing.assert_allclose(other.predict(IDS, verbose=0), model.predict(IDS, verbose=0))


def test_import_into_extended_vocabulary_and_new_head(tmp_path):
    w = random_weights(np.random.default_rng(2), 13, 4)
    path = tmp_path / "w.hdf5"
    write_keras2_file(path, w)
    model = extend_embedding(deepmoji(13, 3, 6, embedding_dim=6, lstm_units=5), 4)
    before = model.get_layer("softmax").get_weights()
    loaded = load_keras2_weights(model, path, exclude=("softmax",))
    assert "softmax" not in loaded
    emb = model.get_layer("embedding").get_weights()[0]
    np.testing.assert_allclose(emb[:13], w["embedding"], atol=1e-7)
    for a, b in zip(before, model.get_layer("softmax").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_files(tmp_path):
    w = random_weights(np.random.default_rng(3), 13, 4)
    path = tmp_path / "w.hdf5"
    write_keras2_file(path, w)
    with pytest.raises(ValueError, match="expects weight shapes"):
        load_keras2_weights(small(nb_classes=5), path)
    with pytest.raises(ValueError, match="at least as many tokens"):
        load_keras2_weights(small(nb_tokens=10), path)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ValueError, match="not a Keras 2 weights file"):
        load_keras2_weights(small(), other)
    text = tmp_path / "text.hdf5"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        load_keras2_weights(small(), text)
    sd = torchmoji_state_dict(w)
    del sd["lstm_1.bias_hh_l0_reverse"]
    with pytest.raises(ValueError, match="'lstm_1.bias_hh_l0_reverse' is missing"):
        load_torchmoji_weights(small(), sd)
