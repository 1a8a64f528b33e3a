"""What a user reads and takes away: the terminal at 80 columns, results.csv, and a meter that never pretends."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import pytest
from conftest import run_green

from green.errors import GreenError


def _green(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS=str(columns), HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "green.cli", *args], capture_output=True, text=True, env=env)


def test_help_and_recipes_list_fit_80_columns_when_piped():
    for args in (("--help",), ("recipes", "list")):
        res = _green(*args)
        assert res.returncode == 0, res.stderr
        assert max(len(line) for line in res.stdout.splitlines()) <= 80, res.stdout
        assert not any(line.rstrip().endswith("...") for line in res.stdout.splitlines()[1:])  # cut help lines
    listed = _green("recipes", "list").stdout
    assert "int8" in listed and "BERT+BART" in listed and "ORT" in listed
    wide = _green("recipes", "list", columns=200).stdout
    assert max(len(line) for line in wide.splitlines()) > 80  # COLUMNS is honoured, not a fixed width


def test_recipes_list_filters_by_task():
    res = _green("recipes", "list", "--task", "summarization")
    names = {line.split()[0] for line in res.stdout.splitlines()[2:] if line.strip() and not line.startswith(" ")}
    assert "distill-dec" in names and "cpu-max" not in names and "int8" in names


def test_recipes_show_never_runs_a_line_past_the_width():
    import yaml

    from green.recipe import load_recipe

    res = _green("recipes", "show", "cpu-max")
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    assert yaml.safe_load(res.stdout)["description"] == " ".join(load_recipe("cpu-max").description.split())


def test_results_csv_beside_results_json(tmp_path, compressed_workdir):
    w = tmp_path / "w"
    shutil.copytree(compressed_workdir, w)
    res = run_green("report", "--workdir", str(w))
    assert res.returncode == 0, res.stderr[-2000:]
    rows = list(csv.DictReader((w / "report" / "results.csv").open()))
    assert {r["recipe"] for r in rows} >= {"baseline", "int8", "cpu-max"}
    int8 = next(r for r in rows if r["recipe"] == "int8")
    assert float(int8["energy_per_inference_j"]) > 0 and int8["primary_metric"] == "accuracy"
    assert float(int8["energy_vs_baseline"]) > 0 and int8["ratio_basis"] == "paired"
    # Every record keeps the same first test rows' predictions, so the report can set them side by side.
    import json

    recs = [json.loads(p.read_text()) for p in (w / "records").glob("*.json")]
    samples = [r["predictions"] for r in recs if r["kind"] == "evaluation"]
    assert samples and all(s["rows"] == samples[0]["rows"] and len(s["predictions"]) == len(s["rows"]) for s in samples)
    assert set(samples[0]["targets"]) <= {"negative", "neutral", "positive"}


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_meter_for_an_absent_gpu_is_an_error_not_a_cpu_estimate():
    from green.evaluate.energy import EnergyMeter

    with pytest.raises(GreenError, match="no NVIDIA GPU"):
        EnergyMeter.for_device("cuda")
