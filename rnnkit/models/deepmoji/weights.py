"""Weight import for the DeepMoji backbone (:func:`rnnkit.models.deepmoji.deepmoji`) from
the original releases.

Two formats are read:

* the Keras 2 HDF5 weights file of DeepMoji (``model.save_weights`` layout: root
  attribute ``layer_names``; one group per layer with attribute ``weight_names``;
  layers ``embedding``, ``bi_lstm_0``, ``bi_lstm_1``, ``attlayer``, ``softmax``);
  the Bidirectional LSTMs hold ``forward_*/kernel``, ``recurrent_kernel``, ``bias``
  then the same for ``backward_*``, Keras's own layout (gate order i, f, c, o),
  and ``attlayer`` stores its vector with shape ``(d, 1)``;
* a torchMoji PyTorch state dict (``embed.weight``, ``lstm_0.weight_ih_l0``,
  ``lstm_0.weight_hh_l0``, ``lstm_0.bias_ih_l0``, ``lstm_0.bias_hh_l0`` and the
  ``_reverse`` set, the same for ``lstm_1``, ``attention_layer.attention_vector``,
  ``output_layer.0.weight`` / ``.bias``). PyTorch stores ``(4 units, in)`` matrices
  with gate order i, f, g, o (= Keras's i, f, c, o), so kernels are transposed, and
  it has two biases whose sum is Keras's one bias.

Both importers accept an embedding with fewer rows than the model's (a model built
with :func:`rnnkit.models.deepmoji.extend_embedding` or a larger ``nb_tokens``):
the pretrained rows are written and the extra rows keep their initial values.
Layers named in ``exclude`` (typically ``("softmax",)`` when fine-tuning on a task
with other classes) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np

_LSTMS = ("bi_lstm_0", "bi_lstm_1")


def _layer(model: keras.Model, name: str) -> keras.Layer:
    try:
        return model.get_layer(name)
    except ValueError as e:
        raise ValueError(
            f"The model has no layer named {name!r} (DeepMoji's layer names are embedding, "
            f"bi_lstm_0, bi_lstm_1, attlayer, softmax); its layers are "
            f"{[layer.name for layer in model.layers]}."
        ) from e


def _assign(layer: keras.Layer, values: list[np.ndarray], source: str) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(np.shape(v)) for v in values]
    if expected != got:
        raise ValueError(
            f"Cannot load {source} into layer '{layer.name}': the model expects weight "
            f"shapes {expected}, the file gives {got}. Build the model with the same "
            "sizes (nb_classes, units), or exclude the layer (exclude=('softmax',))."
        )
    layer.set_weights([np.asarray(v, dtype=w.dtype) for v, w in zip(values, layer.weights)])


def _assign_embedding(layer: keras.Layer, rows: np.ndarray, source: str) -> None:
    current = keras.ops.convert_to_numpy(layer.embeddings)
    if rows.ndim != 2 or rows.shape[1] != current.shape[1] or rows.shape[0] > current.shape[0]:
        raise ValueError(
            f"Cannot load the embedding of {source}: its shape is {rows.shape}, the model's "
            f"is {current.shape}. The model needs the same embedding size and at least as "
            "many tokens (a larger vocabulary keeps the extra rows)."
        )
    current[: rows.shape[0]] = rows
    layer.set_weights([current])


def _apply(
    model: keras.Model, weights: dict[str, list[np.ndarray]], source: str, exclude: Iterable[str]
) -> list[str]:
    exclude = set(exclude)
    loaded = []
    for name, values in weights.items():
        if name in exclude:
            continue
        layer = _layer(model, name)
        if name == "embedding":
            _assign_embedding(layer, values[0], source)
        else:
            _assign(layer, values, source)
        loaded.append(name)
    return loaded


# -- Keras 2 HDF5 --------------------------------------------------------------------------
def _decode(names: Iterable[Any]) -> list[str]:
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def _order_lstm_weights(names: list[str], values: list[np.ndarray]) -> list[np.ndarray]:
    """Forward (kernel, recurrent_kernel, bias) then backward, whatever the file order."""
    slots: dict[tuple[int, str], np.ndarray] = {}
    for name, value in zip(names, values):
        base = name.split("/")[-1].split(":")[0]
        direction = 1 if "backward" in name else 0
        if base.startswith("recurrent_kernel"):
            kind = "recurrent_kernel"
        elif base.startswith("kernel"):
            kind = "kernel"
        elif base.startswith("bias"):
            kind = "bias"
        else:
            kind = ""
        slots[(direction, kind)] = value
    keys = [(d, k) for d in (0, 1) for k in ("kernel", "recurrent_kernel", "bias")]
    if len(values) == 6 and all(k in slots for k in keys):
        return [slots[k] for k in keys]
    raise ValueError(
        f"Unrecognised Bidirectional LSTM weights {names}: expected the Keras 2 layout "
        "forward_*/kernel, recurrent_kernel, bias and backward_*/... (Keras 1 files with "
        "per-gate matrices W_i, U_i, ... are not supported)."
    )


def read_keras2_weights(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Reads a DeepMoji Keras 2 HDF5 weights file into ``{layer name: [arrays]}``.

    The arrays are already in rnnkit's layout (``attlayer`` as a ``(d,)`` vector,
    Bidirectional weights ordered forward then backward).
    """
    import h5py

    if not os.path.exists(path):
        raise FileNotFoundError(f"No weights file at {path}.")
    try:
        f = h5py.File(path, mode="r")
    except OSError as e:
        raise ValueError(f"{path} is not an HDF5 file ({e}).") from e
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            raise ValueError(
                f"{path} is not a Keras 2 weights file: its root has no 'layer_names' "
                "attribute (expected the layout of Keras 2 model.save_weights)."
            )
        result: dict[str, list[np.ndarray]] = {}
        for layer_name in _decode(root.attrs["layer_names"]):
            group = root[layer_name]
            names = _decode(group.attrs.get("weight_names", []))
            if not names:
                continue
            values = [np.asarray(group[n]) for n in names]
            if layer_name in _LSTMS:
                values = _order_lstm_weights(names, values)
            elif layer_name == "attlayer":
                values = [values[0].reshape(-1)]
            result[layer_name] = values
    return result


def load_keras2_weights(
    model: keras.Model, path: str | os.PathLike, exclude: Iterable[str] = ()
) -> list[str]:
    """Loads DeepMoji's Keras 2 HDF5 weights file into a :func:`deepmoji` model.

    Args:
        model: A model from :func:`rnnkit.models.deepmoji.deepmoji` (same sizes).
        path: The ``.hdf5`` file (``model.save_weights`` layout, or a full-model
            file with a ``model_weights`` group).
        exclude: Layer names not to load (e.g. ``("softmax",)`` for a new task).

    Returns:
        The names of the layers loaded.

    Example:

    >>> model = deepmoji(50000, 64, 30)  # doctest: +SKIP
    >>> load_keras2_weights(model, "deepmoji_weights.hdf5")  # doctest: +SKIP
    """
    return _apply(model, read_keras2_weights(path), str(path), exclude)


# -- torchMoji -----------------------------------------------------------------------------
def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def convert_torchmoji_state_dict(state_dict: Mapping[str, Any]) -> dict[str, list[np.ndarray]]:
    """Converts a torchMoji state dict into ``{layer name: [arrays]}`` in rnnkit's layout."""
    sd = {k: _to_numpy(v) for k, v in state_dict.items()}

    def need(key: str) -> np.ndarray:
        if key not in sd:
            raise ValueError(
                f"Not a torchMoji state dict: key {key!r} is missing (got keys "
                f"{sorted(sd)[:12]}{'...' if len(sd) > 12 else ''})."
            )
        return sd[key]

    result: dict[str, list[np.ndarray]] = {"embedding": [need("embed.weight")]}
    for i, name in enumerate(_LSTMS):
        values = []
        for suffix in ("", "_reverse"):
            p = f"lstm_{i}."
            values += [
                need(f"{p}weight_ih_l0{suffix}").T,
                need(f"{p}weight_hh_l0{suffix}").T,
                need(f"{p}bias_ih_l0{suffix}") + need(f"{p}bias_hh_l0{suffix}"),
            ]
        result[name] = values
    result["attlayer"] = [need("attention_layer.attention_vector").reshape(-1)]
    if "output_layer.0.weight" in sd:
        result["softmax"] = [need("output_layer.0.weight").T, need("output_layer.0.bias")]
    return result


def load_torchmoji_weights(
    model: keras.Model,
    state_dict: str | os.PathLike | Mapping[str, Any],
    exclude: Iterable[str] = (),
) -> list[str]:
    """Loads torchMoji weights (a state dict or a ``torch.save``-d file of one).

    Args:
        model: A model from :func:`rnnkit.models.deepmoji.deepmoji` (same sizes;
            ``gate="hard_sigmoid"`` to reproduce torchMoji's outputs).
        state_dict: A mapping of parameter names to tensors/arrays, or a path to a
            file saved with ``torch.save(state_dict, path)`` (read with
            ``weights_only=True``; needs PyTorch).
        exclude: Layer names not to load (e.g. ``("softmax",)``). A state dict
            without ``output_layer.0.*`` (a feature extractor) leaves ``softmax`` as is.

    Returns:
        The names of the layers loaded.

    Example:

    >>> load_torchmoji_weights(model, "pytorch_model.bin")  # doctest: +SKIP
    """
    source = "the torchMoji state dict"
    if isinstance(state_dict, (str, os.PathLike)):
        if not os.path.exists(state_dict):
            raise FileNotFoundError(f"No torchMoji weights file at {state_dict}.")
        import torch

        source = str(state_dict)
        state_dict = torch.load(state_dict, map_location="cpu", weights_only=True)
    if not isinstance(state_dict, Mapping):
        raise ValueError(
            f"Expected a torchMoji state dict (a mapping of names to tensors), got "
            f"{type(state_dict).__name__}."
        )
    return _apply(model, convert_torchmoji_state_dict(state_dict), source, exclude)
