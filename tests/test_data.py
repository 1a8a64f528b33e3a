import json

import pytest

from green.errors import GreenError
from green.tasks import DataSpec, get_task
from green.tasks.classification import stratified_split

TEXT = get_task("text-classification")


def load(data="embedded", seed=42, **columns):
    return TEXT.load_data(DataSpec(data, columns, seed))


def test_embedded_corpus_loads_and_splits_deterministically():
    a = load(seed=7)
    b = load(seed=7)
    assert a.info["label_names"] == ["negative", "neutral", "positive"]
    total = len(a.train) + len(a.validation) + len(a.test)
    assert total > 38000
    assert abs(len(a.test) / total - 0.1) < 0.01
    assert a.test.inputs[:20] == b.test.inputs[:20] and a.fingerprint == b.fingerprint
    c = load(seed=8)
    assert c.test.inputs[:20] != a.test.inputs[:20]


def test_split_is_stratified():
    labels = [0] * 800 + [1] * 200
    train, val, test = stratified_split([str(i) for i in range(1000)], labels, 0, 0.1, 0.1)
    assert test.targets.count(1) == 20 and test.targets.count(0) == 80
    assert len(set(train.inputs) & set(test.inputs)) == 0


def test_csv_and_jsonl(tmp_path, small_csv):
    d = load(str(small_csv))
    assert d.info["label_names"] == ["negative", "neutral", "positive"]
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps({"sentence": f"text {i}", "y": i % 2}) for i in range(50)))
    d2 = load(str(p), text="sentence", label="y")
    assert d2.info["label_names"] == ["0", "1"] and len(d2.test) == 4  # round(25 * 0.1) per class


def test_missing_column_lists_columns(small_csv):
    with pytest.raises(GreenError) as err:
        load(str(small_csv), text="tweet")
    assert "'tweet' not found" in str(err.value) and "columns: text, label" in str(err.value)
    assert "--text-column" in str(err.value)


def test_empty_dataset(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("text,label\n")
    with pytest.raises(GreenError, match="no rows"):
        load(str(p))


def test_missing_file():
    with pytest.raises(GreenError, match="data file not found"):
        load("./missing.csv")


def test_hub_dataset_offline_names_the_offline_choices():
    with pytest.raises(GreenError) as err:
        load("glue")
    assert "offline" in str(err.value) and "embedded" in str(err.value)


def test_csv_keeps_rows_whole_whatever_the_characters(tmp_path):
    """cp1252 "…" (0x85, NEL in latin-1), U+2028 and quoted newlines stay inside their field."""
    rows = [(f"tweet {i} \u2026 with\u2028a separator and \"quoted\nnewline\"", ["a", "b"][i % 2]) for i in range(40)]
    body = "text,label\r\n" + "".join('"' + t.replace('"', '""') + f'",{y}\r\n' for t, y in rows)
    for enc in ("utf-8", "cp1252"):
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(body.replace("\u2028", " ").encode(enc) if enc == "cp1252" else body.encode(enc))
        d = load(str(p))
        got = sorted(d.train.inputs + d.validation.inputs + d.test.inputs)
        assert len(got) == 40 and d.info["label_names"] == ["a", "b"]
        assert all("\u2026" in t and "quoted\nnewline" in t for t in got)
        by_text = dict(zip(d.test.inputs, d.test.targets))
        for t, y in by_text.items():
            assert ["a", "b"][y] == ["a", "b"][int(t.split()[1]) % 2]  # no label shifted onto another row


def test_undecodable_file_is_one_line_error(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"text,label\n\x81\x8d\x8f bytes,a\n")  # undefined in cp1252, invalid UTF-8
    with pytest.raises(GreenError, match="not UTF-8 or Windows-1252"):
        load(str(p))


def test_missing_labels_are_skipped_not_classes(tmp_path):
    p = tmp_path / "nan.csv"
    lines = ["text,label"] + [f"row {i},{['pos', 'neg', 'NaN', 'nan', ''][i % 5]}" for i in range(100)]
    p.write_text("\n".join(lines))
    d = load(str(p))
    assert d.info["label_names"] == ["neg", "pos"] and d.info["rows_skipped"] == 60


def test_latin1_jsonl_and_a_megabyte_text_load(tmp_path):
    p = tmp_path / "latin1.jsonl"
    p.write_bytes("\n".join(json.dumps({"text": f"caf\u00e9 {i}", "label": "ab"[i % 2]}, ensure_ascii=False)
                            for i in range(40)).encode("latin-1"))
    d = load(str(p))
    assert all(t.startswith("caf\u00e9 ") for t in d.train.inputs + d.test.inputs)
    big = tmp_path / "big.csv"
    big.write_text("text,label\n" + "".join(f"{'x' * (1_000_000 if i == 0 else 10)} {i},{'ab'[i % 2]}\n"
                                            for i in range(40)))
    d = load(str(big))
    assert max(len(t) for t in d.train.inputs + d.validation.inputs + d.test.inputs) > 1_000_000


def test_a_field_over_the_limit_is_one_line(tmp_path):
    from green.tasks.rows import MAX_FIELD_BYTES

    p = tmp_path / "huge.csv"
    p.write_text("text,label\n" + "x" * (MAX_FIELD_BYTES + 10) + ",a\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(40)))
    with pytest.raises(GreenError, match="not a readable CSV file") as err:
        load(str(p))
    assert "\n" not in str(err.value)


def test_macro_f1_averages_over_classes_present():
    """A class absent from the test split (in truth and prediction) must not count as F1 = 0."""
    from green.tasks.base import Split

    split = Split(["a", "b", "c", "d"], [0, 0, 1, 1])
    metrics = TEXT.metrics([0, 0, 1, 1], split)  # label 2 exists in the task but not here
    assert metrics == {"accuracy": 1.0, "macro_f1": 1.0}
