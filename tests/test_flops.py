import pytest
from transformers import BertConfig

from green.evaluate.flops import efficiency, encoder_flops, floor_j_per_flop


def test_minilm_flops_at_48_tokens_is_about_one_gflop():
    # all-MiniLM-L6-v2 shape; the device README's arithmetic floor says ~1.0 GFLOP at 48 tokens.
    cfg = BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536, num_labels=3)
    assert encoder_flops(cfg, 48) == pytest.approx(1.0e9, rel=0.1)
    assert encoder_flops(cfg, 96) > 2 * encoder_flops(cfg, 48) * 0.99


def test_floor_known_and_unknown_devices():
    assert floor_j_per_flop("NVIDIA H100 80GB HBM3") == pytest.approx(700 / 989e12)
    assert floor_j_per_flop("NVIDIA H100 PCIe") == pytest.approx(350 / 756e12)
    assert floor_j_per_flop("AMD EPYC") is None
    cfg = BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536, num_labels=3)
    eff = efficiency(cfg, [(256, 48)], 4.9e-3, "NVIDIA H100 80GB HBM3")
    assert eff["ratio_to_floor"] == pytest.approx(4.9e-3 / eff["flops_per_inference"] / (700 / 989e12))
    assert efficiency(cfg, [(1, 48)], 1e-3, "Some CPU")["ratio_to_floor"] is None
