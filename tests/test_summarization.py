"""Summarization: data and split, the warm start, ROUGE and lead-N, export with the KV cache, int8 of
every part, ONNX Runtime generation against PyTorch's, FLOPs per summary, the energy split, and the
recipes that do not apply. Tiny BART models built from a config with the MiniLM tokenizer's vocabulary.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from green.errors import GreenError
from green.tasks import DataSpec, get_task
from green.tasks.rouge import lead, median_words, rouge

TEXTS = [
    "The Douglas fir is an evergreen conifer species in the pine family.",
    "Karaoke is a type of interactive entertainment system usually offered in nightclubs and bars.",
    "Durga is one of the most important deities in Hinduism.",
    "Tyto is a genus of owls in the family Tytonidae.",
    "Uttar Pradesh is a state in northern India with over 241 million inhabitants.",
]


def wiki_rows(n: int) -> list[dict]:
    """``n`` real pairs from the embedded corpus, as a user's JSONL would hold them."""
    from green.tasks.summarization import embedded_pairs_path

    entries = json.loads(embedded_pairs_path().read_text(encoding="utf-8"))
    rows = [{"article": e["extract"], "abstract": e["description"]} for e in entries.values()
            if e["extract"].strip() and e["description"].strip()]
    return rows[:n]


@pytest.fixture(scope="module")
def pairs_jsonl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sumdata") / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in wiki_rows(60)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_bart_dir(tmp_path_factory) -> Path:
    from conftest import tiny_bart

    return tiny_bart(tmp_path_factory.mktemp("tiny-bart"))


@pytest.fixture(scope="module")
def task():
    return get_task("summarization")


# -- data ---------------------------------------------------------------------------------


def test_embedded_pairs_split_is_deterministic(task):
    data = task.load_data(DataSpec("embedded", {}, 42))
    sizes = (len(data.train), len(data.validation), len(data.test))
    assert sum(sizes) == 9862 and sizes[1] == sizes[2] == 986
    assert data.info["lead_n"] == 5 and data.info["license"].startswith("CC BY-SA 4.0")
    again = task.load_data(DataSpec("embedded", {}, 42))
    assert again.test.inputs == data.test.inputs and again.test.targets == data.test.targets
    other = task.load_data(DataSpec("embedded", {}, 7))
    assert other.test.inputs != data.test.inputs
    assert not set(data.test.inputs) & set(data.train.inputs)


def test_user_jsonl_with_named_columns(task, pairs_jsonl):
    data = task.load_data(DataSpec(str(pairs_jsonl), {"text": "article", "summary": "abstract"}, 42))
    assert len(data.train) + len(data.validation) + len(data.test) == 60 and len(data.test) == 6
    assert data.info["columns"] == {"text": "article", "summary": "abstract"}
    with pytest.raises(GreenError, match="--summary-column"):
        task.load_data(DataSpec(str(pairs_jsonl), {"text": "article"}, 42))


def test_hub_dataset_offline_fails_in_one_line(task):
    with pytest.raises(GreenError) as err:
        task.load_data(DataSpec("cnn_dailymail", {}, 42))
    assert "offline" in str(err.value) and "\n" not in str(err.value)


# -- ROUGE and lead-N ---------------------------------------------------------------------


def test_rouge_equals_hand_worked_values():
    # "the cat sat" vs "the cat sat on the mat": 3 of 3 unigrams match, 3 of 6 recalled: F = 2/3;
    # bigrams: 2 of 2 match, 2 of 5 recalled: F = 2 * 1 * 0.4 / 1.4 = 4/7; the LCS is the 3 words: 2/3.
    s = rouge(["the cat sat"], ["the cat sat on the mat"])
    assert s["rouge1"] == pytest.approx(2 / 3) and s["rouge2"] == pytest.approx(4 / 7)
    assert s["rougeL"] == pytest.approx(2 / 3) and s["rougeLsum"] == pytest.approx(2 / 3)
    # Porter stemming: "cats running" and "cat runs" stem alike.
    assert rouge(["cats running"], ["cat runs"])["rouge1"] == pytest.approx(1.0)
    # Means over pairs; an empty prediction scores 0.
    assert rouge(["a b", ""], ["a b", "c"])["rougeL"] == pytest.approx(0.5)
    # ROUGE-Lsum scores sentence by sentence: "a b. c d." vs "c d. a b." keeps both sentences' LCS.
    s = rouge(["c d. a b."], ["a b. c d."])
    assert s["rougeLsum"] == pytest.approx(1.0) and s["rougeL"] == pytest.approx(0.5)


def test_lead_n_reference(task):
    assert lead("one two three four five six", 3) == "one two three"
    assert median_words(["a b", "a b c", "a b c d e"]) == 3
    data = task.load_data(DataSpec("embedded", {}, 42))
    test = data.test.head(50)
    ref = task.reference(data, test)
    assert ref["name"] == "lead-5" and ref["rows"] == 50
    assert ref["metrics"]["rougeL"] == pytest.approx(rouge([lead(t, 5) for t in test.inputs], test.targets)["rougeL"])


# -- the warm start ---------------------------------------------------------------------


def test_warm_start_copies_minilm_layers_and_leaves_cross_attention_fresh():
    import torch
    from transformers import BertModel

    from green.models import embedded_model_path, load_tokenizer
    from green.tasks.warmstart import bart_from_bert

    ref = str(embedded_model_path())
    tok = load_tokenizer(ref)
    bert = BertModel.from_pretrained(ref, add_pooling_layer=False).eval()
    bart = bart_from_bert(ref, tok).eval()
    assert bart.config.encoder_layers == bart.config.decoder_layers == 6 and bart.config.d_model == 384
    for stack in (bart.model.encoder.layers, bart.model.decoder.layers):
        for i, layer in enumerate(stack):
            src = bert.encoder.layer[i]
            assert torch.equal(layer.self_attn.q_proj.weight, src.attention.self.query.weight)
            assert torch.equal(layer.self_attn.out_proj.bias, src.attention.output.dense.bias)
            assert torch.equal(layer.fc1.weight, src.intermediate.dense.weight)
            assert torch.equal(layer.final_layer_norm.weight, src.output.LayerNorm.weight)
    for layer in bart.model.decoder.layers:  # nothing in BERT to start cross-attention from
        assert not any(torch.equal(layer.encoder_attn.q_proj.weight, s.attention.self.query.weight)
                       for s in bert.encoder.layer)
    assert torch.equal(bart.model.shared.weight, bert.embeddings.word_embeddings.weight)
    assert bart.lm_head.weight.data_ptr() == bart.model.shared.weight.data_ptr()
    # The encoder is MiniLM: same hidden states (BART's LayerNorm epsilon is 1e-5, BERT's 1e-12).
    enc = tok(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        h_bert = bert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        h_bart = bart.model.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    mask = enc["attention_mask"].bool()
    assert torch.allclose(h_bert[mask], h_bart[mask], atol=5e-3)
    assert bart.generation_config.num_beams == 4 and bart.config.decoder_start_token_id == tok.cls_token_id


# -- training targets -------------------------------------------------------------------


def test_labels_drop_the_decoder_start_token(task, tiny_bart_dir):
    from transformers import BartForConditionalGeneration

    from green.models import load_tokenizer
    from green.tasks.base import Split

    tok = load_tokenizer(str(tiny_bart_dir))
    model = BartForConditionalGeneration.from_pretrained(tiny_bart_dir)
    targets = task.training_targets(Split(["x", "y"], ["Genus of birds", "Species of tree in India"]), tok)
    labels = task.labels(model, targets)
    assert labels[0, 0].item() != 101 and labels[0].tolist()[-1] == -100  # [CLS] dropped, padding ignored
    assert (labels[1] == 102).sum() == 1  # [SEP] ends the summary: the model learns to stop


# -- export, int8, ONNX Runtime generation ---------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_bart_dir, task):
    """The tiny BART as a baseline artifact, exported (KV cache) and then quantized (every part)."""
    from green.artifacts import Artifact, support_roles
    from green.compress import StepContext
    from green.compress.export import ExportConfig
    from green.compress.quantize import QuantizeConfig
    from green.engine import run_step

    root = tmp_path_factory.mktemp("exp")
    base = Artifact(path=tiny_bart_dir, format="torch", task="summarization", step="train",
                    files={"model": "model.safetensors", **support_roles(tiny_bart_dir)})
    out = {}
    for name, step, config, parent in (("fp32", "export", ExportConfig(optimize=True), base),
                                       ("int8", "quantize", QuantizeConfig(), None)):
        d = root / name
        d.mkdir()
        art = run_step(parent or out["fp32"], config, StepContext(out_dir=d, device="cpu", task=task))
        art.save()
        out[name] = Artifact.load(d)
    out["torch"] = base
    return out


def test_export_holds_encoder_decoder_and_kv_cache_parts(exported):
    import onnx

    art = exported["fp32"]
    assert art.format == "onnx-seq2seq" and set(art.model_files) == {"encoder", "decoder", "decoder_with_past"}
    inputs = [i.name for i in onnx.load(str(art.file("decoder_with_past")), load_external_data=False).graph.input]
    assert any(n.startswith("past_key_values.0.") and n.endswith(".key") for n in inputs)
    assert any("encoder" in n for n in inputs if n.startswith("past_key_values"))
    outputs = [o.name for o in onnx.load(str(art.file("decoder")), load_external_data=False).graph.output]
    assert any(n.startswith("present.") for n in outputs)  # the first step hands its cache on


def test_int8_quantizes_every_part(exported):
    import onnx

    fp32, int8 = exported["fp32"], exported["int8"]
    assert set(int8.model_files) == set(fp32.model_files) and int8.format == "onnx-seq2seq"
    for role in fp32.model_files:
        ops = {n.op_type for n in onnx.load(str(int8.file(role)), load_external_data=False).graph.node}
        assert {"MatMulInteger", "DynamicQuantizeLinear"} <= ops, role
        assert int8.file(role).stat().st_size < fp32.file(role).stat().st_size / 2, role
    assert (int8.path / "generation_config.json").is_file() and (int8.path / "tokenizer.json").is_file()


SEARCHES = [
    {"num_beams": 1, "max_length": 12},
    {"num_beams": 2, "max_length": 12},
    {"num_beams": 4, "max_length": 16, "min_length": 6, "no_repeat_ngram_size": 2, "early_stopping": True},
    {"num_beams": 3, "max_length": 14, "length_penalty": 2.0, "early_stopping": False, "no_repeat_ngram_size": 1},
    {"num_beams": 2, "max_new_tokens": 9, "length_penalty": -1.0, "early_stopping": "never"},
    {"num_beams": 3, "max_length": 14, "length_penalty": 1.5, "early_stopping": "never"},
    {"num_beams": 3, "max_length": 10, "forced_bos_token_id": 1996, "no_repeat_ngram_size": 3},
    {"num_beams": 1, "max_length": 10, "min_length": 8, "no_repeat_ngram_size": 1},
]


@pytest.mark.parametrize("settings", SEARCHES, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_onnx_generation_with_kv_cache_matches_pytorch(exported, tiny_bart_dir, task, settings):
    """green's search over top-k candidates gives transformers' tokens, setting by setting."""
    from green.models import load_tokenizer
    from green.runtime import open_runner

    tok = load_tokenizer(str(tiny_bart_dir))
    enc = task.encode(tok, TEXTS, 128)
    batch = enc.batch(list(range(len(TEXTS))))
    ref = open_runner(exported["torch"], "cpu").generate(batch, settings)
    ort_runner = open_runner(exported["fp32"], "cpu")
    assert ort_runner.describe()["kv_cache"] is True
    assert ort_runner.describe()["search"].startswith("green")
    got = ort_runner.generate(batch, settings)
    assert len({tuple(r) for r in ref.tolist()}) > 1  # the outputs depend on the inputs: a real comparison
    assert got.tolist() == ref.tolist()


def test_onnx_generation_outside_green_search_uses_transformers(exported, tiny_bart_dir, task, caplog):
    """A setting the search does not implement (a repetition penalty) runs transformers' loop, with a log line."""
    from green.models import load_tokenizer
    from green.runtime import open_runner

    tok = load_tokenizer(str(tiny_bart_dir))
    batch = task.encode(tok, TEXTS, 128).batch(list(range(len(TEXTS))))
    settings = {"num_beams": 2, "max_length": 12, "repetition_penalty": 1.5}
    ort_runner = open_runner(exported["fp32"], "cpu")
    with caplog.at_level("WARNING"):
        got = ort_runner.generate(batch, settings)
    assert "repetition_penalty" in caplog.text and "transformers' search loop" in caplog.text
    assert got.tolist() == open_runner(exported["torch"], "cpu").generate(batch, settings).tolist()
    # Asked for by name (benchmarks compare the two loops), transformers' loop runs settings green's search knows.
    from green.runtime import RuntimeOptions

    hf = open_runner(exported["fp32"], "cpu", RuntimeOptions(transformers_search=True))
    assert hf.describe()["search"] == "transformers"
    plain = {"num_beams": 2, "max_length": 12}
    assert hf.generate(batch, plain).tolist() == ort_runner.generate(batch, plain).tolist()
    # The encoder alone (the energy split's windows) gives the encoder's hidden states.
    np.testing.assert_allclose(ort_runner(batch), open_runner(exported["torch"], "cpu")(batch), atol=1e-4)
    # int8 generates too (its tokens may differ: its weights do).
    assert open_runner(exported["int8"], "cpu").generate(batch, {"num_beams": 2, "max_length": 12}).shape[0] == len(TEXTS)


def test_decoder_top_k_graph_gives_the_best_log_probabilities(exported):
    """The decoder with LogSoftmax and TopK appended returns log_softmax(logits)'s k best, best first."""
    import onnxruntime as ort

    from green.runtime.seq2seq import TOP_K, with_top_k

    path = exported["fp32"].file("decoder")
    plain = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scored = ort.InferenceSession(with_top_k(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"input_ids": np.full((3, 1), 101, np.int64), "encoder_attention_mask": np.ones((3, 7), np.int64),
            "encoder_hidden_states": rng.standard_normal((3, 7, 32)).astype(np.float32)}
    logits = plain.run(["logits"], feed)[0][:, -1]
    values, ids = scored.run(None, {**feed, TOP_K: np.array([5], np.int64)})[:2]
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    np.testing.assert_array_equal(ids.reshape(3, 5), np.argsort(-log_probs, 1)[:, :5])
    np.testing.assert_allclose(values.reshape(3, 5), np.sort(log_probs, 1)[:, ::-1][:, :5], atol=1e-5)


def test_generated_tokens_stop_at_the_end_token():
    """Beam search fills finished rows with ``pad or eos``: with pad 0 that is the end token, not padding."""
    from green.evaluate.generation import generated_tokens

    ids = np.array([[101, 7, 8, 102, 102, 102],   # 3 tokens, the end included; eos filler after
                    [101, 5, 102, 0, 0, 0],        # 2
                    [101, 4, 4, 4, 4, 4]])          # no end: 5
    assert generated_tokens(ids, (102,), 0) == 10
    assert generated_tokens(ids, (), 0) == 3 + 2 + 2 + 5  # without an end id, only padding is left out


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, tiny_bart_dir, task, pairs_jsonl):
    """The tiny BART with half its heads and FFN channels pruned in both stacks (Taylor scores), then exported."""
    from green.artifacts import Artifact, support_roles
    from green.compress import StepContext
    from green.compress.export import ExportConfig
    from green.compress.prune import PruneConfig
    from green.engine import run_step

    data = task.load_data(DataSpec(str(pairs_jsonl), {"text": "article", "summary": "abstract"}, 42))
    base = Artifact(path=tiny_bart_dir, format="torch", task="summarization", step="train",
                    files={"model": "model.safetensors", **support_roles(tiny_bart_dir)})
    root = tmp_path_factory.mktemp("pruned")
    out = {}
    for name, step, config, parent in (
            ("torch", "prune", PruneConfig(heads=0.5, ffn=[0.5, 0.25, 0.5, 0.75], allocation="uniform",
                                            importance="taylor", importance_batches=1, recovery=None), base),
            ("onnx", "export", ExportConfig(optimize=True), None)):
        d = root / name
        d.mkdir()
        art = run_step(parent or out["torch"], config, StepContext(out_dir=d, device="cpu", task=task, data=data))
        art.save()
        out[name] = Artifact.load(d)
    return out


def test_prune_removes_heads_and_ffn_channels_of_both_stacks_and_reloads(pruned, tiny_bart_dir, task):
    from green.compress.prune_seq2seq import blocks, kept_heads
    from green.runtime.pytorch import load_pretrained

    model = load_pretrained(pruned["torch"].path, task.model_class())
    attentions, ffns = blocks(model)
    assert kept_heads(model) == {"encoder.self_attn": 1, "decoder.self_attn": 1, "decoder.encoder_attn": 1}
    assert all(a.module.q_proj.out_features == 16 and a.module.out_proj.in_features == 16 for a in attentions)
    assert [f.fc1.out_features for f in ffns] == [32, 48, 32, 16]  # encoder 0, 1, decoder 0, 1
    assert [f.fc2.in_features for f in ffns] == [32, 48, 32, 16]
    assert pruned["torch"].extra["heads_kept"] == kept_heads(model)
    # The generation settings travel with the pruned model, into its export too (not the config's defaults).
    for art in (pruned["torch"], pruned["onnx"]):
        settings = json.loads((art.path / "generation_config.json").read_text())
        assert settings["num_beams"] == 2 and settings["max_length"] == 12, art.path
    # What was kept is what scored best: the reloaded weights are rows of the parent's.
    parent = load_pretrained(tiny_bart_dir, task.model_class())
    kept_rows = model.model.encoder.layers[0].fc1.weight
    parent_rows = parent.model.encoder.layers[0].fc1.weight
    assert all(any(bool((r == p).all()) for p in parent_rows) for r in kept_rows)


def test_pruned_bart_exports_its_smaller_kv_cache_and_generates_as_pytorch(pruned, tiny_bart_dir, task):
    import onnx

    from green.models import load_tokenizer
    from green.runtime import open_runner

    past = [i for i in onnx.load(str(pruned["onnx"].file("decoder_with_past")), load_external_data=False).graph.input
            if i.name.startswith("past_key_values.")]
    assert past and all(i.type.tensor_type.shape.dim[1].dim_value == 1 for i in past)  # 1 head left of 2
    tok = load_tokenizer(str(tiny_bart_dir))
    batch = task.encode(tok, TEXTS, 128).batch(list(range(len(TEXTS))))
    for settings in SEARCHES[1:3]:
        ref = open_runner(pruned["torch"], "cpu").generate(batch, settings)
        assert open_runner(pruned["onnx"], "cpu").generate(batch, settings).tolist() == ref.tolist()


def test_prune_of_an_encoder_decoder_takes_one_head_ratio(tiny_bart_dir, task, pairs_jsonl, tmp_path):
    from green.artifacts import Artifact, support_roles
    from green.compress import StepContext
    from green.compress.prune import PruneConfig
    from green.engine import run_step

    data = task.load_data(DataSpec(str(pairs_jsonl), {"text": "article", "summary": "abstract"}, 42))
    base = Artifact(path=tiny_bart_dir, format="torch", task="summarization", step="train",
                    files={"model": "model.safetensors", **support_roles(tiny_bart_dir)})
    config = PruneConfig(heads=[0.5, 0.0, 0.5, 0.5], importance="magnitude", recovery=None)
    with pytest.raises(GreenError, match="one ratio"):
        run_step(base, config, StepContext(out_dir=tmp_path, device="cpu", task=task, data=data))


def test_fp16_export_of_every_part_runs_on_the_cpu_provider(exported, tiny_bart_dir, task, tmp_path):
    """The fp16 recipe's export, checked where no GPU is: fp16 weights in each part, fp32 inputs, generation runs."""
    import onnx

    from green.compress import StepContext
    from green.compress.export import ExportConfig
    from green.engine import run_step
    from green.models import load_tokenizer
    from green.runtime import open_runner

    config = ExportConfig(optimize=True, optimization_level=0, for_gpu=True, fp16=True)
    art = run_step(exported["torch"], config, StepContext(out_dir=tmp_path, device="cpu", task=task))
    art.save()
    for role in ("encoder", "decoder", "decoder_with_past"):
        graph = onnx.load(str(art.file(role))).graph
        assert {t.data_type for t in graph.initializer if t.dims and len(t.dims) == 2} == {onnx.TensorProto.FLOAT16}
        assert all(i.type.tensor_type.elem_type != onnx.TensorProto.FLOAT16 for i in graph.input)
    enc = task.encode(load_tokenizer(str(tiny_bart_dir)), TEXTS, 128)
    ids = open_runner(art, "cpu").generate(enc.batch([0, 1]), {"num_beams": 2, "max_length": 12})
    assert ids.shape[0] == 2 and ids[0, 0] == 101


def test_generation_settings_come_from_the_model_and_the_recipe(exported, task):
    settings = task.inference_settings(exported["fp32"].path)
    assert settings["num_beams"] == 2 and settings["max_length"] == 12
    assert task.inference_settings(exported["fp32"].path, {"num_beams": 1})["num_beams"] == 1
    with pytest.raises(GreenError, match="evaluate.generation.beams"):
        task.inference_settings(exported["fp32"].path, {"beams": 3})
    with pytest.raises(GreenError, match="does not generate"):
        get_task("text-classification").inference_settings(exported["fp32"].path, {"num_beams": 2})


# -- FLOPs and the energy split -------------------------------------------------------------


def test_summary_flops_count_encoder_once_and_decoder_per_step(tiny_bart_dir, task):
    import torch
    from transformers import BartForConditionalGeneration

    from green.evaluate.flops import count_flops
    from green.tasks.seq2seq_flops import decoder_flops, encoder_flops, summary_flops

    model = BartForConditionalGeneration.from_pretrained(tiny_bart_dir).eval()
    fm = task.count_flops(model)
    ids = torch.full((1, 48), 100)
    assert encoder_flops(fm, 48) == pytest.approx(count_flops(lambda: model.get_encoder()(input_ids=ids)), rel=1e-6)
    # A decoder step at an unfitted point (t = 6, L = 48) from the counter itself.
    with torch.inference_mode():
        out = model.get_encoder()(input_ids=ids)
        past = model(encoder_outputs=out, decoder_input_ids=torch.full((1, 5), 100), use_cache=True).past_key_values
    step = count_flops(lambda: model(encoder_outputs=out, decoder_input_ids=torch.full((1, 1), 100),
                                     past_key_values=past, use_cache=True))
    assert decoder_flops(fm, 48, 6) - decoder_flops(fm, 48, 5) == pytest.approx(step, rel=1e-6)
    one = summary_flops(fm, [(1, 48, 6)], beams=1)
    assert summary_flops(fm, [(1, 48, 6)], beams=4) - one == pytest.approx(3 * decoder_flops(fm, 48, 6))
    assert one == pytest.approx(encoder_flops(fm, 48) + decoder_flops(fm, 48, 6))


def clock_meter():
    """A constant 10 W: every window's joules are 10 x its seconds (exact, so the split is checkable)."""
    from green.evaluate.backends.base import CounterBackend
    from green.evaluate.energy import EnergyMeter

    class TenWatts(CounterBackend):
        source = "test-clock"
        update_period_s = 0.0

        def domains(self):
            return ["x"]

        def read(self):
            return {"x": 10.0 * time.perf_counter()}

    return EnergyMeter([TenWatts()])


def test_encoder_and_decoder_energy_add_up_to_the_total(exported, tiny_bart_dir, task):
    from green.evaluate.bench import BenchSettings
    from green.evaluate.cell import Rig, measure_cell
    from green.models import load_tokenizer
    from green.runtime import open_runner

    tok = load_tokenizer(str(tiny_bart_dir))
    enc = task.encode(tok, TEXTS * 8, 128)
    runner = open_runner(exported["fp32"], "cpu")
    settings = BenchSettings(batch_size=8, repeats=2, min_window_s=0.3, warmup_batches=1)
    from green.evaluate.inference import inference_for

    e, paired = measure_cell(inference_for(task, {"num_beams": 2, "max_length": 12}), runner, "generate", enc,
                             Rig(clock_meter(), settings, None))
    assert paired is None
    split = e.split
    assert split.encoder_per_inference_j + split.decoder_per_inference_j == pytest.approx(e.per_inference_j)
    assert 0 < split.encoder_share < 1
    # The encoder's own windows repeat like any others (at least `repeats`, until they agree).
    assert len(split.encoder_windows) >= 2 and all(w.name.startswith("encoder-") for w in split.encoder_windows)
    assert all(w.name.startswith("generate-") for w in e.windows)
    assert e.per_inference_j == pytest.approx(10.0 / e.throughput_per_s, rel=0.2)  # 10 W / outputs per s
    assert split.per_generated_token_j == pytest.approx(
        e.per_inference_j / split.generated_tokens_per_inference, rel=0.3)
    assert all(steps <= 11 and rows <= 8 for rows, _, steps in e.generation_shapes)
    assert task.flops_per_inference(task.count_flops(open_runner(exported["torch"], "cpu").model), e) > 0


# -- distill-dec ---------------------------------------------------------------------------


def test_student_keeps_the_encoder_and_alternating_decoder_layers(tiny_bart_dir, tmp_path):
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    from green.compress.distill_seq2seq import build_seq2seq_student, pick

    torch.manual_seed(0)
    teacher = BartForConditionalGeneration(BartConfig(vocab_size=200, d_model=16, encoder_layers=2, decoder_layers=4,
                                                      encoder_attention_heads=2, decoder_attention_heads=2,
                                                      encoder_ffn_dim=32, decoder_ffn_dim=32)).eval()
    keep = pick("alternate", 4, "decoder")
    assert keep == [1, 3] and pick("all", 2, "encoder") == [0, 1]
    student = build_seq2seq_student(teacher, keep)
    assert student.config.decoder_layers == 2 and student.config.encoder_layers == 2
    for new, old in enumerate(keep):
        assert torch.equal(student.model.decoder.layers[new].fc1.weight, teacher.model.decoder.layers[old].fc1.weight)
        assert torch.equal(student.model.decoder.layers[new].encoder_attn.k_proj.weight,
                           teacher.model.decoder.layers[old].encoder_attn.k_proj.weight)
    for a, b in zip(student.model.encoder.parameters(), teacher.model.encoder.parameters()):
        assert torch.equal(a, b)
    # Saved and reloaded, it generates with its KV cache indexed by the new layer numbers.
    student.save_pretrained(tmp_path)
    again = BartForConditionalGeneration.from_pretrained(tmp_path).eval()
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    with torch.no_grad():
        assert torch.equal(again.generate(ids, max_length=8, num_beams=2), student.generate(ids, max_length=8, num_beams=2))
    with pytest.raises(GreenError, match="do not exist"):
        pick([0, 7], 4, "decoder")


# -- recipes ------------------------------------------------------------------------------


def test_classification_only_recipe_on_a_summarization_workdir_fails_in_one_line(tmp_path):
    from green.workbench import Workbench

    wb = Workbench(tmp_path / "w", device="cpu")
    (tmp_path / "w").mkdir()
    wb.task_file.write_text(json.dumps({"task": "summarization", "data": "embedded", "columns": {}, "seed": 42}))
    for recipe in ("distill-l3", "int8-static", "cpu-max"):
        with pytest.raises(GreenError) as err:
            wb.plan(recipe)
        assert "summarization" in str(err.value) and "distill-dec" in str(err.value) and "\n" not in str(err.value)
    for recipe in ("int8", "fp32-onnx", "distill-dec", "distill-dec-int8", "prune50", "prune50-int8"):
        assert wb.plan(recipe)[0].name == recipe
    with pytest.raises(GreenError, match="encoder-decoder"):
        Workbench(tmp_path / "other", device="cpu").plan("distill-dec", task="text-classification")


# -- end to end, through the CLI ----------------------------------------------------------


def test_cli_hub_dataset_offline_is_one_line(tmp_path):
    from conftest import run_green

    res = run_green("train", "--task", "summarization", "--model", "facebook/bart-large-cnn", "--data", "cnn_dailymail",
                    "--workdir", str(tmp_path / "w"), "--device", "cpu")
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("green: error:") and "cnn_dailymail" in lines[0]
    assert not (tmp_path / "w" / "baseline").exists()


def test_cli_train_compress_report_on_a_tiny_bart(tmp_path, tiny_bart_dir, pairs_jsonl):
    from conftest import run_green

    w = str(tmp_path / "w")
    res = run_green("train", "--task", "summarization", "--quick", "--model", str(tiny_bart_dir), "--data",
                    str(pairs_jsonl), "--text-column", "article", "--summary-column", "abstract", "--workdir", w,
                    "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "reference lead-" in res.stdout
    res = run_green("compress", "--recipe", "int8", "--recipe", "distill-dec", "--workdir", w, "--device", "cpu")
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_green("compress", "--recipe", "distill-l3", "--workdir", w, "--device", "cpu")
    assert res.returncode == 2 and "distill-dec" in res.stderr
    res = run_green("report", "--workdir", w)
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_green("measure", "int8", "--workdir", w, "--device", "cpu", "--repeats", "1", "--min-window-s", "0.2")
    assert res.returncode == 0, res.stderr[-2000:]

    every = [json.loads(p.read_text()) for p in Path(w, "records").glob("*.json")]
    (measured,) = [r for r in every if r["kind"] == "measurement"]
    # green measure generates whole summaries at the inputs' trained length, like evaluation.
    split = measured["energy_split"]
    assert split["encoder_per_inference_j"] is not None and split["generated_tokens_per_inference"] > 0
    max_length = json.loads(Path(w, "task.json").read_text())["max_length"]
    assert 0 < split["input_tokens_per_inference"] <= max_length
    records = {r["recipe"]: r for r in every if r["kind"] == "evaluation"}
    assert set(records) == {"baseline", "int8", "distill-dec"}
    for rec in records.values():
        assert rec["task"]["primary_metric"] == "rougeL" and rec["task"]["inference_unit"] == "summary"
        assert set(rec["metrics"]) >= {"rouge1", "rouge2", "rougeL", "rougeLsum", "gen_words"}
        assert rec["generation"]["num_beams"] == 2 and rec["reference"]["name"].startswith("lead-")
        split = rec["energy_split"]
        assert split["encoder_per_inference_j"] + split["decoder_per_inference_j"] == pytest.approx(
            rec["energy"]["per_inference_j"])
        assert rec["efficiency"]["flops_per_inference"] > 0
    assert records["int8"]["artifact_format"] == "onnx-seq2seq" and records["int8"]["run_energy_j"] > 0
    for name in ("int8", "distill-dec"):  # measured in rounds alternating with the baseline's own generate
        paired = records[name]["paired"]
        assert paired["reference"] == "baseline" and paired["throughput_ratio"] > 0 and paired["rounds"] >= 1
        assert all(w["name"].startswith("pair-") for w in paired["reference_windows"])
    student_dir = Path(records["distill-dec"]["lineage"][1]["path"])
    student = json.loads((student_dir / "green-artifact.json").read_text())
    assert student["path"] == "."  # relative paths only: the folder can move
    assert student["step"] == "distill-seq2seq" and student["params"]["teacher_decoder_layers"] == [1]
    assert json.loads((student_dir / "config.json").read_text())["decoder_layers"] == 1
    md = Path(w, "report", "results.md").read_text()
    assert "| rougeL |" in md and "mJ/summary" in md and "payback (summaries)" in md
    assert Path(w, "report", "pareto.png").stat().st_size > 0
    page = Path(w, "report", "pareto.html").read_text()
    assert "rougeL against energy per summary" in page and "per inference" not in page
