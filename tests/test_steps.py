"""Compression steps on a tiny BERT: graph structure, calibration, placement, IO binding."""

from collections import Counter

import numpy as np
import pytest

from green.artifacts import Artifact, support_roles
from green.batching import encode, sorted_batches
from green.compress import StepContext
from green.compress.bnb import BnbConfig, refuse_unblockable_layers
from green.compress.export import ExportConfig, fused_op_counts
from green.compress.quantize import QuantizeConfig
from green.engine import run_step
from green.errors import GreenError
from green.evaluate.placement import audit_placement, summarize_profile
from green.runtime.ort import OrtRunner
from green.tasks import DataSpec, get_task

TEXT = get_task("text-classification")


@pytest.fixture(scope="module")
def base(tiny_model_dir) -> Artifact:
    return Artifact(path=tiny_model_dir, format="torch", task=TEXT.name, step="train",
                    files={"model": "model.safetensors", **support_roles(tiny_model_dir)})


@pytest.fixture(scope="module")
def exported(base, tmp_path_factory) -> Artifact:
    out = tmp_path_factory.mktemp("export")
    return run_step(base, ExportConfig(optimize=True, optimization_level=1), StepContext(out, "cpu"))


@pytest.fixture(scope="module")
def batches(tiny_model_dir, small_csv):
    from green.models import load_tokenizer

    enc = encode(load_tokenizer(str(tiny_model_dir)), TEXT.load_data(DataSpec(str(small_csv))).test.inputs)
    return enc, [enc.batch(idx) for idx in sorted_batches(enc.lengths, 8)]


def ops(artifact: Artifact) -> Counter:
    import onnx

    return Counter(n.op_type for n in onnx.load(str(artifact.file("model"))).graph.node)


def test_gpu_fp16_export_fuses_attention(base, tmp_path, monkeypatch):
    """The fp16 recipe's export fuses attention without ORT's session optimizer.

    At optimization_level >= 1 ORT first optimizes in a session on the CUDA provider when
    the machine has one (the H100 did; this machine does not), and that pass can insert
    Memcpy nodes that stop the attention fusion. The recipe uses level 0, so the graph
    must not depend on the exporting machine: the session optimizer must not run at all.
    """
    import onnxruntime.transformers.optimizer as ort_optimizer

    from green.recipe import load_recipe

    def refuse(*args, **kwargs):
        raise AssertionError("ORT's session optimizer ran during a GPU export")

    monkeypatch.setattr(ort_optimizer, "optimize_by_onnxruntime", refuse)
    (step,) = load_recipe("fp16").steps
    assert step.config.optimization_level == 0 and step.config.for_gpu and step.config.fp16
    art = run_step(base, step.config, StepContext(tmp_path, "cpu"))
    fused = fused_op_counts(art.file("model"))
    layers = 2
    assert fused["Attention"] + fused["MultiHeadAttention"] == layers, fused
    assert fused["SkipLayerNormalization"] >= layers
    import onnx

    init = onnx.load(str(art.file("model"))).graph.initializer
    assert Counter(t.data_type for t in init)[onnx.TensorProto.FLOAT16] > 0


def test_fp16_without_optimizer_is_refused(base, tmp_path):
    with pytest.raises(GreenError, match="optimize: true"):
        run_step(base, ExportConfig(fp16=True), StepContext(tmp_path, "cpu"))


def test_dynamic_int8_quantizes_matmuls_and_embeddings(exported, tmp_path, batches):
    q = run_step(exported, QuantizeConfig(), StepContext(tmp_path, "cpu"))
    counts = ops(q)
    assert counts["MatMulInteger"] + counts["QAttention"] >= 4, counts
    assert counts["DynamicQuantizeLinear"] > 0
    assert q.size_bytes < 0.35 * exported.size_bytes
    enc, bs = batches
    a, b = OrtRunner(exported.file("model"), "cpu"), OrtRunner(q.file("model"), "cpu")
    agree = np.mean([(a(x).argmax(-1) == b(x).argmax(-1)).mean() for x in bs])
    assert agree > 0.9


@pytest.fixture(scope="module")
def exported_unfused(base, tmp_path_factory) -> Artifact:
    out = tmp_path_factory.mktemp("export-unfused")
    return run_step(base, ExportConfig(), StepContext(out, "cpu"))


def session_ops(model_path, tmp_path) -> Counter:
    """Op types of the graph ONNX Runtime actually runs, after its load-time fusions."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "session.onnx")
    ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    return Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_static_int8_calibrates_activations_and_runs_int8_kernels(exported_unfused, tmp_path, small_csv, batches,
                                                                   method):
    import onnx

    data = TEXT.load_data(DataSpec(str(small_csv)))
    cfg = QuantizeConfig(method="static-int8", calibration_method=method, calibration_samples=36,
                         calibration_batch_size=8)
    out = tmp_path / "q"
    out.mkdir()
    q = run_step(exported_unfused, cfg, StepContext(out, "cpu", task=TEXT, data=data))
    graph = onnx.load(str(q.file("model"))).graph
    weights = {t.name for t in graph.initializer}
    activation_q = [n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in weights]
    assert len(activation_q) >= 2 * 4, "activations must be quantized, not only the weights"
    run = session_ops(q.file("model"), tmp_path)
    assert run["QLinearMatMul"] + run["MatMulIntegerToFloat"] >= 4, run
    assert q.size_bytes < 0.5 * exported_unfused.size_bytes
    # The config that made it stands in its manifest, with its version.
    assert q.params["method"] == "static-int8" and q.config_version == 1 and q.digest == q.content_digest()
    enc, bs = batches
    a, b = OrtRunner(exported_unfused.file("model"), "cpu"), OrtRunner(q.file("model"), "cpu")
    agree = np.mean([(a(x).argmax(-1) == b(x).argmax(-1)).mean() for x in bs])
    assert agree > 0.8


def test_static_int8_refuses_a_fused_graph(exported, tmp_path, small_csv):
    with pytest.raises(GreenError, match="fused graph"):
        run_step(exported, QuantizeConfig(method="static-int8"),
                              StepContext(tmp_path, "cpu", task=TEXT, data=TEXT.load_data(DataSpec(str(small_csv)))))


def test_static_int8_without_data_is_a_clear_error(exported, tmp_path):
    with pytest.raises(GreenError, match="calibration"):
        run_step(exported, QuantizeConfig(method="static-int8"), StepContext(tmp_path, "cpu"))


@pytest.fixture(scope="module")
def wide_base(wide_tiny_model_dir) -> Artifact:
    return Artifact(path=wide_tiny_model_dir, format="torch", task=TEXT.name, step="train",
                    files={"model": "model.safetensors", **support_roles(wide_tiny_model_dir)})


@pytest.mark.parametrize("method, module", [("int8", "Linear8bitLt"), ("nf4", "Linear4bit")])
def test_bnb_quantizes_encoder_linears_and_reloads(wide_base, tmp_path, batches, method, module):
    """bitsandbytes' CPU kernels run the same plumbing the CUDA recipes use (on AVX2 and AVX-512-BF16)."""
    from safetensors import safe_open

    from green.runtime import open_runner

    base = wide_base
    art = run_step(base, BnbConfig(method=method), StepContext(tmp_path, "cpu"))
    assert art.params["quantization"] == f"bnb-{method}" and art.target_device == "cpu" and art.format == "torch-bnb"
    with safe_open(str(art.file("model")), "pt") as f:
        query = f.get_tensor("bert.encoder.layer.0.attention.self.query.weight")
        classifier = f.get_tensor("classifier.weight")
    assert query.element_size() == 1  # int8 rows, or two NF4 codes per byte
    assert classifier.is_floating_point()  # skip_modules stay full precision

    runner = open_runner(art, "cpu")
    assert type(runner.model.bert.encoder.layer[0].attention.self.query).__name__ == module
    reference = open_runner(base, "cpu")
    enc, bs = batches
    agree = np.mean([(runner(x).argmax(-1) == reference(x).argmax(-1)).mean() for x in bs])
    assert agree > 0.9
    # The shapes also pass the AVX-512-BF16 packing check, so this test means the same on every CPU.
    refuse_unblockable_layers(runner.model, BnbConfig(method=method), "cpu", packs=True)


def test_bnb_nf4_refuses_layers_the_avx512_bf16_kernel_cannot_block(base, tmp_path, monkeypatch):
    """The 32-wide tiny model's 32-input layers are narrower than the kernel's 64-value block: a one-line
    refusal naming the layer, before anything is written (int8 and non-packing CPUs are unaffected)."""
    import green.compress.bnb as bnb

    monkeypatch.setattr(bnb, "packs_weights_for_cpu", lambda device: True)
    out = tmp_path / "nf4"
    out.mkdir()
    with pytest.raises(GreenError, match=r"multiple of 32 outputs and 64 inputs; bert\.encoder\.layer\.0\.\S+ is 32->") as e:
        run_step(base, BnbConfig(method="nf4"), StepContext(out, "cpu"))
    assert "\n" not in str(e.value) and list(out.iterdir()) == []
    # Skipping the narrow layers is the fix the message gives; output.dense (64->32) still blocks.
    skip = ["classifier", "pooler", "attention", "intermediate"]
    art = run_step(base, BnbConfig(method="nf4", skip_modules=skip), StepContext(out, "cpu"))
    assert art.format == "torch-bnb"


def test_placement_audit_reports_a_quantized_cpu_graph(exported, tmp_path, batches):
    q = run_step(exported, QuantizeConfig(), StepContext(tmp_path, "cpu"))
    enc, bs = batches
    report = audit_placement(q.file("model"), ["CPUExecutionProvider"], bs[:2], "cpu")
    assert report["intended_provider"] == "CPUExecutionProvider"
    assert report["nodes_by_provider"]["CPUExecutionProvider"] >= 10
    assert report["off_device_share"] == 0.0 and not report["fell_back"]
    # The same CPU-placed graph audited against a CUDA intent is all off-device.
    assert audit_placement(q.file("model"), ["CPUExecutionProvider"], bs[:1], "cuda")["off_device_share"] == 1.0


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
    plain = OrtRunner(exported.file("model"), "cpu", io_binding=False)
    bound = OrtRunner(exported.file("model"), "cpu", io_binding=True)
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
    from green.runtime.cudagraph import CudaGraphOrtRunner

    with pytest.raises(GreenError, match="CUDA graphs need"):
        CudaGraphOrtRunner(exported.file("model"), "cpu")


def test_cuda_graph_runner_reads_output_shapes_of_any_rank_without_a_captured_run(exported, batches, tmp_path):
    """Dims come from the graph (fixed, or named like an input's); a symbolic class count from an uncaptured run."""
    import onnxruntime as ort

    from green.runtime.cudagraph import output_dims, resolve_dims

    enc, bs = batches
    feed = {k: v[:1] for k, v in bs[0].items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    path = exported.file("model")
    real = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    dims = output_dims(real, feed)
    assert resolve_dims(dims, {"input_ids": [7, 19]}) == [7, 3]

    class Symbolic:  # a session whose graph leaves the class count symbolic, with logits per token
        def __init__(self, real):
            self.real, self.options = real, None

        def get_inputs(self):
            return self.real.get_inputs()

        def get_outputs(self):
            out = self.real.get_outputs()[0]
            seq = self.real.get_inputs()[0].shape[1]
            return [type("Out", (), {"name": out.name, "shape": ["batch_size", seq, "num_labels"]})()]

        def run(self, names, feed, options=None):
            self.options = options
            out = self.real.run(names, feed, options)[0]
            return [out[:, None, :].repeat(feed["input_ids"].shape[1], axis=1)]

    session = Symbolic(real)
    dims = output_dims(session, feed)
    assert resolve_dims(dims, {"input_ids": [5, 11], "attention_mask": [5, 11]}) == [5, 11, 3]
    assert session.options.get_run_config_entry("gpu_graph_id") == "-1"
