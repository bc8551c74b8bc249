"""The padding and unknown-word markers of every rnnkit vocabulary, defined once.

Every word vocabulary in rnnkit (the text pipeline of the classifiers, the exported
SavedModels, the hierarchical classifier, the translation and NER loaders, the Penn
Treebank vocabulary) keeps padding at id 0 and the unknown word at id 1 and spells them
:data:`PAD` and :data:`UNK`. The one exception is DeepMoji's vocabulary, whose ten
special tokens (``CUSTOM_MASK``, ``CUSTOM_UNKNOWN``, ...) are fixed by its pretrained
weights (:data:`rnnkit.models.deepmoji.tokenizer.SPECIAL_TOKENS`).

Example:

>>> from rnnkit.text.special_tokens import PAD, UNK
>>> [PAD, UNK]
['<pad>', '<unk>']
"""

from __future__ import annotations

__all__ = ["PAD", "UNK", "PAD_ID", "UNK_ID"]

#: the padding marker (id :data:`PAD_ID`)
PAD = "<pad>"
#: the unknown-word marker (id :data:`UNK_ID`)
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
