"""OpenVINO for classifiers on the CPU: convert (fp32, NNCF int8), the runner, the recipe, the missing extra.

On conftest's tiny random BERT (2 layers, 32 wide). fp32 logits are compared with PyTorch's
within 1e-5 absolute (OpenVINO's f32 kernels sum in another order; the difference seen is ~1e-8).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from green.errors import GreenError

pytest.importorskip("openvino", reason='OpenVINO is an optional extra: pip install "green[openvino]"')
pytest.importorskip("nncf", reason='NNCF comes with the extra: pip install "green[openvino]"')


@pytest.fixture(scope="module")
def ov_artifacts(tmp_path_factory, tiny_model_dir, small_csv):
    from green.artifacts import Artifact, support_roles
    from green.compress import StepContext
    from green.compress.convert import ConvertConfig
    from green.engine import run_step
    from green.tasks import DataSpec, get_task

    task = get_task("text-classification")
    data = task.load_data(DataSpec(str(small_csv), {}, 42))
    base = Artifact(path=tiny_model_dir, format="torch", task=task.name, step="train",
                    files={"model": "model.safetensors", **support_roles(tiny_model_dir)})
    root = tmp_path_factory.mktemp("ov")
    out = {"torch": base, "task": task, "data": data}
    for q, rows in (("fp32", 300), ("int8", 64)):
        art = run_step(base, ConvertConfig(format="openvino", quantization=q, calibration_samples=rows),
                       StepContext(out_dir=root / q, device="cpu", task=task, data=data))
        out[q] = Artifact.load(art.path)
    return out


def _batch(ov_artifacts):
    from green.models import load_tokenizer

    task, data = ov_artifacts["task"], ov_artifacts["data"]
    enc = task.encode(load_tokenizer(str(ov_artifacts["torch"].path)), data.test.inputs[:12], 128)
    return enc.batch(list(range(12)))


def test_fp32_ir_gives_pytorchs_logits(ov_artifacts):
    from green.runtime import RuntimeOptions, open_runner

    art = ov_artifacts["fp32"]
    assert art.format == "openvino" and art.runtime == "openvino" and art.files["model"] == "openvino/model.xml"
    assert art.params["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    batch = _batch(ov_artifacts)
    runner = open_runner(art, "cpu", RuntimeOptions(threads=1))
    info = runner.describe()
    assert info["runtime"] == "openvino" and info["inference_num_threads"] == 1 and info["threads_from"] == "recipe"
    got, ref = runner(batch), open_runner(ov_artifacts["torch"], "cpu")(batch)
    assert got.shape == ref.shape == (12, 3)
    assert np.abs(got - ref).max() < 1e-5
    # Padding matters (the mask is fed by name): shorter rows padded in a batch give their unpadded logits.
    one = {k: v[:1, : int(batch["attention_mask"][0].sum())] for k, v in batch.items()}
    assert np.abs(runner(one) - got[:1]).max() < 1e-5


def test_nncf_int8_runs_smaller_and_close(ov_artifacts):
    from green.runtime import open_runner

    int8, fp32 = ov_artifacts["int8"], ov_artifacts["fp32"]
    assert int8.params["calibration_rows"] == 64 and int8.size_bytes < 0.5 * fp32.size_bytes
    batch = _batch(ov_artifacts)
    got, ref = open_runner(int8, "cpu")(batch), open_runner(fp32, "cpu")(batch)
    assert got.shape == ref.shape and np.isfinite(got).all()
    assert not np.array_equal(got, ref)  # quantized: not the fp32 graph again
    assert np.abs(got - ref).max() < 0.5 * np.abs(ref).max() + 0.05  # and not garbage


def test_openvino_recipe_parse_and_missing_extra(tmp_path, monkeypatch):
    from green.recipe import load_recipe, parse_recipe, recipe_summaries
    from green.workbench import Workbench

    rows = {r["name"]: r for r in recipe_summaries("text-classification")}
    assert rows["ov-int8"]["runtime"] == "openvino" and rows["ov-int8"]["models"] == "BERT"
    assert load_recipe("ov-int8").output_format == "openvino"
    head = "name: o\ndescription: d\nsteps:\n"
    with pytest.raises(GreenError) as err:
        parse_recipe(head + "  - convert: {format: openvino, quantization: float16}\n", "bad.yaml")
    assert str(err.value).startswith("bad.yaml:4: steps.0.convert.quantization:") and "fp32, int8" in str(err.value)
    with pytest.raises(GreenError, match="use runtime: openvino"):
        parse_recipe(head + "  - convert: {format: openvino}\nevaluate: {runtime: onnxruntime}\n", "bad.yaml")
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(GreenError) as err:
        Workbench(tmp_path / "w", device="cpu").plan("ov-int8")
    assert "\n" not in str(err.value) and 'pip install "green[openvino]"' in str(err.value)
    assert not (tmp_path / "w").exists()


def test_compress_with_ov_int8_writes_a_paired_record(tmp_path, tiny_model_dir, small_csv):
    from green.workbench import Workbench

    wb = Workbench(tmp_path / "w", device="cpu")
    record = wb.compress("ov-int8", quick=True, model=str(tiny_model_dir), data=str(small_csv))
    rec = json.loads((tmp_path / "w" / "records" / f"{record.id}.json").read_text())
    assert rec["recipe"] == "ov-int8" and rec["artifact_format"] == "openvino"
    assert rec["device"]["runtime"]["runtime"] == "openvino" and rec["machine"]["ort_intra_op_threads"] >= 1
    assert 0 <= rec["metrics"]["accuracy"] <= 1 and rec["energy"]["per_inference_j"] > 0
    assert all(w["seconds"] > 0 and w["joules"] > 0 for w in rec["energy"]["windows"])
    assert rec["paired"]["reference"] == "baseline" and rec["paired"]["throughput_ratio"] > 0
    assert rec["placement"] is None  # the ONNX Runtime audit does not apply
    assert rec["versions"]["openvino"] and rec["versions"]["nncf"]
