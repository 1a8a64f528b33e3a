"""End to end through the real CLI: a tiny random BERT, 300 real tweets, two recipes, a report."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_green

from green.report import ENTRY_KEYS


@pytest.fixture(scope="module")
def workdir(compressed_workdir) -> Path:
    return compressed_workdir  # conftest: the CLI's compress of five recipes, then report; read-only here


@pytest.fixture
def own_workdir(compressed_workdir, tmp_path) -> Path:
    """A private copy for a test that adds runs or records, so no test depends on another's order."""
    w = tmp_path / "w"
    shutil.copytree(compressed_workdir, w)
    return w


def test_report_files_and_keys(workdir):
    report = workdir / "report"
    for name in ("pareto.png", "pareto.html", "results.md", "results.json"):
        assert (report / name).stat().st_size > 0, name
    assert (report / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    entries = {e["recipe"]: e for e in json.loads((report / "results.json").read_text())}
    assert set(entries) == {"baseline", "int8", "fp32-onnx", "int8-static", "prune50-int8", "cpu-max"}
    for e in entries.values():
        for key in ENTRY_KEYS:
            assert key in e, key
        assert e["primary_metric"] == "accuracy" and set(e["metrics"]) == {"accuracy", "macro_f1"}
        assert e["energy_source"] and e["energy_per_inference_j"] > 0
        assert e["latency_ms"]["p95"] >= e["latency_ms"]["p50"] > 0
        assert e["run_energy_j"] > 0
        # No RAPL or NVML on CI: the figure must say it is an estimate.
        assert e["energy_estimate"] == (e["energy_source"] == "codecarbon-estimate")
        # Recipes are compared with the baseline side by side, not record against record.
        if e["recipe"] != "baseline":
            assert e["ratio_basis"] == "paired" and e["energy_vs_baseline"] == e["paired"]["energy_ratio"]
    assert "| int8" in (report / "results.md").read_text()


def test_int8_is_small_and_keeps_accuracy(workdir):
    entries = {e["recipe"]: e for e in json.loads((workdir / "report" / "results.json").read_text())}
    acc = {name: e["metrics"]["accuracy"] for name, e in entries.items()}
    assert entries["int8"]["size_mb"] <= 0.35 * entries["fp32-onnx"]["size_mb"]
    assert abs(acc["int8"] - acc["fp32-onnx"]) <= 0.015
    assert abs(acc["int8-static"] - acc["fp32-onnx"]) <= 0.015
    assert entries["int8-static"]["size_mb"] <= 0.35 * entries["fp32-onnx"]["size_mb"]
    # fp32 ONNX is the same network as the baseline: same predictions, same accuracy.
    assert acc["fp32-onnx"] == pytest.approx(acc["baseline"], abs=0.01)


def test_pruned_recipe_runs_end_to_end_and_counts_its_recovery(workdir):
    records = [json.loads(p.read_text()) for p in (workdir / "records").glob("*.json")]
    rec = next(r for r in records if r["recipe"] == "prune50-int8")
    base = next(r for r in records if r["recipe"] == "baseline")
    assert [s["step"] for s in rec["run_steps"]] == ["prune", "export", "quantize"]
    assert rec["run_energy_j"] == pytest.approx(sum(s["joules"] for s in rec["run_steps"]))
    prune_dir = Path(rec["artifact"]).parent / "01-prune"
    manifest = json.loads((prune_dir / "green-artifact.json").read_text())
    assert manifest["extra"]["heads_kept"] == [1, 1] and manifest["extra"]["recovery_history"]
    assert rec["efficiency"]["flops_per_inference"] < 0.75 * base["efficiency"]["flops_per_inference"]


def test_cpu_max_chains_distill_prune_export_quantize(workdir):
    records = [json.loads(p.read_text()) for p in (workdir / "records").glob("*.json")]
    rec = next(r for r in records if r["recipe"] == "cpu-max")
    base = next(r for r in records if r["recipe"] == "baseline")
    assert [s["step"] for s in rec["lineage"]] == ["quantize", "export", "prune", "distill", "train"]
    assert [s["step"] for s in rec["run_steps"]] == ["distill", "prune", "export", "quantize"]
    assert all(s["joules"] > 0 for s in rec["run_steps"]) and rec["run_energy_j"] > 0
    distilled = json.loads((Path(rec["lineage"][3]["path"]) / "green-artifact.json").read_text())
    assert distilled["params"]["teacher_layers"] == [1]  # 2 layers -> every other one, ending with the last
    assert rec["efficiency"]["flops_per_inference"] < 0.5 * base["efficiency"]["flops_per_inference"]


def test_records_carry_lineage_versions_and_energy_windows(workdir):
    records = [json.loads(p.read_text()) for p in (workdir / "records").glob("*.json")]
    int8 = next(r for r in records if r["recipe"] == "int8")
    assert [s["step"] for s in int8["lineage"]] == ["quantize", "export", "train"]
    assert [s["step"] for s in int8["run_steps"]] == ["export", "quantize"]
    assert int8["run_energy_j"] == pytest.approx(sum(s["joules"] for s in int8["run_steps"]))
    assert int8["device"]["intended"] == "cpu" and int8["device"]["ran_on"] == "cpu"
    assert int8["device"]["runtime"]["providers"] == ["CPUExecutionProvider"]
    assert int8["versions"]["torch"] and int8["versions"]["onnxruntime-gpu"]
    assert "dynamic padding" in int8["sequence_length_policy"]
    energy = int8["energy"]
    used = [w for w in energy["windows"] if w["used"]]
    assert len(used) == energy["repeats"] and energy["repeats"] >= 3
    assert len(energy["windows"]) == energy["windows_run"] <= 5 + 1  # quick: max 5, one retry
    assert energy["converged"] in (True, False) and energy["spread_target"] == 0.05
    assert all(w["seconds"] >= energy["min_window_s"] and w["sequences"] > 0 for w in energy["windows"])
    # Each window knows this process's CPU time and what the rest of the machine used.
    assert all(w["cpu_s"] > 0 and w["other_cpu_s"] is not None for w in energy["windows"])
    assert energy["cpu_s_per_inference"] > 0 and energy["attribution"] == "process-cpu-time"
    assert int8["contended"] == (energy["contended"] or int8["paired"]["contended"]
                                 or int8["latency_ms"]["contended"])
    # Measured in rounds alternating with the baseline; the absolute figures stay beside the ratio.
    paired = int8["paired"]
    assert paired["reference"] == "baseline" and paired["rounds"] == energy["repeats"]
    assert paired["per_inference_j"] == pytest.approx(energy["per_inference_j"])
    assert paired["energy_ratio"] > 0 and paired["reference_per_inference_j"] > 0
    lo, hi = paired["energy_ratio_range"]
    assert lo <= paired["energy_ratio"] <= hi
    assert len(paired["reference_windows"]) == len(energy["windows"])
    assert Path(paired["reference_artifact"]).name == "baseline"
    assert energy["idle"]["source"] == energy["source"]
    assert energy["gco2e_per_million"] > 0 and energy["wh_per_million"] > 0
    onnx_dir = Path(int8["artifact"])
    assert (onnx_dir / "green-artifact.json").is_file()
    # Self-contained: the quantized folder carries its own tokenizer and config.
    assert (onnx_dir / "tokenizer_config.json").is_file() and (onnx_dir / "config.json").is_file()
    manifest = json.loads((onnx_dir / "green-artifact.json").read_text())
    assert manifest["files"]["model"].endswith(".onnx") and manifest["files"]["tokenizer"] == "."
    assert manifest["task"] == "text-classification" and manifest["flops"]["coefficients"][1] > 0


def test_a_copied_workdir_keeps_its_lineage(workdir, tmp_path):
    import shutil

    from green.artifacts import Artifact

    copy = tmp_path / "moved"
    shutil.copytree(workdir, copy)
    int8_dir = next(p for p in (copy / "runs").glob("*-int8-*/02-quantize"))
    chain = Artifact.load(int8_dir).lineage()
    assert [a.step for a in chain] == ["quantize", "export", "train"]
    assert all(Path(a.path).resolve().is_relative_to(copy.resolve()) for a in chain)
    res = run_green("report", "--workdir", str(copy))
    assert res.returncode == 0, res.stderr[-2000:]


def test_gpu_recipe_with_fallback_runs_on_cpu_and_says_so(own_workdir, tmp_path):
    recipe = tmp_path / "gpu-or-cpu.yaml"
    recipe.write_text("name: gpu-or-cpu\ndescription: fp32 ONNX meant for a GPU, allowed to fall back to the CPU\n"
                      "steps:\n  - export: {optimize: true}\nevaluate: {device: cuda, fallback_device: cpu}\n")
    res = run_green("compress", "--recipe", str(recipe), "--workdir", str(own_workdir), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "meant for a CUDA GPU" in res.stderr
    rec = json.loads(Path(res.stdout.strip().splitlines()[-1].split("record: ")[1]).read_text())
    assert rec["device"]["intended"] == "cuda" and rec["device"]["ran_on"] == "cpu"
    assert rec["placement"]["intended_provider"] == "CPUExecutionProvider"


def test_bnb_recipe_on_cpu_writes_a_torch_record(wide_tiny_model_dir, small_csv, tmp_path):
    """The bnb recipes' plumbing, end to end, on bitsandbytes' CPU kernels (the built-ins target CUDA).

    On the 64-wide tiny model: AVX-512-BF16 CPUs' NF4 kernel cannot block the 32-wide one's layers."""
    recipe = tmp_path / "bnb-cpu.yaml"
    recipe.write_text("name: bnb-nf4-cpu\ndescription: NF4 weights, run on the CPU for the test\n"
                      "steps:\n  - bnb: {method: nf4}\nevaluate: {runtime: torch, device: cpu}\n")
    res = run_green("compress", "--recipe", str(recipe), "--quick", "--model", str(wide_tiny_model_dir),
                    "--data", str(small_csv), "--workdir", str(tmp_path / "w"), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    rec = json.loads(Path(res.stdout.strip().splitlines()[-1].split("record: ")[1]).read_text())
    assert rec["recipe"] == "bnb-nf4-cpu" and rec["device"]["runtime"]["runtime"] == "torch"
    assert [s["step"] for s in rec["run_steps"]] == ["bnb"] and rec["run_energy_j"] > 0
    assert 0 <= rec["metrics"]["accuracy"] <= 1 and rec["energy"]["per_inference_j"] > 0
    assert rec["machine"]["cpu"] and rec["machine"]["torch_threads"] >= 1  # which machine made it


def test_second_train_refuses_and_keeps_workdir(workdir, tiny_model_dir, small_csv):
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    res = run_green("train", "--model", str(tiny_model_dir), "--data", str(small_csv), "--workdir", str(workdir))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "already has a baseline" in res.stderr
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before


BAD_RECIPE = "name: bad\ndescription: d\nsteps:\n  - quantize: {method: dynamic-int8, per_chanel: true}\n"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["compress", "--recipe", "int9"], "unknown recipe 'int9'; did you mean 'int8'?"),
        (["compress", "--recipe", "{tmp}/syntax.yaml"], "syntax.yaml:2:"),
        (["compress", "--recipe", "{tmp}/badkey.yaml"], "badkey.yaml:4: steps.0.quantize.per_chanel: unknown key"),
        (["train", "--data", "{tmp}/nope.csv"], "data file not found"),
        (["train", "--data", "{csv}", "--text-column", "tweet"], "columns: text, label"),
        (["train", "--data", "{tmp}/empty.csv"], "no rows"),
        (["train", "--model", "{tmp}", "--data", "{csv}"], "not a Hugging Face model"),
        (["train", "--data", "glue"], "offline"),
        (["report"], "no records"),
        (["compress", "--recipe", "int8", "--device", "tpu"], "Invalid value for '--device'"),
        (["compress", "--recipe", "int8", "--recipe", "fp16", "--device", "cpu"], "recipe 'fp16' needs a CUDA GPU"),
        (["compress", "--recipe", "bnb-nf4"], "recipe 'bnb-nf4' needs a CUDA GPU"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_harmless(tmp_path, small_csv, args, expected):
    (tmp_path / "syntax.yaml").write_text("name: x\ndescription: a: b\nsteps: []\n")
    (tmp_path / "badkey.yaml").write_text(BAD_RECIPE)
    (tmp_path / "empty.csv").write_text("text,label\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("precious")
    args = [a.format(tmp=tmp_path, csv=small_csv) for a in args]
    res = run_green(*args, "--workdir", str(work))
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("green: error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in res.stderr
    assert sorted(p.name for p in work.iterdir()) == ["keep.txt"]
    assert (work / "keep.txt").read_text() == "precious"


def test_recipes_list_and_show():
    res = run_green("recipes", "list")
    assert res.returncode == 0
    for name in ("fp16", "int8", "int8-static", "bnb-int8", "bnb-nf4", "fp32-onnx"):
        assert name in res.stdout, name
    res = run_green("recipes", "show", "int8")
    assert res.returncode == 0 and "dynamic-int8" in res.stdout


def test_meters_lists_backends_with_reasons():
    res = run_green("meters")
    assert res.returncode == 0
    for name in ("nvml-energy-counter", "rapl", "codecarbon-estimate"):
        assert name in res.stdout
    from green.machine import machine_info

    assert f"machine: {machine_info().summary()}" in res.stdout  # the CPU, its ISA and threads


def test_measure_adds_a_record_and_replaces_nothing(own_workdir):
    before = {p.name: p.read_bytes() for p in (own_workdir / "records").glob("*.json")}
    res = run_green("measure", "int8", "--workdir", str(own_workdir), "--grid", "--seq-len", "16", "--seq-len", "48",
                    "--batch-size", "1", "--batch-size", "4", "--repeats", "2", "--max-repeats", "3",
                    "--min-window-s", "0.5")
    assert res.returncode == 0, res.stderr[-2000:]
    after = {p.name: p.read_bytes() for p in (own_workdir / "records").glob("*.json")}
    assert all(after[name] == data for name, data in before.items())
    new = [json.loads(after[n]) for n in set(after) - set(before)]
    assert len(new) == 1 and new[0]["kind"] == "measurement" and new[0]["recipe"] == "int8"
    cells = new[0]["cells"]
    assert [(c["batch_size"], c["seq_len"]) for c in cells] == [(1, 16), (4, 16), (1, 48), (4, 48)]
    energies = [c["energy"] for c in cells]  # each cell nests its typed energy block
    assert all(e["per_inference_j"] > 0 and e["repeats"] in (2, 3) and len(e["windows"]) <= 3 + 2 for e in energies)
    assert all(sum(w["used"] for w in e["windows"]) == e["repeats"] for e in energies)
    # Longer sequences cost more arithmetic per inference.
    assert cells[2]["efficiency"]["flops_per_inference"] > cells[0]["efficiency"]["flops_per_inference"]
    assert "GFLOP/inf" in res.stdout
    # The report keeps using evaluation records only.
    assert run_green("report", "--workdir", str(own_workdir)).returncode == 0
    entries = json.loads((own_workdir / "report" / "results.json").read_text())
    assert "measure-int8" not in {e["recipe"] for e in entries}
    assert {"baseline", "fp32-onnx", "int8", "int8-static"} <= {e["recipe"] for e in entries}


def test_measure_pairs_with_the_baseline_and_one_repeat_has_no_spread(own_workdir):
    res = run_green("measure", "int8", "--pair", "--repeats", "1", "--min-window-s", "0.2",
                    "--workdir", str(own_workdir))
    assert res.returncode == 0, res.stderr[-2000:]
    rec = json.loads(Path(res.stdout.strip().splitlines()[-1].split("record: ")[1]).read_text())
    assert rec["paired"]["reference"] == "baseline" and rec["paired"]["rounds"] == 1
    assert rec["energy"]["spread"] is None and rec["paired"]["energy_ratio_spread"] is None
    assert rec["energy"]["converged"] is None
    assert "n/a" in res.stdout and "0.0%" not in res.stdout
    assert "int8 vs baseline over 1 alternating rounds" in res.stdout


def test_evaluate_again_adds_an_evaluation_record(own_workdir):
    before = set((own_workdir / "records").glob("*.json"))
    res = run_green("evaluate", "int8", "--workdir", str(own_workdir))
    assert res.returncode == 0, res.stderr[-2000:]
    (new,) = set((own_workdir / "records").glob("*.json")) - before
    rec = json.loads(new.read_text())
    assert rec["kind"] == "evaluation" and rec["recipe"] == "int8"
    assert [s["step"] for s in rec["run_steps"]] == ["export", "quantize"]
    assert rec["paired"]["reference"] == "baseline"


def test_measure_unknown_target_lists_choices(workdir):
    res = run_green("measure", "nope", "--workdir", str(workdir))
    assert res.returncode == 2 and "baseline" in res.stderr and "int8" in res.stderr
