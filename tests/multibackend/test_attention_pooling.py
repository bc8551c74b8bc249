"""AttentionPooling against a NumPy reference of the DeepMoji and HAN equations."""

import keras
import numpy as np
import pytest
from keras import ops

from rnnkit.layers import AttentionPooling


def reference(x, mask, score, weights):
    """NumPy: alpha = softmax over unmasked t of score(x_t); out = sum alpha_t x_t."""
    if score == "deepmoji":
        (w,) = weights
        logits = x @ w
    else:
        kernel, bias, u = weights
        logits = np.tanh(x @ kernel + bias) @ u
    if mask is None:
        mask = np.ones(x.shape[:2], bool)
    out = np.zeros((x.shape[0], x.shape[2]))
    alpha = np.zeros(x.shape[:2])
    for b in range(x.shape[0]):
        idx = np.flatnonzero(mask[b])
        if idx.size == 0:
            continue
        z = logits[b, idx] - logits[b, idx].max()
        a = np.exp(z) / np.exp(z).sum()
        alpha[b, idx] = a
        out[b] = a @ x[b, idx]
    return out, alpha


def make_mask():
    return np.array(
        [
            [1, 1, 1, 1, 1],  # full
            [1, 1, 1, 0, 0],  # right padded
            [0, 0, 1, 1, 1],  # left padded
            [0, 0, 0, 0, 0],  # fully masked
        ],
        bool,
    )


@pytest.mark.parametrize("score", ["deepmoji", "han"])
def test_matches_numpy_reference_with_masks(score):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 6)).astype("float32")
    mask = make_mask()
    layer = AttentionPooling(score=score, units=3, return_attention=True)
    layer.build(x.shape)
    # scale the weights up so the softmax is far from uniform
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    vector, alpha = layer(x, mask=mask)
    ref_vector, ref_alpha = reference(x, mask, score, layer.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(vector), ref_vector, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(alpha), ref_alpha, atol=1e-6)
    # masked steps get weight exactly 0; unmasked rows sum to 1
    alpha = ops.convert_to_numpy(alpha)
    assert np.all(alpha[~mask] == 0.0)
    np.testing.assert_allclose(alpha.sum(1), mask.any(1).astype(float), atol=1e-6)
    # without a mask: plain softmax over all steps
    v2 = layer(x)[0]
    np.testing.assert_allclose(
        ops.convert_to_numpy(v2), reference(x, None, score, layer.get_weights())[0], atol=1e-5
    )


@pytest.mark.parametrize("score", ["deepmoji", "han"])
def test_padding_content_cannot_change_result(score):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 5, 6)).astype("float32")
    mask = make_mask()
    layer = AttentionPooling(score=score, return_attention=True)
    v1, a1 = layer(x, mask=mask)
    garbage = x.copy()
    garbage[~mask] = 1e30  # huge values (and inf) in the padding
    garbage[3, 0, 0] = np.inf
    v2, a2 = layer(garbage, mask=mask)
    np.testing.assert_array_equal(ops.convert_to_numpy(v1), ops.convert_to_numpy(v2))
    np.testing.assert_array_equal(ops.convert_to_numpy(a1), ops.convert_to_numpy(a2))
    assert np.all(np.isfinite(ops.convert_to_numpy(v2)))
    np.testing.assert_array_equal(ops.convert_to_numpy(v2)[3], 0.0)


def test_deepmoji_weight_name_and_shape():
    layer = AttentionPooling()
    layer.build((None, 7, 10))
    assert [w.path.split("/")[-1] for w in layer.weights] == ["attention_vector"]
    assert tuple(layer.attention_vector.shape) == (10,)
    # DeepMoji's Keras 'attlayer' weight is (d, 1): documented import by reshape
    keras_w = np.arange(10, dtype="float32").reshape(10, 1)
    layer.set_weights([keras_w.reshape(-1)])
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.attention_vector), keras_w[:, 0])
    han = AttentionPooling(score="han", units=4)
    han.build((None, 7, 10))
    assert [tuple(w.shape) for w in han.weights] == [(10, 4), (4,), (4,)]


def test_mask_from_embedding_and_save_load(tmp_path):
    inputs = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 8, mask_zero=True)(inputs)
    vector, weights = AttentionPooling(score="han", units=5, return_attention=True)(h)
    model = keras.Model(inputs, [keras.layers.Dense(3)(vector), weights])
    ids = np.array([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6]], "int32")
    out, alpha = model(ids)
    alpha = ops.convert_to_numpy(alpha)
    assert np.all(alpha[0, 3:] == 0)
    np.testing.assert_allclose(alpha.sum(1), 1.0, atol=1e-6)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    out2, alpha2 = loaded(ids)
    np.testing.assert_allclose(ops.convert_to_numpy(out), ops.convert_to_numpy(out2), atol=1e-6)
    np.testing.assert_allclose(alpha, ops.convert_to_numpy(alpha2), atol=1e-6)
    assert loaded.layers[2].get_config()["score"] == "han"


def test_gradients_finite_with_fully_masked_row():
    layer = AttentionPooling(score="deepmoji")
    layer.build((4, 5, 6))
    x = np.random.default_rng(2).normal(size=(4, 5, 6)).astype("float32")
    mask = make_mask()
    x_t = ops.convert_to_tensor(x)
    mask_t = ops.convert_to_tensor(mask)
    if keras.backend.backend() == "jax":
        import jax

        grads = jax.grad(lambda w: ops.sum(layer.stateless_call([w], [], x_t, mask=mask_t)[0]))(
            layer.attention_vector.value
        )
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = ops.sum(layer(x_t, mask=mask_t))
        grads = tape.gradient(loss, layer.attention_vector.value)
    else:
        loss = ops.sum(layer(x_t, mask=mask_t))
        loss.backward()
        grads = layer.attention_vector.value.grad
    grads = ops.convert_to_numpy(grads)
    assert np.all(np.isfinite(grads)) and np.any(grads != 0)


def test_bad_input():
    with pytest.raises(ValueError, match="`score` must be one of"):
        AttentionPooling(score="luong")
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        AttentionPooling(score="han", units=0)
    layer = AttentionPooling()
    with pytest.raises(ValueError, match="expected inputs of rank 3"):
        layer(np.ones((2, 3), "float32"))
    layer(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="was built for 4 input features"):
        layer(np.ones((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="expected a mask of shape"):
        layer(np.ones((2, 3, 4), "float32"), mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="floating-point"):
        layer(np.ones((2, 3, 4), "int32"))
