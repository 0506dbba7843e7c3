"""End to end at genome scale: the user's command on a scale-benchmark genome, measured from outside.

    python -m deepwas_dist.bench e2e [--size 1m] [--workers 2] [--epochs 20] [--jackknife fixed]
                                     [--json docs/results/bench_e2e.json]

The genome is :mod:`.scale_data`'s (built, or reused from its cache, with the simulate stage's measured
cost). Then ``python -m deepwas_dist.commands train --data GENOME --workers W --epochs E --jackknife J``
runs as a user runs it (Ray Train CPU workers on a local Ray, evaluation and outputs in the driver), in a
subprocess whose whole process tree is sampled from ``/proc`` once a second (:mod:`.proctree`): wall
time, CPU seconds summed over the tree's processes, and each process's peak resident memory (VmHWM),
largest first; its driver, Ray Train workers and Ray's own processes are named by their command lines.
The run's metrics.json gives its per-epoch times, h2 and held-out score. Budget of issue #12, 1M SNPs on
2 CPU workers: 20 epochs plus evaluation and outputs under 30 minutes, every process under 8 GB.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from .proctree import TreeSampler
from .scale_data import ScaleDataSpec, build_or_reuse, size_label
from .stages import machine_load

#: What "every process" must stay under (bytes), and the time budget (seconds), at 1M SNPs.
PEAK_BUDGET, WALL_BUDGET = 8 * 2 ** 30, 30 * 60


def run_sampled(cmd: list[str], interval: float = 1.0, env: dict | None = None) -> dict:
    """Run ``cmd``; {rc, wall_s, cpu_s, processes: [{pid, cmd, peak_rss_bytes, cpu_s}] largest peak first}
    (:class:`~.proctree.TreeSampler`; a process that lives under ``interval`` may be missed)."""
    t0 = time.perf_counter()
    sampler = TreeSampler(interval)
    try:
        rc = subprocess.Popen(cmd, env=env).wait()
    finally:
        sampler.stop()
    rows = sampler.processes()
    return {"rc": rc, "wall_s": time.perf_counter() - t0, "cpu_s": sum(r["cpu_s"] for r in rows), "processes": rows}


def run(size: int, workers: int = 2, epochs: int = 20, jackknife: str = "fixed", root: str | None = None,
        data: dict | None = None, log: Callable[[str], None] = print) -> dict:
    """Build or reuse the genome of ``size`` SNPs, train on it with the CLI, and return the measurements."""
    built = build_or_reuse(ScaleDataSpec(size, **(data or {})), root, log=log)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as store:
        name = f"e2e-{size_label(size)}"
        cmd = [sys.executable, "-m", "deepwas_dist.commands", "train", "--data", built.url, "--workers", str(workers),
               "--epochs", str(epochs), "--jackknife", jackknife, "--storage", store, "--name", name]
        log(f"[e2e] {' '.join(cmd[1:])}")
        load0 = machine_load()
        res = run_sampled(cmd)
        metrics_path = Path(store) / name / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    if res["rc"] != 0:
        log(f"[e2e] the train command failed (exit {res['rc']}); its measurements are kept")
    history = metrics.get("history", [])
    traits = {t: {k: m.get(k) for k in ("h2", "sigma", "heldout_nll_per_snp", "improvement_vs_null_per_snp",
                                        "improvement_vs_constant_per_snp")}
              for t, m in metrics.get("traits", {}).items()}
    peak = max((r["peak_rss_bytes"] for r in res["processes"]), default=0)
    return {"size": size_label(size), "snps": built.snps, "slices": built.slices, "dataset": built.url,
            "dataset_bytes": built.dataset_bytes, "simulate": built.simulate.to_dict(), "cached": built.cached,
            "workers": workers, "epochs": epochs, "jackknife": jackknife, "command": " ".join(cmd[1:]),
            "rc": res["rc"], "wall_s": res["wall_s"], "cpu_s": res["cpu_s"], "peak_rss_bytes": peak,
            "within_budget": {"wall": res["wall_s"] < WALL_BUDGET, "peak": peak < PEAK_BUDGET},
            "epoch_s": [h.get("seconds") for h in history], "traits": traits, "processes": res["processes"][:12],
            "load": {"start": load0, "end": machine_load()}}


def format_report(r: dict) -> str:
    ep = [s for s in r["epoch_s"] if s is not None]
    lines = [f"{r['size']}: {r['snps']:,} SNPs, {r['slices']:,} slices, {r['dataset_bytes'] / 2 ** 30:.2f} GiB; "
             f"simulate {r['simulate']['wall_s']:.0f} s wall{' (cached)' if r['cached'] else ''}",
             f"train + evaluate + outputs, {r['workers']} CPU workers, {r['epochs']} epochs, --jackknife "
             f"{r['jackknife']}: exit {r['rc']}, wall {r['wall_s']:.0f} s ({r['wall_s'] / 60:.1f} min), CPU "
             f"{r['cpu_s']:.0f} s, largest process peak {r['peak_rss_bytes'] / 2 ** 30:.2f} GiB"]
    if ep:
        later = sorted(ep[1:] or ep)
        lines.append(f"epochs: first {ep[0]:.1f} s, later median {later[len(later) // 2]:.1f} s, sum {sum(ep):.0f} s")
    for t, m in r["traits"].items():
        lines.append(f"trait {t}: h2 {m['h2']}, sigma {m['sigma']}")
    lines.append("processes (peak RSS, CPU s, command):")
    lines += [f"  {p['peak_rss_bytes'] / 2 ** 20:8,.0f} MiB {p['cpu_s']:8.1f}  {p['cmd'][:90]}"
              for p in r["processes"][:8]]
    return "\n".join(lines)
