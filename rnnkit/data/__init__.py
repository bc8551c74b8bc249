"""Data set loaders. Each takes a path; the default root is described in
:mod:`rnnkit.data.paths`."""

from rnnkit.data.corpus import (
    CorpusInfo,
    corpus_dataset,
    corpus_steps,
    load_corpus,
    prepare_corpus,
    verify_shard,
)
from rnnkit.data.deepmoji_benchmarks import (
    DEEPMOJI_BENCHMARKS,
    DeepMojiBenchmark,
    load_deepmoji_benchmark,
)
from rnnkit.data.emoji_corpus import (
    EmojiCorpusStats,
    EmojiExample,
    LabelFinder,
    balanced_sample,
    extract_examples,
    iter_records,
    iter_texts,
    load_emoji_classes,
    read_examples,
    remove_emoji,
    write_examples,
)
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
    "DEEPMOJI_BENCHMARKS",
    "DeepMojiBenchmark",
    "EmojiCorpusStats",
    "EmojiExample",
    "balanced_sample",
    "extract_examples",
    "iter_texts",
    "load_deepmoji_benchmark",
    "load_emoji_classes",
    "read_examples",
    "remove_emoji",
    "write_examples",
    "default_data_dir",
    "CorpusInfo",
    "LabelFinder",
    "corpus_dataset",
    "corpus_steps",
    "iter_records",
    "load_corpus",
    "prepare_corpus",
    "verify_shard",
]
