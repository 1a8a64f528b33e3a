"""The structure holds more than one task: a second tiny task with another primary metric runs end to end.

The test task is a classifier judged by its error rate, where lower is better. Any code
outside ``green/tasks/`` that reaches for ``accuracy``, labels or argmax, or assumes that
higher is better, breaks here.
"""

import json

import numpy as np
import pytest

from green.tasks import TASKS, register_task
from green.tasks.classification import TextClassification


class ErrorRate(TextClassification):
    name = "test-error-rate"
    primary_metric = "error_rate"
    higher_is_better = False

    def metrics(self, predictions, split):
        return {"error_rate": float((np.asarray(predictions) != np.asarray(split.targets)).mean())}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_model_dir, small_csv):
    from green.workbench import Workbench

    register_task(ErrorRate())
    w = tmp_path_factory.mktemp("task") / "w"
    wb = Workbench(w, device="cpu")
    base = wb.train(model=str(tiny_model_dir), data=str(small_csv), quick=True, task="test-error-rate")
    wb.compress("int8", quick=True)
    yield w, wb, base
    TASKS.pop("test-error-rate", None)


def test_records_carry_the_tasks_own_metric(workdir):
    w, wb, base = workdir
    assert base.task.primary_metric == "error_rate" and base.task.higher_is_better is False
    assert set(base.metrics) == {"error_rate"} and 0 <= base.primary_value <= 1
    for path in (w / "records").glob("*.json"):
        rec = json.loads(path.read_text())
        assert "accuracy" not in rec["metrics"] and rec["task"]["name"] == "test-error-rate"
    assert json.loads((w / "task.json").read_text())["task"] == "test-error-rate"
    assert json.loads((w / "baseline" / "green-artifact.json").read_text())["task"] == "test-error-rate"


def test_report_uses_the_primary_metric_and_its_direction(workdir):
    from green.report import build_report

    w, wb, base = workdir
    entries, paths, notes = build_report(wb.records_dir, wb.report_dir)
    assert {e.primary_metric for e in entries} == {"error_rate"} and not notes
    assert all(e.quality == e.metrics["error_rate"] for e in entries)
    md = paths["results.md"].read_text()
    assert "| error_rate |" in md and "accuracy" not in md
    int8 = next(e for e in entries if e.recipe == "int8")
    baseline = next(e for e in entries if e.recipe == "baseline")
    # Lower is better: the lower-error, lower-energy entry can never be dominated.
    # The frontier compares paired positions (ratio x the baseline's energy), as the chart draws them.
    best = min(entries, key=lambda e: (e.quality, e.comparable_energy_j))
    assert best.pareto
    assert int8.quality_vs_baseline == pytest.approx(int8.quality - baseline.quality)
