"""Which machine made a figure: the CPU probe, its one-line summary, records and every view naming it."""

import json

import pytest
from test_report import _render, cpu_run, cpu_workdir_records

from green.machine import MachineInfo, _kernel_flags, machine_info, parse_cpuinfo
from green.records import read_record, write_record
from green.report import summarize

# First processors of /proc/cpuinfo as three EPYC/Xeon generations print them (flags shortened).
ZEN3 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
        "flags\t\t: fpu sse4_2 avx avx2 fma bmi2 sha_ni\nprocessor\t: 1\nmodel name\t: other\n")
ZEN4 = ("model name\t: AMD EPYC 9R14\nflags\t\t: avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 "
        "avx512_vnni avx_vnni\n")
SPR = "model name\t: Intel(R) Xeon(R) Platinum 8488C\nflags\t: avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"


@pytest.mark.parametrize("text, cpu, label", [
    (ZEN3, "AMD EPYC 7B13", "AVX2"),
    (ZEN4, "AMD EPYC 9R14", "AVX-512 VNNI/BF16"),
    (SPR, "Intel(R) Xeon(R) Platinum 8488C", "AMX INT8/BF16"),
    ("model name\t: Intel Core\nflags\t: avx2 avx_vnni\n", "Intel Core", "AVX2 VNNI"),
    ("model name\t: old\nflags\t: sse2\n", "old", "no AVX2"),
])
def test_cpuinfo_gives_the_model_and_the_kernel_deciding_isa(text, cpu, label):
    model, isa = parse_cpuinfo(text)
    assert model == cpu and MachineInfo(cpu=model, isa=isa).isa_label() == label
    assert "sha_ni" not in isa and "avx" not in isa  # only flags that pick a kernel


def test_py_cpuinfo_spellings_and_an_unreadable_isa():
    assert _kernel_flags(["AVX2", "avx512f", "avx512vnni", "avx512bf16", "amxtile"]) == [
        "avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"]
    assert parse_cpuinfo("model name\t: x\n") == ("x", None)  # no flags line: unknown, not "no AVX2"
    assert MachineInfo(cpu="x").summary() == "x \u00b7 ISA unknown"


def test_machine_info_here_counts_the_threads_used():
    import torch

    m = machine_info()
    assert m.cpu and m.cpu != "unknown" and m.isa is not None and m.torch_threads == torch.get_num_threads()
    assert m.summary() == f"{m.cpu} \u00b7 {m.isa_label()} \u00b7 {m.threads()} thread{'s' if m.threads() != 1 else ''}"
    assert m.torch_cpu_capability == torch.backends.cpu.get_cpu_capability() and m.onnxruntime
    # ORT's 0 is its default: one thread per physical core; an explicit pool is kept as set.
    assert machine_info(0).ort_intra_op_threads == (m.physical_cores or m.usable_cpus)
    assert machine_info(1).threads() == 1


ZEN4_INFO = MachineInfo(cpu="AMD EPYC 9R14", isa=["avx2", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16"],
                        torch_threads=2)


def test_record_round_trip_and_an_older_record_without_machine(tmp_path):
    rec = cpu_run("int8", 0.78, 126.0, 159.0, "2026-11-22T10:01:00+00:00", machine=ZEN4_INFO)
    path = write_record(tmp_path, rec)
    assert read_record(path).machine == ZEN4_INFO
    old = json.loads(path.read_text())
    del old["machine"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert read_record(tmp_path / "old.json").machine is None


def test_report_caption_terminal_and_html_name_the_machine(tmp_path):
    from green.report.html import page
    from green.report.render import plot_pareto

    recs = [r.model_copy(update={"machine": ZEN4_INFO}) for r in cpu_workdir_records()]
    entries = summarize(recs)
    line = "machine AMD EPYC 9R14 \u00b7 AVX-512 VNNI/BF16 \u00b7 2 threads"
    assert f"({line})" in plot_pareto(entries, tmp_path / "p.png", recs)["caption"]
    assert line in page(entries, recs)
    text = _render(entries, recs, 120)
    assert line in text.splitlines() and text.count("AVX-512") == 1  # its own footer line, once
    # Records from two machines: both named, so figures from each can be told apart.
    mixed = recs[:-1] + [recs[-1].model_copy(update={"machine": MachineInfo(cpu="AMD EPYC 7B13", isa=["avx2"],
                                                                            torch_threads=2)})]
    assert "AMD EPYC 7B13 \u00b7 AVX2 \u00b7 2 threads" in _render(summarize(mixed), mixed, 120)
    # Records without it (older greens) keep the caption they had.
    assert "machine" not in plot_pareto(summarize(cpu_workdir_records()), tmp_path / "q.png",
                                        cpu_workdir_records())["caption"]
