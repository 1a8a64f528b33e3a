"""Progress on long silent steps: a spinner with elapsed time on a terminal, log lines elsewhere."""

import io
import logging
import time

import pytest
from rich.console import Console

from green import progress


def test_status_off_a_terminal_logs_start_and_duration(caplog):
    caplog.set_level(logging.INFO, logger="green.progress")
    with progress.status("int8: step 1/2, export"):
        time.sleep(0.05)
    assert [r.getMessage() for r in caplog.records][0] == "int8: step 1/2, export ..."
    assert caplog.records[-1].getMessage().startswith("int8: step 1/2, export: done in 0.")


def test_status_does_not_claim_a_failed_step_finished(caplog):
    caplog.set_level(logging.INFO, logger="green.progress")
    with pytest.raises(RuntimeError):
        with progress.status("int8: step 2/2, quantize"):
            raise RuntimeError("boom")
    assert not any("done" in r.getMessage() for r in caplog.records)


def test_status_on_a_terminal_spins_and_gives_way_to_a_bar(monkeypatch, caplog):
    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, force_terminal=True, width=100))
    caplog.set_level(logging.INFO, logger="green.progress")
    with progress.status("distill: step 1/1, distill"):
        time.sleep(0.3)
        with progress.progress_bar() as bar:  # a step with its own bar (training): one live display at a time
            task = bar.add_task("epoch 1", total=2)
            bar.update(task, advance=2)
        time.sleep(0.1)
    assert progress._status is None
    text = out.getvalue()
    assert "distill: step 1/1, distill" in text and "0:00:00" in text and "epoch 1" in text
    assert caplog.records[-1].getMessage().startswith("distill: step 1/1, distill: done in")
