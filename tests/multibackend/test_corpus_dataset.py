"""A prepared corpus feeds Keras on every backend through tf.data (corpus_dataset)."""

import keras
import numpy as np
import tensorflow as tf

from rnnkit.data.paths import resolve
from rnnkit.models.deepmoji import corpus_dataset, prepare_corpus

FIXTURES = resolve(None, "tweets-with-emoji/rtweet-fixtures.jsonl")


def test_corpus_dataset_trains_a_keras_model(tmp_path):
    info = prepare_corpus(
        FIXTURES, tmp_path / "c", workers=1, min_count=1, vocab_size=500, shard_size=40, verbose=0
    )
    ds = corpus_dataset(info, "train", batch_size=16, seed=0, epoch=0)
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    # Same batches as the records read directly, in the dataset's (deterministic) order.
    again = [(x.numpy(), y.numpy()) for x, y in corpus_dataset(info, "train", batch_size=16)]
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(batches, again))
    spec = {"ids": tf.io.FixedLenFeature([info.maxlen], tf.int64)}
    direct = sorted(
        tuple(tf.io.parse_single_example(r, spec)["ids"].numpy().tolist())
        for p in info.shard_paths("train")
        for r in tf.data.TFRecordDataset(str(p))
    )
    assert sorted(tuple(row) for x, _ in batches for row in x.tolist()) == direct
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((info.maxlen,), dtype="int32"),
            keras.layers.Embedding(info.vocabulary_size, 8, mask_zero=True),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(len(info.labels), activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][1] < history.history["loss"][0]
