"""Compression steps on a tiny BERT: graph structure, calibration, placement, IO binding."""

from collections import Counter

import numpy as np
import pytest

from green.artifacts import Artifact
from green.batching import encode, sorted_batches
from green.compress import STEPS, StepContext
from green.compress.bnb import BnbConfig
from green.compress.export import ExportConfig, fused_op_counts
from green.compress.quantize import QuantizeConfig
from green.errors import GreenError
from green.evaluate.placement import audit_placement, summarize_profile
from green.evaluate.runtime import OrtRunner


@pytest.fixture(scope="module")
def base(tiny_model_dir) -> Artifact:
    return Artifact(path=tiny_model_dir, format="torch", runtime="torch", step="train")


@pytest.fixture(scope="module")
def exported(base, tmp_path_factory) -> Artifact:
    out = tmp_path_factory.mktemp("export")
    return STEPS["export"].run(base, ExportConfig(optimize=True, optimization_level=1), StepContext(out, "cpu"))


@pytest.fixture(scope="module")
def batches(tiny_model_dir, small_csv):
    from green.data import load_task_data
    from green.models import load_tokenizer

    enc = encode(load_tokenizer(str(tiny_model_dir)), load_task_data(str(small_csv)).test.texts)
    return enc, [enc.batch(idx) for idx in sorted_batches(enc.lengths, 8)]


def ops(artifact: Artifact) -> Counter:
    import onnx

    return Counter(n.op_type for n in onnx.load(str(artifact.path / artifact.model_file)).graph.node)


def test_gpu_fp16_export_fuses_attention(base, tmp_path):
    art = STEPS["export"].run(base, ExportConfig(optimize=True, for_gpu=True, fp16=True), StepContext(tmp_path, "cpu"))
    fused = fused_op_counts(art.path / art.model_file)
    layers = 2
    assert fused["Attention"] + fused["MultiHeadAttention"] == layers, fused
    assert fused["SkipLayerNormalization"] >= layers
    import onnx

    init = onnx.load(str(art.path / art.model_file)).graph.initializer
    assert Counter(t.data_type for t in init)[onnx.TensorProto.FLOAT16] > 0


def test_fp16_without_optimizer_is_refused(base, tmp_path):
    with pytest.raises(GreenError, match="optimize: true"):
        STEPS["export"].run(base, ExportConfig(fp16=True), StepContext(tmp_path, "cpu"))


def test_dynamic_int8_quantizes_matmuls_and_embeddings(exported, tmp_path, batches):
    q = STEPS["quantize"].run(exported, QuantizeConfig(), StepContext(tmp_path, "cpu"))
    counts = ops(q)
    assert counts["MatMulInteger"] + counts["QAttention"] >= 4, counts
    assert counts["DynamicQuantizeLinear"] > 0
    assert q.size_bytes < 0.35 * exported.size_bytes
    enc, bs = batches
    a, b = OrtRunner(exported.path / exported.model_file, "cpu"), OrtRunner(q.path / q.model_file, "cpu")
    agree = np.mean([(a(x).argmax(-1) == b(x).argmax(-1)).mean() for x in bs])
    assert agree > 0.9


def test_static_int8_calibrates_on_train_rows(exported, tmp_path, small_csv, batches):
    from green.data import load_task_data

    texts = load_task_data(str(small_csv)).train.texts
    cfg = QuantizeConfig(method="static-int8", calibration_samples=32, calibration_batch_size=8)
    q = STEPS["quantize"].run(exported, cfg, StepContext(tmp_path, "cpu", train_texts=texts))
    counts = ops(q)
    assert counts["QuantizeLinear"] > 0 and counts["DequantizeLinear"] > counts["QuantizeLinear"] / 2
    assert q.size_bytes < 0.5 * exported.size_bytes
    assert (tmp_path / "quantize_config.json").is_file()
    enc, bs = batches
    out = OrtRunner(q.path / q.model_file, "cpu")(bs[0])
    assert out.shape == (len(bs[0]["input_ids"]), 3) and np.isfinite(out).all()


def test_static_int8_without_data_is_a_clear_error(exported, tmp_path):
    with pytest.raises(GreenError, match="calibration"):
        STEPS["quantize"].run(exported, QuantizeConfig(method="static-int8"), StepContext(tmp_path, "cpu"))


def test_bnb_on_cpu_is_refused_with_the_fix(base, tmp_path):
    with pytest.raises(GreenError, match="CUDA GPU"):
        STEPS["bnb"].run(base, BnbConfig(method="nf4"), StepContext(tmp_path, "cpu"))


def test_placement_audit_reports_a_quantized_cpu_graph(exported, tmp_path, batches):
    q = STEPS["quantize"].run(exported, QuantizeConfig(), StepContext(tmp_path, "cpu"))
    enc, bs = batches
    report = audit_placement(q.path / q.model_file, ["CPUExecutionProvider"], bs[:2], "cpu")
    assert report["intended_provider"] == "CPUExecutionProvider"
    assert report["nodes_by_provider"]["CPUExecutionProvider"] >= 10
    assert report["off_device_share"] == 0.0 and not report["fell_back"]
    # The same CPU-placed graph audited against a CUDA intent is all off-device.
    assert audit_placement(q.path / q.model_file, ["CPUExecutionProvider"], bs[:1], "cuda")["off_device_share"] == 1.0


def test_profile_summary_counts_fallback_share():
    events = [
        {"cat": "Node", "name": "a_kernel_time", "dur": 30, "args": {"provider": "CUDAExecutionProvider", "op_name": "MatMul"}},
        {"cat": "Node", "name": "b_kernel_time", "dur": 70, "args": {"provider": "CPUExecutionProvider", "op_name": "MatMulInteger"}},
        {"cat": "Session", "name": "model_run", "dur": 500, "args": {}},
    ]
    s = summarize_profile(events, "CUDAExecutionProvider")
    assert s["off_device_share"] == pytest.approx(0.7) and s["fell_back"]
    assert s["off_device_ops"] == {"MatMulInteger": 70.0}


def test_io_binding_gives_the_same_logits(exported, batches):
    enc, bs = batches
    plain = OrtRunner(exported.path / exported.model_file, "cpu", io_binding=False)
    bound = OrtRunner(exported.path / exported.model_file, "cpu", io_binding=True)
    for batch in bs[:3]:
        np.testing.assert_allclose(bound(bound.prepare(batch)), plain(batch), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bound(batch), plain(batch), rtol=1e-5, atol=1e-5)
    assert bound.describe()["io_binding"] is True


def test_padding_rounds_up_to_bucket():
    from green.batching import Encoded

    enc = Encoded([[1, 2, 3], [4, 5, 6, 7, 8]], pad_id=0, max_length=128)
    b = enc.batch([0, 1], multiple_of=8)
    assert b["input_ids"].shape == (2, 8) and b["attention_mask"].sum() == 8


def test_cuda_graph_runner_refuses_without_a_gpu(exported):
    from green.evaluate.cudagraph import CudaGraphOrtRunner

    with pytest.raises(GreenError, match="CUDA graphs need"):
        CudaGraphOrtRunner(exported.path / exported.model_file, "cpu")
