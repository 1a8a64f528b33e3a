"""Distillation on tiny BERTs: the student's weights, the cached teacher outputs, the loss going down."""

import numpy as np
import pytest
import torch

from green.artifacts import Artifact, support_roles
from green.compress import StepContext
from green.compress.distill import DistillConfig, alternate, build_student
from green.compress.prune import PruneConfig
from green.engine import run_step
from green.runtime.pytorch import load_pretrained
from green.tasks import DataSpec, TaskData, get_task
from green.training.distill import kl_to_teacher, teacher_outputs

TEXT = get_task("text-classification")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Artifact:
    """A 4-layer BERT whose layers matter: in a random BERT the output barely depends on its layers,
    so the residual branches are scaled up and the classifier sharpened."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from green.models import embedded_model_path

    torch.manual_seed(1)
    out = tmp_path_factory.mktemp("teacher")
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=3)
    model = BertForSequenceClassification(cfg)
    with torch.no_grad():
        model.classifier.weight.mul_(20)
        model.bert.pooler.dense.weight.mul_(5)
        for layer in model.bert.encoder.layer:
            layer.output.dense.weight.mul_(20)
            layer.attention.output.dense.weight.mul_(20)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(embedded_model_path()).save_pretrained(out)
    art = Artifact(path=out, format="torch", task=TEXT.name, step="train",
                   files={"model": "model.safetensors", **support_roles(out)}, flops=TEXT.count_flops(model))
    art.save()
    return art


@pytest.fixture(scope="module")
def data(small_csv) -> TaskData:
    return TEXT.load_data(DataSpec(str(small_csv)))


def test_alternate_keeps_every_other_layer_ending_with_the_last():
    assert alternate(6) == [1, 3, 5] and alternate(12) == [1, 3, 5, 7, 9, 11] and alternate(5) == [0, 2, 4]


def test_student_built_by_layer_selection_has_the_selected_teacher_weights(teacher):
    t = load_pretrained(teacher.path, TEXT.model_class())
    s = build_student(t, [0, 3])
    assert s.config.num_hidden_layers == 2 and len(s.bert.encoder.layer) == 2
    ts, ss = t.state_dict(), s.state_dict()
    for new, old in enumerate([0, 3]):
        for key, value in ss.items():
            if key.startswith(f"bert.encoder.layer.{new}."):
                assert torch.equal(value, ts[key.replace(f"layer.{new}.", f"layer.{old}.")]), key
    for key in ("bert.embeddings.word_embeddings.weight", "bert.pooler.dense.weight", "classifier.weight"):
        assert torch.equal(ss[key], ts[key])
    assert len(t.bert.encoder.layer) == 4  # the teacher is untouched


def test_student_of_a_pruned_teacher_keeps_its_per_layer_shapes(teacher, data, tmp_path):
    pruned = run_step(teacher, PruneConfig(heads=[0.5, 0.0, 0.0, 0.5], ffn=[0.5, 0.0, 0.25, 0.0],
                                                     importance="magnitude", recovery=None),
                                StepContext(tmp_path / "p", "cpu", task=TEXT, data=data))
    t = load_pretrained(pruned.path, TEXT.model_class())
    s = build_student(t, [1, 3])
    assert s.config.pruned_heads == {1: t.config.pruned_heads[3]}
    assert s.bert.encoder.layer[0].intermediate.dense.out_features == 64
    s.save_pretrained(tmp_path / "s")
    again = load_pretrained(tmp_path / "s", TEXT.model_class())
    ids = torch.randint(1000, 2000, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(again(input_ids=ids).logits, s.eval()(input_ids=ids).logits)


def test_cached_teacher_outputs_equal_a_fresh_forward_pass(teacher, data):
    from green.batching import encode
    from green.models import load_tokenizer

    model = load_pretrained(teacher.path, TEXT.model_class()).eval()
    tok = load_tokenizer(str(teacher.path))
    split = data.train.head(40)
    cached = teacher_outputs(model, TEXT, tok, split, "cpu", batch_size=7)
    for i in (0, 13, 39):  # one at a time: no padding, a fresh pass
        enc = encode(tok, [split.inputs[i]])
        with torch.no_grad():
            fresh = model(**{k: torch.from_numpy(v) for k, v in enc.batch([0]).items()}).logits[0]
        torch.testing.assert_close(cached[i], fresh, atol=1e-5, rtol=1e-5)


def test_distillation_lowers_the_students_kl_to_the_teacher(teacher, data, tmp_path):
    from green.batching import encode
    from green.models import load_tokenizer

    tok = load_tokenizer(str(teacher.path))
    t = load_pretrained(teacher.path, TEXT.model_class()).eval()
    enc = encode(tok, data.test.inputs)
    batch = {k: torch.from_numpy(v) for k, v in enc.batch(list(range(len(enc)))).items()}
    with torch.no_grad():
        teacher_logits = t(**batch).logits.numpy()
        before = kl_to_teacher(build_student(t, [1, 3]).eval()(**batch).logits.numpy(), teacher_logits)
    cfg = DistillConfig(layers=[1, 3], alpha=1.0, temperature=1.0, epochs=4, learning_rate=1e-3, patience=4)
    art = run_step(teacher, cfg, StepContext(tmp_path, "cpu", task=TEXT, data=data))
    student = load_pretrained(art.path, TEXT.model_class()).eval()
    with torch.no_grad():
        after = kl_to_teacher(student(**batch).logits.numpy(), teacher_logits)
    print(f"KL to the teacher: {before:.4g} before, {after:.4g} after")
    assert after < 0.5 * before, (before, after)
    assert art.params["teacher_layers"] == [1, 3] and art.extra["parameters_student"] < art.extra["parameters_teacher"]
    assert art.flops["coefficients"][1] < 0.6 * teacher.flops["coefficients"][1]


def test_hidden_and_attention_transfer_run(teacher, data, tmp_path):
    cfg = DistillConfig(layers=[1, 3], hidden_weight=1.0, attention_weight=1.0, epochs=1, train_rows=64)
    art = run_step(teacher, cfg, StepContext(tmp_path, "cpu", task=TEXT, data=data))
    assert np.isfinite(art.extra["history"][0]["train_loss"])


def test_distill_refuses_layers_the_teacher_lacks(teacher, data, tmp_path):
    from green.errors import GreenError

    with pytest.raises(GreenError, match=r"layers \[1, 7\] do not exist in a 4-layer teacher"):
        run_step(teacher, DistillConfig(layers=[1, 7]), StepContext(tmp_path, "cpu", task=TEXT, data=data))
