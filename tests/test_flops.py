"""FLOPs counted on the real module: equal to the analytic count for an encoder, lower once pruned."""

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from green.evaluate.flops import efficiency, floor_j_per_flop, flops_at
from green.tasks import get_task

TEXT = get_task("text-classification")


def analytic(config, seq_len: int) -> float:
    """Encoder FLOPs by hand (2 per multiply-add): Q, K, V, O and the FFN per token, scores per token pair."""
    h, inter, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = seq_len * (4 * h * h + 2 * h * inter) + 2 * seq_len * seq_len * h
    head = h * h + h * config.num_labels  # pooler and classifier, once per sequence
    return 2.0 * (layers * per_layer + head)


def tiny(**kw) -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, num_labels=3, **kw)
    return BertForSequenceClassification(cfg).eval()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_counted_flops_equal_the_analytic_count(attn):
    model = tiny(attn_implementation=attn)
    flops = TEXT.count_flops(model)
    for length in (8, 48, 100):
        assert flops_at(flops, length) == pytest.approx(analytic(model.config, length), rel=1e-9)


def test_minilm_shape_at_48_tokens_is_about_one_gflop():
    cfg = BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536, num_labels=3)
    assert analytic(cfg, 48) == pytest.approx(1.0e9, rel=0.1)


def test_floor_known_and_unknown_devices():
    assert floor_j_per_flop("NVIDIA H100 80GB HBM3") == pytest.approx(700 / 989e12)
    assert floor_j_per_flop("NVIDIA H100 PCIe") == pytest.approx(350 / 756e12)
    assert floor_j_per_flop("AMD EPYC") is None
    flops = TEXT.count_flops(tiny())
    eff = efficiency(flops, [(256, 48)], 4.9e-3, "NVIDIA H100 80GB HBM3")
    assert eff["ratio_to_floor"] == pytest.approx(4.9e-3 / eff["flops_per_inference"] / (700 / 989e12))
    assert efficiency(flops, [(1, 48)], 1e-3, "Some CPU")["ratio_to_floor"] is None
    assert efficiency(None, [(1, 48)], 1e-3, "Some CPU") is None
