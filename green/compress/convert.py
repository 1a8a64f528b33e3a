"""Convert a PyTorch model to another runtime's format: CTranslate2 (``ctranslate2``) or OpenVINO (``openvino``).

OpenVINO (classifiers on the CPU) is :mod:`green.compress.convert_openvino`; the rest of this
module is CTranslate2's.

``convert: {format: ctranslate2, quantization: int8}`` takes any green PyTorch artifact of a
sequence-to-sequence model (the baseline, a distilled or a pruned one) and writes a
CTranslate2 model (``model.bin``, its ``config.json`` and ``shared_vocabulary.json``) in a
``ctranslate2/`` folder inside the step's output; the engine copies the Hugging Face config,
tokenizer and generation_config beside it, which the runner reads for the token ids and the
generation defaults.

Two fixes green's own warm-started BART needs, made on the loaded model and tokenizer in
memory (the parent artifact is only read):

* CTranslate2's BART loader reads ``config.normalize_before``, a key transformers no longer
  writes; BART is post-LayerNorm, so a config without it gets ``False``.
* A BERT tokenizer names no bos or eos token, which the converted model's config needs; they
  are taken from the model config's ``bos_token_id`` and ``eos_token_id`` ([CLS], [SEP]).

Models pruned to per-layer widths load through green's loader (their Linear shapes are in the
config); a model whose attention heads were pruned cannot be described by CTranslate2's one
head count per layer and is refused in one line.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from green.artifacts import Artifact
from green.compress.registry import FORMAT_WORDS, StepConfig, StepContext, StepResult, register_step
from green.errors import GreenError

log = logging.getLogger(__name__)

#: CTranslate2's weight types (``ct2-transformers-converter --quantization``); which ones a device
#: runs is checked when the model is loaded (``ctranslate2.get_supported_compute_types``).
CT2_QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "float16", "bfloat16", "float32")
#: Where the converted model lives inside the step's folder (its config.json is not the HF one).
CT2_DIR = "ctranslate2"

FORMAT_WORDS.setdefault("ctranslate2", "a CTranslate2 model")
FORMAT_WORDS.setdefault("openvino", "an OpenVINO model")


#: The weight types each target format takes.
QUANTIZATIONS = {"ctranslate2": CT2_QUANTIZATIONS, "openvino": ("fp32", "int8")}


class ConvertConfig(StepConfig):
    """Which runtime's format to convert to, and the weight type it stores."""

    format: Literal["ctranslate2", "openvino"] = Field(default="ctranslate2", description=(
        "the target runtime's format: ctranslate2 (encoder-decoder models), openvino (classifiers on the CPU)"))
    quantization: str = Field(default="int8", description=(
        "ctranslate2: " + ", ".join(CT2_QUANTIZATIONS) + " (also the compute type the runner asks for); "
        "openvino: fp32, or int8 by NNCF post-training quantization calibrated on train rows"))
    calibration_samples: int = Field(default=300, ge=8, le=100_000, description=(
        "openvino int8: train rows NNCF calibrates activation ranges on"))

    @field_validator("quantization")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        allowed = QUANTIZATIONS.get(info.data.get("format", "ctranslate2"), ())
        if value not in allowed:
            raise ValueError(f"{info.data.get('format')} takes quantization {', '.join(allowed)}")
        return value


def _after(config: ConvertConfig, earlier: list) -> tuple[str, str] | None:
    """CTranslate2 after a prune step that removes attention heads: refused at plan time (see the module docstring)."""
    if config.format != "ctranslate2":
        return None
    for name, step_config in earlier:
        heads = getattr(step_config, "heads", 0) if name == "prune" else 0
        if any(float(h) > 0 for h in (heads if isinstance(heads, list) else [heads])):
            return ("convert: CTranslate2 cannot take a model whose attention heads were pruned "
                    f"(prune removes heads: {heads})",
                    "prune with heads: 0.0 (FFN channels only) before converting, or export to ONNX instead")
    return None


def _gives(config: ConvertConfig) -> str:
    return config.format


def _kinds(config: ConvertConfig) -> tuple[str, ...]:
    # CTranslate2's Translator is for encoder-decoders; green's OpenVINO path converts classifiers.
    return ("seq2seq",) if config.format == "ctranslate2" else ("encoder",)


def _attention_heads_pruned(model) -> bool:
    """True when some attention projection is narrower than the model width (heads were pruned)."""
    import torch

    d_model = int(model.config.d_model)
    return any(isinstance(m, torch.nn.Linear) and name.endswith(("q_proj", "k_proj", "v_proj"))
               and m.out_features != d_model for name, m in model.named_modules())


def _converter_class(ctranslate2):
    """A TransformersConverter that loads through green and fixes the two gaps of a warm-started BART."""
    from green.runtime.pytorch import load_pretrained

    class GreenConverter(ctranslate2.converters.TransformersConverter):
        model_config = None

        def load_model(self, model_class, model_name_or_path, **kwargs):
            # green's loader rebuilds Linear layers pruned to per-layer widths; from_pretrained cannot.
            from transformers import AutoModelForSeq2SeqLM

            # (through the Auto class: green's loader builds a reshaped model with from_config, which
            # CTranslate2's concrete class lacks; the result is that class all the same)
            model = load_pretrained(model_name_or_path, AutoModelForSeq2SeqLM)
            if not isinstance(model, model_class):
                raise GreenError(f"convert: CTranslate2 expected a {model_class.__name__}, found {type(model).__name__}",
                                 "convert a BART-family model")
            if getattr(model.config, "model_type", None) == "bart" and not hasattr(model.config, "normalize_before"):
                model.config.normalize_before = False  # BART is post-LayerNorm; CT2's loader reads the legacy key
            if _attention_heads_pruned(model):
                raise GreenError("convert: this model's attention heads were pruned, and CTranslate2 describes "
                                 "attention by one head count at full width",
                                 "convert the unpruned (or FFN-only pruned, or distilled) model, or run it on ONNX Runtime")
            type(self).model_config = model.config
            return model

        def load_tokenizer(self, tokenizer_class, model_name_or_path, **kwargs):
            tokenizer = super().load_tokenizer(tokenizer_class, model_name_or_path, **kwargs)
            config = type(self).model_config
            # A BERT tokenizer has no bos/eos; the model config's ids ([CLS], [SEP]) are what the model uses.
            for attr in ("bos", "eos"):
                token_id = getattr(config, f"{attr}_token_id", None) if config is not None else None
                if getattr(tokenizer, f"{attr}_token") is None and token_id is not None:
                    setattr(tokenizer, f"{attr}_token", tokenizer.convert_ids_to_tokens(int(token_id)))
            return tokenizer

    return GreenConverter


@register_step("convert", ConvertConfig, "PyTorch -> CTranslate2 (encoder-decoder models; int8, float16, bfloat16, "
               "float32) or OpenVINO (classifiers; fp32, NNCF int8)", takes="torch", gives=_gives, kinds=_kinds,
               check=_after)
def convert(parent: Artifact, config: ConvertConfig, ctx: StepContext) -> StepResult:
    """Convert ``parent`` (a PyTorch model) into the format ``config.format`` names."""
    if config.format == "openvino":
        from green.compress.convert_openvino import convert_openvino

        return convert_openvino(parent, config, ctx)
    return convert_ctranslate2(parent, config, ctx)


def convert_ctranslate2(parent: Artifact, config: ConvertConfig, ctx: StepContext) -> StepResult:
    """Convert ``parent`` (a PyTorch encoder-decoder) into a CTranslate2 model in ``ctx.out_dir/ctranslate2``."""
    from green.runtime.extras import import_runtime

    ctranslate2 = import_runtime("ctranslate2", "convert: {format: ctranslate2}")
    out = ctx.out_dir / CT2_DIR
    try:
        _converter_class(ctranslate2)(str(parent.path)).convert(str(out), quantization=config.quantization, force=True)
    except GreenError:
        raise
    except (ValueError, KeyError, NotImplementedError, RuntimeError, AttributeError) as exc:
        # CTranslate2 raises these for architectures or options it does not support.
        raise GreenError(f"convert to CTranslate2 failed: {str(exc).strip().splitlines()[0][:200]}",
                         "CTranslate2 converts BART-family models (BART, distilbart, mBART, green's warm start)") from None
    files = {"model": f"{CT2_DIR}/model.bin", "ct2_config": f"{CT2_DIR}/config.json",
             "vocabulary": f"{CT2_DIR}/shared_vocabulary.json"}
    missing = [name for name in files.values() if not (ctx.out_dir / name).is_file()]
    if missing:
        raise GreenError(f"convert to CTranslate2 wrote no {', '.join(missing)}", "check the CTranslate2 installation")
    return StepResult(files=files, params={"ctranslate2_version": ctranslate2.__version__},
                      target_device="cpu" if config.quantization in ("int8", "int8_float32") else "any")
