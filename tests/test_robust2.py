"""The second round of trying to break green (issue 20, section 3), one test or more per case.

Most tests build a tiny workdir by hand (a record, a manifest, a task.json) rather than
training, and run the CLI in-process, so each takes well under a second; each checks a
one-line error with exit code 2 (or the right behaviour) and that nothing else moved.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from test_workdir import run_cli

from green.errors import GreenError


def run_cli_out(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """run_cli, keeping stdout too: (exit code, stdout, stderr)."""
    real = capsys.readouterr
    seen = {}

    def readouterr():
        seen["out"], err = real()
        return type("C", (), {"out": seen["out"], "err": err})()

    monkeypatch.setattr(capsys, "readouterr", readouterr)
    code, err = run_cli(monkeypatch, capsys, *args)
    monkeypatch.setattr(capsys, "readouterr", real)
    return code, seen["out"], err


def one_line(code: int, err: str, expected: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("green: error: "), (code, err[-2000:])
    assert expected in lines[0], lines[0]
    return lines[0]


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def old(path: Path, text: str = "{") -> Path:
    """A file written an hour ago: past doctor's freshness window (a temp file of a write long dead)."""
    path.write_text(text)
    t = time.time() - 3600
    os.utime(path, (t, t))
    return path


# -- 1. doctor --clean only in a green workdir, only green's leftovers ----------------------
def test_doctor_refuses_a_folder_that_is_not_a_workdir(tmp_path, monkeypatch, capsys):
    p = tmp_path / "P"
    (p / "runs" / "tb").mkdir(parents=True)
    (p / "runs" / "tb" / "events.out.tfevents.1").write_text("log")
    (p / "src").mkdir()
    old(p / "src" / ".notes.md.Abcdefgh.tmp", "x")
    before = tree(p)
    for args in (["doctor", "--clean", "--workdir", str(p)], ["doctor", "--workdir", str(p)]):
        one_line(*run_cli(monkeypatch, capsys, *args), "is not a green workdir")
    assert tree(p) == before and not (p / ".lock").exists()
    one_line(*run_cli(monkeypatch, capsys, "doctor", "--workdir", "/"), "is not a green workdir")


def test_doctor_in_a_workdir_removes_only_greens_own_leftovers(tmp_path, monkeypatch, capsys):
    from green.doctor import clean, diagnose

    w = tmp_path / "w"
    (w / "records").mkdir(parents=True)
    (w / "runs" / "tb").mkdir(parents=True)  # TensorBoard's default folder beside green's runs
    (w / "runs" / "tb" / "events.out.tfevents.1").write_text("log")
    user_run = w / "runs" / "20260101000000-mine-abcdef"  # green's name, but the user's files in it
    user_run.mkdir()
    (user_run / "notes.txt").write_text("mine")
    orphan = w / "runs" / "20260101000000-int8-0a0b0c"
    (orphan / "01-export").mkdir(parents=True)
    (w / "src").mkdir()
    old(w / "src" / ".notes.md.Abcdefgh.tmp", "x")  # the user's folder: never looked in
    stale = old(w / "records" / ".r.json.k3j4h5g6.tmp")
    fresh = w / "records" / ".q.json.a1b2c3d4.tmp"  # a report writing right now (it holds no lock)
    fresh.write_text("{")
    found = {(f.path.relative_to(w).as_posix(), f.removable) for f in diagnose(w)}
    assert found == {("runs/20260101000000-int8-0a0b0c", True), ("records/.r.json.k3j4h5g6.tmp", True),
                     ("records/.q.json.a1b2c3d4.tmp", False)}
    clean(diagnose(w))
    assert not orphan.exists() and not stale.exists() and fresh.exists()
    assert (w / "runs" / "tb" / "events.out.tfevents.1").exists() and (user_run / "notes.txt").exists()
    assert (w / "src" / ".notes.md.Abcdefgh.tmp").exists()


def test_doctor_never_follows_a_symlink_out_of_the_workdir(tmp_path):
    from green.doctor import clean, diagnose

    outside = tmp_path / "outside"
    (outside / "20260101000000-int8-0a0b0c").mkdir(parents=True)
    old(outside / ".x.json.k3j4h5g6.tmp", "{")
    w = tmp_path / "w"
    (w / "records").mkdir(parents=True)
    (w / "runs").symlink_to(outside)
    (w / "report").symlink_to(outside)
    clean(diagnose(w))
    assert sorted(p.name for p in outside.iterdir()) == [".x.json.k3j4h5g6.tmp", "20260101000000-int8-0a0b0c"]


# -- 2. stored XSS: every record string is escaped in pareto.html and results.md ------------------
EVIL = "<img src=x onerror=alert(1)>"


def evil_records_dir(tmp_path: Path) -> Path:
    from test_report import record

    from green.records import write_record

    recs = tmp_path / "w" / "records"
    task = {"name": "t" + EVIL, "primary_metric": "accuracy", "higher_is_better": True, "inference_unit": EVIL,
            "data": {"source": "/d/" + EVIL}}
    for name, acc, mj in (("baseline", 0.8, 10.0), ("[x](javascript:alert(1))" + EVIL, 0.79, 4.0)):
        write_record(recs, record(name, acc, mj, 600.0, "2026-01-01T00:01:00", task=task, energy_source="rapl" + EVIL,
                                  device={"kind": "cpu", "name": "EPYC" + EVIL, "intended": "cpu"}))
    return recs


def test_record_strings_are_escaped_in_the_html_and_the_markdown(tmp_path):
    from green.report import build_report

    recs = evil_records_dir(tmp_path)
    (recs / ("bad" + EVIL.replace("/", "") + ".json")).write_text("{")  # a file name in the notes
    _, paths, notes = build_report(recs, tmp_path / "w" / "report")
    page = paths["pareto.html"].read_text()
    assert "<img" not in page and "energy per inference" in page  # the bogus unit is not a unit
    md = paths["results.md"].read_text()
    assert "\\<img" in md and not re.search(r"(?<!\\)[<>]|(?<!\\)\]\(", md)  # every < > ]( backslash-escaped
    assert "| baseline *" in md or "| baseline |" in md


# -- 3. never unpickle: a pickle beside a decoy *.safetensors is refused, not loaded ---------------
def _pickled_model_with_decoy(folder: Path, model) -> Path:
    import torch

    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # loadable: only use_safetensors stops it
    (folder / "x.safetensors").write_bytes(b"decoy")
    return folder


def test_the_warm_start_never_loads_a_pickle_beside_a_decoy(tmp_path):
    from transformers import BertConfig, BertModel

    from green.tasks.warmstart import bart_from_bert

    bert = BertModel(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32, max_position_embeddings=64))
    folder = _pickled_model_with_decoy(tmp_path / "m", bert)
    with pytest.raises(GreenError, match="could not load model"):
        bart_from_bert(str(folder), None)


def test_the_seq2seq_load_never_loads_a_pickle_beside_a_decoy(tmp_path):
    from transformers import BartConfig, BartForConditionalGeneration

    from green.tasks import get_task

    bart = BartForConditionalGeneration(BartConfig(vocab_size=100, d_model=16, encoder_layers=1, decoder_layers=1,
                                                   encoder_attention_heads=2, decoder_attention_heads=2,
                                                   encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64))
    folder = _pickled_model_with_decoy(tmp_path / "m", bart)
    with pytest.raises(GreenError, match="could not load model"):
        get_task("summarization").new_model(str(folder), None)


# -- 4. terminal injection: no markup, no escape sequence from a record reaches the terminal ------------
INJECT = "[bold red]loud[/bold red]\x1b]0;TITLE\x07\x1b[2J\x9b31m"


def test_record_strings_print_as_themselves(tmp_path, monkeypatch, capsys):
    from test_report import record

    from green.records import write_record
    from green.safetext import printable

    assert printable("a\x1b]0;T\x07b\x1b[2Jc\x00d\te") == "abcd e"
    w = tmp_path / "w"
    for name, acc, mj in (("baseline", 0.8, 10.0), ("int8" + INJECT, 0.79, 4.0)):
        write_record(w / "records", record(name, acc, mj, 600.0, "2026-01-01T00:01:00", metric="acc" + INJECT,
                                           device={"kind": "cpu", "name": "EPYC" + INJECT, "intended": "cpu"}))
    (w / "records" / ("bad\x1b[2J" + INJECT.replace("/", "") + ".json")).write_text("{")
    code, out, err = run_cli_out(monkeypatch, capsys, "report", "--workdir", str(w))
    assert code == 0, err
    for text in (out, err):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)
    assert "int8[bold red]loud" in out.replace("\n", "")  # markup printed, not applied


# -- 5. deeply nested JSON and huge integers: skipped with a note, or one line -------------------------
DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "1" * 5000


def good_workdir(tmp_path: Path) -> Path:
    from test_report import record

    from green.records import write_record

    w = tmp_path / "w"
    for name, acc, mj in (("baseline", 0.8, 10.0), ("int8", 0.79, 4.0)):
        write_record(w / "records", record(name, acc, mj, 600.0, "2026-01-01T00:01:00"))
    return w


@pytest.mark.parametrize("text", [DEEP, '{"a": ' + "[" * 5000 + "]" * 5000 + "}", '{"size_mb": ' + HUGE_INT + "}",
                                  '{"size_mb": NaN}'])
def test_a_deep_or_huge_record_is_skipped_with_a_note(tmp_path, monkeypatch, capsys, text):
    w = good_workdir(tmp_path)
    (w / "records" / "zz.json").write_text(text)
    before = tree(w / "records")
    code, out, err = run_cli_out(monkeypatch, capsys, "report", "--workdir", str(w))
    assert code == 0 and "note: skipped zz.json: unreadable" in err, err
    code, out, err = run_cli_out(monkeypatch, capsys, "doctor", "--workdir", str(w))
    assert code == 0 and "unreadable record: records/zz.json" in out, out + err
    assert tree(w / "records") == before


def test_deep_or_huge_workdir_files_are_one_line(tmp_path, monkeypatch, capsys):
    from green.artifacts import Artifact
    from green.recipe import parse_recipe
    from green.taskfile import read_task_file
    from green.tasks.rows import read_jsonl

    for text in (DEEP, '{"seed": ' + HUGE_INT + "}"):
        (tmp_path / "task.json").write_text(text)
        with pytest.raises(GreenError, match="task.json is unreadable"):
            read_task_file(tmp_path / "task.json")
        (tmp_path / "a").mkdir(exist_ok=True)
        (tmp_path / "a" / "green-artifact.json").write_text(text)
        with pytest.raises(GreenError, match="not a readable green manifest"):
            Artifact.load(tmp_path / "a")
    for line in ('{"text": ' + "[" * 200_000 + "]" * 200_000 + "}", '{"text": "x", "label": ' + HUGE_INT + "}"):
        (tmp_path / "d.jsonl").write_text('{"text": "ok", "label": "a"}\n' + line + "\n")
        with pytest.raises(GreenError, match="d.jsonl:2: "):
            read_jsonl(tmp_path / "d.jsonl")
    with pytest.raises(GreenError, match="r.yaml: "):
        parse_recipe(f"name: x\nsteps:\n  - prune: {{sparsity: {HUGE_INT}}}\n", "r.yaml")
    w = good_workdir(tmp_path)
    (w / "task.json").write_text(DEEP)
    code, out, err = run_cli_out(monkeypatch, capsys, "doctor", "--workdir", str(w))
    assert code == 0 and "unreadable task.json" in out, out + err


# -- 6. a negative, overflowing or NaN energy in one record: skipped with a note, the report still made ---
@pytest.mark.parametrize("field, value", [("energy_per_inference_j", -0.17), ("energy_per_inference_j", 1e308),
                                          ("run_energy_j", "NaN"), ("throughput_per_s", -1.0)])
def test_an_impossible_energy_is_skipped_and_the_report_still_made(tmp_path, monkeypatch, capsys, field, value):
    w = good_workdir(tmp_path)
    path = next((w / "records").glob("*int8*.json"))
    text = path.read_text()
    payload = json.loads(text)
    payload[field] = value
    bad = w / "records" / "bad.json"
    bad.write_text(json.dumps(payload).replace('"NaN"', "NaN"))
    code, out, err = run_cli_out(monkeypatch, capsys, "report", "--workdir", str(w))
    assert code == 0 and "note: skipped bad.json" in err, err
    results = (w / "report" / "results.json").read_text()
    assert "NaN" not in results and "Infinity" not in results and len(json.loads(results)) == 2


def test_the_chart_skips_a_point_it_cannot_place_on_a_log_axis():
    from green.report import Entry, view

    ok = Entry(recipe="ok", energy_per_inference_j=0.01, quality=0.8)
    bad = [ok.model_copy(update={"energy_per_inference_j": -0.17}), ok.model_copy(update={"quality": float("nan")})]
    assert view.plotted([ok, *bad]) == [ok]


# -- 7. long summaries: lead-N and ROUGE bounded, so 10,000-word texts take seconds --------------------
def test_long_summaries_are_scored_on_a_bounded_length():
    from green.tasks.rouge import MAX_ROUGE_WORDS, _cap, median_words, rouge

    words = [f"w{i % 997}" for i in range(10_000)]
    long = " ".join(words)
    assert median_words([long] * 3) == MAX_ROUGE_WORDS
    assert _cap("a\nb c") == "a\nb c" and len(_cap(long).split()) == MAX_ROUGE_WORDS
    t0 = time.perf_counter()
    scores = rouge([" ".join(reversed(words))] * 3, [long] * 3)
    assert time.perf_counter() - t0 < 20 and 0 < scores["rougeL"] < 1  # uncapped: minutes


# -- 8. non-finite numbers: refused in step configs, and a non-finite loss stops the step -----------------
@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_a_non_finite_step_setting_is_refused(value):
    from green.recipe import parse_recipe

    with pytest.raises(GreenError, match="hidden_weight"):
        parse_recipe(f"name: x\nsteps:\n  - distill: {{hidden_weight: {value}}}\n", "x.yaml")


def test_a_non_finite_training_loss_stops_the_step(tiny_model_dir):
    from transformers import BertForSequenceClassification

    from green.models import load_tokenizer
    from green.tasks import Split, get_task
    from green.training.budget import TrainBudget
    from green.training.loop import fit

    model = BertForSequenceClassification.from_pretrained(tiny_model_dir)
    rows = Split(["good", "bad", "fine", "meh"] * 2, [0, 1, 2, 0] * 2)
    budget = TrainBudget("t", epochs=1, max_train_rows=None, max_validation_rows=None, max_test_rows=None,
                         batch_size=4, max_length=16)
    nan_loss = lambda model, feed, rows: model(**feed).logits.sum() * float("inf") * 0  # noqa: E731
    with pytest.raises(GreenError, match="training loss became nan at step 1"):
        fit(model, get_task("text-classification"), load_tokenizer(str(tiny_model_dir)), rows, rows, budget, "cpu",
            loss=nan_loss)


# -- 9. compress on an existing workdir refuses a --task/--model/--data that is not its baseline's ---------
def baseline_workdir(tmp_path: Path, data: Path) -> Path:
    w = good_workdir(tmp_path)
    (w / "baseline").mkdir()
    (w / "baseline" / "green-artifact.json").write_text("{}")
    (w / "task.json").write_text(json.dumps({"task": "text-classification", "model": "embedded",
                                             "model_ref": "/nowhere/model", "data": str(data),
                                             "columns": {"text": "text", "label": "label"}, "seed": 42}))
    return w


@pytest.mark.parametrize("args, flag", [(["--task", "summarization"], "--task"), (["--model", "/no/such"], "--model"),
                                        (["--data", "other.csv"], "--data"), (["--label-column", "y"], "--label-column"),
                                        (["--seed", "7"], "--seed")])
def test_compress_refuses_options_that_are_not_the_baselines(tmp_path, monkeypatch, capsys, args, flag):
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,b\n")
    w = baseline_workdir(tmp_path, data)
    before = tree(w)
    line = one_line(*run_cli(monkeypatch, capsys, "compress", "--recipe", "int8", "--workdir", str(w), *args),
                    "already has a baseline for " + flag)
    assert "drop " + flag in line and tree(w) == before


def test_compress_takes_the_baselines_own_options(tmp_path, monkeypatch, capsys):
    import green.cli

    data = tmp_path / "d.csv"
    data.write_text("text,label\na,b\n")
    w = baseline_workdir(tmp_path, data)
    monkeypatch.chdir(tmp_path)
    with green.cli.cli.make_context("green", ["compress", "--recipe", "int8", "--data", "d.csv", "--model",
                                              "embedded", "--seed", "42"]) as ctx:
        sub = ctx.command.get_command(ctx, "compress")
        with sub.make_context("compress", ["--recipe", "int8", "--data", "d.csv", "--model", "embedded",
                                           "--seed", "42", "--workdir", str(w)], parent=ctx):
            from green.workbench import Workbench

            green.cli._refuse_other_baseline(Workbench(w), task="text-classification", model="embedded",
                                             data="d.csv", text=None, label=None, summary=None, seed=42)


# -- 14. task.json's max_length is validated --------------------------------------------------------
@pytest.mark.parametrize("value", ['"abc"', "-5", "0", "1e9", "true"])
def test_task_json_max_length_is_validated(tmp_path, value):
    from green.taskfile import read_task_file

    (tmp_path / "task.json").write_text('{"data": "embedded", "max_length": ' + value + "}")
    with pytest.raises(GreenError, match="max_length"):
        read_task_file(tmp_path / "task.json")
    (tmp_path / "task.json").write_text('{"data": "embedded", "max_length": 128}')
    assert read_task_file(tmp_path / "task.json")["max_length"] == 128


# -- 13. green measure's bounds ---------------------------------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["--min-window-s", "nan"], "--min-window-s nan is not a number"),
    (["--min-window-s", "inf"], "--min-window-s"), (["--min-window-s", "1e9"], "--min-window-s"),
    (["--repeats", "1000000"], "--repeats"), (["--repeats", "5", "--max-repeats", "2"], "--max-repeats 2 is below")])
def test_measure_options_are_bounded(tmp_path, monkeypatch, capsys, args, expected):
    w = good_workdir(tmp_path)
    before = tree(w)
    t0 = time.perf_counter()
    one_line(*run_cli(monkeypatch, capsys, "measure", "baseline", "--workdir", str(w), *args), expected)
    assert time.perf_counter() - t0 < 10 and tree(w) == before


# -- 11. an artifact or a record of the other task -------------------------------------------------------
@pytest.mark.parametrize("command", ["evaluate", "measure"])
def test_an_artifact_of_the_other_task_is_refused_before_measuring(tmp_path, monkeypatch, capsys, command):
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,b\n")
    w = baseline_workdir(tmp_path, data)
    other = tmp_path / "S" / "baseline"
    other.mkdir(parents=True)
    (other / "model.safetensors").write_bytes(b"x")
    (other / "green-artifact.json").write_text(json.dumps({"format": "torch", "task": "summarization", "step": "train",
                                                           "files": {"model": "model.safetensors"}}))
    before = tree(w)
    one_line(*run_cli(monkeypatch, capsys, command, str(other), "--workdir", str(w)),
             "is a summarization artifact; ")
    assert tree(w) == before


def test_report_keeps_the_workdirs_task_and_notes_the_others(tmp_path):
    from test_report import record

    from green.records import write_record
    from green.report import build_report

    w = good_workdir(tmp_path)
    write_record(w / "records", record("s-int8", 0.3, 4.0, 600.0, "2026-01-01T00:02:00", metric="rougeL",
                                       task={"name": "summarization", "primary_metric": "rougeL",
                                             "higher_is_better": True}))
    entries, _, notes = build_report(w / "records", w / "report", task="t")
    assert [e.recipe for e in entries] == ["baseline", "int8"]
    assert any("a summarization record, this report is for t" in n for n in notes)
    entries, _, notes = build_report(w / "records", w / "report")  # no task.json: the most common task
    assert [e.recipe for e in entries] == ["baseline", "int8"]


# -- 15, 16. data files: streamed, size-capped, UTF-16 by its BOM, the right byte offset, no FIFOs ---------------
def test_data_files_are_read_by_their_bom_with_the_right_offset(tmp_path, monkeypatch):
    import green.tasks.rows as rows

    p = tmp_path / "d.csv"
    p.write_bytes("text,label\nh\u00e9,a\n".encode("utf-16"))  # a spreadsheet's "Unicode text"
    assert rows.read_csv(p) == ([{"text": "h\u00e9", "label": "a"}], ["text", "label"])
    p.write_bytes(b"\xef\xbb\xbftext,label\n\x81\x8d,a\n")
    with pytest.raises(GreenError, match=r"byte 0x81 at offset 14\)"):
        rows.read_csv(p)
    monkeypatch.setattr(rows, "_CHUNK", 4)  # a character split across chunks is still one character
    p.write_bytes("text,label\nd\u20ac\u20ac,a\n".encode() + b"\x81")
    with pytest.raises(GreenError, match=r"byte 0x81 at offset 21\)"):
        rows.read_csv(p)
    p.write_bytes("text,label\nd\u20ac\u20ac,a\n".encode())
    assert rows.read_csv(p)[0] == [{"text": "d\u20ac\u20ac", "label": "a"}]
    monkeypatch.setattr(rows, "MAX_DATA_BYTES", 10)
    with pytest.raises(GreenError, match="green reads data files of up to"):
        rows.read_csv(p)


def test_a_fifo_or_a_device_is_named_as_such(tmp_path):
    from green.tasks.rows import read_source

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        with pytest.raises(GreenError, match="is not a regular file"):
            read_source(path)


def test_a_recipe_key_given_twice_is_refused_with_its_line():
    from green.recipe import parse_recipe

    with pytest.raises(GreenError, match=r"x.yaml:5: key 'sparsity' is given twice"):
        parse_recipe("name: x\nsteps:\n  - prune:\n      sparsity: 0.5\n      sparsity: 0.9\n", "x.yaml")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "sub/../../x"])
def test_a_manifest_naming_a_file_outside_its_folder_is_refused(tmp_path, name):
    from green.artifacts import MANIFEST_VERSION, Artifact

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "green-artifact.json").write_text(json.dumps(
        {"manifest_version": MANIFEST_VERSION, "format": "onnx", "task": "text-classification", "step": "export",
         "files": {"model": name}}))
    with pytest.raises(GreenError, match="outside its folder"):
        Artifact.load(tmp_path / "a")


def test_duplicate_rows_leaking_into_test_are_warned_about(tmp_path, caplog):
    from green.tasks import DataSpec, get_task

    p = tmp_path / "dup.jsonl"
    p.write_text("".join(json.dumps({"text": "the same text", "summary": "same"}) + "\n" for _ in range(60))
                 + "".join(json.dumps({"text": f"text {i}", "summary": f"s {i}"}) + "\n" for i in range(60)))
    with caplog.at_level("WARNING"):
        get_task("summarization").load_data(DataSpec(str(p), {}, 42))
    assert any("test rows have the same text as a train row" in r.getMessage() for r in caplog.records)
