"""End-to-end workflows over the package, each a module with ``main(argv)``:

- :mod:`rnnkit.recipes.deepmoji_pretrain`: pretrain DeepMoji (``rnnkit pretrain``);
- :mod:`rnnkit.recipes.deepmoji_benchmark`: the DeepMoji transfer benchmarks, new / last /
  full / chain-thaw, with result tables and an attention view (``rnnkit bench``,
  ``rnnkit finetune``);
- :mod:`rnnkit.recipes.deepmoji_attention`: what a DeepMoji model attends to, as text and
  as a PNG heatmap.

They write only where their arguments say; the defaults are relative to the current
working directory (``runs/deepmoji/<config>/`` for a pretrained model,
``runs/deepmoji/results/`` for tables and plots), never to where rnnkit is installed. The
scripts under ``recipes/deepmoji/`` of a source checkout call these ``main`` functions
with the repository's own folders.

This is the top layer, beside :mod:`rnnkit.cli`: the command line imports these workflows,
and they import the rest of the package but never the command line. Like any
``main(argv)`` called from Python, they leave the process's file descriptors alone: the
``rnnkit`` command hides the frameworks' log lines of its own process.
"""

__all__ = ["deepmoji_attention", "deepmoji_benchmark", "deepmoji_pretrain"]
