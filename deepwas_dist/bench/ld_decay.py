"""How far LD reaches: the real 1000 Genomes European chr22 panel against each simulated population history.

For every SNP j, its LD score within distance bin [a, b) is sum over SNPs k with a < |bp_j - bp_k| <= b
of the bias-corrected r^2_jk - (1 - r^2_jk) / (n - 2) (LDSC's correction, so that unlinked pairs add
nothing on average). The table gives the mean over SNPs per bin and each bin's share of the LD score
within 4 Mb: the share is independent of SNP density, so panels of different density compare. The
simulated panels have the real panel's size and a uniform 1 cM/Mb map; chr22's map averages about
1.9 cM/Mb, so in base pairs real LD is if anything shorter than at 1 cM/Mb.

    python -m deepwas_dist.bench ld-decay [--seeds 3] [--length-mb 12] [--json FILE]
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..ingest.plink import read_panel
from ..realdata import panel_prefix
from ..simulate.demography import HISTORIES
from ..simulate.genotypes import simulate_panel
from ..slice import unbiased_r2

#: Bin edges in kb; the first bin excludes the SNP itself.
EDGES_KB = (0, 50, 100, 250, 500, 1000, 2000, 4000)


def binned_ld_scores(X: np.ndarray, pos_kb: np.ndarray, edges=EDGES_KB, block: int = 512) -> np.ndarray:
    """(bins,) mean over SNPs of the bias-corrected LD score in each distance bin, from standardised
    genotypes X (n, M) with SNP positions ``pos_kb`` (sorted)."""
    n, M = X.shape
    out = np.zeros(len(edges) - 1)
    hi_kb = edges[-1]
    for lo in range(0, M, block):
        hi = min(M, lo + block)
        a = int(np.searchsorted(pos_kb, pos_kb[lo] - hi_kb, side="left"))
        b = int(np.searchsorted(pos_kb, pos_kb[hi - 1] + hi_kb, side="right"))
        r2 = unbiased_r2(np.square(X[:, lo:hi].T @ X[:, a:b] / n), n)
        d = np.abs(pos_kb[lo:hi, None] - pos_kb[None, a:b])
        idx = np.searchsorted(np.asarray(edges, dtype=float), d, side="left") - 1   # (a, b] -> bin
        ok = (d > 0) & (idx >= 0) & (idx < len(edges) - 1)
        out += np.bincount(idx[ok], weights=r2[ok], minlength=len(edges) - 1)
    return out / M


def _row(name: str, scores: np.ndarray, snps_per_kb: float, spread: np.ndarray | None = None) -> dict:
    share = scores / scores.sum()
    return {"panel": name, "snps_per_kb": float(snps_per_kb), "ld_score": scores.tolist(),
            "share": share.tolist(), "share_beyond_500kb": float(share[4:].sum()),
            "share_beyond_1mb": float(share[5:].sum()),
            "share_beyond_500kb_sd": None if spread is None else float(spread[0]),
            "share_beyond_1mb_sd": None if spread is None else float(spread[1])}


def run(seeds: int = 3, length_mb: float = 12.0) -> list[dict]:
    """Rows for the real panel (when ../shared/data has it) and every history in ``HISTORIES``."""
    rows, n = [], 378
    prefix = panel_prefix()
    if prefix is not None:
        panel = read_panel(str(prefix), maf_min=0.01)
        n = panel.n_ref
        X = panel.standardized(0, panel.n_snps)
        bp = panel.snps["BP"].to_numpy(np.float64) / 1e3
        rows.append(_row(f"1000G EUR chr22 (real, n={n})", binned_ld_scores(X, bp), len(bp) / (bp[-1] - bp[0])))
    if seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {seeds}")
    for name in HISTORIES:
        per_seed, density = [], []
        for seed in range(seeds):
            p = simulate_panel(n, chroms=(1,), length_mb=length_mb, seed=seed, demography=name)[0]
            bp = p.snps["BP"].to_numpy(np.float64) / 1e3
            per_seed.append(binned_ld_scores(p.standardized(), bp))
            density.append(len(bp) / (bp[-1] - bp[0]))
        shares = np.array([s / s.sum() for s in per_seed])
        spread = np.array([shares[:, 4:].sum(1).std(ddof=1), shares[:, 5:].sum(1).std(ddof=1)]) if seeds > 1 \
            else None
        rows.append(_row(f"msprime {name} (n={n}, {seeds} x {length_mb:g} Mb)", np.mean(per_seed, 0),
                         float(np.mean(density)), spread))
    return rows


def format_table(rows: list[dict]) -> str:
    bins = [f"{a}-{b} kb" for a, b in zip(EDGES_KB[:-1], EDGES_KB[1:])]
    head = "| panel | SNPs/kb | " + " | ".join(bins) + " | share > 500 kb | share > 1 Mb |"
    lines = [head, "|" + "---|" * (len(bins) + 4)]
    for r in rows:
        sd5 = "" if r["share_beyond_500kb_sd"] is None else f" ± {r['share_beyond_500kb_sd']:.1%}"
        sd1 = "" if r["share_beyond_1mb_sd"] is None else f" ± {r['share_beyond_1mb_sd']:.1%}"
        cells = " | ".join(f"{v:.2f}" for v in r["ld_score"])
        lines.append(f"| {r['panel']} | {r['snps_per_kb']:.2f} | {cells} | {r['share_beyond_500kb']:.1%}{sd5} | "
                     f"{r['share_beyond_1mb']:.1%}{sd1} |")
    return "\n".join(lines)
