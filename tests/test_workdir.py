"""The workdir's guards in-process: lock, disk errors, bounds checked up front, task.json, doctor, offline Hub."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
import signal
import socket
import sys
import time

import pytest

from green.errors import GreenError
from green.workdir import WorkdirLock, lock_holder


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """green's CLI in this process, so a test can inject a fault with monkeypatch; (exit code, stderr)."""
    import green.cli

    monkeypatch.setattr(green.cli, "_setup_output", lambda: None)
    monkeypatch.setattr(sys, "argv", ["green", *args])
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # main() wraps it: undone after the test
    try:
        green.cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    return code, capsys.readouterr().err


# -- the lock ----------------------------------------------------------------------------
def test_lock_is_exclusive_names_its_holder_and_leaves_nothing(tmp_path):
    w = tmp_path / "w"
    with WorkdirLock(w, "compress"):
        assert lock_holder(w) == f"pid {os.getpid()} (green compress)"
        with pytest.raises(GreenError, match=rf"is busy \(pid {os.getpid()} \(green compress\)\)"):
            WorkdirLock(w, "train").acquire()  # flock is per open file: a second open conflicts, even here
        assert (w / ".lock").is_file()
    assert lock_holder(w) is None and not w.exists()  # created by the lock, left empty: removed
    w.mkdir()
    (w / "keep").write_text("x")
    with WorkdirLock(w, "train"):
        pass
    assert sorted(p.name for p in w.iterdir()) == ["keep"]


def test_workbench_lock_is_reentrant(tmp_path):
    from green.workbench import Workbench

    wb = Workbench(tmp_path / "w")
    with wb.writing("compress"):
        with wb.writing("train"):  # compress trains the baseline first
            assert lock_holder(wb.workdir) == f"pid {os.getpid()} (green compress)"
        assert (wb.workdir / ".lock").exists()
    assert not wb.workdir.exists()


# -- a full disk ---------------------------------------------------------------------------
def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    from green.artifacts import atomic_write_json

    path = tmp_path / "r.json"
    atomic_write_json(path, {"v": 1})
    monkeypatch.setattr(os, "fsync", enospc)
    with pytest.raises(GreenError, match=r"no space left on the device while writing .*r\.json"):
        atomic_write_json(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_disk_full_during_compress_is_one_line_and_removes_the_run(compressed_workdir, tmp_path, monkeypatch, capsys):
    from green.compress import STEPS

    w = tmp_path / "w"
    shutil.copytree(compressed_workdir, w)
    records = sorted(p.name for p in (w / "records").iterdir())
    runs = sorted(p.name for p in (w / "runs").iterdir())

    def full(parent, config, ctx):
        (ctx.out_dir / "model.onnx").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(ctx.out_dir / "model.onnx"))

    from green.compress.export import ExportConfig
    from green.compress.registry import BY_CONFIG

    monkeypatch.setitem(BY_CONFIG, ExportConfig, dataclasses.replace(STEPS["export"], run=full))
    code, err = run_cli(monkeypatch, capsys, "compress", "--recipe", "int8", "--no-reuse", "--workdir", str(w),
                        "--device", "cpu")
    assert code == 2, err
    assert err.strip().splitlines() == [
        f"green: error: no space left on the device while writing {w}/runs/{err.split('/runs/')[1].split('/')[0]}"
        "/01-export/model.onnx; free some space (`green doctor --clean` removes interrupted runs), or use another --workdir"]
    assert sorted(p.name for p in (w / "records").iterdir()) == records
    assert sorted(p.name for p in (w / "runs").iterdir()) == runs and not (w / ".lock").exists()


# -- bounds checked before any work ------------------------------------------------------
@pytest.mark.parametrize("seed", [-1, 2**32, 2**70, True, "7"])
def test_seeds_out_of_range_are_refused_by_the_api(seed, tmp_path):
    from green.workbench import Workbench

    with pytest.raises(GreenError, match="out of range"):
        Workbench(tmp_path / "w").train(seed=seed)
    assert not (tmp_path / "w").exists()


def test_batch_memory_is_estimated_before_allocating(tmp_path, monkeypatch):
    from green import limits

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 384, "intermediate_size": 1536,
                                                      "num_attention_heads": 12}))
    monkeypatch.setattr(limits, "free_memory_bytes", lambda device: 8 * 10**9)
    limits.check_batch_memory(tmp_path, "cpu", [1, 32, 256], [128])  # about 1.5 GB at 256 x 128: fits
    with pytest.raises(GreenError) as err:
        limits.check_batch_memory(tmp_path, "cpu", [1, 100000], [32, 128])
    msg = str(err.value)
    assert msg.startswith("batch 100000 x 128 tokens needs about") and "8.0 GB free" in msg
    fits = int(msg.split("--batch-size ")[1].split()[0])
    limits.check_batch_memory(tmp_path, "cpu", [fits], [128])  # the size it names does fit
    assert fits < 100000


@pytest.mark.parametrize("country, region, expected", [
    ("XYZ", None, "unknown country code 'XYZ'"),
    ("USA", "atlantis", "no carbon intensity for USA/atlantis"),
    ("FRA", "bretagne", "regional figures only for"),
    ("CHN", "nowhere", "no carbon intensity for CHN/nowhere"),
])
def test_unknown_grid_settings_are_refused(country, region, expected):
    from green.carbon import grid_intensity_g_per_kwh

    with pytest.raises(GreenError, match=expected):
        grid_intensity_g_per_kwh(country, region)


def test_known_regions_change_the_intensity():
    from green.carbon import grid_intensity_g_per_kwh

    usa = grid_intensity_g_per_kwh("USA")
    assert 100 < usa < 1000
    assert grid_intensity_g_per_kwh("USA", "California") not in (usa, None)  # case-insensitive, not the fallback
    assert grid_intensity_g_per_kwh("CAN", "ontario") < usa


@pytest.mark.parametrize("content, expected", [
    ("", "is unreadable (JSONDecodeError)"),
    ("[1, 2]", "is not a JSON object"),
    ('{"seed": 1}', "data: Field required"),
    ('{"data": "x.csv", "seed": 18446744073709551616}', "seed: Input should be less than or equal to 4294967295"),
    ('{"data": "x.csv", "columns": ["text"]}', "columns: Input should be a valid dictionary"),
    ('{"data": "x.csv", "max_test_rows": 0}', "max_test_rows: Input should be greater than or equal to 1"),
])
def test_task_json_is_read_strictly(tmp_path, content, expected):
    from green.taskfile import read_task_file

    (tmp_path / "task.json").write_text(content)
    with pytest.raises(GreenError, match=re.escape(expected)):
        read_task_file(tmp_path / "task.json")


def test_task_json_of_green_0_1_still_reads(tmp_path):
    from green.taskfile import read_task_file

    (tmp_path / "task.json").write_text('{"data": "embedded", "text_column": "t", "label_column": "y", "seed": 3}')
    spec = read_task_file(tmp_path / "task.json")
    assert spec["columns"] == {"text": "t", "label": "y"} and spec["task"] == "text-classification"


def test_relative_data_paths_are_stored_absolute(tmp_path, monkeypatch):
    from green.workbench import _absolute_data

    (tmp_path / "d.csv").write_text("text,label\n")
    monkeypatch.chdir(tmp_path)
    assert _absolute_data("d.csv") == str(tmp_path / "d.csv") and _absolute_data("embedded") == "embedded"


# -- doctor --------------------------------------------------------------------------------
def test_doctor_cleans_leftovers_and_nothing_else(tmp_path):
    from green.doctor import clean, diagnose

    w = tmp_path / "w"
    (w / "records").mkdir(parents=True)
    (w / "records" / "good-looking.json").write_text('{"id": "x"}')  # not a valid record: listed, kept
    (w / "records" / ".a.json.k3j4h5g6.tmp").write_text("{")  # an atomic write killed halfway
    os.utime(w / "records" / ".a.json.k3j4h5g6.tmp", (time.time() - 3600,) * 2)  # long ago: not a live write
    (w / "records" / "notes.tmp").write_text("the user's")  # not ours: not listed
    (w / "runs" / "20260101000000-int8-abcdef" / "01-export").mkdir(parents=True)
    (w / "runs" / "20260101000000-int8-abcdef" / "01-export" / "model.onnx").write_bytes(b"\0" * 2000)
    (w / ".tmp-baseline-12345678").mkdir()
    (w / "task.json").write_text("")
    found = {(f.kind, f.path.relative_to(w).as_posix(), f.removable) for f in diagnose(w)}
    assert found == {
        ("orphan run", "runs/20260101000000-int8-abcdef", True),
        ("temporary folder", ".tmp-baseline-12345678", True),
        ("temporary file", "records/.a.json.k3j4h5g6.tmp", True),
        ("unreadable record", "records/good-looking.json", False),
        ("unreadable task.json", "task.json", False),
    }
    assert next(f for f in diagnose(w) if f.kind == "orphan run").size_bytes == 2000
    removed = clean(diagnose(w))
    assert len(removed) == 3
    assert sorted(p.relative_to(w).as_posix() for p in w.rglob("*")) == [
        "records", "records/good-looking.json", "records/notes.tmp", "runs", "task.json"]


def test_doctor_clean_refuses_while_another_command_writes(tmp_path):
    from green.workbench import Workbench

    w = tmp_path / "w"
    (w / ".tmp-baseline-12345678").mkdir(parents=True)
    with WorkdirLock(w, "train"):
        findings, removed, holder = Workbench(w).doctor()
        assert holder == f"pid {os.getpid()} (green train)" and len(findings) == 1 and not removed
        with pytest.raises(GreenError, match="is busy"):
            Workbench(w).doctor(clean=True)
    assert (w / ".tmp-baseline-12345678").is_dir()
    assert len(Workbench(w).doctor(clean=True)[1]) == 1 and not (w / ".tmp-baseline-12345678").exists()


# -- the Hugging Face Hub without a network ------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """No HF_HUB_OFFLINE, and every connection fails at once, as on a machine without a network."""
    from green import models

    def unreachable(*args, **kwargs):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(socket, "create_connection", unreachable)
    models.hub_reachable.cache_clear()
    yield
    models.hub_reachable.cache_clear()


def test_an_unreachable_hub_fails_in_one_line_at_once(no_network):
    from green.models import resolve_model
    from green.tasks.rows import read_source

    t0 = time.monotonic()
    with pytest.raises(GreenError) as err:
        resolve_model("some-org/some-uncached-model")
    msg = str(err.value)
    assert "unreachable" in msg and "--model embedded" in msg and "local folder" in msg and "\n" not in msg
    with pytest.raises(GreenError, match="unreachable.*--data embedded"):
        read_source("imdb")
    assert time.monotonic() - t0 < 2


def test_an_unreachable_hub_uses_a_cached_model(no_network, tmp_path, monkeypatch):
    import huggingface_hub.constants

    from green.models import resolve_model

    snapshot = tmp_path / "models--some-org--cached" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--some-org--cached" / "refs").mkdir()
    (tmp_path / "models--some-org--cached" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    assert resolve_model("some-org/cached") == str(snapshot)


def test_hf_hub_offline_keeps_its_behaviour(monkeypatch):
    from green.models import load_tokenizer, resolve_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("no connection when offline"))
    assert resolve_model("some-org/some-model") == "some-org/some-model"  # transformers reads the cache
    with pytest.raises(GreenError, match=r"not in the local cache and the Hub is offline \(HF_HUB_OFFLINE=1\)"):
        load_tokenizer("some-org/some-model")
