"""``convert: {format: openvino}``: a PyTorch classifier to OpenVINO IR, fp32 or NNCF int8.

``openvino.convert_model`` traces the loaded module (green's loader, so models pruned to
per-layer widths convert too) with example inputs from the train split, with dynamic batch and
length; the inputs are named as the tokenizer names them (``input_ids``, ``attention_mask``,
``token_type_ids``), so the runner feeds them by name. ``quantization: int8`` is NNCF's
post-training quantization (``nncf.quantize``, transformer model type: SmoothQuant and
min-max ranges) calibrated on ``calibration_samples`` train rows drawn with the run's seed.
The IR is written as ``openvino/model.xml`` and ``openvino/model.bin``.
"""

from __future__ import annotations

import random
import warnings

from green.artifacts import Artifact
from green.compress.registry import StepContext, StepResult
from green.errors import GreenError

#: Where the IR lives inside the step's folder.
OV_DIR = "openvino"
#: Input names a BERT-family forward takes, in its signature's order (the order the tracer keeps).
INPUT_ORDER = ("input_ids", "attention_mask", "token_type_ids")


def _inputs(model, batch: dict) -> dict:
    """The batch's arrays the model's forward accepts, in its signature's order, as torch tensors."""
    import inspect

    import torch

    accepted = set(inspect.signature(model.forward).parameters)
    return {k: torch.from_numpy(batch[k]) for k in INPUT_ORDER if k in accepted and k in batch}


def convert_openvino(parent: Artifact, config, ctx: StepContext) -> StepResult:
    """Convert ``parent`` (a PyTorch classifier) to OpenVINO IR in ``ctx.out_dir/openvino``; int8 through NNCF."""
    from green.models import load_tokenizer
    from green.runtime.extras import import_runtime
    from green.runtime.pytorch import load_pretrained

    ov = import_runtime("openvino", "convert: {format: openvino}")
    task, data = ctx.require_data("convert to openvino", "example inputs and int8 calibration rows")
    tokenizer = load_tokenizer(str(parent.file("tokenizer")))
    texts = list(data.train.inputs)
    random.Random(ctx.seed).shuffle(texts)
    model = load_pretrained(parent.path, task.model_class()).eval()
    enc = task.encode(tokenizer, texts[: max(2, config.calibration_samples)], 128)
    example = _inputs(model, enc.batch([0, 1]))
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected
        try:
            ir = ov.convert_model(model, example_input=example)
        except Exception as exc:  # OpenVINO's frontend raises its own types
            raise GreenError(f"convert to OpenVINO failed: {str(exc).strip().splitlines()[0][:200]}",
                             "convert a BERT-family classifier") from None
    names = list(example)
    if len(ir.inputs) != len(names):
        raise GreenError(f"OpenVINO traced {len(ir.inputs)} inputs, expected {', '.join(names)}",
                         "convert a BERT-family classifier")
    for port, name in zip(ir.inputs, names):
        port.get_tensor().set_names({name})  # the tracer names some inputs by node number
    params: dict = {"openvino_version": ov.__version__, "inputs": names}
    if config.quantization == "int8":
        import nncf

        rows = [_inputs(model, enc.batch([i])) for i in range(len(enc))]
        feed = [{k: v.numpy() for k, v in r.items()} for r in rows]
        ir = nncf.quantize(ir, nncf.Dataset(feed), subset_size=len(feed), model_type=nncf.ModelType.TRANSFORMER)
        params |= {"calibration_rows": len(feed), "nncf_version": nncf.__version__}
    out = ctx.out_dir / OV_DIR
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(ir, str(out / "model.xml"), compress_to_fp16=False)  # fp32 means fp32 weights on disk
    return StepResult(files={"model": f"{OV_DIR}/model.xml", "weights": f"{OV_DIR}/model.bin"}, params=params,
                      target_device="cpu")
