import pytest

from green.errors import GreenError
from green.recipe import builtin_names, load_recipe, parse_recipe

VALID = """\
name: mine
description: a test recipe
steps:
  - export: {format: onnx, optimize: true}
  - quantize: {method: dynamic-int8, per_channel: true}
evaluate:
  device: cpu
"""


def test_builtins_validate_and_carry_descriptions():
    names = builtin_names()
    assert {"fp16", "int8", "int8-static", "bnb-int8", "bnb-nf4", "fp32-onnx"} <= set(names)
    for name in names:
        r = load_recipe(name)
        assert r.name == name
        assert len(r.description) > 40
        assert r.steps[0].name in ("export", "bnb")


def test_gpu_recipes_say_where_they_run_and_what_they_cost():
    fp16 = load_recipe("fp16")
    assert fp16.evaluate.device == "cuda" and fp16.steps[0].config.fp16 and fp16.steps[0].config.for_gpu
    assert fp16.evaluate.cuda_graphs
    for name in ("bnb-int8", "bnb-nf4"):
        r = load_recipe(name)
        assert r.evaluate.device == "cuda" and r.evaluate.runtime == "torch"
        assert "Not exportable to ONNX" in r.description and "energy" in r.description
    static = load_recipe("int8-static")
    assert static.steps[1].config.method == "static-int8" and static.evaluate.device == "cpu"
    assert static.steps[1].config.per_channel and not static.steps[0].config.optimize


def test_int8_is_cpu_and_quantizes_per_channel():
    r = load_recipe("int8")
    assert r.evaluate.device == "cpu"
    assert [s.name for s in r.steps] == ["export", "quantize"]
    assert r.steps[1].config.per_channel is True
    from green.compress.quantize import DYNAMIC_INT8_OPS

    assert r.steps[1].config.operators is None and "Gather" in DYNAMIC_INT8_OPS


def test_recipe_by_path(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(VALID)
    r = load_recipe(str(p))
    assert r.name == "mine" and r.origin == str(p)


@pytest.mark.parametrize(
    "text, expected",
    [
        (VALID.replace("per_channel: true", "per_chanel: true"), "mine.yaml:5: steps.1.quantize.per_chanel: unknown key"),
        (VALID.replace("- export:", "- exprt:"), "mine.yaml:4: steps.0.exprt: unknown step (did you mean 'export'?)"),
        (VALID.replace("optimize: true", "optimize: maybe"), "mine.yaml:4: steps.0.export.optimize"),
        (VALID.replace("device: cpu", "device: tpu"), "mine.yaml:7: evaluate.device"),
        (VALID + "colour: green\n", "mine.yaml:8: colour: unknown key"),
        (VALID.replace("description: a test recipe\n", ""), "description: required key is missing"),
        (VALID.replace("steps:\n", "steps: [\n", 1), "YAML syntax error"),
        (VALID.replace("dynamic-int8", "static-int8"), "mine.yaml:5: steps.1.quantize: static-int8 after a fused export"),
    ],
)
def test_bad_recipes_name_key_and_line(tmp_path, text, expected):
    p = tmp_path / "mine.yaml"
    p.write_text(text)
    with pytest.raises(GreenError) as err:
        load_recipe(str(p))
    msg = str(err.value)
    assert expected in msg
    assert "\n" not in msg


def test_unknown_builtin_suggests_nearest():
    with pytest.raises(GreenError) as err:
        load_recipe("int9")
    assert "did you mean 'int8'" in str(err.value)
    assert "fp32-onnx" in str(err.value)


def test_missing_recipe_file():
    with pytest.raises(GreenError, match="recipe file not found"):
        load_recipe("./nope.yaml")


def test_to_dict_roundtrips():
    r = load_recipe("int8")
    import yaml

    again = parse_recipe(yaml.safe_dump(r.to_dict()), "roundtrip")
    assert again.to_dict() == r.to_dict()
