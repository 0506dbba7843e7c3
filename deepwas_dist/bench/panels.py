"""Realistic LD matrices for benchmarks and tests.

``lowrank``: contiguous SNPs of the 1000 Genomes chr22 panel (378 people: rank <= 377).
``fullrank``: an msprime panel with 1.5x more individuals than SNPs at HapMap3-like density.
``synthetic``: random low-rank plus banded (AR(1)) LD, built directly on any device in seconds at
UK Biobank slice sizes (m = 12,000), where an msprime panel would take minutes (``bench gpu``).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..ingest.plink import ld_matrix, read_panel
from ..realdata import panel_prefix
from ..simulate.genotypes import simulate_panel

#: msprime megabases per SNP at the simulator's default density (about 1,800 SNPs per 5 Mb).
_MB_PER_SNP = 5.0 / 1500


def lowrank_ld(m: int, start: int = 0) -> np.ndarray:
    """(m, m) LD of ``m`` contiguous 1000G chr22 SNPs from SNP index ``start``."""
    prefix = panel_prefix()
    if prefix is None:
        raise InputError("the 1000G panel is not in ../shared/data (set DEEPWAS_SHARED_DATA)")
    panel = read_panel(str(prefix), maf_min=0.01)
    if start + m > panel.n_snps:
        raise InputError(f"the 1000G chr22 panel has {panel.n_snps} SNPs; cannot take {m} from {start}")
    return ld_matrix(panel.standardized(start, start + m))


def fullrank_ld(m: int, seed: int = 1, individuals_per_snp: float = 1.5) -> np.ndarray:
    """(m, m) LD from a simulated panel with ``individuals_per_snp * m`` people (full rank)."""
    n = int(np.ceil(individuals_per_snp * m))
    length = m * _MB_PER_SNP
    while True:
        chrom = simulate_panel(n_individuals=n, chroms=(1,), length_mb=length, seed=seed)[0]
        if chrom.n_snps >= m:
            return ld_matrix(chrom.standardized()[:, :m])
        length *= 1.2 * m / max(chrom.n_snps, 1)


def middle_third_core(m: int) -> np.ndarray:
    """(m,) bool mask of the middle third: the core geometry the benchmarks use."""
    core = np.zeros(m, dtype=bool)
    core[m // 3: m // 3 + max(m // 3, 1)] = True
    return core


def synthetic_ld(m: int, seed: int = 0, device: torch.device | str = "cpu", rho: float = 0.9,
                 lowrank_share: float = 0.3, snps_per_factor: int = 20) -> torch.Tensor:
    """(m, m) float64 LD on ``device``: (1 - w) rho^|i-j| + w F F^T (w = ``lowrank_share``).

    rho^|i-j| is the AR(1) correlation (positive definite: LD decaying over about 1 / (1 - rho) SNPs);
    F (m, m / ``snps_per_factor``) has Gaussian entries and unit-norm rows (long-range low-rank LD). The
    diagonal is 1 and every principal block is full rank, so a middle-third core keeps r = n.
    """
    g = torch.Generator(device="cpu").manual_seed(seed)
    k = max(1, m // snps_per_factor)
    F = torch.randn(m, k, generator=g, dtype=torch.float64).to(device)
    F = F / F.norm(dim=1, keepdim=True)
    i = torch.arange(m, device=device, dtype=torch.float64)
    R = torch.abs(i[:, None] - i[None, :])
    R = R.mul_(float(np.log(rho))).exp_().mul_(1.0 - lowrank_share)     # in place: one m x m buffer
    R.addmm_(F, F.T, alpha=lowrank_share)
    R.diagonal().fill_(1.0)
    return 0.5 * (R + R.T)
