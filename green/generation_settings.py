"""The generation settings a recipe may set (``evaluate.generation``), validated when the recipe is read.

A leaf module (pydantic only), so the recipe schema can check them at plan time, with
the file and line of a wrong value, before any step runs; the summarization task merges
them over the model's ``generation_config`` at evaluation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

#: Generation settings a recipe may override; sampling is left out so results repeat.
GENERATION_KEYS = ("num_beams", "max_length", "max_new_tokens", "min_length", "min_new_tokens", "length_penalty",
                   "no_repeat_ngram_size", "early_stopping", "repetition_penalty")


class GenerationSettings(BaseModel):
    """A recipe's ``evaluate.generation``: overrides of the model's generation_config.

    Integers are integers (``true`` is not 1, ``'four'`` is not a number), floats are finite,
    and the bounds that transformers would only trip over mid-generation are checked here.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    num_beams: StrictInt | None = Field(default=None, ge=1, le=64)
    max_length: StrictInt | None = Field(default=None, ge=2, le=4096)
    max_new_tokens: StrictInt | None = Field(default=None, ge=1, le=4096)
    min_length: StrictInt | None = Field(default=None, ge=0, le=4096)
    min_new_tokens: StrictInt | None = Field(default=None, ge=0, le=4096)
    length_penalty: float | None = Field(default=None, ge=-10, le=10)
    no_repeat_ngram_size: StrictInt | None = Field(default=None, ge=0, le=64)
    early_stopping: StrictBool | Literal["never"] | None = None
    repetition_penalty: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _lengths(self) -> "GenerationSettings":
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) is above max_length ({self.max_length})")
        if (self.min_new_tokens is not None and self.max_new_tokens is not None
                and self.min_new_tokens > self.max_new_tokens):
            raise ValueError(f"min_new_tokens ({self.min_new_tokens}) is above max_new_tokens ({self.max_new_tokens})")
        return self

    def overrides(self) -> dict:
        """The settings the recipe set (unset ones keep the model's)."""
        return self.model_dump(exclude_none=True)
