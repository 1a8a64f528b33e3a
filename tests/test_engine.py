"""The engine: steps return files and the engine makes the artifact; a step whose output exists is reused.

Runs on a copy of the session's compressed workdir (tiny BERT, quick budget), through the
Workbench API as a user's script would call it.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest

from green.artifacts import Artifact


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, compressed_workdir) -> Path:
    w = tmp_path_factory.mktemp("reuse") / "w"
    shutil.copytree(compressed_workdir, w)
    return w


def _runs_of(w: Path, name: str) -> list[Path]:
    from green.runs import complete_runs

    return [r for r, rec in complete_runs(w / "runs").items() if rec["name"] == name]


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_recipe_run_again_reuses_every_step_and_keeps_its_lineage_energy(workdir):
    from green.workbench import Workbench

    first = _runs_of(workdir, "int8")[-1]
    before = {d.name: _digests(d) for d in sorted(first.iterdir()) if d.is_dir()}
    original = next(r for r in __import__("green.records", fromlist=["load_records"]).load_records(workdir / "records")
                    if r.recipe == "int8")
    record = Workbench(workdir, device="cpu").compress("int8")
    steps = record.run_steps
    assert [s.step for s in steps] == ["export", "quantize"]
    assert all(s.reused and s.reused_from == first.name for s in steps), steps
    # Payback's basis is what the recipe costs from scratch; nothing was spent this time.
    assert record.run_energy_j == pytest.approx(original.run_energy_j)
    assert record.run_energy_spent_j == 0
    run = Path(record.artifact).parent
    assert run != first and all(d.is_symlink() for d in run.iterdir() if d.is_dir())
    # The cached artifacts are never modified, and the new run's lineage reaches the baseline.
    assert {d.name: _digests(d) for d in sorted(first.iterdir()) if d.is_dir()} == before
    lineage = Artifact.load(record.artifact).lineage()
    assert [a.step for a in lineage] == ["quantize", "export", "train"]
    assert Path(lineage[-1].path).resolve() == (workdir / "baseline").resolve()


def test_a_changed_config_reruns_that_step_only(workdir, tmp_path):
    from green.workbench import Workbench

    recipe = tmp_path / "int8-tensor.yaml"
    recipe.write_text("name: int8-tensor\ndescription: int8 with one scale per tensor\nsteps:\n"
                      "  - export: {format: onnx, optimize: true, optimization_level: 2}\n"
                      "  - quantize: {method: dynamic-int8, per_channel: false}\n"
                      "evaluate: {runtime: onnxruntime, device: cpu}\n")
    record = Workbench(workdir, device="cpu").compress(str(recipe))
    export, quantize = record.run_steps
    assert export.reused and not quantize.reused
    assert record.run_energy_spent_j == pytest.approx(quantize.joules)
    assert Artifact.load(record.artifact).params["per_channel"] is False


def test_no_reuse_runs_every_step(workdir):
    from green.workbench import Workbench

    record = Workbench(workdir, device="cpu").compress("fp32-onnx", reuse=False)
    assert [s.reused for s in record.run_steps] == [False]
    assert not Path(record.artifact).is_symlink()


def test_a_corrupted_cached_artifact_is_rerun_not_reused(workdir, caplog):
    from green.workbench import Workbench

    cached = _runs_of(workdir, "int8-static")[0]
    model = Artifact.load(sorted(d for d in cached.iterdir() if d.is_dir())[-1]).file("model")
    model.write_bytes(model.read_bytes() + b"\0")  # a damaged copy, say
    with caplog.at_level(logging.WARNING, logger="green.engine"):
        record = Workbench(workdir, device="cpu").compress("int8-static")
    assert [s.reused for s in record.run_steps] == [True, False]
    assert "no longer match its digest" in caplog.text


def test_the_key_covers_parent_config_seed_data_budget_and_device(workdir, tmp_path):
    from green.budget import CPU_DEFAULT, QUICK
    from green.compress import StepContext
    from green.compress.quantize import QuantizeConfig
    from green.engine import step_key

    parent = Artifact.load(sorted(d for d in _runs_of(workdir, "int8")[0].iterdir() if d.is_dir())[0])
    other_parent = Artifact.load(sorted(d for d in _runs_of(workdir, "fp32-onnx")[0].iterdir() if d.is_dir())[0])
    ctx = StepContext(tmp_path, "cpu", seed=42, budget=QUICK)
    base = step_key(parent, QuantizeConfig(), ctx, "data-a")
    assert step_key(parent, QuantizeConfig(), ctx, "data-a") == base
    changed = {
        "config": step_key(parent, QuantizeConfig(per_channel=False), ctx, "data-a"),
        "seed": step_key(parent, QuantizeConfig(), dataclasses.replace(ctx, seed=7), "data-a"),
        "data": step_key(parent, QuantizeConfig(), ctx, "data-b"),
        "budget": step_key(parent, QuantizeConfig(), dataclasses.replace(ctx, budget=CPU_DEFAULT), "data-a"),
        "device": step_key(parent, QuantizeConfig(), dataclasses.replace(ctx, device="cuda"), "data-a"),
        "parent": step_key(other_parent, QuantizeConfig(), ctx, "data-a") if other_parent.digest != parent.digest
        else None,
    }
    assert all(k != base for k in changed.values() if k is not None), changed
    assert len({k for k in changed.values() if k}) == len([k for k in changed.values() if k])


def test_steps_dispatch_on_their_config_type_and_per_part_steps_cover_every_part(tmp_path):
    """quantize is written for one ONNX model; the engine runs it over each part it is given."""
    from green.compress import STEPS, StepConfig
    from green.compress.quantize import QuantizeConfig
    from green.compress.registry import step_for

    assert step_for(QuantizeConfig()) is STEPS["quantize"] and STEPS["quantize"].per_part

    class Unregistered(StepConfig):
        pass

    with pytest.raises(TypeError, match="configures no registered step"):
        step_for(Unregistered())
    with pytest.raises(ValueError):
        QuantizeConfig(calibration_samples=float("nan"))


def test_doctor_removes_an_unfinished_run_that_reused_steps_and_keeps_what_it_linked(workdir, tmp_path):
    """kill -9 after a step was linked: the run has no recipe.json; doctor removes the run and its link only."""
    from conftest import run_green

    w = tmp_path / "w"
    shutil.copytree(workdir, w, symlinks=True)
    first = _runs_of(w, "int8")[0]
    step = sorted(d for d in first.iterdir() if d.is_dir())[0]
    before = _digests(step)
    orphan = w / "runs" / "20261202000000-int8-abcdef"
    orphan.mkdir()
    (orphan / step.name).symlink_to(f"../{first.name}/{step.name}", target_is_directory=True)
    res = run_green("doctor", "--clean", "--workdir", str(w))
    assert res.returncode == 0 and "removed 1 item(s)" in res.stdout, res.stdout + res.stderr
    assert not orphan.exists() and _digests(step) == before
