"""The scale benchmark's result as text: the stage table, the cost model, the projections; as Markdown for
the README (between :data:`BEGIN` and :data:`END`, replaced in place by :func:`update_readme`)."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .scale_data import size_label

BEGIN, END = "<!-- bench-scale:begin -->", "<!-- bench-scale:end -->"


def _mb(x: float) -> str:
    return f"{x / 2 ** 20:,.0f}"


def stage_rows(res: dict) -> list[list[str]]:
    """[size, stage, wall s, CPU s, peak MiB] per measured size and stage."""
    out = []
    for r in res["sizes"]:
        for st in r["stages"]:
            name = st["name"] + (" (cached: cost when built)" if st["name"] == "simulate" and r["cached"] else "")
            out.append([r["size"], name, f"{st['wall_s']:.1f}", f"{st['cpu_s']:.1f}", _mb(st["peak_rss_bytes"])])
    return out


def size_rows(res: dict) -> list[list[str]]:
    """[size, SNPs, slices, dataset MiB, SNPs/s/worker (wall), (CPU), MiB read epoch 1, later] per size."""
    return [[r["size"], f"{r['snps']:,}", f"{r['slices']:,}", _mb(r["dataset_bytes"]),
             f"{r['snps_per_s_per_worker']:,.0f}", f"{r['snps_per_cpu_s_per_worker']:,.0f}",
             _mb(r["bytes_read_first_epoch"]), _mb(r["bytes_read_per_later_epoch"])] for r in res["sizes"]]


def projection_rows(res: dict) -> list[list[str]]:
    return [[size_label(p["snps"]), f"{p['genome_mb']:,.0f}", str(p["rank_cap"]), str(p["workers"]), str(p["slices"]),
             f"{p['m']:,}", f"{p['r']:,}", f"{p['slice_s']:.3f}", f"{p['compute_s']:,.1f}", f"{p['allreduce_s']:,.1f}",
             f"{p['epoch_s']:,.1f}"] for p in res["projections"]]


STAGE_HEAD = ["size", "stage", "wall s", "CPU s", "peak MiB"]
SIZE_HEAD = ["size", "SNPs", "slices", "dataset MiB", "SNPs/s/worker", "SNPs/CPU-s", "MiB read ep.1",
             "MiB read later"]
PROJ_HEAD = ["SNPs (projected)", "genome Mb", "rank cap", "workers", "slices", "m", "r", "slice CPU s", "compute s",
             "all-reduce s", "epoch s"]


def _text(head: list[str], rows: list[list[str]]) -> str:
    w = [max(len(x) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(c.rjust(n) for c, n in zip(line, w)) for line in [head, *rows])


def _md(head: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] +
                     ["| " + " | ".join(r) + " |" for r in rows])


def model_line(res: dict) -> str:
    cm = res["cost_model"]
    terms = " + ".join(f"{c:.3g} {t}" for t, c in zip(cm["terms"], cm["coef"]) if c > 0) or "0"
    return (f"t(m, r, T) = {terms} CPU s  (R^2 {cm['r2']:.3f}, median |rel. residual| "
            f"{cm['median_abs_rel_residual']:.0%}, max {cm['max_abs_rel_residual']:.0%}, {cm['n']} slice timings); "
            f"epoch = {cm['epoch_overhead']:.2f} x sum of slices (calibrated on {cm['calibrated_on']}); "
            f"all-reduce {cm['allreduce_step_s'] * 1e3:.1f} ms/step at 2 workers x log2(w)")


def format_report(res: dict) -> str:
    ld = res["load"]
    return "\n\n".join([
        _text(STAGE_HEAD, stage_rows(res)), _text(SIZE_HEAD, size_rows(res)), model_line(res),
        _text(PROJ_HEAD, projection_rows(res)),
        f"machine: {ld['start']['cores']} cores, load average {ld['start']['loadavg_1m']:.1f} at the start and "
        f"{ld['end']['loadavg_1m']:.1f} at the end; every projected row is a projection, not a measurement"])


def markdown(res: dict, command: str) -> str:
    """The README's part: command, measured tables, cost model, projections."""
    ld = res["load"]
    return "\n\n".join([
        f"```\n{command}\n```", "Measured (CPU, one worker, one torch thread):", _md(STAGE_HEAD, stage_rows(res)),
        _md(SIZE_HEAD, size_rows(res)), f"Cost model: `{model_line(res)}`",
        "Projected epoch time (a model, not a measurement):", _md(PROJ_HEAD, projection_rows(res)),
        f"Machine: {ld['start']['cores']} cores shared with other jobs, load average "
        f"{ld['start']['loadavg_1m']:.1f} at the start and {ld['end']['loadavg_1m']:.1f} at the end."])


def update_readme(path: str | Path, text: str) -> None:
    """Replace what lies between :data:`BEGIN` and :data:`END` in ``path`` with ``text``."""
    p = Path(path)
    doc = p.read_text()
    if BEGIN not in doc or END not in doc:
        raise InputError(f"{p}: no {BEGIN} ... {END} markers to put the scale table between")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    p.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
