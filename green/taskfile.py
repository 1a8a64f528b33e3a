"""``task.json``: what a workdir's baseline was trained on (task, model, data, seed, budget).

Read strictly: an empty, truncated or hand-edited file is a one-line error naming the
field, never a KeyError or TypeError deep inside a command.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from green.errors import GreenError
from green.limits import MAX_SEED

#: The longest input length task.json may ask for (more than any BERT/BART-class model's positions).
MAX_TASK_LENGTH = 16_384


class TaskFile(BaseModel):
    model_config = ConfigDict(extra="allow")

    task: str = "text-classification"
    model: str | None = None
    model_ref: str | None = None
    data: str = Field(min_length=1)
    columns: dict[str, str | None] = Field(default_factory=dict)
    seed: int = Field(default=42, ge=0, le=MAX_SEED)
    budget: str | None = None
    max_test_rows: int | None = Field(default=None, ge=1)
    #: Tokens per input; bounded like a model's positions (a string or -5 once failed deep inside measure).
    max_length: int | None = Field(default=None, ge=2, le=MAX_TASK_LENGTH, strict=True)
    quick: bool = False
    fingerprint: str | None = None


def read_task_file(path: Path) -> dict:
    """The task spec as a dict, upgraded from green 0.1; a GreenError when it is unreadable or wrong."""
    fix = "restore it, or train a new baseline in another --workdir"
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise GreenError(f"{path} is unreadable ({type(exc).__name__})", fix) from None
    if not isinstance(spec, dict):
        raise GreenError(f"{path} is not a JSON object", fix)
    if "columns" not in spec:  # written by green 0.1
        spec["columns"] = {"text": spec.get("text_column"), "label": spec.get("label_column")}
    try:
        return TaskFile.model_validate(spec).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "task"
        raise GreenError(f"{path}: {where}: {err['msg']}", fix) from None
