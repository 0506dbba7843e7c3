"""Training throughput with 1, 2, ... CPU workers on the same data, and the scaling efficiency.

    python -m deepwas_dist.bench training [--workers 1 2] [--epochs 4] [--data URL] [--json FILE]

Each configuration trains the same prior on the same slices; throughput is core SNPs scored per
second of step time (median over epochs after the first, which pays for reading slices).
Efficiency at w workers = throughput(w) / (w * throughput(1)).
"""
from __future__ import annotations

import statistics
import tempfile
import time

from ..train.config import TrainConfig
from ..train.run import run_training


def run_benchmark(workers: list[int], epochs: int = 4, data: str | None = None, model: str = "mlp",
                  size: str = "small", method: str = "auto", log=print) -> list[dict]:
    """One row per worker count: SNPs/s, slices/s, efficiency against the first count."""
    rows = []
    with tempfile.TemporaryDirectory() as store:
        for w in workers:
            cfg = TrainConfig(data=data, workers=w, epochs=max(epochs, 2), storage=store, name=f"bench-w{w}",
                              model=model, size=size, method=method, eval_every=0, log_every_epoch=False)
            t0 = time.perf_counter()
            hist = run_training(cfg, log=lambda *_: None, evaluate=False)["history"][1:]
            rows.append({"workers": w, "snps_per_s": statistics.median(h["snps_per_s"] for h in hist),
                         "slices_per_s": statistics.median(h["slices_per_s"] for h in hist),
                         "epoch_s": statistics.median(h["seconds"] for h in hist),
                         "wall_s": time.perf_counter() - t0})
            log(f"  {w} worker(s): {rows[-1]['snps_per_s']:,.0f} SNPs/s")
    base = rows[0]["snps_per_s"] / rows[0]["workers"]
    for r in rows:
        r["efficiency"] = r["snps_per_s"] / (r["workers"] * base)
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'workers':>8}{'SNPs/s':>12}{'slices/s':>10}{'epoch s':>9}{'efficiency':>12}"
    return "\n".join([head] + [f"{r['workers']:>8}{r['snps_per_s']:>12,.0f}{r['slices_per_s']:>10.1f}"
                               f"{r['epoch_s']:>9.2f}{r['efficiency']:>11.0%}" for r in rows])
