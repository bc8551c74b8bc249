"""BahdanauAttention against a NumPy reference of e_tj = v^T tanh(W q_t + U h_j + b)."""

import keras
import numpy as np
import pytest
from keras import ops

from rnnkit.layers import BahdanauAttention


def reference(query, values, mask, weights):
    w, u, b, v = weights
    single = query.ndim == 2
    q = query[:, None] if single else query
    batch, tq, tv = q.shape[0], q.shape[1], values.shape[1]
    if mask is None:
        mask = np.ones((batch, tv), bool)
    context = np.zeros((batch, tq, values.shape[2]))
    alpha = np.zeros((batch, tq, tv))
    for i in range(batch):
        idx = np.flatnonzero(mask[i])
        for t in range(tq):
            if idx.size == 0:
                continue
            e = np.array([v @ np.tanh(q[i, t] @ w + values[i, j] @ u + b) for j in idx])
            a = np.exp(e - e.max())
            a /= a.sum()
            alpha[i, t, idx] = a
            context[i, t] = a @ values[i, idx]
    if single:
        return context[:, 0], alpha[:, 0]
    return context, alpha


MASK = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 1, 0]], bool)


def make(seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(3, 4, 6)).astype("float32")
    layer = BahdanauAttention(5)
    layer.build((3, 7), (3, 4, 6))
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    return rng, layer, values


@pytest.mark.parametrize("query_rank", [2, 3])
@pytest.mark.parametrize("use_mask", [False, True])
def test_matches_numpy_reference(query_rank, use_mask):
    rng, layer, values = make()
    query = rng.normal(size=(3, 7) if query_rank == 2 else (3, 2, 7)).astype("float32")
    mask = MASK if use_mask else None
    context, alpha = layer(query, values, mask=mask, return_attention_scores=True)
    ref_context, ref_alpha = reference(query, values, mask, layer.get_weights())
    assert tuple(context.shape) == ref_context.shape
    assert tuple(alpha.shape) == ref_alpha.shape
    np.testing.assert_allclose(ops.convert_to_numpy(context), ref_context, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(alpha), ref_alpha, atol=1e-6)
    only_context = layer(query, values, mask=mask)
    np.testing.assert_allclose(ops.convert_to_numpy(only_context), ref_context, atol=1e-5)


def test_masked_steps_weight_zero_and_padding_invariance():
    rng, layer, values = make(1)
    query = rng.normal(size=(3, 2, 7)).astype("float32")
    c1, a1 = layer(query, values, mask=MASK, return_attention_scores=True)
    garbage = values.copy()
    garbage[~MASK] = 1e30
    c2, a2 = layer(query, garbage, mask=MASK, return_attention_scores=True)
    a1 = ops.convert_to_numpy(a1)
    assert np.all(a1[np.broadcast_to(~MASK[:, None], a1.shape)] == 0)
    np.testing.assert_allclose(a1.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(c1), ops.convert_to_numpy(c2))
    np.testing.assert_array_equal(a1, ops.convert_to_numpy(a2))


def test_precomputed_keys_path_equals_call():
    rng, layer, values = make(2)
    query = rng.normal(size=(3, 7)).astype("float32")
    keys = layer.project_values(values)
    c1, a1 = layer.attend(query, keys, values, MASK)
    c2, a2 = layer(query, values, mask=MASK, return_attention_scores=True)
    np.testing.assert_allclose(ops.convert_to_numpy(c1), ops.convert_to_numpy(c2), atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(a1), ops.convert_to_numpy(a2), atol=1e-6)


def test_functional_model_save_load(tmp_path):
    query = keras.Input((2, 7))
    values = keras.Input((4, 6))
    context, weights = BahdanauAttention(5, name="att")(query, values, return_attention_scores=True)
    assert tuple(context.shape) == (None, 2, 6)
    assert tuple(weights.shape) == (None, 2, 4)
    model = keras.Model([query, values], [context, weights])
    rng = np.random.default_rng(3)
    q = rng.normal(size=(3, 2, 7)).astype("float32")
    v = rng.normal(size=(3, 4, 6)).astype("float32")
    out = model([q, v])
    path = tmp_path / "att.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    out2 = loaded([q, v])
    for a, b in zip(out, out2):
        np.testing.assert_allclose(ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=1e-6)
    assert loaded.get_layer("att").get_config()["units"] == 5


def test_bad_input():
    with pytest.raises(ValueError, match="`units` must be a positive integer"):
        BahdanauAttention(0)
    rng, layer, values = make()
    with pytest.raises(ValueError, match="built for queries with 7 features"):
        layer(np.ones((3, 5), "float32"), values)
    with pytest.raises(ValueError, match="built for values with 6 features"):
        layer(np.ones((3, 7), "float32"), np.ones((3, 4, 8), "float32"))
    with pytest.raises(ValueError, match="expected values of shape \\(batch, Tv, Dv\\)"):
        layer(np.ones((3, 7), "float32"), np.ones((3, 6), "float32"))
    with pytest.raises(ValueError, match="expected a query of shape"):
        layer(np.ones((3, 2, 2, 7), "float32"), values)
    with pytest.raises(ValueError, match="same batch size"):
        layer(np.ones((2, 7), "float32"), values)
    with pytest.raises(ValueError, match="values mask of shape"):
        layer(np.ones((3, 7), "float32"), values, mask=np.ones((3, 5), bool))
    fresh = BahdanauAttention(4)
    with pytest.raises(ValueError, match="expected values of shape"):
        fresh(np.ones((3, 7), "float32"), np.ones((3, 6), "float32"))
