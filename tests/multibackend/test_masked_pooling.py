"""MaskedPooling against a NumPy reference: max / mean / max+mean over unmasked steps."""

import keras
import numpy as np
import pytest
from helpers import gradients, masks, sum_sq, to_np

from rnnkit.layers import MaskedPooling

MASKS = masks()


def reference(x, mask, mode):
    if mask is None:
        mask = np.ones(x.shape[:2], bool)
    peak = np.zeros((x.shape[0], x.shape[2]))
    mean = np.zeros_like(peak)
    for b in range(x.shape[0]):
        rows = x[b, mask[b]]
        if len(rows):  # a fully masked row gives zeros
            peak[b], mean[b] = rows.max(0), rows.mean(0)
    return {"max": peak, "mean": mean, "max_mean": np.concatenate([peak, mean], -1)}[mode]


@pytest.mark.parametrize("mask_kind", list(MASKS))
@pytest.mark.parametrize("mode", ["max", "mean", "max_mean"])
def test_matches_numpy_and_ignores_padding(mode, mask_kind):
    mask = MASKS[mask_kind]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 5)).astype("float32") - 3.0  # all negative: max != 0
    layer = MaskedPooling(mode)
    out = to_np(layer(x, mask=mask))
    assert out.shape == (4, 10 if mode == "max_mean" else 5)
    np.testing.assert_allclose(out, reference(x, mask, mode), rtol=1e-6, atol=1e-6)
    if mask is not None:
        # padding values never matter, however large
        x2 = np.where(mask[..., None], x, 1e6).astype("float32")
        np.testing.assert_allclose(to_np(layer(x2, mask=mask)), out, rtol=1e-6, atol=1e-6)
        # and get no gradient
        grad = gradients(layer, x, sum_sq, mask=mask)[0]
        assert np.isfinite(grad).all() and np.abs(grad[~mask]).max(initial=0.0) == 0.0


def test_mask_from_embedding_and_save_load(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    out = MaskedPooling("max_mean", name="pool")(h)
    model = keras.Model(ids, out)
    x = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]], "int32")
    emb = to_np(model.layers[1].embeddings)
    expected = reference(emb[x], x != 0, "max_mean")
    np.testing.assert_allclose(to_np(model(x)), expected, rtol=1e-6, atol=1e-6)
    path = tmp_path / "pool.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_layer("pool").get_config()["mode"] == "max_mean"
    np.testing.assert_allclose(to_np(loaded(x)), expected, rtol=1e-6, atol=1e-6)


def test_bad_mode():
    with pytest.raises(ValueError, match="must be one of .*got 'sum'"):
        MaskedPooling("sum")
