"""Write an artifact as a folder Hugging Face users load without green: ``green export``.

The folder has optimum's file names (``model.onnx``; ``encoder_model.onnx``,
``decoder_model.onnx``, ``decoder_with_past_model.onnx`` and the merged
``decoder_model_merged.onnx``), so ``ORTModelFor...from_pretrained(DIR)`` finds every part
without a warning; ``config.json``, the tokenizer files and ``generation_config.json``; an
``ort_config.json`` in optimum's ``ORTConfig`` format describing the export and the
quantization; a model card (``README.md``) and a small ``green.json`` saying where it came
from. Nothing in it is an absolute path, and no green manifest is copied. A PyTorch
artifact is written as a plain transformers folder.

The folder is written under a temporary name beside the destination and renamed into
place at the end, so a failure leaves nothing behind, and an existing non-empty
destination is never touched.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from green.artifacts import SUPPORT_FILES, Artifact, atomic_write_json, now_iso
from green.errors import GreenError

log = logging.getLogger(__name__)

#: optimum's file names, by green's roles.
ONNX_NAMES = {"model": "model.onnx", "encoder": "encoder_model.onnx", "decoder": "decoder_model.onnx",
              "decoder_with_past": "decoder_with_past_model.onnx"}
MERGED_DECODER = "decoder_model_merged.onnx"
#: Config keys green writes that mean nothing to transformers when empty.
GREEN_CONFIG_KEYS = ("green_linear_shapes",)


@dataclass
class ExportedFolder:
    """What :func:`write_folder` wrote: the folder, its model files by role, and what loading it needs."""

    path: Path
    files: dict[str, str]
    format: str
    #: One line saying what green is needed for, when plain transformers/optimum cannot load it.
    needs_green: str | None = None
    merged_decoder: bool = False
    notes: list[str] = field(default_factory=list)


def check_destination(to: Path) -> Path:
    """``to`` as an absolute path; an existing file or non-empty folder is refused (exports never overwrite)."""
    to = Path(to).expanduser().absolute()
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise GreenError(f"{to} exists and is not an empty folder; green export never overwrites",
                         "pass a new --to folder, or remove that one first")
    return to


def needs_green(artifact: Artifact) -> str | None:
    """Why this artifact does not load with plain transformers/optimum, or None when it does."""
    if artifact.format in ("torch", "torch-bnb"):
        config = _read_json(artifact.path / "config.json")
        if config.get("green_linear_shapes"):
            return ("its layers were pruned to different widths (config key green_linear_shapes), which a "
                    "transformers config cannot describe: load it with green's "
                    "green.runtime.pytorch.load_pretrained, or export its ONNX run instead")
    return None


def write_folder(artifact: Artifact, to: Path, card: str, provenance: dict) -> ExportedFolder:
    """Write ``artifact`` to the new folder ``to`` with ``card`` as README.md; see the module docstring."""
    to = check_destination(to)
    tmp = to.parent / f".{to.name}.export-{uuid.uuid4().hex[:8]}"
    try:
        to.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        out = _write_model(artifact, tmp)
        _copy_support(artifact.path, tmp)
        if artifact.format.startswith("onnx"):
            ort_config(artifact).save_pretrained(tmp)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        atomic_write_json(tmp / "green.json", provenance | {
            "format": artifact.format, "files": out.files, "merged_decoder": out.merged_decoder,
            "needs_green": out.needs_green, "notes": out.notes, "exported": now_iso()})
        if to.is_dir():
            to.rmdir()  # empty (checked above); a rename onto it would fail on some systems
        os.replace(tmp, to)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    out.path = to
    return out


def _write_model(artifact: Artifact, dst: Path) -> ExportedFolder:
    fmt = artifact.format
    if fmt.startswith("onnx"):
        files = {}
        for role, name in artifact.model_files.items():
            if role not in ONNX_NAMES:
                raise GreenError(f"{artifact.path} has an ONNX part {role!r} optimum has no file name for",
                                 "export the recipe's ONNX artifact before any custom step")
            _copy_onnx(artifact.file(role), dst / ONNX_NAMES[role])
            files[role] = ONNX_NAMES[role]
        out = ExportedFolder(dst, files, fmt)
        if {"decoder", "decoder_with_past"} <= set(files):
            out.merged_decoder, note = merge_decoder(dst)
            if out.merged_decoder:
                out.files["decoder_merged"] = MERGED_DECODER
            else:
                out.notes.append(note)
        return out
    if fmt in ("torch", "torch-bnb"):
        files = {}
        for role, name in artifact.model_files.items():
            for src in _with_shards(artifact.path, name):
                shutil.copy2(src, dst / src.name)
            files[role] = name
        return ExportedFolder(dst, files, fmt, needs_green=needs_green(artifact))
    raise GreenError(f"green export writes ONNX and PyTorch artifacts, not {fmt!r} ({artifact.path})",
                     "export an ONNX or PyTorch step of the run (pass its folder)")


def _with_shards(folder: Path, name: str) -> list[Path]:
    """A weights file and, for a sharded checkpoint, its index's shards."""
    paths = [folder / name]
    index = folder / f"{name}.index.json"
    if index.is_file():
        paths.append(index)
        paths += sorted({folder / shard for shard in _read_json(index).get("weight_map", {}).values()})
    return [p for p in paths if p.is_file()]


def _copy_onnx(src: Path, dst: Path) -> None:
    """Copy an ONNX file under a new name; weights stored beside it are re-pointed to the new name."""
    side = [p for p in src.parent.glob(f"{src.name}*") if p != src]
    if not side:
        shutil.copy2(src, dst)
        return
    import onnx

    model = onnx.load(str(src), load_external_data=True)
    onnx.save_model(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=f"{dst.name}_data")


def merge_decoder(folder: Path) -> tuple[bool, str]:
    """optimum's merged decoder (both decoders behind an If node) from the two in ``folder``.

    ``ORTModelForSeq2SeqLM`` looks for it first and warns when it is absent. It works on
    int8 parts too: the quantized weights are ordinary initializers, shared once between
    the branches. Returns (made, why not).
    """
    from optimum.onnx import merge_decoders

    try:
        merge_decoders(folder / ONNX_NAMES["decoder"], folder / ONNX_NAMES["decoder_with_past"],
                       save_path=folder / MERGED_DECODER, strict=False)
        return True, ""
    except Exception as exc:  # noqa: BLE001  (optimum raises many kinds; the separate decoders still load)
        (folder / MERGED_DECODER).unlink(missing_ok=True)
        why = f"no merged decoder: optimum's merge_decoders failed ({type(exc).__name__}: {str(exc)[:160]})"
        log.warning("%s; load with ORTModelForSeq2SeqLM.from_pretrained(DIR, use_merged=False)", why)
        return False, why


def _copy_support(src: Path, dst: Path) -> None:
    """Tokenizer, config and generation config; green's empty config keys are left out."""
    for name in SUPPORT_FILES:
        if not (src / name).is_file():
            continue
        if name == "config.json":
            config = _read_json(src / name)
            for key in GREEN_CONFIG_KEYS:
                if key in config and not config[key]:
                    del config[key]
            (dst / name).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        else:
            shutil.copy2(src / name, dst / name)


def ort_config(artifact: Artifact):
    """optimum's ``ORTConfig`` for an ONNX artifact: its export settings (opset, ORT optimizer) and quantization."""
    from onnxruntime.quantization import QuantFormat, QuantizationMode, QuantType
    from optimum.onnxruntime.configuration import (
        OptimizationConfig,
        ORTConfig,
        QuantizationConfig,
    )

    from green.compress.quantize import DYNAMIC_INT8_OPS, STATIC_INT8_OPS

    steps = {a.step: a.params for a in reversed(artifact.lineage())}  # the last of each kind wins
    export, quant = steps.get("export") or {}, steps.get("quantize")
    optimization = None
    if export.get("optimize"):
        optimization = OptimizationConfig(
            optimization_level=export.get("optimization_level", 2), optimize_for_gpu=export.get("for_gpu", False),
            fp16=export.get("fp16", False), disable_attention_fusion=not export.get("fuse_attention", True))
    quantization = None
    if quant:
        static = quant.get("method") == "static-int8"
        # What green.compress.quantize passes to ONNX Runtime's quantize_dynamic / quantize_static.
        quantization = QuantizationConfig(
            is_static=static, format=QuantFormat.QDQ if static else QuantFormat.QOperator,
            mode=QuantizationMode.QLinearOps if static else QuantizationMode.IntegerOps,
            activations_dtype=QuantType.QUInt8, activations_symmetric=False,
            weights_dtype=QuantType.QInt8, weights_symmetric=True,
            per_channel=bool(quant.get("per_channel", True)), reduce_range=False,
            operators_to_quantize=quant.get("operators") or (STATIC_INT8_OPS if static else DYNAMIC_INT8_OPS))
    return ORTConfig(opset=export.get("opset"), optimization=optimization, quantization=quantization)


def neutral(value):
    """``value`` with every absolute path cut to its last part: an exported folder names no local paths."""
    if isinstance(value, dict):
        return {k: neutral(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [neutral(v) for v in value]
    if isinstance(value, str) and value.startswith(("/", "~")):
        return Path(value).name
    if isinstance(value, str) and len(value) > 2 and value[1:3] == ":\\":  # a Windows path
        return PureWindowsPath(value).name
    return value


def offline() -> bool:
    """True when the Hugging Face Hub is switched off (HF_HUB_OFFLINE)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def push_folder(folder: Path, repo: str) -> str:
    """Upload an exported folder to the Hub repository ``repo`` (created if needed); returns its URL."""
    if offline():
        raise GreenError(f"--push-to-hub {repo}: the Hugging Face Hub is offline here (HF_HUB_OFFLINE is set)",
                         "unset HF_HUB_OFFLINE on a machine with a network, or upload the folder later")
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo,
                                 commit_message="green export: model, model card and energy measurements")
    except Exception as exc:  # noqa: BLE001  (connection, auth and HTTP errors all end in one line)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise GreenError(f"--push-to-hub {repo} failed ({type(exc).__name__}: {first}); the folder is complete at "
                         f"{folder}", "check the network and `huggingface-cli login`, then upload the folder") from None
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo}")


def _read_json(path: Path) -> dict:
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}
