"""Data set loaders. Each takes a path; the default root is described in
:mod:`rnnkit.data.paths`."""

from rnnkit.data.paths import default_data_dir

__all__ = ["default_data_dir"]
