"""CTranslate2 for encoder-decoder models: the convert step, the runner, the recipes and the missing extra.

Tiny random BARTs built from a config (test_summarization's fixtures, the MiniLM tokenizer, so
the BERT tokenizer's missing bos/eos and the absent ``normalize_before`` are both exercised).
Token comparisons with PyTorch ``generate`` are exact (no tolerance): float32 CTranslate2 and
PyTorch pick the same tokens where the settings map one to one (see green/runtime/ct2.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_summarization import TEXTS, pairs_jsonl, task, tiny_bart_dir  # noqa: F401  (fixtures)

from green.errors import GreenError

ct2_lib = pytest.importorskip("ctranslate2", reason='CTranslate2 is an optional extra: pip install "green[ct2]"')


def _base(path: Path):
    from green.artifacts import Artifact, support_roles

    return Artifact(path=path, format="torch", task="summarization", step="train",
                    files={"model": "model.safetensors", **support_roles(path)})


def _folder_bytes(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tiny_bart_dir, task):  # noqa: F811
    """The tiny BART converted to CTranslate2 at float32 and at int8; the parent's bytes before conversion."""
    from green.artifacts import Artifact
    from green.compress import StepContext
    from green.compress.convert import ConvertConfig
    from green.engine import run_step

    before = _folder_bytes(tiny_bart_dir)
    root = tmp_path_factory.mktemp("ct2")
    out = {"torch": _base(tiny_bart_dir), "parent_bytes": before}
    for q in ("float32", "int8"):
        art = run_step(out["torch"], ConvertConfig(quantization=q), StepContext(out_dir=root / q, device="cpu", task=task))
        out[q] = Artifact.load(art.path)  # reloaded from its manifest, as evaluation opens it
    return out


def _batch(task, folder):  # noqa: F811
    from green.models import load_tokenizer

    enc = task.encode(load_tokenizer(str(folder)), TEXTS, 128)
    return enc.batch(list(range(len(TEXTS))))


def test_convert_writes_a_ctranslate2_model_and_leaves_the_parent_alone(converted, tiny_bart_dir):  # noqa: F811
    art = converted["float32"]
    assert art.format == "ctranslate2" and art.step == "convert" and art.runtime == "ctranslate2"
    assert art.files["model"] == "ctranslate2/model.bin" and art.file("vocabulary").is_file()
    assert art.params["quantization"] == "float32" and art.content_digest() == art.digest
    # The CTranslate2 config names the tokens the BERT tokenizer does not: [CLS] starts, [SEP] ends.
    ct2_config = json.loads(art.file("ct2_config").read_text())
    assert (ct2_config["bos_token"], ct2_config["eos_token"], ct2_config["decoder_start_token"]) == \
        ("[CLS]", "[SEP]", "[CLS]")
    assert (art.path / "generation_config.json").is_file() and (art.path / "tokenizer.json").is_file()
    assert _folder_bytes(tiny_bart_dir) == converted["parent_bytes"]  # config and tokenizer fixed in memory only
    # int8 weights: about a quarter of float32's (the embeddings dominate a tiny model).
    assert converted["int8"].size_bytes < 0.4 * art.size_bytes


def test_runner_records_its_threads_and_compute_type(converted):
    from green.runtime import RuntimeOptions, open_runner

    runner = open_runner(converted["int8"], "cpu", RuntimeOptions(threads=1))
    info = runner.describe()
    assert info["runtime"] == "ctranslate2" and info["compute_type"] == "int8"
    assert (info["intra_threads"], info["inter_threads"], info["threads_from"]) == (1, 1, "recipe")
    assert info["compute_type_resolved"] == runner.translator.compute_type and "int8" in info["compute_type_resolved"]
    auto = open_runner(converted["int8"], "cpu").describe()
    assert auto["intra_threads"] == len(os.sched_getaffinity(0)) and auto["threads_from"] == "usable CPUs"


#: Settings that map one to one; beams without the forced end token, which CTranslate2 approximates.
EXACT = [
    {"num_beams": 1, "max_length": 12},
    {"num_beams": 1, "max_length": 16, "min_length": 6, "no_repeat_ngram_size": 2},
    {"num_beams": 1, "max_length": 10, "forced_bos_token_id": 1996, "forced_eos_token_id": None},
    {"num_beams": 2, "max_length": 12},
    {"num_beams": 4, "max_length": 16, "min_length": 6, "no_repeat_ngram_size": 2, "early_stopping": True,
     "forced_eos_token_id": None},
    {"num_beams": 4, "max_length": 32, "min_length": 3, "no_repeat_ngram_size": 3, "early_stopping": True},
    {"num_beams": 3, "max_length": 14, "length_penalty": 2.0, "early_stopping": True, "no_repeat_ngram_size": 1},
    {"num_beams": 2, "max_new_tokens": 9, "length_penalty": -1.0, "early_stopping": True},
    {"num_beams": 4, "max_length": 12, "forced_eos_token_id": None, "early_stopping": True},
]


@pytest.mark.parametrize("settings", EXACT, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_float32_generation_gives_pytorchs_tokens(converted, task, settings):  # noqa: F811
    from green.runtime import open_runner

    batch = _batch(task, converted["torch"].path)
    ref = open_runner(converted["torch"], "cpu").generate(batch, settings)
    got = open_runner(converted["float32"], "cpu").generate(batch, settings)
    assert len({tuple(r) for r in ref.tolist()}) > 1  # outputs depend on inputs: a real comparison
    assert got.dtype == np.int64 and got.tolist() == ref.tolist()


def test_settings_without_an_exact_equivalent_are_said_or_refused(converted, task):  # noqa: F811
    from green.runtime import open_runner

    runner = open_runner(converted["float32"], "cpu")
    batch = _batch(task, converted["torch"].path)
    runner.generate(batch, {"num_beams": 3, "max_length": 14, "early_stopping": False})
    notes = runner.describe()["approximations"]
    assert any(n.startswith("early_stopping: false") for n in notes)
    assert any(n.startswith("forced_eos_token_id") for n in notes)  # the fixture's model forces [SEP]
    for settings, name in (({"num_beams": 2, "early_stopping": "never"}, "early_stopping: never"),
                           ({"do_sample": True}, "sampling")):
        with pytest.raises(GreenError, match=name) as err:
            runner.generate(batch, settings)
        assert "\n" not in str(err.value)
    with pytest.raises(GreenError, match="cannot run the encoder alone"):
        runner(batch)


def test_int8_generates_plausible_summaries(converted, task):  # noqa: F811
    from green.models import load_tokenizer
    from green.runtime import open_runner

    runner = open_runner(converted["int8"], "cpu")
    settings = {"num_beams": 4, "max_length": 16, "no_repeat_ngram_size": 3, "early_stopping": True}
    ids = runner.generate(_batch(task, converted["torch"].path), settings)
    assert ids.shape[0] == len(TEXTS) and ids.shape[1] <= 16 and (ids[:, 0] == 101).all()
    assert ((0 <= ids) & (ids < 30522)).all()
    for row in ids.tolist():  # each row ends with [SEP] or runs to the maximum length
        assert 102 in row[1:] or len(row) == 16
    texts = load_tokenizer(str(converted["int8"].path)).batch_decode(ids, skip_special_tokens=True)
    assert sum(bool(t.strip()) for t in texts) >= 3


def test_device_and_compute_type_are_checked_in_one_line():
    from green.runtime.ct2 import check_device

    class NoGpu:
        @staticmethod
        def get_cuda_device_count():
            return 0

        @staticmethod
        def get_supported_compute_types(device, index=0):
            return {"int8", "float32"}

    with pytest.raises(GreenError, match="no CUDA device"):
        check_device(NoGpu, "cuda", "float16")
    with pytest.raises(GreenError, match=r"cannot compute float16 on this cpu \(it can: float32, int8\)"):
        check_device(NoGpu, "cpu", "float16")
    assert check_device(NoGpu, "cpu", "int8") == ("cpu", 0)


def test_ffn_pruned_model_converts_and_matches_pytorch(tmp_path, tiny_bart_dir, task, pairs_jsonl):  # noqa: F811
    """A model pruned to per-layer FFN widths loads through green's loader; heads pruned are refused."""
    from green.compress import StepContext
    from green.compress.convert import ConvertConfig
    from green.compress.prune import PruneConfig
    from green.engine import run_step
    from green.runtime import open_runner
    from green.tasks import DataSpec

    data = task.load_data(DataSpec(str(pairs_jsonl), {"text": "article", "summary": "abstract"}, 42))
    ctx = lambda d: StepContext(out_dir=tmp_path / d, device="cpu", task=task, data=data)  # noqa: E731
    ffn = run_step(_base(tiny_bart_dir), PruneConfig(heads=0.0, ffn=[0.5, 0.25, 0.5, 0.75], allocation="uniform",
                                                     importance="magnitude", recovery=None), ctx("ffn"))
    art = run_step(ffn, ConvertConfig(quantization="float32"), ctx("ffn-ct2"))
    batch = _batch(task, tiny_bart_dir)
    settings = {"num_beams": 2, "max_length": 12, "forced_eos_token_id": None, "early_stopping": True}
    assert open_runner(art, "cpu").generate(batch, settings).tolist() == \
        open_runner(ffn, "cpu").generate(batch, settings).tolist()
    heads = run_step(_base(tiny_bart_dir), PruneConfig(heads=0.5, ffn=0.0, allocation="uniform",
                                                       importance="magnitude", recovery=None), ctx("heads"))
    with pytest.raises(GreenError, match="attention heads were pruned"):
        run_step(heads, ConvertConfig(), ctx("heads-ct2"))


# -- recipes --------------------------------------------------------------------------------


def test_ct2_recipes_are_listed_with_their_runtime():
    from green.recipe import load_recipe, recipe_summaries

    rows = {r["name"]: r for r in recipe_summaries("summarization")}
    for name in ("ct2-int8", "distill-dec-ct2-int8"):
        assert rows[name]["runtime"] == "ctranslate2" and rows[name]["models"] == "BART", rows[name]
        assert load_recipe(name).steps[-1].config.quantization == "int8"
    assert [s.name for s in load_recipe("distill-dec-ct2-int8").steps] == ["distill-seq2seq", "convert"]
    assert "ct2-int8" not in {r["name"] for r in recipe_summaries("text-classification")}


def test_bad_quantization_and_wrong_runtime_fail_at_parse_with_file_and_line():
    from green.recipe import parse_recipe

    head = "name: c\ndescription: d\nsteps:\n"
    with pytest.raises(GreenError) as err:
        parse_recipe(head + "  - convert: {format: ctranslate2, quantization: int4}\n", "bad.yaml")
    assert str(err.value).startswith("bad.yaml:4: steps.0.convert.quantization:") and "int4" in str(err.value)
    with pytest.raises(GreenError, match=r"bad.yaml:\d+: steps.0.convert.format"):
        parse_recipe(head + "  - convert: {format: tensorrt}\n", "bad.yaml")
    with pytest.raises(GreenError) as err:
        parse_recipe(head + "  - convert: {}\nevaluate: {runtime: onnxruntime}\n", "bad.yaml")
    assert str(err.value).startswith("bad.yaml:5: evaluate.runtime:") and "use runtime: ctranslate2" in str(err.value)
    with pytest.raises(GreenError, match="use runtime: onnxruntime"):
        parse_recipe(head + "  - export: {}\nevaluate: {runtime: ctranslate2}\n", "bad.yaml")
    with pytest.raises(GreenError, match="convert takes a PyTorch model, but export gives an ONNX model"):
        parse_recipe(head + "  - export: {}\n  - convert: {}\n", "bad.yaml")
    assert parse_recipe(head + "  - convert: {}\nevaluate: {threads: 2}\n", "ok.yaml").evaluate.threads == 2
    with pytest.raises(GreenError) as err:  # CTranslate2 has one head count at full width: refused before any step
        parse_recipe(head + "  - prune: {heads: 0.5}\n  - convert: {}\n", "bad.yaml")
    assert str(err.value).startswith("bad.yaml:5: steps.1.convert: convert: CTranslate2 cannot take") \
        and "heads: 0.0" in str(err.value)
    assert parse_recipe(head + "  - prune: {heads: 0.0, ffn: 0.5}\n  - convert: {}\n", "ok.yaml").runtime == "ctranslate2"


def _summarization_workdir(path: Path) -> Path:
    path.mkdir()
    (path / "task.json").write_text(json.dumps({"task": "summarization", "data": "embedded", "columns": {}, "seed": 42}))
    return path


def test_missing_ctranslate2_fails_at_plan_time_in_one_line(tmp_path, monkeypatch):
    from green.workbench import Workbench

    w = _summarization_workdir(tmp_path / "w")
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 now raises ImportError
    for recipe in ("ct2-int8", "distill-dec-ct2-int8"):
        with pytest.raises(GreenError) as err:
            Workbench(w, device="cpu").plan(recipe)
        assert "\n" not in str(err.value) and 'pip install "green[ct2]"' in str(err.value)
        assert f"recipe {recipe!r} runs on CTranslate2, which is not installed" in str(err.value)
    assert Workbench(w, device="cpu").plan("int8")[0].name == "int8"  # other runtimes are unaffected


def test_missing_ctranslate2_through_the_cli_exits_2_before_any_step(tmp_path):
    w = _summarization_workdir(tmp_path / "w")
    code = "import sys; sys.modules['ctranslate2'] = None; from green.cli import main; sys.argv[0] = 'green'; main()"
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    res = subprocess.run([sys.executable, "-c", code, "compress", "--recipe", "ct2-int8", "--workdir", str(w),
                          "--device", "cpu"], capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert 'pip install "green[ct2]"' in lines[0]
    assert sorted(p.name for p in w.iterdir()) == ["task.json"]  # nothing trained, nothing written


# -- end to end -------------------------------------------------------------------------------


def test_compress_with_ct2_recipes_writes_paired_records(tmp_path, tiny_bart_dir, pairs_jsonl):  # noqa: F811
    """Baseline, ct2-int8 and distill-dec-ct2-int8 through the Workbench: energy windows, pairing, records."""
    from green.workbench import Workbench

    wb = Workbench(tmp_path / "w", device="cpu")
    wb.train(model=str(tiny_bart_dir), data=str(pairs_jsonl), columns={"text": "article", "summary": "abstract"},
             quick=True, task="summarization")
    for name in ("ct2-int8", "distill-dec-ct2-int8"):
        record = wb.compress(name)
        assert record.recipe == name and record.artifact_format == "ctranslate2"
        rec = json.loads((tmp_path / "w" / "records" / f"{record.id}.json").read_text())  # as written
        runtime = rec["device"]["runtime"]
        assert runtime["runtime"] == "ctranslate2" and runtime["compute_type"] == "int8"
        assert runtime["inter_threads"] == 1 and runtime["intra_threads"] >= 1
        assert rec["machine"]["ort_intra_op_threads"] == runtime["intra_threads"]
        assert rec["metrics"]["rougeL"] >= 0 and rec["energy"]["per_inference_j"] > 0
        windows = rec["energy"]["windows"]
        assert windows and all(w["seconds"] > 0 and w["joules"] > 0 for w in windows)
        split = rec["energy_split"]
        assert split["method"].startswith("not split") and split["encoder_per_inference_j"] is None
        assert split["generated_tokens_per_inference"] > 0 and split["per_generated_token_j"] > 0
        paired = rec["paired"]
        assert paired["reference"] == "baseline" and paired["throughput_ratio"] > 0 and paired["rounds"] >= 1
        assert rec["generation"]["num_beams"] == 2  # the baseline's own settings
        assert rec["versions"]["ctranslate2"] == ct2_lib.__version__
    lineage = [a["step"] for a in rec["lineage"]]
    assert lineage[:2] == ["convert", "distill-seq2seq"]
