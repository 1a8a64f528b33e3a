"""Generation settings are validated when the recipe is read, with file and line, before any step runs."""

from __future__ import annotations

import pytest

from green.errors import GreenError
from green.recipe import parse_recipe

RECIPE = """name: gen
description: int8 with other generation settings
steps:
  - export: {{format: onnx}}
  - quantize: {{method: dynamic-int8}}
evaluate:
  generation:
    {setting}
"""


@pytest.mark.parametrize("setting, words", [
    ("num_beams: 0", "num_beams"),
    ("num_beams: -1", "num_beams"),
    ("num_beams: 10000", "num_beams"),
    ("num_beams: four", "num_beams"),
    ("num_beams: true", "num_beams"),
    ("max_length: 0", "max_length"),
    ("beams: 4", "unknown key"),
    ("length_penalty: .nan", "length_penalty"),
    ("length_penalty: .inf", "length_penalty"),
    ("repetition_penalty: 0", "repetition_penalty"),
    ("{min_length: 30, max_length: 5}", "min_length (30) is above max_length (5)"),
])
def test_a_bad_generation_setting_fails_at_its_line(setting, words):
    with pytest.raises(GreenError) as err:
        parse_recipe(RECIPE.format(setting=setting), "my.yaml")
    assert str(err.value).startswith("my.yaml:")  # file:line
    assert ":8" in str(err.value).split(" ")[0] or ":7" in str(err.value).split(" ")[0], str(err.value)
    assert words in str(err.value)


def test_good_settings_are_kept_and_only_the_ones_set_are_recorded():
    recipe = parse_recipe(RECIPE.format(setting="{num_beams: 2, max_length: 24, early_stopping: never}"), "ok.yaml")
    assert recipe.to_dict()["evaluate"]["generation"] == {"num_beams": 2, "max_length": 24, "early_stopping": "never"}


def test_generation_on_a_classifier_fails_at_plan_time_before_any_work(tmp_path):
    from green.workbench import Workbench

    path = tmp_path / "gen.yaml"
    path.write_text(RECIPE.format(setting="num_beams: 2"))
    with pytest.raises(GreenError, match="does not generate"):
        Workbench(tmp_path / "w", device="cpu").plan(str(path), task="text-classification")
    assert not (tmp_path / "w").exists()


def test_the_models_max_length_under_the_recipes_min_length_is_refused(tmp_path):
    from transformers import GenerationConfig

    from green.tasks import get_task

    GenerationConfig(max_length=5, num_beams=2).save_pretrained(tmp_path)
    with pytest.raises(GreenError, match="min_length 30 is above max_length 5"):
        get_task("summarization").inference_settings(tmp_path, {"min_length": 30})
