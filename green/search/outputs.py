"""What a search leaves in ``<workdir>/search/<name>/``: plain recipe files, the trials table, the summary and the chart.

* ``best.yaml``: the choice as an ordinary recipe (``green compress --recipe .../best.yaml``);
* ``frontier/tNNN.yaml``: every recipe of the search's Pareto frontier (objective vs drop);
* ``trials.csv``: one row per trial (its state, recipe, drop and bound, energy, cost of making);
* ``summary.json``: settings, the choice and its test-split evaluation, the frontier, the
  search's own energy (labelled estimate where the counter is one) and wall time, the machine;
* ``search.png``: every trial as a point, the frontier, the choice and the budget.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import yaml

from green.artifacts import atomic_write_json

#: Short names of steps and options for the 80-column table.
_SHORT = {"distill": "distil", "distill-seq2seq": "distil-dec", "prune": "prune", "export": "", "quantize": "",
          "convert": ""}
_METHODS = {"dynamic-int8": "ort-dyn8", "static-int8": "ort-st8", "fp16": "ort-fp16", "bf16": "ort-bf16"}


def short_recipe(recipe: dict) -> str:
    """A trial's steps in a few characters: ``distil+prune(h.5 f.75 g)+ort-st8``."""
    parts = []
    for step in recipe.get("steps", []):
        (name, cfg), = step.items()
        cfg = cfg or {}
        if name == "prune":
            alloc = str(cfg.get("allocation", "uniform"))[0]
            parts.append(f"prune(h{_frac(cfg.get('heads'))} f{_frac(cfg.get('ffn'))} {alloc})")
        elif name == "quantize":
            parts.append(_METHODS.get(str(cfg.get("method")), str(cfg.get("method"))))
        elif name == "convert":
            fmt = {"openvino": "ov", "ctranslate2": "ct2"}.get(str(cfg.get("format")), str(cfg.get("format")))
            parts.append(f"{fmt}-{cfg.get('quantization', 'fp32')}")
        elif name == "distill-seq2seq" and "epochs" in cfg:
            parts.append(f"distil-dec({cfg['epochs']}ep)")
        elif _SHORT.get(name, name):
            parts.append(_SHORT.get(name, name))
    return "+".join(parts) or "none"


def _frac(v: Any) -> str:
    if v is None:
        return "-"
    return f"{float(v):g}".lstrip("0") if float(v) < 1 else f"{float(v):g}"


def trial_rows(study: Any, folder: Path) -> list[dict]:
    """One dict per trial, oldest first: what trials.csv and ``--show`` print."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        o = t.user_attrs.get("outcome", {})
        path = folder / "trials" / f"t{t.number:03d}.yaml"
        recipe = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}
        state = t.state.name.lower()
        if state == "complete":
            state = "within" if o.get("within") else "outside"
        if "duplicate_of" in t.user_attrs:
            state = f"= t{t.user_attrs['duplicate_of']:03d}"
        if t.state.name == "FAIL" and t.user_attrs.get("interrupted"):
            state = "interrupted"
        rows.append({
            "trial": t.number, "state": state, "recipe": short_recipe(recipe) if recipe else "",
            "drop": o.get("drop"), "bound": o.get("bound"), "metric": o.get("metric"),
            "energy_ratio": o.get("energy_ratio"), "throughput_ratio": o.get("throughput_ratio"),
            "make_j": o.get("make_j"), "spent_j": o.get("spent_j"),
            "value": t.values[0] if t.values else None, "run": o.get("run"), "record": o.get("record"),
            "node": t.user_attrs.get("node"), "seconds": o.get("seconds"),
            "note": t.user_attrs.get("error") or t.user_attrs.get("pruned") or "",
        })
    return rows


def lifetime_costs(make_j: float, per_inference_j: float, reference_per_inference_j: float | None,
                   inferences: float, search_j: float, trials: int, estimate: bool = False) -> dict:
    """A candidate's energy over its life, beside the baseline's.

    Making it is every one of its steps (as if run from scratch: what rerunning ``best.yaml`` in an
    empty workdir costs) plus its share of the search: the search's whole energy, trials and
    re-measurement included, split evenly over the trials it ran. The share is the same for every
    candidate of one search, so it never changes which one wins; it decides whether any of them
    pays back against serving the baseline, and after how many inferences. A user who deploys one
    model paid for the whole search: ``payback_with_whole_search_inferences`` counts all of it (an
    upper bound: the candidate's own steps, when this search made them, are in both terms).
    """
    share = search_j / max(1, trials)
    use = inferences * per_inference_j
    total = make_j + share + use
    out: dict[str, Any] = {"inferences": inferences, "make_j": make_j, "search_share_j": share, "search_j": search_j,
                           "use_j": use, "total_j": total, "baseline_j": None, "pays_back": None,
                           "payback_inferences": None, "payback_with_whole_search_inferences": None,
                           "estimate": estimate}
    if reference_per_inference_j is not None and reference_per_inference_j > 0:
        saved = reference_per_inference_j - per_inference_j
        out |= {"baseline_j": inferences * reference_per_inference_j,
                "pays_back": total < inferences * reference_per_inference_j,
                "payback_inferences": (make_j + share) / saved if saved > 0 else None,
                "payback_with_whole_search_inferences": (make_j + search_j) / saved if saved > 0 else None}
    return out


def write_trials_csv(rows: list[dict], path: Path) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["trial"])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _recipe_of_trial(folder: Path, number: int) -> dict:
    return yaml.safe_load((folder / "trials" / f"t{number:03d}.yaml").read_text(encoding="utf-8"))


def write_outputs(search: Any, study: Any, frontier: list, remeasured: dict[int, dict], choice: int | None,
                  test: dict | None, wall_s: float) -> dict:
    """Write every file of the search's folder; returns the summary."""
    from green.machine import machine_info

    folder: Path = search.folder
    s = search.settings
    rows = trial_rows(study, folder)
    write_trials_csv(rows, folder / "trials.csv")
    front_dir = folder / "frontier"
    front_dir.mkdir(exist_ok=True)
    for old in front_dir.glob("t*.yaml"):
        old.unlink()
    spent = study.user_attrs.get("spent", [])
    energy_j = sum(w.get("joules") or 0.0 for w in spent)
    estimate = any(w.get("estimate") for w in spent)
    judged = sum(1 for r in rows if not r["state"].startswith("=") and r["state"] != "interrupted")
    frontier_out = []
    for t in frontier:
        recipe = _recipe_of_trial(folder, t.number)
        (front_dir / f"t{t.number:03d}.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        o = t.user_attrs["outcome"]
        m = remeasured.get(t.number)
        # Per inference and its reference from one paired measurement: the re-measurement where there is one.
        src = m if m is not None and m.get("reference_per_inference_j") is not None else o
        costs = lifetime_costs(o["make_j"], src["per_inference_j"], src.get("reference_per_inference_j"),
                               s.inferences, energy_j, judged, estimate)
        frontier_out.append({"trial": t.number, "recipe": short_recipe(recipe), "drop": o["drop"], "bound": o["bound"],
                             "value": t.values[0], "energy_ratio": o["energy_ratio"], "make_j": o["make_j"],
                             "per_inference_j": o["per_inference_j"], "run": o["run"],
                             "payback_inferences": costs["payback_inferences"],
                             **({"lifetime": costs} if s.objective == "lifetime" else {}),
                             "remeasured": remeasured.get(t.number)})
    best = None
    if choice is not None:
        recipe = _recipe_of_trial(folder, choice)
        recipe["name"] = f"{search.name}-best"
        recipe["description"] = (f"chosen by green search {search.name} (trial {choice}) from space "
                                 f"{search.space.origin}: {short_recipe(recipe)}")
        (folder / "best.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        best = {"trial": choice, "recipe": short_recipe(recipe), "file": str(folder / "best.yaml"),
                "validation": remeasured.get(choice), "test": test}
        life = next(f for f in frontier_out if f["trial"] == choice).get("lifetime")
        measured = [f["lifetime"] for f in frontier_out if f.get("lifetime") and f["trial"] in remeasured]
        if life and measured and not any(c["pays_back"] for c in measured):
            search.notes.append(
                f"at {s.inferences:.3g} inferences no measured candidate pays back: the choice costs {life['total_j']:.3g} J "
                f"(making {life['make_j']:.3g} J, its share of the search {life['search_share_j']:.3g} J, serving "
                f"{life['use_j']:.3g} J) against {life['baseline_j']:.3g} J for serving the baseline")
    summary = {
        "name": search.name, "space": search.space.origin, "settings": {k: v for k, v in vars(s).items()},
        "objective": search._objective_words(), "trials": len(rows),
        "states": {st: sum(r["state"] == st for r in rows) for st in sorted({r["state"] for r in rows})},
        "frontier": frontier_out, "choice": best,
        "search_energy": {"joules": energy_j, "seconds": sum(w.get("seconds") or 0.0 for w in spent),
                          "source": spent[-1].get("source") if spent else None, "estimate": estimate,
                          "what": "every invocation of this search, trials and frontier re-measurement included"
                                  + (" (an estimate: no energy counter on this machine)" if estimate else "")},
        "wall_s_this_invocation": wall_s, "notes": search.notes,
        "machine": machine_info().model_dump(), "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(folder / "summary.json", summary)
    e = summary["search_energy"]
    title = (f"green search {search.name}: {len(rows)} trials, {e['seconds'] / 60:.0f} min of windows, "
             f"{e['joules'] / 3600:.3g} Wh{' (estimate)' if estimate else ''}")
    if s.objective == "lifetime":
        title += (f"\neach candidate: its steps' energy + {s.inferences:.3g} inferences + its share of the search "
                  f"({energy_j / max(1, judged):.3g} J, the same for all)")
    try:
        plot_search(rows, frontier_out, best, s, folder / "search.png", search._objective_words(), title)
    except Exception as exc:  # noqa: BLE001 - a chart must not lose a finished search
        search.notes.append(f"search.png not written: {exc}")
    return summary


def plot_search(rows: list[dict], frontier: list[dict], best: dict | None, settings: Any, path: Path,
                objective: str, title: str) -> None:
    """Every measured trial (drop vs objective), outside-budget ones grey at their drop, the frontier and the choice."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=130)
    inside = [r for r in rows if r["state"] == "within" and r["value"] is not None]
    outside = [r for r in rows if r["state"] == "outside"]
    ax.scatter([r["drop"] for r in inside], [r["value"] for r in inside], color="#2b7bba", label="within budget",
               zorder=3)
    lifetime = "lifetime" in objective
    for r in inside:  # under the lifetime objective, what making each candidate cost is the reason it wins or not
        label = f"t{r['trial']:03d}" + (f" make {r['make_j']:.3g} J" if lifetime and r["make_j"] is not None else "")
        ax.annotate(label, (r["drop"], r["value"]), xytext=(4, 3), textcoords="offset points", fontsize=7)
    if outside and inside:
        top = max(r["value"] for r in inside)
        ax.scatter([r["drop"] for r in outside], [top] * len(outside), color="#bbbbbb", marker="x",
                   label="outside budget (not energy-measured)", zorder=2)
    if frontier:
        ax.step([f["drop"] for f in sorted(frontier, key=lambda f: f["drop"])],
                [f["value"] for f in sorted(frontier, key=lambda f: f["drop"])], where="post", color="#2b7bba",
                alpha=0.4, lw=2, label="frontier")
    if best is not None:
        b = next(f for f in frontier if f["trial"] == best["trial"])
        ax.scatter([b["drop"]], [b["value"]], s=220, marker="*", color="#e8a33d", edgecolors="black",
                   label=f"choice t{best['trial']:03d}", zorder=4)
    ax.axvline(settings.max_drop, color="#c0392b", ls="--", lw=1, label=f"--max-drop {settings.max_drop:g}")
    ax.set_xlabel("validation drop below the baseline (points; lower is better \u2190)")
    ax.set_ylabel(objective + (" (ratio)" if "lifetime" not in objective else " (J)"))
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7.5, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def show_table(rows: list[dict], summary: dict | None, width: int = 80):
    """The trials at 80 columns: number, state, recipe, drop (bound), energy x, cost of making, objective."""
    from rich.table import Table

    table = Table(title="green search: trials", box=None, pad_edge=False, show_edge=False, expand=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("recipe", no_wrap=True, overflow="ellipsis", max_width=max(16, width - 50))
    table.add_column("drop(bnd)", justify="right", no_wrap=True)
    table.add_column("energy", justify="right", no_wrap=True)
    table.add_column("make J", justify="right", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    for r in rows:
        drop = f"{r['drop']:.2f}({r['bound']:.2f})" if r["drop"] is not None else ""
        table.add_row(str(r["trial"]), r["state"][:11], r["recipe"], drop,
                      f"{r['energy_ratio']:.2f}x" if r["energy_ratio"] is not None else "",
                      f"{r['make_j']:.3g}" if r["make_j"] is not None else "",
                      f"{r['value']:.3g}" if r["value"] is not None and r["state"] == "within" else "")
    return table
