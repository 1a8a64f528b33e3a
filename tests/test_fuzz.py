"""Property-based tests: whatever bytes a user or an attacker hands green as a recipe or a data file,
green answers with a Recipe, data, or a one-line GreenError; never another exception, never a hang.

Bounded so CI stays fast: 200 examples per property, a deadline per example, and
pytest-timeout around each test; derandomized, so CI is reproducible. To explore further,
``GREEN_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py`` draws that many random examples.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from green.errors import GreenError
from green.recipe import load_recipe, parse_recipe
from green.tasks import DataSpec, get_task

EXAMPLES = int(os.environ.get("GREEN_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000, derandomize=EXAMPLES <= 200, database=None,
                suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.timeout(max(120, EXAMPLES // 5))
TEXT = get_task("text-classification")


def only_green_errors(call):
    """Run ``call``; a GreenError must be one line, anything else fails the property."""
    try:
        return call()
    except GreenError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1000, str(exc)[:2000]
        return None


# -- recipes --------------------------------------------------------------------------------
FRAGMENTS = [
    "name: fuzz", "name: baseline", "name: " + "x" * 70, "description: d", "description: *a", "steps:", "steps: []",
    "steps: {}", "  - export: {format: onnx, optimize: true}", "  - export: {opset: 99999}",
    "  - quantize: {method: dynamic-int8, per_channel: true}", "  - quantize: {method: static-int8}",
    "  - bnb: {method: nf4}", "  - prune: {}", "  - distill: {}", "  - nope: {}", "  - export", "  - [export]",
    "  - {export: {}, quantize: {}}", "evaluate: {device: cuda, fallback_device: cpu}", "evaluate: {runtime: torch}",
    "evaluate: {batch_size: 99999999999999999999}", "evaluate:", "a: &a [x, x, x, x]", "b: &b [*a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b]", "<<: *a", "? [a, b]\n: c", "!!python/object/apply:os.system ['true']",
    "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [a: 1]", "!!timestamp 2001-12-14", "%YAML 1.1", "---", "...",
    "&x", "*x", "*undefined", "{", "[", "}", "]", "- ", "\t", ":", "'unterminated", '"\\x00"', "\u2028", "\ufeff",
    "name: !!int 5", "steps: !!str x", "version: 2", "origin: builtin:int8",
]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
keys = st.one_of(st.sampled_from(["name", "description", "steps", "evaluate", "export", "quantize", "bnb", "method",
                                  "device", "runtime", "opset", "per_channel", "batch_size", "version"]),
                 st.text(max_size=10))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=20)
VALID_STEPS = [
    {"export": {"format": "onnx", "optimize": True}}, {"export": {"optimize": False}}, {"export": {}},
    {"quantize": {"method": "dynamic-int8", "per_channel": True}}, {"quantize": {"method": "static-int8"}},
    {"bnb": {"method": "nf4"}}, {"quantize": {"method": "dynamic-int8"}},
]
names = st.one_of(st.sampled_from(["fuzz", "my-int8", "a.b_c", "int8"]), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True),
                  st.sampled_from(["baseline", "", "-x", "a/b", "x" * 65]), st.text(max_size=12))
recipe_maps = st.fixed_dictionaries(
    {"name": names, "description": st.one_of(st.text(max_size=40), st.just("a recipe")),
     "steps": st.lists(st.sampled_from(VALID_STEPS), min_size=1, max_size=3)},
    optional={"evaluate": st.fixed_dictionaries({}, optional={
                  "device": st.sampled_from(["any", "cpu", "cuda", "tpu"]),
                  "runtime": st.sampled_from(["onnxruntime", "torch", "tensorflow"]),
                  "batch_size": st.one_of(st.integers(), st.just(32)),
                  "fallback_device": st.sampled_from(["cpu", "cuda"])})},
)
# A recipe that may be valid, then mutated: fragments spliced in at random lines.
yamlish = st.tuples(recipe_maps, st.lists(st.tuples(st.integers(0, 12), st.one_of(st.sampled_from(FRAGMENTS),
                                                                                  st.text(max_size=30))), max_size=3))
yamlish = yamlish.map(lambda t: _splice(yaml.safe_dump(t[0], sort_keys=False, allow_unicode=True), t[1]))


def _splice(text: str, inserts: list[tuple[int, str]]) -> str:
    lines = text.splitlines()
    for at, fragment in inserts:
        lines.insert(min(at, len(lines)), fragment)
    return "\n".join(lines) + "\n"


@FUZZ
@given(yamlish)
def test_yamlish_text_is_a_recipe_or_a_one_line_error(text):
    recipe = only_green_errors(lambda: parse_recipe(text, "fuzz.yaml"))
    if recipe is not None:  # what parses must survive a round trip and name itself sanely
        assert recipe.name != "baseline" and len(recipe.name) <= 64
        assert parse_recipe(yaml.safe_dump(recipe.to_dict()), "again").to_dict() == recipe.to_dict()


@FUZZ
@given(recipe_maps, st.dictionaries(keys, values, max_size=4), st.booleans())
def test_random_mappings_are_a_recipe_or_a_one_line_error(base, extra, with_aliases):
    mapping = base | extra  # a plausible recipe with random keys and values over it
    text = yaml.safe_dump(mapping, allow_unicode=True)
    if with_aliases:  # the same object twice makes safe_dump write an anchor and an alias
        shared = {"k": list(mapping)}
        text = yaml.safe_dump({"x": shared, "y": shared, "name": "aliased", **mapping}, allow_unicode=True)
    only_green_errors(lambda: parse_recipe(text, "fuzz.yaml"))


@FUZZ
@given(st.binary(max_size=2000))
def test_random_recipe_files_are_a_recipe_or_a_one_line_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.yaml"
        path.write_bytes(raw)
        only_green_errors(lambda: load_recipe(str(path)))


# -- data files ------------------------------------------------------------------------------
def load_file(raw: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"d{suffix}"
        path.write_bytes(raw)
        return only_green_errors(lambda: TEXT.load_data(DataSpec(str(path))))


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".txt"]))
def test_random_bytes_as_data_are_data_or_a_one_line_error(raw, suffix):
    load_file(raw, suffix)


cells = st.one_of(st.text(min_size=1, max_size=40), st.sampled_from(["", "NaN", "nan", "null", " ", "none", "\u2026", "a\u2028b",
                                                         "q\"uote", "line\nbreak", "cr\rlf", "\x85", "\x00"]))
# Mostly real labels, so that many files load and the round trip below is checked.
labels = st.one_of(st.sampled_from(["pos", "neg", "neu"]), st.sampled_from(["pos", "neg"]), cells)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])


@FUZZ
@given(st.lists(st.tuples(cells, labels), min_size=15, max_size=80), encodings)
def test_random_csv_rows_keep_whole_or_fail_in_one_line(rows, encoding):
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    raw = buf.getvalue().encode(encoding, errors="replace")
    data = load_file(raw, ".csv")
    if data is not None and encoding in ("utf-8", "utf-8-sig"):
        # Read back exactly: every row with a text and a label, none split, none shifted.
        from green.tasks.rows import is_missing

        want = sorted((t.strip(), y.strip()) for t, y in rows if not is_missing(t) and not is_missing(y))
        names = data.info["label_names"]
        got = sorted((t, names[y]) for split in (data.train, data.validation, data.test)
                     for t, y in zip(split.inputs, split.targets))
        assert got == want


jsonl_values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars,
                                                                                   max_size=3))


@FUZZ
@given(st.lists(st.fixed_dictionaries({"text": st.one_of(cells, cells, jsonl_values), "label": st.one_of(labels, labels, labels, jsonl_values)},
                                      optional={"other": jsonl_values}), min_size=15, max_size=80), encodings)
def test_random_jsonl_rows_are_data_or_a_one_line_error(rows, encoding):
    raw = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(encoding, errors="replace")
    load_file(raw, ".jsonl")

