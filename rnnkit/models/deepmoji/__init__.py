"""The DeepMoji model family (Felbo et al. 2017), one folder:

- :mod:`~rnnkit.models.deepmoji.backbone`: the model (:func:`deepmoji`: embedding, two
  BiLSTMs, skip connections, attention pooling, output layer) and
  :func:`extend_embedding`;
- :mod:`~rnnkit.models.deepmoji.tokenizer`: DeepMoji's tokenizer
  (:class:`DeepMojiTokenizer`, :data:`SPECIAL_TOKENS`) and its ``vocabulary.json``
  (:func:`load_vocabulary`, :func:`save_vocabulary`);
- :mod:`~rnnkit.models.deepmoji.tokenizer_graph`: the same tokenizer as TensorFlow graph
  ops, exact (:func:`tf_deepmoji_words`), for exported SavedModels;
- :mod:`~rnnkit.models.deepmoji.preprocessor`: the tokenizer inside rnnkit's text stage
  (importing this package registers ``TextPipeline(tokenizer="deepmoji")``) and
  :func:`deepmoji_pipeline`;
- :mod:`~rnnkit.models.deepmoji.vocabulary`: DeepMoji's vocabularies built from a corpus
  or extended with a target task's words (:func:`build_vocabulary`,
  :func:`extend_vocabulary`, :func:`count_words`);
- :mod:`~rnnkit.models.deepmoji.emoji_corpus`: the emoji distant supervision (the 64 emoji
  classes, :class:`LabelFinder`, :func:`extract_examples`, :func:`balanced_sample`);
- :mod:`~rnnkit.models.deepmoji.corpus`: pretraining corpora prepared once, in parallel,
  as TFRecord shards (:func:`prepare_corpus`, :func:`load_corpus`,
  :func:`corpus_dataset`, what ``rnnkit prepare-corpus`` runs);
- :mod:`~rnnkit.models.deepmoji.benchmarks`: the paper's transfer benchmarks with their
  splits (:func:`load_deepmoji_benchmark`, :data:`DEEPMOJI_BENCHMARKS`);
- :mod:`~rnnkit.models.deepmoji.weights`: import of the original releases' weights (the
  Keras 2 HDF5 file, a torchMoji state dict);
- :mod:`~rnnkit.models.deepmoji.transfer`: the named configurations, pretrained-model
  folders and the transfer to a target task (extended vocabulary, new output layer);
- :mod:`~rnnkit.models.deepmoji.attention`: the attention weight of each word of a text.

The public names of every module but ``transfer`` and ``attention`` are re-exported here
(``from rnnkit.models.deepmoji import deepmoji, DeepMojiTokenizer, prepare_corpus``); take
those two's from their module (``from rnnkit.models.deepmoji.transfer import get_config,
transfer``). Note that ``rnnkit.models.deepmoji`` as an attribute of :mod:`rnnkit.models`
is the function :func:`deepmoji`, so write ``from rnnkit.models.deepmoji import
transfer``, not ``import rnnkit.models.deepmoji.transfer as transfer``.

What stays outside the folder, in the layer its code belongs to: the generic pieces the
folder imports (text files as a stream of texts, :mod:`rnnkit.data.text_files`; the
duplicate filter, :mod:`rnnkit.data.bloom`; TFRecord writing without TensorFlow,
:mod:`rnnkit.data.tfrecord`; in-graph code point tables, :mod:`rnnkit.text.graph_tables`;
the text stage, :mod:`rnnkit.text.pipeline`), and what uses DeepMoji from above the
models: pretraining with exact resume (:mod:`rnnkit.training.pretrain`, any model
factory), the scikit-learn estimator (:mod:`rnnkit.sklearn.deepmoji`) and the end-to-end
workflows (:mod:`rnnkit.recipes`).
"""

from rnnkit.models.deepmoji import (
    attention,
    backbone,
    benchmarks,
    corpus,
    emoji_corpus,
    preprocessor,
    tokenizer,
    tokenizer_graph,
    transfer,
    vocabulary,
    weights,
)
from rnnkit.models.deepmoji.backbone import GATES, LAYER_NAMES, deepmoji, extend_embedding
from rnnkit.models.deepmoji.benchmarks import (
    DEEPMOJI_BENCHMARKS,
    DeepMojiBenchmark,
    load_deepmoji_benchmark,
)
from rnnkit.models.deepmoji.corpus import (
    CorpusInfo,
    corpus_dataset,
    corpus_steps,
    load_corpus,
    prepare_corpus,
    summary_table,
)
from rnnkit.models.deepmoji.emoji_corpus import (
    EmojiCorpusStats,
    EmojiExample,
    LabelFinder,
    balanced_sample,
    extract_examples,
    find_emoji_classes,
    load_emoji_classes,
    read_examples,
    remove_emoji,
    write_examples,
)
from rnnkit.models.deepmoji.preprocessor import deepmoji_pipeline
from rnnkit.models.deepmoji.tokenizer import (
    SPECIAL_TOKENS,
    DeepMojiTokenizer,
    load_vocabulary,
    save_vocabulary,
)
from rnnkit.models.deepmoji.tokenizer_graph import tf_deepmoji_words
from rnnkit.models.deepmoji.vocabulary import build_vocabulary, count_words, extend_vocabulary
from rnnkit.models.deepmoji.weights import (
    convert_torchmoji_state_dict,
    load_keras2_weights,
    load_torchmoji_weights,
    read_keras2_weights,
)

__all__ = [
    # modules
    "attention",
    "backbone",
    "benchmarks",
    "corpus",
    "emoji_corpus",
    "preprocessor",
    "tokenizer",
    "tokenizer_graph",
    "transfer",
    "vocabulary",
    "weights",
    # backbone
    "GATES",
    "LAYER_NAMES",
    "deepmoji",
    "extend_embedding",
    # tokenizer, preprocessor, vocabularies
    "SPECIAL_TOKENS",
    "DeepMojiTokenizer",
    "load_vocabulary",
    "save_vocabulary",
    "tf_deepmoji_words",
    "deepmoji_pipeline",
    "build_vocabulary",
    "count_words",
    "extend_vocabulary",
    # distant supervision, prepared corpora
    "EmojiCorpusStats",
    "EmojiExample",
    "LabelFinder",
    "balanced_sample",
    "extract_examples",
    "find_emoji_classes",
    "load_emoji_classes",
    "read_examples",
    "remove_emoji",
    "write_examples",
    "CorpusInfo",
    "corpus_dataset",
    "corpus_steps",
    "load_corpus",
    "prepare_corpus",
    "summary_table",
    # benchmarks
    "DEEPMOJI_BENCHMARKS",
    "DeepMojiBenchmark",
    "load_deepmoji_benchmark",
    # weight import
    "convert_torchmoji_state_dict",
    "load_keras2_weights",
    "load_torchmoji_weights",
    "read_keras2_weights",
]
