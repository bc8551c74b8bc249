"""Where loaders look for data when no path is given."""

from pathlib import Path

import pytest

import rnnkit
from rnnkit.data.paths import default_data_dir, resolve


def test_env_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path


def test_shared_data_beside_the_repository_from_any_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # no shared/data above a temporary folder
    expected = Path(rnnkit.__file__).resolve().parents[1].parent / "shared" / "data"
    if expected.is_dir():  # the development layout: ../shared/data next to the repository
        assert default_data_dir() == expected
    else:  # an installed package: the per-user folder
        assert default_data_dir() == Path.home() / ".rnnkit" / "data"


def test_missing_data_names_the_path_and_the_variable(tmp_path):
    with pytest.raises(FileNotFoundError, match="RNNKIT_DATA") as info:
        resolve(tmp_path / "nope.csv", "unused")
    assert "nope.csv" in str(info.value)
