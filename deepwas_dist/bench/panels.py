"""Realistic LD matrices for benchmarks and tests.

``lowrank``: contiguous SNPs of the 1000 Genomes chr22 panel (378 people: rank <= 377).
``fullrank``: an msprime panel with 1.5x more individuals than SNPs at HapMap3-like density.
"""
from __future__ import annotations

import numpy as np

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
