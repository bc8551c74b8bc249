"""An independent NumPy forward pass of DeepMoji, used by the DeepMoji tests, and a
writer of the original Keras 2 weight-file layout for those weights.

Written from the paper's / original code's equations (Keras 2 LSTM, gate order
i, f, c, o; attention ``softmax_t(x_t . w)`` over the unmasked steps), not from rnnkit.
"""

from __future__ import annotations

import h5py
import numpy as np


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm(x: np.ndarray, kernel, recurrent, bias, gate) -> np.ndarray:
    """Runs one LSTM over ``x`` (T, D); returns the outputs (T, units)."""
    units = recurrent.shape[0]
    h = np.zeros(units)
    c = np.zeros(units)
    out = []
    for t in range(x.shape[0]):
        z = x[t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[k * units : (k + 1) * units] for k in range(4))
        c = gate(f) * c + gate(i) * np.tanh(g)
        h = gate(o) * np.tanh(c)
        out.append(h)
    return np.array(out).reshape(x.shape[0], units)


def bilstm(x: np.ndarray, w: list, gate) -> np.ndarray:
    fwd = lstm(x, *w[:3], gate)
    bwd = lstm(x[::-1], *w[3:], gate)[::-1]
    return np.concatenate([fwd, bwd], axis=-1)


def deepmoji_forward(ids: np.ndarray, weights: dict, gate: str = "hard_sigmoid"):
    """Probabilities and attention of DeepMoji for int ``ids`` (B, T), 0 = padding at the end.

    ``weights``: ``embedding`` (V, E); ``bi_lstm_0`` / ``bi_lstm_1``: Keras-layout
    ``[fK, fR, fb, bK, bR, bb]``; ``attlayer`` (d,); ``softmax`` ``[W (d, C), b (C,)]``.
    """
    act = hard_sigmoid if gate == "hard_sigmoid" else sigmoid
    probs, attentions = [], []
    for row in ids:
        n = int(np.sum(row != 0))
        attention = np.zeros(len(row))
        emb = np.tanh(weights["embedding"][row[:n]].astype(np.float64))
        l0 = bilstm(emb, weights["bi_lstm_0"], act)
        l1 = bilstm(l0, weights["bi_lstm_1"], act)
        feats = np.concatenate([l1, l0, emb], axis=-1)
        logits = feats @ weights["attlayer"]
        e = np.exp(logits - logits.max())
        a = e / e.sum()
        attention[:n] = a
        pooled = a @ feats
        kernel, b = weights["softmax"]
        z = pooled @ kernel + b
        if z.shape[-1] == 1:
            p = sigmoid(z)
        else:
            p = np.exp(z - z.max())
            p = p / p.sum()
        probs.append(p)
        attentions.append(attention)
    return np.array(probs), np.array(attentions)


def random_weights(rng, nb_tokens, nb_classes, emb=6, units=5, scale=0.5) -> dict:
    """Random DeepMoji weights in Keras layout."""

    def lstm_w(d_in):
        return [
            rng.normal(0, scale, (d_in, 4 * units)),
            rng.normal(0, scale, (units, 4 * units)),
            rng.normal(0, scale, (4 * units,)),
        ]

    d = 4 * units + emb
    out = nb_classes if nb_classes > 2 else 1
    return {
        "embedding": rng.normal(0, 1.0, (nb_tokens, emb)),
        "bi_lstm_0": lstm_w(emb) + lstm_w(emb),
        "bi_lstm_1": lstm_w(2 * units) + lstm_w(2 * units),
        "attlayer": rng.normal(0, scale, (d,)),
        "softmax": [rng.normal(0, scale, (d, out)), rng.normal(0, scale, (out,))],
    }


def write_keras2_file(path, w, shuffle_lstm_order=False):
    """The layout of Keras 2 ``model.save_weights`` for DeepMoji."""
    with h5py.File(path, "w") as f:
        layers = {
            "input_1": [],
            "embedding": [("embedding/embeddings:0", w["embedding"])],
            "activation_1": [],
            "attlayer": [("attlayer/attlayer_W:0", w["attlayer"].reshape(-1, 1))],
            "softmax": [("softmax/kernel:0", w["softmax"][0]), ("softmax/bias:0", w["softmax"][1])],
        }
        for name in ("bi_lstm_0", "bi_lstm_1"):
            entries = []
            for d, direction in enumerate(("forward", "backward")):
                for k, kind in enumerate(("kernel", "recurrent_kernel", "bias")):
                    entries.append(
                        (f"{name}/{direction}_lstm_{name[-1]}/{kind}:0", w[name][3 * d + k])
                    )
            if shuffle_lstm_order:
                entries = entries[::-1]
            layers[name] = entries
        f.attrs["layer_names"] = [n.encode() for n in layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.0.9"
        for name, entries in layers.items():
            g = f.create_group(name)
            g.attrs["weight_names"] = [n.encode() for n, _ in entries]
            for n, v in entries:
                g.create_dataset(n, data=np.asarray(v, "float32"))
