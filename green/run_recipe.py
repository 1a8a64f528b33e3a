"""The recipe as a run keeps it (``runs/<id>/recipe.json``) and as evaluation and measurement read it.

:class:`~green.recipe.Recipe` validates a YAML file strictly; a run stores its
:meth:`~green.recipe.Recipe.to_dict` with its origin and digest. :class:`RunRecipe` reads
that back typed (and the baseline's, which has a ``train`` step no recipe file may name),
leniently, so a run written by an older or newer green still evaluates and measures, with
the same runtime options its evaluation used.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunSettings(BaseModel):
    """A run's ``evaluate`` section: where and how its artifact runs."""

    model_config = ConfigDict(extra="allow")

    runtime: str | None = None
    device: str = "any"
    fallback_device: str | None = None
    batch_size: int | None = None
    cuda_graphs: bool = False
    semi_structured: bool = False
    #: Intra-op threads for ONNX Runtime and CTranslate2 (None: the machine's usable CPUs).
    threads: int | None = None
    #: The recipe's generation overrides (beams, lengths...) over the model's generation_config.
    generation: dict[str, Any] | None = None


class RunRecipe(BaseModel):
    """The recipe that made an artifact: its name, where it came from, its steps and its run settings."""

    model_config = ConfigDict(extra="allow")

    name: str
    #: ``builtin:NAME``, a recipe file path, or ``baseline``; tells same-named recipes apart.
    origin: str | None = None
    digest: str | None = None
    version: int | None = None
    description: str | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    evaluate: RunSettings = Field(default_factory=RunSettings)

    @classmethod
    def of(cls, recipe: "RunRecipe | dict[str, Any]") -> "RunRecipe":
        """``recipe`` typed: a run's recipe.json (or a dict of it) as it was stored."""
        if isinstance(recipe, RunRecipe):
            return recipe
        data = dict(recipe)
        data["evaluate"] = data.get("evaluate") or {}
        return cls.model_validate(data)

    def detail(self) -> dict[str, Any]:
        """The recipe as records keep it (``recipe_detail``): everything but where it was read from."""
        return self.model_dump(exclude={"origin", "digest"}, exclude_none=False)
