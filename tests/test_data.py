import json

import pytest

from green.data import load_task_data, stratified_split
from green.errors import GreenError


def test_embedded_corpus_loads_and_splits_deterministically():
    a = load_task_data("embedded", seed=7)
    b = load_task_data("embedded", seed=7)
    assert a.label_names == ["negative", "neutral", "positive"]
    total = len(a.train) + len(a.validation) + len(a.test)
    assert total > 38000
    assert abs(len(a.test) / total - 0.1) < 0.01
    assert a.test.texts[:20] == b.test.texts[:20] and a.fingerprint == b.fingerprint
    c = load_task_data("embedded", seed=8)
    assert c.test.texts[:20] != a.test.texts[:20]


def test_split_is_stratified():
    labels = [0] * 800 + [1] * 200
    train, val, test = stratified_split([str(i) for i in range(1000)], labels, 0, 0.1, 0.1)
    assert test.labels.count(1) == 20 and test.labels.count(0) == 80
    assert len(set(train.texts) & set(test.texts)) == 0


def test_csv_and_jsonl(tmp_path, small_csv):
    d = load_task_data(str(small_csv))
    assert d.label_names == ["negative", "neutral", "positive"]
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps({"sentence": f"text {i}", "y": i % 2}) for i in range(50)))
    d2 = load_task_data(str(p), text_column="sentence", label_column="y")
    assert d2.label_names == ["0", "1"] and len(d2.test) == 4  # round(25 * 0.1) per class


def test_missing_column_lists_columns(small_csv):
    with pytest.raises(GreenError) as err:
        load_task_data(str(small_csv), text_column="tweet")
    assert "'tweet' not found" in str(err.value) and "columns: text, label" in str(err.value)


def test_empty_dataset(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("text,label\n")
    with pytest.raises(GreenError, match="no rows"):
        load_task_data(str(p))


def test_missing_file():
    with pytest.raises(GreenError, match="data file not found"):
        load_task_data("./missing.csv")


def test_hub_dataset_offline_names_the_offline_choices():
    with pytest.raises(GreenError) as err:
        load_task_data("glue")
    assert "offline" in str(err.value) and "embedded" in str(err.value)
