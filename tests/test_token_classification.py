"""A third task whose model returns another output shape (one tag per token): train -> int8 -> report.

Adding it touched only green/tasks/ (one module and its registration): the engine, the
evaluation, the energy windows and the report take it as they take the other two.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import run_green

NAMES = ["Alice", "Bob", "Paris", "Berlin", "Carol", "Dave", "Rome", "Oslo"]
WORDS = ["the", "went", "to", "saw", "with", "and", "a", "city", "friend", "met", "in", "from"]


@pytest.fixture(scope="module")
def tagged_jsonl(tmp_path_factory) -> Path:
    """300 sentences: capitalised names are ENT, numbers NUM, the rest O."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("tok") / "tagged.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for _ in range(300):
            words = [rng.choice(NAMES) if rng.random() < 0.3 else str(rng.randrange(1, 99)) if rng.random() < 0.1
                     else rng.choice(WORDS) for _ in range(rng.randrange(3, 12))]
            tags = ["ENT" if w[0].isupper() else "NUM" if w.isdigit() else "O" for w in words]
            f.write(json.dumps({"words": words, "ner": tags}) + "\n")
    return path


def test_predictions_are_one_tag_per_word_from_its_first_piece(tiny_model_dir):
    from green.models import load_tokenizer
    from green.tasks import get_task
    from green.tasks.base import Split

    task = get_task("token-classification")
    tokenizer = load_tokenizer(str(tiny_model_dir))
    texts = ["Alice unbelievably went", "to Oslo"]
    enc = task.encode(tokenizer, texts, 64)

    def runner(batch):  # logits that name each token's word index as its class
        ids = batch["input_ids"]
        out = np.zeros((*ids.shape, 8), dtype=np.float32)
        for r in range(ids.shape[0]):
            row = next(i for i, seq in enumerate(enc.input_ids) if list(ids[r][: len(seq)]) == seq)
            for pos, word in enumerate(enc.word_ids[row]):
                out[r, pos, 7 if word is None else word] = 1.0
        return out

    preds = task.predict(runner, enc, batch_size=1)
    assert [list(p) for p in preds] == [[0, 1, 2], [0, 1]]  # 'unbelievably' is several pieces: one tag
    metrics = task.metrics(preds, Split(texts, [[0, 1, 2], [0, 0]]))
    assert metrics["accuracy"] == pytest.approx(4 / 5)


def test_train_compress_int8_report_end_to_end(tmp_path, tiny_model_dir, tagged_jsonl):
    w = tmp_path / "w"
    res = run_green("train", "--task", "token-classification", "--model", str(tiny_model_dir), "--data",
                    str(tagged_jsonl), "--tokens-column", "words", "--tags-column", "ner", "--quick",
                    "--workdir", str(w), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_green("compress", "--recipe", "int8", "--workdir", str(w), "--device", "cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_green("report", "--workdir", str(w))
    assert res.returncode == 0, res.stderr[-3000:]
    records = {r["recipe"]: r for r in (json.loads(p.read_text()) for p in (w / "records").glob("*.json"))}
    assert set(records) == {"baseline", "int8"}
    for rec in records.values():
        assert rec["task"]["name"] == "token-classification" and rec["task"]["inference_unit"] == "sentence"
        assert 0 <= rec["metrics"]["accuracy"] <= 1 and rec["energy"]["per_inference_j"] > 0
    assert records["int8"]["artifact_format"] == "onnx" and records["int8"]["paired"]["energy_ratio"] > 0
    assert (w / "report" / "pareto.html").is_file()


def test_no_embedded_data_is_a_one_line_error(tmp_path, tiny_model_dir):
    res = run_green("train", "--task", "token-classification", "--model", str(tiny_model_dir), "--workdir",
                    str(tmp_path / "w"), "--device", "cpu")
    assert res.returncode == 2 and "no embedded data set" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_distillation_learns_from_per_token_teacher_outputs(tmp_path, tiny_model_dir, tagged_jsonl):
    """The teacher's outputs are one vector per token here, not one per row: cached, padded and masked."""
    from transformers import AutoModelForTokenClassification

    from green.artifacts import Artifact, support_roles
    from green.compress import StepContext
    from green.compress.distill import DistillConfig
    from green.engine import run_step
    from green.models import load_tokenizer
    from green.tasks import DataSpec, get_task

    task = get_task("token-classification")
    data = task.load_data(DataSpec(str(tagged_jsonl), {"tokens": "words", "tags": "ner"}))
    teacher_dir = tmp_path / "teacher"
    AutoModelForTokenClassification.from_pretrained(tiny_model_dir, num_labels=3).save_pretrained(teacher_dir)
    load_tokenizer(str(tiny_model_dir)).save_pretrained(teacher_dir)
    parent = Artifact(path=teacher_dir, format="torch", task=task.name, step="train",
                      files={"model": "model.safetensors", **support_roles(teacher_dir)}, params={"budget": {"name": "quick"}})
    parent.save()
    student = run_step(parent, DistillConfig(layers=[1], epochs=1, train_rows=64, validation_rows=16, batch_size=16),
                       StepContext(tmp_path / "student", "cpu", task=task, data=data, quick=True))
    assert student.params["teacher_layers"] == [1] and student.extra["history"]
    assert all(h["train_loss"] == h["train_loss"] for h in student.extra["history"])  # finite, not NaN
