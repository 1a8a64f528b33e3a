"""Structured pruning and sparsity on tiny BERTs: shapes, save/reload, ONNX export, FLOPs, selection."""

import numpy as np
import pytest
import torch

from green.artifacts import Artifact, support_roles
from green.compress import StepContext
from green.compress.export import ExportConfig
from green.compress.prune import PruneConfig, choose, encoder_layers, prune_model
from green.compress.sparsify import SparsifyConfig, sparsify_model, target_linears
from green.engine import run_step
from green.errors import GreenError
from green.evaluate.flops import flops_at
from green.runtime import RuntimeOptions, open_runner
from green.runtime.pytorch import load_pretrained
from green.tasks import DataSpec, TaskData, get_task

TEXT = get_task("text-classification")
HIDDEN, LAYERS, HEADS, FFN = 64, 3, 4, 128


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Artifact:
    """A 3-layer, 4-head BERT with the real MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from green.models import embedded_model_path

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("prune-base")
    cfg = BertConfig(vocab_size=30522, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                     intermediate_size=FFN, max_position_embeddings=128, num_labels=3)
    model = BertForSequenceClassification(cfg)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(embedded_model_path()).save_pretrained(out)
    art = Artifact(path=out, format="torch", task=TEXT.name, step="train",
                   files={"model": "model.safetensors", **support_roles(out)}, flops=TEXT.count_flops(model))
    art.save()
    return art


@pytest.fixture(scope="module")
def data(small_csv) -> TaskData:
    return TEXT.load_data(DataSpec(str(small_csv)))


@pytest.fixture(scope="module")
def batch(base, data):
    from green.batching import encode
    from green.models import load_tokenizer

    enc = encode(load_tokenizer(str(base.path)), data.test.inputs[:16])
    return enc.batch(list(range(16)))


@pytest.fixture(scope="module")
def uneven(base, data, tmp_path_factory) -> Artifact:
    """Pruned globally (Taylor importance): layers keep different numbers of heads and FFN channels."""
    out = tmp_path_factory.mktemp("pruned-global")
    cfg = PruneConfig(heads=0.5, ffn=0.5, allocation="global", importance="taylor", importance_batches=4,
                      round_to=8, recovery=None)
    art = run_step(base, cfg, StepContext(out, "cpu", task=TEXT, data=data, quick=True))
    art.save()
    return art


def logits(model, batch) -> np.ndarray:
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()


def test_global_pruning_leaves_layers_of_different_widths(uneven):
    heads, ffn = uneven.extra["heads_kept"], uneven.extra["ffn_kept"]
    assert sum(heads) == LAYERS * HEADS // 2 and all(h >= 1 for h in heads)
    assert len(set(heads)) > 1 or len(set(ffn)) > 1, (heads, ffn)
    assert all(f % 8 == 0 and f >= 8 for f in ffn)
    assert uneven.extra["parameters_after"] < uneven.extra["parameters_before"]


def test_pruned_model_reloads_with_the_same_logits(uneven, batch):
    """save_pretrained -> green's loader: heads from config.pruned_heads, FFN widths from the config (exact)."""
    model = load_pretrained(uneven.path, TEXT.model_class()).eval()
    shapes = [(p.heads, p.ffn_in.out_features) for p in encoder_layers(model)]
    assert shapes == list(zip(uneven.extra["heads_kept"], uneven.extra["ffn_kept"]))
    again = load_pretrained(uneven.path, TEXT.model_class()).eval()
    np.testing.assert_array_equal(logits(model, batch), logits(again, batch))
    runner = open_runner(uneven, "cpu")
    np.testing.assert_allclose(runner(batch), logits(model, batch), atol=1e-6)


def test_pruned_model_exports_with_its_real_shapes(uneven, batch, tmp_path):
    """ONNX logits match PyTorch within 1e-4; the graph's MatMul weights have the pruned widths."""
    import onnx
    from onnx import numpy_helper

    art = run_step(uneven, ExportConfig(), StepContext(tmp_path, "cpu", task=TEXT))
    model = load_pretrained(uneven.path, TEXT.model_class()).eval()
    np.testing.assert_allclose(open_runner(art, "cpu")(batch), logits(model, batch), atol=1e-4)
    graph = onnx.load(str(art.file("model"))).graph
    weights = {t.name: numpy_helper.to_array(t).shape for t in graph.initializer}
    matmul_shapes = sorted(weights[n.input[1]] for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights)
    expected = []
    for h, f in zip(uneven.extra["heads_kept"], uneven.extra["ffn_kept"]):
        q = h * HIDDEN // HEADS
        expected += [(HIDDEN, q)] * 3 + [(q, HIDDEN), (HIDDEN, f), (f, HIDDEN)]
    assert matmul_shapes == sorted(expected)


def test_fused_export_of_a_pruned_model_keeps_attention_fused(uneven, batch, tmp_path):
    from green.compress.export import fused_op_counts

    art = run_step(uneven, ExportConfig(optimize=True), StepContext(tmp_path, "cpu", task=TEXT))
    assert fused_op_counts(art.file("model"))["Attention"] == LAYERS
    model = load_pretrained(uneven.path, TEXT.model_class()).eval()
    np.testing.assert_allclose(open_runner(art, "cpu")(batch), logits(model, batch), atol=1e-4)


def test_flops_are_counted_on_the_pruned_module(base, uneven):
    def analytic(heads, ffn, length):
        total = 0
        for h, f in zip(heads, ffn):
            q = h * HIDDEN // HEADS
            total += length * (3 * HIDDEN * q + q * HIDDEN + 2 * HIDDEN * f) + 2 * length * length * q
        return 2.0 * (total + HIDDEN * HIDDEN + HIDDEN * 3)

    for length in (16, 40):
        assert flops_at(base.flops, length) == pytest.approx(analytic([HEADS] * 3, [FFN] * 3, length))
        got = flops_at(uneven.flops, length)
        assert got == pytest.approx(analytic(uneven.extra["heads_kept"], uneven.extra["ffn_kept"], length))
        assert got < 0.6 * flops_at(base.flops, length)


def test_magnitude_pruning_removes_the_head_and_channels_that_are_zero(base, data):
    """A head whose weights are zero and FFN channels that are zero score lowest and go first."""
    model = load_pretrained(base.path, TEXT.model_class()).eval()
    layer = encoder_layers(model)[1]
    dim = HIDDEN // HEADS
    with torch.no_grad():
        for lin in (layer.query, layer.key, layer.value):
            lin.weight[2 * dim:3 * dim] = 0
            lin.bias[2 * dim:3 * dim] = 0
        layer.attn_out.weight[:, 2 * dim:3 * dim] = 0
        layer.ffn_in.weight[:8] = 0
        layer.ffn_in.bias[:8] = 0
        layer.ffn_out.weight[:, :8] = 0
    ids = torch.randint(1000, 2000, (2, 12))
    feeds = [{"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 1])}]
    kept = prune_model(model, PruneConfig(heads=0.25, ffn=8 / FFN, importance="magnitude", recovery=None), feeds, TEXT)
    assert kept["heads_kept"] == [3, 3, 3]
    assert model.config.pruned_heads[1] == [2]
    assert kept["ffn_kept"] == [FFN - 8] * 3 and model.config.intermediate_size == FFN - 8


def test_choose_uniform_and_global():
    scores = [torch.tensor([4.0, 3.0, 2.0, 1.0]), torch.tensor([40.0, 0.1, 0.1, 0.1])]
    uniform = choose(scores, [0.5, 0.5], "uniform", minimum=1)
    assert [len(x) for x in uniform] == [2, 2] and uniform[0] == [2, 3]
    glob = choose(scores, [0.5, 0.5], "global", minimum=1)
    # normalized by the layer mean, layer 1's three tiny scores lose to layer 0's; layer 1 keeps its best one
    assert glob == [[3], [1, 2, 3]]


def test_recovery_fine_tunes_and_distills(base, data, tmp_path):
    cfg = PruneConfig(heads=0.5, ffn=0.5, importance="magnitude", recovery={"epochs": 1, "train_rows": 64})
    art = run_step(base, cfg, StepContext(tmp_path, "cpu", task=TEXT, data=data, quick=True))
    history = art.extra["recovery_history"]
    assert len(history) == 1 and history[0]["steps"] == 2 and 0 <= history[0]["val_accuracy"] <= 1


def test_per_layer_ratio_list_must_match_the_layers(base, data, tmp_path):
    cfg = PruneConfig(heads=[0.5, 0.5], ffn=0.5, importance="magnitude", recovery=None)
    with pytest.raises(GreenError, match="lists 2 ratios for a model with 3 layers"):
        run_step(base, cfg, StepContext(tmp_path, "cpu", task=TEXT, data=data))


def test_unstructured_sparsity_zeroes_the_encoder_not_the_head(base):
    model = load_pretrained(base.path, TEXT.model_class())
    head_before = model.classifier.weight.clone()
    fraction = sparsify_model(model, SparsifyConfig(pattern="unstructured", amount=0.5))
    assert fraction == pytest.approx(0.5, abs=0.01)
    assert torch.equal(model.classifier.weight, head_before)
    assert "classifier" not in target_linears(model) and len(target_linears(model)) == 6 * LAYERS


def test_two_four_sparsity_has_two_zeros_in_every_four(base):
    model = load_pretrained(base.path, TEXT.model_class())
    assert sparsify_model(model, SparsifyConfig(pattern="2:4")) == pytest.approx(0.5)
    for m in target_linears(model).values():
        groups = (m.weight.reshape(m.weight.shape[0], -1, 4) == 0).sum(-1)
        assert bool((groups >= 2).all())


def test_semi_structured_on_cpu_is_refused_unless_a_fallback_is_declared(base, tmp_path):
    art = run_step(base, SparsifyConfig(pattern="2:4"), StepContext(tmp_path, "cpu", task=TEXT))
    assert "no speed-up" in art.extra["notes"][0]
    with pytest.raises(GreenError, match="2:4 semi-structured sparse kernels need an NVIDIA GPU"):
        open_runner(art, "cpu", RuntimeOptions(semi_structured=True))
    runner = open_runner(art, "cpu", RuntimeOptions(semi_structured=True, dense_fallback=True))
    assert "ran dense" in runner.describe()["notes"][0]
