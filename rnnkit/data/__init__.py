"""Data set loaders. Each takes a path; the default root is described in
:mod:`rnnkit.data.paths`.

Also the generic readers and writers the loaders and prepared corpora share: text files
as a stream of texts (:func:`iter_texts`, :func:`iter_records`), a fixed-memory duplicate
filter (:class:`rnnkit.data.bloom.BloomFilter`) and TFRecord files written and checked
without TensorFlow (:mod:`rnnkit.data.tfrecord`, :func:`verify_shard`).

Moved: DeepMoji's data (the emoji distant supervision: ``extract_examples``,
``LabelFinder``, ``load_emoji_classes``, ...; the prepared pretraining corpora:
``prepare_corpus``, ``load_corpus``, ``corpus_dataset``, ``corpus_steps``,
``CorpusInfo``; the transfer benchmarks: ``load_deepmoji_benchmark``,
``DEEPMOJI_BENCHMARKS``, ``DeepMojiBenchmark``) lives in the DeepMoji folder: ``from
rnnkit.models.deepmoji import prepare_corpus, load_deepmoji_benchmark``. This package sits
below the models and imports nothing from them.
"""

from rnnkit.data.en_fr import EnFrPairs, encode_pairs, load_en_fr, split_pairs
from rnnkit.data.ner import (
    TaggedSentence,
    TaggingVocabulary,
    bio_violations,
    build_tagging_vocabulary,
    decode_tags,
    encode_tagging,
    load_bio,
)
from rnnkit.data.paths import default_data_dir
from rnnkit.data.ptb import PTBData, Vocabulary, load_ptb, tbptt_arrays, tbptt_windows
from rnnkit.data.text_files import iter_records, iter_texts
from rnnkit.data.tfrecord import verify_shard
from rnnkit.data.tweets_sentiment import load_tweets_sentiment

__all__ = [
    "TaggedSentence",
    "TaggingVocabulary",
    "bio_violations",
    "build_tagging_vocabulary",
    "decode_tags",
    "encode_tagging",
    "load_bio",
    "PTBData",
    "Vocabulary",
    "load_ptb",
    "tbptt_arrays",
    "tbptt_windows",
    "EnFrPairs",
    "encode_pairs",
    "load_en_fr",
    "split_pairs",
    "load_tweets_sentiment",
    "iter_texts",
    "default_data_dir",
    "iter_records",
    "verify_shard",
]
