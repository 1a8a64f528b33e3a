"""``green search``: spaces (validation at file:line), the paired bootstrap, Optuna's study in the workdir,
resume after ``kill -9``, the choice and its files, a summarization space on a tiny BART, and Ray.

Searches run on tiny random models with small spaces (one optional prune, two int8 methods)
so that each trial is seconds; what is asserted is behaviour (what is run, reused, measured,
written and resumed), not the energy figures of random models.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_green, tiny_bart

from green.errors import GreenError
from green.search.quality import Quality, paired_drop
from green.search.space import load_space, parse_space
from green.search.study import pareto, parse_count
from green.tasks import get_task
from green.tasks.base import Split

TINY_SPACE = """\
name: tiny
description: an optional prune, then ONNX Runtime int8, dynamic or static
steps:
  - optional:
      prune: {heads: 0.5, ffn: {range: [0.5, 0.75], step: 0.25}, recovery: {epochs: 1}}
  - export: {format: onnx}
  - quantize: {method: {choice: [dynamic-int8, static-int8]}}
evaluate:
  device: cpu
"""


def _words(text: str) -> str:
    """Log text with rich's line wrapping undone."""
    return " ".join(text.split())


def _study(folder: Path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, small_csv) -> Path:
    """A tiny quick baseline; each test searches a copy."""
    w = tmp_path_factory.mktemp("search") / "w"
    res = run_green("train", "--quick", "--model", str(tiny_model_dir), "--data", str(small_csv), "--workdir", str(w),
                    "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    return w


@pytest.fixture
def workdir(trained, tmp_path) -> Path:
    w = tmp_path / "w"
    shutil.copytree(trained, w, symlinks=True)
    (tmp_path / "tiny.yaml").write_text(TINY_SPACE, encoding="utf-8")
    return w


# -- spaces -------------------------------------------------------------------------------------------


def test_builtin_spaces_parse_and_name_their_dimensions():
    for name in ("cpu-classification", "cuda-classification", "cpu-summarization", "cuda-summarization"):
        space = load_space(name)
        assert space.variants(), name
        dims = dict(space.dimensions())
        assert any(k.startswith(("use.", "pick.")) for k in dims), dims
    dims = dict(load_space("cpu-classification").dimensions())
    assert dims["prune.heads"] == "float 0.25..0.75 step 0.25"
    assert "convert" in dims["pick.3"]  # the runtime is one more dimension


def test_a_space_file_with_an_unknown_key_fails_at_its_line(tmp_path, trained):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_SPACE.replace("recovery: {epochs: 1}", "recovery: {epochs: 1}, colour: red"),
                   encoding="utf-8")
    with pytest.raises(GreenError) as err:
        load_space(str(bad))
    assert f"{bad}:5" in str(err.value) and "colour" in str(err.value)
    res = run_green("search", "--space", str(bad), "--workdir", str(trained), "--device", "cpu")
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("green: error:") and f"{bad}:5" in last, res.stderr[-2000:]


@pytest.mark.parametrize("steps,expect", [
    ("  - quantize: {method: {choice: []}}", "choice is a non-empty list"),
    ("  - prune: {heads: {range: [0.8, 0.2]}}\n  - export: {format: onnx}", "must be below high"),
    ("  - prune: {heads: {range: [0.1, 0.9], log: true, step: 0.1}}", "log range needs"),
    ("  - optional:\n      quantize: {method: dynamic-int8}", "could skip every step"),
    ("  - one_of:\n      - quantize: {method: dynamic-int8}", "two or more alternatives"),
    ("  - prune: {heads: {range: [0.1, 1.5]}}", "heads"),  # the extreme 1.5 is validated by prune's own schema
    ("  - quantise: {method: dynamic-int8}", "unknown step"),
    # A rule between steps that one choice breaks: every combination of choices is chained.
    ("  - export: {format: onnx, optimize: true}\n  - quantize: {method: {choice: [dynamic-int8, static-int8]}}",
     "(quantize.method=static-int8): static-int8 after a fused export"),
])
def test_space_errors_name_the_line_and_the_fix(steps, expect):
    text = f"name: s\ndescription: d\nsteps:\n{steps}\n"
    with pytest.raises(GreenError) as err:
        parse_space(text, "my.yaml")
    message = str(err.value)
    assert expect in message and "my.yaml:" in message, message


def test_recipes_show_prints_a_space_with_its_dimensions(tmp_path):
    res = run_green("recipes", "show", "cpu-summarization")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "# dimensions" in res.stdout and "use.distill-seq2seq: use | skip" in res.stdout


# -- the pieces ------------------------------------------------------------------------------------------


def test_paired_bootstrap_bound_is_above_the_point_drop_and_tightens_with_agreement():
    task = get_task("text-classification")
    n = 400
    split = Split(["x"] * n, [0] * n)
    base = Quality({"accuracy": 0.9}, np.zeros(n), np.r_[np.ones(360), np.zeros(40)])
    # 8 of the baseline's right answers lost: a 2-point drop; the 90% bound must lie above it.
    worse_rows = base.rows.copy()
    worse_rows[:8] = 0
    worse = Quality({"accuracy": worse_rows.mean()}, np.zeros(n), worse_rows)
    drop = paired_drop(task, split, base, worse, confidence=0.9)
    assert drop.points == pytest.approx(2.0)
    assert drop.bound > drop.points and drop.within(4.0) and not drop.within(2.0)
    same = paired_drop(task, split, base, base, confidence=0.9)
    assert same.points == 0 and same.bound == 0 and same.within(0.5)


def test_pareto_keeps_points_no_other_beats_on_both():
    points = [(0.5, 1.0, "a"), (0.3, 0.8, "b"), (0.2, 1.2, "c"), (0.4, 0.2, "d"), (0.6, 0.1, "e")]
    assert pareto(points) == ["c", "b", "d", "e"]


@pytest.mark.parametrize("text,value", [("50M", 5e7), ("1e8", 1e8), ("10k", 1e4), ("2.5G", 2.5e9), ("300", 300)])
def test_inference_counts_parse(text, value):
    assert parse_count(text) == value


def test_a_bad_inference_count_is_one_line():
    with pytest.raises(GreenError, match="is not a count"):
        parse_count("lots")


# -- searches -------------------------------------------------------------------------------------------


def test_search_without_a_baseline_says_to_train(tmp_path):
    res = run_green("search", "--workdir", str(tmp_path / "empty"), "--device", "cpu")
    assert res.returncode != 0
    assert "green train" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "empty").exists()


def test_three_trial_search_chooses_writes_plain_recipes_and_reruns(workdir):
    space = workdir.parent / "tiny.yaml"
    res = run_green("search", "--space", str(space), "--trials", "3", "--max-drop", "50", "--frontier", "1",
                    "--workdir", str(workdir), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-4000:]
    folder = workdir / "search" / "tiny"
    study = _study(folder)
    real = [t for t in study.trials if "duplicate_of" not in t.user_attrs]
    assert len([t for t in real if t.state.name == "COMPLETE"]) == 3
    # Progress: done / running / pruned and the best so far, after each trial.
    assert "3/3 done" in _words(res.stderr) and "best" in res.stderr
    # Every trial is an ordinary run tagged with its search; measured ones have a validation-split record.
    for t in real:
        o = t.user_attrs["outcome"]
        run = json.loads((workdir / "runs" / o["run"] / "recipe.json").read_text())
        assert run["search"] == "tiny" and run["trial"] == t.number
        rec = json.loads((workdir / "records" / o["record"]).read_text())
        assert rec["kind"] == "measurement" and any("validation split" in n for n in rec["notes"])
        assert rec["paired"]["reference"] == "baseline"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["search_energy"]["joules"] > 0
    assert summary["search_energy"]["estimate"] == (summary["search_energy"]["source"] != "rapl")
    assert summary["choice"]["test"]["record"] and summary["machine"]["cpu"]
    for name in ("best.yaml", "trials.csv", "search.png", "search.json"):
        assert (folder / name).is_file(), name
    assert list((folder / "frontier").glob("t*.yaml"))
    # The test split is read once, for the choice: one evaluation record beyond the baseline's.
    evaluations = [json.loads(p.read_text()) for p in (workdir / "records").glob("*.json")]
    assert sum(e["kind"] == "evaluation" and e["recipe"] != "baseline" for e in evaluations) == 1
    # best.yaml is a plain recipe: compress reruns it, every step reused from the trial that made it.
    res = run_green("compress", "--recipe", str(folder / "best.yaml"), "--workdir", str(workdir), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "reused from run" in res.stderr and "tiny-best" in res.stdout
    # --show: the table at 80 columns, and nothing is run.
    before = sorted(os.listdir(workdir / "runs"))
    res = run_green("search", "--space", str(space), "--show", "--workdir", str(workdir), "--device", "cpu",
                    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "frontier:" in res.stdout and "choice:" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    assert sorted(os.listdir(workdir / "runs")) == before
    # The same command again: every trial is done, nothing reruns (the choice's records are reused).
    res = run_green("search", "--space", str(space), "--trials", "3", "--max-drop", "50", "--frontier", "1",
                    "--workdir", str(workdir), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(os.listdir(workdir / "runs")) == before
    # Other settings under the same name: a one-line error, not a mixed study.
    res = run_green("search", "--space", str(space), "--max-drop", "0.5", "--workdir", str(workdir), "--device", "cpu")
    assert res.returncode != 0 and "--name NEW" in res.stderr.strip().splitlines()[-1]
    # doctor: trial runs are the search's, not "unused".
    res = run_green("doctor", "--workdir", str(workdir))
    assert "unused run" not in res.stdout, res.stdout


def test_a_trial_outside_the_budget_is_never_energy_measured(workdir, monkeypatch):
    """Cheap first: with a drop beyond the budget no energy window runs; no trial fits, so it fails in one line."""
    from green.search import trial as trial_module
    from green.search.quality import Drop
    from green.search.study import Search, SearchSettings
    from green.workbench import Workbench

    monkeypatch.setattr(trial_module, "paired_drop", lambda *a, **k: Drop(4.0, 6.0, 0.9, 30))
    monkeypatch.setattr(trial_module, "measure_on_validation",
                        lambda *a, **k: pytest.fail("a trial outside the budget was measured"))
    wb = Workbench(workdir, device="cpu")
    records = sorted(os.listdir(workdir / "records"))
    search = Search(wb, SearchSettings(space=str(workdir.parent / "tiny.yaml"), trials=2, max_drop=1.0), "cpu")
    with pytest.raises(GreenError, match="no trial of search 'tiny' kept validation quality within"):
        search.run()
    assert sorted(os.listdir(workdir / "records")) == records
    study = _study(workdir / "search" / "tiny")
    assert all(t.user_attrs["constraint"] == [5.0] for t in study.trials)
    if hasattr(study.trials[0], "constraints"):  # Optuna 5: the sampler reads each trial's own constraints
        assert all(t.constraints == {"max_drop": 5.0} for t in study.trials)
    rows = (workdir / "search" / "tiny" / "trials.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",outside," in r for r in rows[1:])


def _trial_runs(workdir: Path) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for run in (workdir / "runs").iterdir():
        rec = run / "recipe.json"
        if rec.is_file():
            out.setdefault(json.loads(rec.read_text())["trial"], []).append(run.name)
    return out


def test_kill_9_mid_search_resumes_without_rerunning_finished_trials(workdir):
    space = workdir.parent / "tiny.yaml"
    args = [sys.executable, "-m", "green.cli", "search", "--space", str(space), "--trials", "2", "--max-drop", "50",
            "--frontier", "1", "--workdir", str(workdir), "--device", "cpu"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    db = workdir / "search" / "tiny" / "study.db"
    deadline = time.monotonic() + 600
    finished: set[int] = set()
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.is_file():
                try:
                    trials = _study(db.parent).trials
                except Exception:  # noqa: BLE001 - the database is being created
                    trials = []
                finished = {t.number for t in trials if t.state.name == "COMPLETE"}
                # Mid-trial: a trial running its recipe (its parameters drawn), not one just asked for.
                if finished and any(t.state.name == "RUNNING" and t.params for t in trials):
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the search ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    runs_before = _trial_runs(workdir)
    assert finished and all(len(runs_before[n]) == 1 for n in finished)
    res = run_green(*args[3:])
    assert res.returncode == 0, res.stderr[-4000:]
    assert "interrupted last time will run again" in _words(res.stderr)
    study = _study(db.parent)
    counted = [t for t in study.trials if t.state.name == "COMPLETE" and "duplicate_of" not in t.user_attrs]
    assert len(counted) == 2
    resumed = [t for t in study.trials if "resumes" in t.user_attrs]
    assert len(resumed) == 1
    killed = study.trials[resumed[0].user_attrs["resumes"]]
    assert killed.user_attrs.get("interrupted") and killed.params == resumed[0].params
    runs_after = _trial_runs(workdir)
    for n in finished:  # finished trials were never rerun
        assert runs_after[n] == runs_before[n]


def test_a_search_stopped_by_ctrl_c_keeps_the_energy_it_spent(workdir, monkeypatch):
    from green.search import workers
    from green.search.study import Search, SearchSettings
    from green.workbench import Workbench

    real, calls = workers.run_trial, []

    def stop_at_the_second(job):
        calls.append(job["number"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(workers, "run_trial", stop_at_the_second)
    wb = Workbench(workdir, device="cpu")
    search = Search(wb, SearchSettings(space=str(workdir.parent / "tiny.yaml"), trials=3, max_drop=50), "cpu")
    with pytest.raises(KeyboardInterrupt):
        search.run()
    study = _study(workdir / "search" / "tiny")
    (window,) = study.user_attrs["spent"]  # this invocation's window, kept though it was interrupted
    assert window["where"] == "driver" and window["seconds"] > 0 and window["joules"] > 0
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]  # the next run resumes the second


def test_lifetime_objective_adds_the_energy_of_making(workdir):
    space = workdir.parent / "tiny.yaml"
    res = run_green("search", "--space", str(space), "--trials", "1", "--max-drop", "50", "--frontier", "1",
                    "--objective", "lifetime", "--inferences", "1e4", "--name", "life", "--workdir", str(workdir),
                    "--device", "cpu")
    assert res.returncode == 0, res.stderr[-4000:]
    study = _study(workdir / "search" / "life")
    for t in study.trials:
        o = t.user_attrs["outcome"]
        assert t.values[0] == pytest.approx(o["make_j"] + 1e4 * o["per_inference_j"])
        assert o["make_j"] > 0  # export and quantization were measured steps
    summary = json.loads((workdir / "search" / "life" / "summary.json").read_text())
    (front,) = summary["frontier"]
    costs = front["lifetime"]
    # Each candidate also carries its share of the search: the search's energy over the trials it judged.
    assert summary["search_energy"]["joules"] > 0
    assert costs["search_share_j"] == pytest.approx(summary["search_energy"]["joules"] / summary["trials"])
    assert costs["make_j"] == pytest.approx(front["make_j"])
    assert costs["total_j"] == pytest.approx(costs["make_j"] + costs["search_share_j"] + costs["use_j"])
    assert costs["use_j"] == pytest.approx(1e4 * front["remeasured"]["per_inference_j"])
    assert costs["baseline_j"] == pytest.approx(1e4 * front["remeasured"]["reference_per_inference_j"])
    assert costs["search_j"] == pytest.approx(summary["search_energy"]["joules"])
    assert costs["estimate"] == summary["search_energy"]["estimate"]


def test_summarization_space_runs_end_to_end_on_a_tiny_bart(tmp_path):
    from test_summarization import wiki_rows

    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in wiki_rows(60)), encoding="utf-8")
    model = tiny_bart(tmp_path / "bart")
    w = tmp_path / "w"
    res = run_green("train", "--task", "summarization", "--quick", "--model", str(model), "--data", str(data),
                    "--text-column", "article", "--summary-column", "abstract", "--workdir", str(w), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    space = tmp_path / "sum.yaml"
    space.write_text("name: sum\ndescription: int8 on two runtimes\nsteps:\n  - one_of:\n      - - export: {format: onnx}\n"
                     "        - quantize: {method: dynamic-int8, per_channel: {choice: [true, false]}}\n"
                     "      - convert: {format: ctranslate2, quantization: int8}\nevaluate:\n  device: cpu\n",
                     encoding="utf-8")
    res = run_green("search", "--space", str(space), "--trials", "2", "--max-drop", "100", "--frontier", "1",
                    "--workdir", str(w), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-4000:]
    summary = json.loads((w / "search" / "sum" / "summary.json").read_text())
    assert summary["choice"] is not None and "rougeL" in summary["choice"]["test"]["metrics"]
    base = json.loads((w / "search" / "sum" / "baseline-validation.json").read_text())
    assert base["rows"] is not None and isinstance(base["predictions"][0], str)  # per-row ROUGE-L, summaries


def test_search_on_a_local_ray_of_two_cpus(workdir):
    pytest.importorskip("ray.tune", reason='Ray Tune is not installed (pip install "green[ray]")')
    space = workdir.parent / "tiny.yaml"
    res = run_green("search", "--space", str(space), "--trials", "2", "--max-drop", "50", "--frontier", "1",
                    "--ray-address", "local", "--workdir", str(workdir), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-4000:]
    assert "Ray at local" in _words(res.stderr) and "Ray Tune trial(s) at once" in _words(res.stderr)
    # Ray Tune ran them: its experiment (one folder per Tune trial) sits in the search's folder.
    (experiment,) = (workdir / "search" / "tiny" / "ray").glob("tune-*")
    assert sorted(p.name for p in experiment.iterdir() if p.is_dir()) == ["t000", "t001"]
    study = _study(workdir / "search" / "tiny")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 2
    for t in done:
        assert "ray node" in t.user_attrs["node"]  # the record says which node measured it
        rec = json.loads((workdir / "records" / t.user_attrs["outcome"]["record"]).read_text())
        assert any("ray node" in n for n in rec["notes"])
    spent = study.user_attrs["spent"]
    assert any(w.get("where") == "driver" for w in spent) and any("trial" in w for w in spent)


def test_lifetime_costs_pay_back_only_when_serving_saves_more_than_making_and_searching():
    from green.search.outputs import lifetime_costs

    # 100 J of steps, 400 J of search over 4 trials, 0.01 J saved per inference: 200 J to pay back.
    c = lifetime_costs(100.0, 0.02, 0.03, 1e4, 400.0, 4)
    assert c["search_share_j"] == 100.0 and c["total_j"] == pytest.approx(100 + 100 + 200)
    assert c["payback_inferences"] == pytest.approx(2e4) and c["pays_back"] is False
    assert c["payback_with_whole_search_inferences"] == pytest.approx(5e4)  # (100 + 400) J / 0.01 J
    assert lifetime_costs(100.0, 0.02, 0.03, 1e8, 400.0, 4)["pays_back"] is True
    slower = lifetime_costs(100.0, 0.04, 0.03, 1e8, 400.0, 4)  # costs more per inference: never pays back
    assert slower["payback_inferences"] is None and slower["pays_back"] is False


class _FakeFeed:
    """A feed of two trials, as TrialFeed hands them out, for Tune's searcher without a cluster."""

    def __init__(self, fail_on_finish: bool = False) -> None:
        self.left, self.running, self.told, self.fail_on_finish = [0, 1], set(), {}, fail_on_finish
        self.lock = __import__("threading").Lock()  # unpicklable, as a real feed's workbench and study are

    def next_job(self):
        if not self.left:
            return None
        n = self.left.pop(0)
        self.running.add(n)
        return {"number": n}

    def finish(self, number, outcome):
        self.running.discard(number)
        if self.fail_on_finish:
            raise RuntimeError("database is locked")
        self.told[number] = outcome

    def finished(self):
        return not self.left and not self.running


def test_tunes_searcher_waits_for_running_trials_then_finishes_and_keeps_failures(tmp_path):
    pytest.importorskip("ray.tune", reason='Ray Tune is not installed (pip install "green[ray]")')
    from ray import cloudpickle
    from ray.tune.search import Searcher

    from green.search.workers import _feed_searcher

    feed = _FakeFeed()
    searcher = _feed_searcher(feed, tmp_path / "tune-x")
    assert searcher.suggest("a") == {"job": {"number": 0}} and searcher.suggest("b") == {"job": {"number": 1}}
    assert searcher.suggest("c") is None  # nothing to start, but trials run: ask again later
    searcher.on_trial_complete("a", {"outcome": '{"drop": 0.5}'})
    searcher.on_trial_complete("b", None, error=True)  # the worker died before reporting
    assert feed.told[0] == {"drop": 0.5}
    assert "failed before reporting" in feed.told[1]["error"] and "t001" in feed.told[1]["error"]
    assert searcher.suggest("d") == Searcher.FINISHED
    cloudpickle.dumps(searcher)  # Tune cloudpickles its config: the (unpicklable) feed stays out of it

    broken = _feed_searcher(_FakeFeed(fail_on_finish=True), tmp_path / "tune-y")
    broken.suggest("a")
    broken.on_trial_complete("a", {"outcome": "{}"})  # telling the study failed: kept, not swallowed by Tune
    assert isinstance(broken.failure, RuntimeError) and broken.suggest("b") == Searcher.FINISHED
