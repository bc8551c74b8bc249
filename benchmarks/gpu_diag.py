"""GPU diagnosis of go_backwards / Bidirectional outputs on the fused kernels (one device run).

Compares, on the current backend, each layer against the same layer with its fused kernel
turned off (Keras: use_cudnn=False; rnnkit: use_fused=False): max |difference| per case.
"""

import os

import keras
import numpy as np

import rnnkit

rng = np.random.default_rng(0)
x = rng.normal(size=(4, 7, 5)).astype("float32")
print("backend", keras.backend.backend())


def diff(a, b):
    a = a if isinstance(a, (list, tuple)) else [a]
    b = b if isinstance(b, (list, tuple)) else [b]
    return max(
        float(np.max(np.abs(keras.ops.convert_to_numpy(p) - keras.ops.convert_to_numpy(q))))
        for p, q in zip(a, b)
    )


for kind in ("LSTM", "GRU"):
    for gb in (False, True):
        kw = dict(return_sequences=True, go_backwards=gb)
        k_fast = (
            getattr(keras.layers, kind)(3, use_cudnn=True, **kw)
            if os.environ.get("KERAS_BACKEND") != "torch"
            else getattr(keras.layers, kind)(3, **kw)
        )
        k_slow = getattr(keras.layers, kind)(3, use_cudnn=False, **kw)
        r_fast = getattr(rnnkit.layers, kind)(3, **kw)
        r_slow = getattr(rnnkit.layers, kind)(3, use_fused=False, **kw)
        for layer in (k_fast, k_slow, r_fast, r_slow):
            layer.build(x.shape)
        w = k_slow.get_weights()
        for layer in (k_fast, r_fast, r_slow):
            layer.set_weights(w)
        try:
            kf = k_fast(x)
        except Exception as e:  # noqa: BLE001
            kf = None
            print(kind, "keras fast failed", type(e).__name__, str(e)[:200])
        ks, rf, rs = k_slow(x), r_fast(x), r_slow(x)
        print(
            f"{kind} go_backwards={gb}: keras cudnn vs keras loop "
            f"{diff(kf, ks) if kf is not None else 'n/a'}; rnnkit fused vs rnnkit loop "
            f"{diff(rf, rs):.2e}; rnnkit loop vs keras loop {diff(rs, ks):.2e}"
        )

kb = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))
rb = rnnkit.layers.Bidirectional(rnnkit.layers.LSTM(3, return_sequences=True))
rb_slow = rnnkit.layers.Bidirectional(rnnkit.layers.LSTM(3, return_sequences=True, use_fused=False))
for layer in (kb, rb, rb_slow):
    layer.build(x.shape)
rb.set_weights(kb.get_weights())
rb_slow.set_weights(kb.get_weights())
print(
    f"BiLSTM: rnnkit vs keras {diff(rb(x), kb(x)):.2e}; rnnkit fused vs rnnkit loop "
    f"{diff(rb(x), rb_slow(x)):.2e}; rnnkit loop vs keras {diff(rb_slow(x), kb(x)):.2e}"
)
