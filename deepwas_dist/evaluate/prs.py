"""Polygenic scores from posterior effects, and their accuracy on people outside the GWAS.

The posterior mean of gamma_j = sqrt(N) beta_j (:mod:`deepwas_dist.posterior`, beta per standardised
genotype, each SNP from the slice where it is core: :func:`~deepwas_dist.evaluate.effects.posterior_arrays`)
gives the per-allele weight of A1

    w_j = E[gamma_j | z] / sqrt(N) / sqrt(2 p_j (1 - p_j)),      p_j the reference panel's MAF,

the BETA column of the effects files; a SNP without an estimate (core in no slice) gets 0. The score of a
person with G_ij copies of A1 is PRS_i = sum_j G_ij w_j. With genotypes standardised by the panel's
frequencies, x_ij = (G_ij - 2 p_j) / sqrt(2 p_j (1 - p_j)), sum_j x_ij E[beta_j | z] = PRS_i - const: the
two scorings differ by a constant, and the accuracy below ignores constants and scale:

    r^2(PRS, t) = corr(PRS, t)^2

against the true genetic value t = g or the phenotype t = y of the test cohort
(:mod:`~deepwas_dist.simulate.testcohort`).
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

#: Rows of genotypes converted to float64 at a time by :func:`polygenic_score`.
BLOCK_ROWS = 4096


def per_allele_weights(gamma_mean: np.ndarray, N: float, maf: np.ndarray) -> np.ndarray:
    """(M,) per-allele weights from (M,) posterior means of gamma, the GWAS size N and the panel MAF; NaN -> 0."""
    gamma_mean, maf = np.asarray(gamma_mean, dtype=np.float64), np.asarray(maf, dtype=np.float64)
    if gamma_mean.shape != maf.shape:
        raise InputError(f"posterior means {gamma_mean.shape} and MAF {maf.shape} must have one entry per SNP")
    w = gamma_mean / np.sqrt(float(N)) / np.sqrt(2.0 * maf * (1.0 - maf))
    return np.where(np.isfinite(w), w, 0.0)


def polygenic_score(genotypes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n,) PRS = G w for (n, M) allele counts G (any integer dtype) and (M,) or (M, K) weights ((n, K))."""
    G = np.asarray(genotypes)
    w = np.asarray(weights, dtype=np.float64)
    if G.ndim != 2 or G.shape[1] != w.shape[0]:
        raise InputError(f"genotypes {G.shape} and weights {w.shape} must share the SNP axis")
    out = np.empty((G.shape[0],) + w.shape[1:])
    for lo in range(0, G.shape[0], BLOCK_ROWS):
        out[lo:lo + BLOCK_ROWS] = G[lo:lo + BLOCK_ROWS].astype(np.float64) @ w
    return out


def r2(score: np.ndarray, target: np.ndarray) -> float:
    """Squared Pearson correlation of ``score`` and ``target`` ((n,) each); 0 for a constant score."""
    a, b = np.asarray(score, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 3:
        raise InputError(f"score {a.shape} and target {b.shape} must be (n,) with n >= 3")
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1] ** 2)
