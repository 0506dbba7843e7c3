"""Throughput and memory of ``deepwas predict --annot`` (issue #14): variants/s, CPU time and peak RSS at each
size and chunk size, and the projection to 10M variants.

    python -m deepwas_dist.bench predict [--snps 200000 1000000 2000000] [--features 50]
                                         [--chunk-rows 100000 10000] [--json docs/results/bench_predict.json]

Untimed: a ``model.pt`` of an mlp/small prior on ``features`` annotations (random weights: the cost of a
forward pass does not depend on their values; standardisation as a trained run stores it) and, per size,
22 LDSC-style ``.annot.gz`` files (CHR BP SNP CM + the annotations, no alleles; chromosome sizes
proportional to GRCh37 lengths), 80% binary 0/1 annotations and 20% continuous with 4 significant digits.
Timed, per size and ``--chunk-rows``: ``python -m deepwas_dist.commands predict RUN --annot <22 files> --out DIR
--chunk-rows K`` as a child process,
measured with ``os.wait4`` (wall, user + system CPU) and :mod:`.own_peak` (peak RSS of that process alone,
reported by the child: ``wait4``'s would include this benchmark's own inputs). The ``startup`` row
is the same interpreter importing torch and the predict module and exiting: the part of the peak RSS that
does not depend on the data. Memory is bounded by the chunk (``--chunk-rows``), not by the variant count; a
chunk is at most one file, so ``largest`` (rows of the largest chunk) is what the peak RSS follows: with
chunks smaller than the files it is the same at every size. Projection to 10M: :func:`project`.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import torch

from ..models import build_prior
from ..models.registry import saved_prior

#: GRCh37 autosome lengths in Mb (chromosome sizes of the synthetic variants are proportional).
CHROM_MB = (249, 243, 198, 191, 181, 171, 159, 146, 141, 136, 135, 134, 115, 107, 102, 90, 81, 78, 59, 63, 48, 51)
PROJECT_TO = 10_000_000


def _model(path: str, n_features: int) -> list[str]:
    torch.manual_seed(0)
    names = [f"bin{i}" if i < int(0.8 * n_features) else f"cont{i}" for i in range(n_features)]
    net = build_prior("mlp", "small", n_features=n_features, n_traits=1)
    buf = io.BytesIO()
    torch.save(saved_prior(net, "mlp", "small", n_features, None, traits=["trait"], feature_names=names,
                           feature_mean=[0.2] * n_features, feature_std=[0.4] * n_features), buf)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "model.pt"), "wb") as fh:
        fh.write(buf.getvalue())
    return names


def _annots(folder: str, n: int, names: list[str], seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    sizes = np.floor(np.asarray(CHROM_MB) / sum(CHROM_MB) * n).astype(int)
    sizes[0] += n - sizes.sum()
    os.makedirs(folder, exist_ok=True)
    paths = []
    for c, m in enumerate(sizes, start=1):
        bp = np.sort(rng.choice(CHROM_MB[c - 1] * 1_000_000, size=m, replace=False)) + 1
        tab = {"CHR": np.full(m, c), "BP": bp, "SNP": [f"{c}:{b}" for b in bp], "CM": np.round(bp / 1e6, 4)}
        for name in names:
            tab[name] = (rng.random(m) < 0.2).astype(np.int8) if name.startswith("bin") else \
                np.round(rng.normal(size=m), 3)
        path = os.path.join(folder, f"synthetic.{c}.annot.gz")
        pd.DataFrame(tab).to_csv(path, sep="\t", index=False, compression={"method": "gzip", "compresslevel": 1})
        paths.append(path)
    return paths


def _measure(argv: list[str]) -> dict:
    """Run ``python argv`` (``["-m", module, ...]`` or ``["-c", code]``) as a child: its wall seconds, CPU
    seconds (user + system, from ``os.wait4``) and peak RSS in MiB, which the child reports itself through
    :mod:`.own_peak` (``wait4``'s maxrss would count this process's own memory: see there)."""
    with tempfile.NamedTemporaryFile(prefix="own-peak-", suffix=".txt", delete=False) as fh:
        report = fh.name
    try:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "deepwas_dist.bench.own_peak", report, *argv],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        err = p.stderr.read().decode()
        p.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"python {' '.join(argv[:5])} ... failed: {err[-2000:]}")
        with open(report) as fh:
            peak = int(fh.read())
    finally:
        os.unlink(report)
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mib": peak / 2**20}


def run(sizes: list[int], n_features: int = 50, chunk_rows: list[int] | int = 100_000, log=print) -> list[dict]:
    """One ``measured`` row per (size, chunk_rows), a ``startup`` row, and the ``projected`` row of the first
    ``chunk_rows`` (see :func:`project`)."""
    chunks = [chunk_rows] if isinstance(chunk_rows, int) else list(chunk_rows)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        run_dir = os.path.join(tmp, "run")
        names = _model(run_dir, n_features)
        start = _measure(["-c", "import torch, deepwas_dist.evaluate.predict"])
        rows.append({"kind": "startup", "snps": 0, **start})
        for n in sizes:
            t0 = time.perf_counter()
            paths = _annots(os.path.join(tmp, f"annot{n}"), n, names)
            annot = sum(os.path.getsize(p) for p in paths) / 2**20
            biggest = max(len(pd.read_csv(p, sep="\t", usecols=["SNP"])) for p in paths[:1])
            log(f"[bench predict] wrote {n:,} variants in 22 .annot.gz files ({time.perf_counter() - t0:.0f} s, "
                f"{annot:.0f} MiB), predicting ...")
            for k in chunks:
                out = os.path.join(tmp, f"out{n}-{k}")
                load = os.getloadavg()[0]
                r = _measure(["-m", "deepwas_dist.commands", "predict", run_dir, "--annot", *paths,
                              "--out", out, "--chunk-rows", str(k)])
                got = sum(os.path.getsize(os.path.join(out, "snpvar", f))
                          for f in os.listdir(os.path.join(out, "snpvar")))
                rows.append({"kind": "measured", "snps": n, "features": n_features, "chunk_rows": k, **r,
                             "largest_chunk": min(k, biggest), "snps_per_s": n / r["wall_s"], "annot_mib": annot,
                             "snpvar_mib": got / 2**20, "load_1min": load, "cpus": os.cpu_count()})
                shutil.rmtree(out)
    rows.append(project(rows))
    return rows


def project(rows: list[dict], n: int = PROJECT_TO) -> dict:
    """The ``projected`` row for ``n`` variants at the first measured ``chunk_rows``.

    CPU time: linear in the variants through that chunk size's two largest measured sizes (the start-up,
    torch's import, is the intercept; with one size the ``startup`` row is the other point). Wall time: that
    CPU time times the largest run's wall / CPU ratio (the machine's contention then; ~1 on a free core) --
    wall times themselves are too noisy on a shared machine to fit a slope to. Peak RSS: the largest run's,
    plus the memory per row of a chunk (from two chunk sizes at the largest size, when measured) times the
    rows by which the chunk at ``n`` (``chunk_rows``; a chunk is at most one file) exceeds the largest run's."""
    k = next(r["chunk_rows"] for r in rows if r["kind"] == "measured")
    pts = sorted((r for r in rows if r["kind"] == "measured" and r["chunk_rows"] == k), key=lambda r: r["snps"])
    a, b = (pts[-2], pts[-1]) if len(pts) > 1 else (next(r for r in rows if r["kind"] == "startup"), pts[-1])
    slope = (b["cpu_s"] - a["cpu_s"]) / (b["snps"] - a["snps"])
    cpu = b["cpu_s"] + slope * (n - b["snps"])
    same = [r for r in rows if r["kind"] == "measured" and r["snps"] == b["snps"]
            and r["largest_chunk"] != b["largest_chunk"]]
    per_row = 0.0
    if same:
        c = same[0]
        per_row = (b["peak_rss_mib"] - c["peak_rss_mib"]) / (b["largest_chunk"] - c["largest_chunk"])
    largest = min(k, int(b["largest_chunk"] * n / b["snps"]))
    out = {"kind": "projected", "snps": n, "features": b["features"], "chunk_rows": k, "largest_chunk": largest,
           "from_snps": [a["snps"], b["snps"]], "cpu_s": cpu, "cpu_us_per_snp": slope * 1e6,
           "wall_s": cpu * b["wall_s"] / b["cpu_s"], "wall_over_cpu": b["wall_s"] / b["cpu_s"],
           "peak_rss_mib": b["peak_rss_mib"] + per_row * (largest - b["largest_chunk"]),
           "rss_kib_per_chunk_row": per_row * 1024}
    out["snps_per_s"] = n / out["wall_s"]
    out["annot_mib"], out["snpvar_mib"] = (b[key] * n / b["snps"] for key in ("annot_mib", "snpvar_mib"))
    return out


def format_table(rows: list[dict]) -> str:
    out = ["kind            SNPs  chunk rows  largest   wall s    CPU s  peak RSS MiB   SNPs/s  annot MiB  snpvar MiB"]
    for r in rows:
        rate = f"{r['snps_per_s']:>9,.0f}" if "snps_per_s" in r else f"{'-':>9}"
        mib = f"{r['annot_mib']:>10,.0f}  {r['snpvar_mib']:>10,.0f}" if "annot_mib" in r else f"{'-':>10}  {'-':>10}"
        chunk = f"{r['chunk_rows']:>11,} {r['largest_chunk']:>8,}" if "chunk_rows" in r else f"{'-':>11} {'-':>8}"
        out.append(f"{r['kind']:<10}{r['snps']:>10,} {chunk} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
                   f"{r['peak_rss_mib']:>13,.0f}{rate} {mib}")
    return "\n".join(out)
