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


def test_gpu_recipes_say_where_they_run_and_what_they_cost():
    fp16 = load_recipe("fp16")
    assert fp16.evaluate.device == "cuda" and fp16.steps[0].config.fp16 and fp16.steps[0].config.for_gpu
    assert fp16.evaluate.cuda_graphs
    for name in ("bnb-int8", "bnb-nf4"):
        r = load_recipe(name)
        assert r.evaluate.device == "cuda" and r.runtime == "torch" and r.output_format == "torch-bnb"
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


def test_step_order_comes_from_what_steps_take_and_give(tmp_path):
    ok = parse_recipe("name: p\ndescription: d\nsteps:\n  - prune: {}\n  - export: {}\n  - quantize: {}\n", "ok.yaml")
    assert [s.name for s in ok.steps] == ["prune", "export", "quantize"] and ok.runtime == "onnxruntime"
    assert parse_recipe("name: s\ndescription: d\nsteps:\n  - sparsify: {}\n  - prune: {}\n", "s.yaml").runtime == "torch"
    with pytest.raises(GreenError) as err:
        parse_recipe("name: p\ndescription: d\nsteps:\n  - export: {}\n  - quantize: {}\n  - prune: {}\n", "bad.yaml")
    assert str(err.value) == ("bad.yaml:6: steps.2.prune: prune takes a PyTorch model, but quantize gives an ONNX "
                              "model; put prune before the step that makes an ONNX model")


def test_pruning_recipes():
    p = load_recipe("prune50")
    assert [s.name for s in p.steps] == ["prune", "export"]
    assert p.steps[0].config.heads == 0.5 and p.steps[0].config.ffn == 0.5 and p.steps[0].config.recovery
    assert [s.name for s in load_recipe("prune50-int8").steps] == ["prune", "export", "quantize"]
    sparse = load_recipe("sparse-2-4")
    assert sparse.evaluate.device == "cuda" and sparse.evaluate.semi_structured and sparse.runtime == "torch"


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
        (VALID.replace("  - export: {format: onnx, optimize: true}\n", ""),
         "mine.yaml:4: steps.0.quantize: quantize takes an ONNX model, but the baseline gives a PyTorch model; "
         "add a step that makes an ONNX model first (export)"),
        (VALID.replace("  - quantize: {method: dynamic-int8, per_channel: true}\n", "  - bnb: {}\n"),
         "mine.yaml:5: steps.1.bnb: bnb takes a PyTorch model, but export gives an ONNX model; put bnb before the step"),
        (VALID.replace("device: cpu", "device: cpu\n  runtime: torch"), "mine.yaml:8: evaluate.runtime: torch cannot run"),
        (VALID.replace("name: mine", "name: baseline"), "mine.yaml:1: name: 'baseline' is reserved"),
        (VALID.replace("name: mine", "name: " + "x" * 300), "mine.yaml:1: name: String should have at most 64"),
        (VALID.replace("optimize: true}", "optimize: true, opset: 99999}"),
         "mine.yaml:4: steps.0.export.opset: Input should be less than or equal to 20"),
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


def test_alias_bomb_is_refused_quickly(tmp_path):
    """540 bytes of nested YAML aliases expand to 9**10 nodes: refused before anything expands them."""
    import time

    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\nname: bomb\ndescription: *a9\nsteps: []\n")
    t0 = time.perf_counter()
    with pytest.raises(GreenError, match="expands to more than"):
        load_recipe(str(p))
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize("content, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
    (b"name: big\ndescription: " + b"x" * 70_000 + b"\nsteps: []\n", "bytes, over the"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b"name: !!python/object/apply:os.system ['true']\ndescription: d\nsteps: []\n", "YAML syntax error"),
])
def test_hostile_recipe_files_are_one_line_errors(tmp_path, content, expected):
    p = tmp_path / "r.yaml"
    p.write_bytes(content)
    with pytest.raises(GreenError) as err:
        load_recipe(str(p))
    assert expected in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 500


def test_a_folder_named_like_a_builtin_does_not_shadow_it(tmp_path, monkeypatch):
    (tmp_path / "int8").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_recipe("int8").origin == "builtin:int8"
