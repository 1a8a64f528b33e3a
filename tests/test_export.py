"""``green export``: folders Hugging Face users load with optimum / transformers alone, without a warning, giving
green's own outputs; the model card from the records; refusals that leave nothing behind."""

from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_green
from test_prune import base, data, uneven  # noqa: F401  (fixtures: a globally pruned BERT, layers of different widths)
from test_summarization import TEXTS, pairs_jsonl, tiny_bart_dir  # noqa: F401  (fixtures)

from green.artifacts import MANIFEST, Artifact
from green.errors import GreenError
from green.records import load_records
from green.workbench import Workbench

SENTENCES = ["I love this so much", "worst day ever, everything broke", "the bus is at noon",
             "what a lovely surprise!", "meh", "I am not sure how I feel about the new phone"]


@contextmanager
def no_warnings():
    """Fail if anything warns: Python warnings, or a WARNING logged by optimum, transformers or onnxruntime.

    optimum's and transformers' loggers do not propagate to the root, so a handler sits on each.
    """
    logged: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            logged.append(record)

    handler = Keep(level=logging.WARNING)
    loggers = [logging.getLogger(n) for n in ("", "optimum", "transformers", "onnxruntime")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
    # transformers' pipeline() logs its device at WARNING level on every call, whatever the model.
    logged = [r for r in logged if not r.getMessage().startswith("Device set to use")]
    assert not logged, [r.getMessage() for r in logged]
    assert not caught, [str(w.message) for w in caught]


def green_logits(artifact: Artifact, texts: list[str]) -> np.ndarray:
    """What green's own runner gives for ``texts`` (its evaluation path: task encoding, then the runner)."""
    from green.models import load_tokenizer
    from green.runtime import open_runner
    from green.tasks import get_task

    task = get_task(artifact.task)
    enc = task.encode(load_tokenizer(str(artifact.file("tokenizer"))), texts, 128)
    return open_runner(artifact, "cpu")(enc.batch(list(range(len(texts)))))


def text_files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.suffix in (".json", ".md", ".txt")}


def check_folder(folder: Path, workdir: Path, model_files: set[str]) -> None:
    """optimum's names only, no green manifest, and no local path anywhere."""
    names = {p.name for p in folder.iterdir()}
    assert model_files <= names and {"config.json", "tokenizer.json", "README.md", "green.json"} <= names
    assert MANIFEST not in names and not [n for n in names if "optimized" in n or "quantized" in n]
    for name, text in text_files(folder).items():
        assert str(workdir.parent) not in text and "/tmp/" not in text, name
    assert not list(folder.parent.glob(f".{folder.name}.export-*"))  # the temp folder was renamed away


def check_onnx_classifier(folder: Path, artifact: Artifact) -> None:
    """optimum and pipeline() load the folder without a warning and give green's outputs."""
    import torch
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    with no_warnings():
        model = ORTModelForSequenceClassification.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        classify = pipeline("text-classification", model=model, tokenizer=tokenizer)
        predicted = [p["label"] for p in classify(SENTENCES)]
    ours = green_logits(artifact, SENTENCES)
    with torch.no_grad():
        theirs = model(**tokenizer(SENTENCES, padding=True, truncation=True, max_length=128,
                                   return_tensors="pt")).logits.numpy()
    assert np.ptp(ours, axis=0).max() > 1e-4  # the outputs depend on the inputs: the comparison means something
    np.testing.assert_allclose(theirs, ours, atol=1e-4)
    assert predicted == [model.config.id2label[int(i)] for i in ours.argmax(axis=1)]


# -- classification ------------------------------------------------------------------------


def test_cli_export_int8_loads_with_optimum_and_pipeline_without_warnings(compressed_workdir, tmp_path):
    from optimum.onnxruntime import ORTConfig

    out = tmp_path / "int8-model"
    res = run_green("export", "int8", "--to", str(out), "--workdir", str(compressed_workdir))
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"exported: {out}" in res.stdout
    check_folder(out, compressed_workdir, {"model.onnx", "ort_config.json"})
    quant = ORTConfig.from_pretrained(out).quantization
    assert quant.is_static is False and quant.per_channel is True and quant.weights_dtype.name == "QInt8"
    artifact, _ = Workbench(compressed_workdir).resolve_artifact("int8")
    check_onnx_classifier(out, artifact)
    assert json.loads((out / "green.json").read_text())["recipe"] == "int8"


def test_export_cpu_max_and_by_record_id(compressed_workdir, tmp_path):
    from optimum.onnxruntime import ORTConfig

    wb = Workbench(compressed_workdir)
    artifact, _ = wb.resolve_artifact("cpu-max")
    record = [r for r in load_records(wb.records_dir) if r.recipe == "cpu-max"][-1]
    out = wb.export(record.id, tmp_path / "cpu-max")  # a record names its artifact
    assert out.path == tmp_path / "cpu-max" and out.files == {"model": "model.onnx"} and out.needs_green is None
    check_folder(out.path, compressed_workdir, {"model.onnx"})
    check_onnx_classifier(out.path, artifact)
    assert ORTConfig.from_pretrained(out.path).optimization.optimization_level == 2
    provenance = json.loads((out.path / "green.json").read_text())
    assert [s["step"] for s in provenance["lineage"]] == ["train", "distill", "prune", "export", "quantize"]
    assert provenance["record"] == record.id


def test_static_int8_ort_config_says_qdq(compressed_workdir, tmp_path):
    from optimum.onnxruntime import ORTConfig

    out = Workbench(compressed_workdir).export("int8-static", tmp_path / "static")
    quant = ORTConfig.from_pretrained(out.path).quantization
    assert quant.is_static is True and quant.format.name == "QDQ"


def test_model_card_front_matter_and_table_come_from_the_records(compressed_workdir, tmp_path):
    from huggingface_hub import ModelCard

    wb = Workbench(compressed_workdir)
    out = wb.export("int8", tmp_path / "card")
    text = (out.path / "README.md").read_text()
    card = ModelCard.load(out.path / "README.md")
    meta = card.data.to_dict()
    assert text.startswith("---\n") and meta == yaml.safe_load(text.split("---\n")[1])
    records = load_records(wb.records_dir)
    rec = [r for r in records if r.recipe == "int8"][-1]
    base_rec = [r for r in records if r.recipe == "baseline"][-1]
    co2 = meta["co2_eq_emissions"]
    assert co2["emissions"] == pytest.approx(rec.run_gco2e + base_rec.run_gco2e, rel=1e-3)
    assert co2["hardware_used"].endswith(f"{rec.device.name} (cpu)") and co2["geographical_location"] == "USA"
    assert "codecarbon-estimate" in co2["source"] and co2["training_type"] == "fine-tuning, then export, quantize"
    assert meta["library_name"] == "optimum" and {"quantized", "onnx"} <= set(meta["tags"])
    # The measured table puts the baseline beside the model, each figure as the report draws it: a paired
    # recipe at its ratio x the baseline's energy.
    row = next(line for line in text.splitlines() if line.startswith("| energy per inference"))
    drawn = rec.paired.energy_ratio * base_rec.energy_per_inference_j
    assert f"~{drawn * 1e3:.3g}" in row and "codecarbon-estimate, estimate" in row
    assert f"~{base_rec.energy_per_inference_j * 1e3:.3g}" in row
    assert f"{rec.paired.energy_ratio:.2f}x" in text and "(paired)" in text
    assert next(line for line in text.splitlines() if line.startswith("| payback")).split("|")[3].strip() != "n/a"
    assert "| baseline | this model (int8) |" in text and rec.device.name in text
    assert "green compress --recipe int8 " in text and "ORTModelForSequenceClassification.from_pretrained" in text


# -- PyTorch artifacts -----------------------------------------------------------------------


def test_pruned_pytorch_step_loads_with_plain_from_pretrained(compressed_workdir, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    wb = Workbench(compressed_workdir)
    quantized, _ = wb.resolve_artifact("prune50-int8")
    pruned = next(a for a in quantized.lineage() if a.step == "prune")
    out = wb.export(str(pruned.path), tmp_path / "pruned")
    assert out.needs_green is None and out.files == {"model": "model.safetensors"}
    check_folder(out.path, compressed_workdir, {"model.safetensors"})
    assert "green_linear_shapes" not in json.loads((out.path / "config.json").read_text())
    with no_warnings():
        model = AutoModelForSequenceClassification.from_pretrained(out.path).eval()
    assert model.config.pruned_heads  # transformers replays the pruned heads itself
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out.path)
    with torch.no_grad():
        theirs = model(**tok(SENTENCES, padding=True, return_tensors="pt")).logits.numpy()
    np.testing.assert_allclose(theirs, green_logits(pruned, SENTENCES), atol=1e-5)
    card = (out.path / "README.md").read_text()
    assert "library_name: transformers" in card and "AutoModelForSequenceClassification.from_pretrained" in card
    assert "no evaluation record" in card  # an intermediate step was never evaluated: nothing claimed


def test_non_uniform_pruned_model_says_what_green_is_needed_for(uneven, tmp_path):  # noqa: F811
    import torch
    from transformers import AutoModelForSequenceClassification

    from green.runtime.pytorch import load_pretrained

    out = Workbench(tmp_path / "no-workdir").export(str(uneven.path), tmp_path / "uneven")
    assert out.needs_green and "green_linear_shapes" in out.needs_green and "\n" not in out.needs_green
    assert f"Needs green: {out.needs_green}" in (out.path / "README.md").read_text()
    with pytest.raises((RuntimeError, ValueError)):  # what the line says: transformers alone cannot load it
        AutoModelForSequenceClassification.from_pretrained(out.path)
    model = load_pretrained(out.path, AutoModelForSequenceClassification)
    tok_batch = __import__("transformers").AutoTokenizer.from_pretrained(out.path)(SENTENCES, padding=True,
                                                                                    return_tensors="pt")
    with torch.no_grad():
        np.testing.assert_allclose(model(**tok_batch).logits.numpy(), green_logits(uneven, SENTENCES), atol=1e-5)


# -- refusals ----------------------------------------------------------------------------------


def test_export_refuses_a_non_empty_folder_in_one_line(compressed_workdir, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = run_green("export", "int8", "--to", str(out), "--workdir", str(compressed_workdir))
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "never overwrites" in lines[0], res.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder is fine
    assert Workbench(compressed_workdir).export("fp32-onnx", empty).path == empty and (empty / "model.onnx").is_file()


def test_a_failed_export_leaves_nothing(compressed_workdir, tmp_path, monkeypatch):
    from green import deploy

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(deploy, "_copy_support", broken)
    with pytest.raises(OSError):
        Workbench(compressed_workdir).export("int8", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_push_to_hub_offline_fails_in_one_line_before_writing(compressed_workdir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GreenError) as err:
        Workbench(compressed_workdir).export("int8", tmp_path / "out", push_to_hub="someone/int8")
    assert "offline" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_unknown_target_is_one_line(compressed_workdir, tmp_path):
    with pytest.raises(GreenError, match="nothing to measure called 'nope'"):
        Workbench(compressed_workdir).export("nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- summarization -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bart_workdir(tmp_path_factory, tiny_bart_dir, pairs_jsonl) -> Path:  # noqa: F811
    w = tmp_path_factory.mktemp("sum") / "w"
    res = run_green("train", "--task", "summarization", "--quick", "--model", str(tiny_bart_dir), "--data",
                    str(pairs_jsonl), "--text-column", "article", "--summary-column", "abstract", "--workdir", str(w),
                    "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_green("compress", "--recipe", "int8", "--workdir", str(w), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    return w


def test_summarizer_int8_loads_with_optimum_merged_decoder_and_generates_greens_tokens(bart_workdir, tmp_path):
    import torch
    from optimum.onnxruntime import ORTConfig, ORTModelForSeq2SeqLM
    from transformers import AutoTokenizer, pipeline

    from green.models import load_tokenizer
    from green.runtime import open_runner
    from green.tasks import get_task

    out = tmp_path / "summarizer"
    res = run_green("export", "int8", "--to", str(out), "--workdir", str(bart_workdir))
    assert res.returncode == 0, res.stderr[-2000:]
    parts = {"encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx", "decoder_model_merged.onnx"}
    check_folder(out, bart_workdir, parts | {"generation_config.json", "ort_config.json"})
    assert ORTConfig.from_pretrained(out).quantization.mode.name == "IntegerOps"
    with no_warnings():
        model = ORTModelForSeq2SeqLM.from_pretrained(out)
        tokenizer = AutoTokenizer.from_pretrained(out)
        summaries = pipeline("summarization", model=model, tokenizer=tokenizer)(TEXTS[:2])
    assert model.decoder.is_merged and len(summaries) == 2
    # Greedy tokens: optimum's generate on the exported folder against green's runner on the artifact, one
    # input at a time: dynamic int8 scales activations over the whole batch, and the two searches batch
    # finished rows differently, so only single-row batches compare exactly.
    settings = {"num_beams": 1, "max_length": 12}
    artifact, _ = Workbench(bart_workdir).resolve_artifact("int8")
    task = get_task("summarization")
    enc_green = task.encode(load_tokenizer(str(artifact.file("tokenizer"))), TEXTS, 128)
    runner = open_runner(artifact, "cpu")
    pad = model.generation_config.pad_token_id
    ours, theirs = [], []
    for i, text in enumerate(TEXTS):
        ours.append([t for t in runner.generate(enc_green.batch([i]), settings)[0].tolist() if t != pad])
        with no_warnings(), torch.no_grad():
            row = model.generate(**tokenizer([text], truncation=True, max_length=128, return_tensors="pt"),
                                 do_sample=False, **settings)[0].tolist()
        theirs.append([t for t in row if t != pad])
    assert len({tuple(r) for r in ours}) > 1  # the summaries depend on the inputs
    assert theirs == ours
    card = (out / "README.md").read_text()
    assert "ORTModelForSeq2SeqLM" in card and "mJ" in card and "--task summarization" in card


def test_push_to_hub_without_a_connection_is_one_line_and_keeps_the_folder(compressed_workdir, tmp_path, monkeypatch):
    import huggingface_hub

    def unreachable(self, *args, **kwargs):
        raise ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused\nmore")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", unreachable)
    with pytest.raises(GreenError) as err:
        Workbench(compressed_workdir).export("int8", tmp_path / "out", push_to_hub="someone/int8")
    message = str(err.value)
    assert "Connection refused" in message and "\n" not in message and str(tmp_path / "out") in message
    assert (tmp_path / "out" / "model.onnx").is_file()  # the export itself finished before the upload
