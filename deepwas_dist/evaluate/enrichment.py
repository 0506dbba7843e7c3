"""S-LDSC-style enrichment of a prior's per-SNP heritability in binary annotations, with block jackknife SEs.

For annotation a: Prop._SNPs = |a| / M, Prop._h2 = sum_{j in a} f_j / sum_j f_j, Enrichment = Prop._h2 /
Prop._SNPs. Enrichment_p is two-sided for Enrichment = 1 under a normal approximation, z = (Enrichment
- 1) / Enrichment_std_error.

Two jackknifes give the standard errors (:func:`table_from_replicates` takes the replicates of either):

- refit (the default of a run; :mod:`deepwas_dist.evaluate.jackknife`): the prior is re-fitted without
  each block of training slices and every replicate is computed on all SNPs. This is the uncertainty of
  the estimate.
- fixed (:func:`enrichment_table`): the fitted prior is held fixed and contiguous blocks of SNPs are
  deleted from the sums. It describes how consistently the fitted enrichment holds along the genome and
  ignores the uncertainty of the fit itself: on real chr22 height it calls most random annotations
  significant (p down to 1e-90), so it is kept for comparison only.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

COLUMNS = ["Category", "Prop._SNPs", "Prop._h2", "Prop._h2_std_error", "Enrichment", "Enrichment_std_error",
           "Enrichment_p"]


def ratios(f: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Prop._h2, Enrichment) per annotation for per-SNP h2 ``f`` (M,) and 0/1 annotations ``A`` (M, K)."""
    prop_snps = A.mean(0)
    prop_h2 = (A * f[:, None]).sum(0) / f.sum()
    return prop_h2, prop_h2 / np.where(prop_snps > 0, prop_snps, np.nan)


def jackknife_se(replicates: np.ndarray) -> np.ndarray:
    """Delete-one jackknife SE over axis 0 of (B, ...) replicates: sqrt((B-1)/B sum_b (x_b - mean x)^2)
    (NaN replicates ignored)."""
    x = np.asarray(replicates, dtype=np.float64)
    B = x.shape[0]
    return np.sqrt((B - 1) / B * np.nansum((x - np.nanmean(x, 0)) ** 2, 0))


def normal_p(estimate: np.ndarray, se: np.ndarray, null: float = 1.0) -> np.ndarray:
    """Two-sided normal p-values of ``estimate`` against ``null`` (0 SE: p = 0 unless estimate == null)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = np.where(se > 0, (estimate - null) / se, np.where(estimate == null, 0.0, np.inf))
    return np.array([math.erfc(abs(z) / math.sqrt(2)) if not np.isnan(z) else float("nan") for z in zs])


def table_from_replicates(f: np.ndarray, annotations: np.ndarray, names: list[str], loo_prop_h2: np.ndarray,
                          loo_enr: np.ndarray) -> pd.DataFrame:
    """The table of ``f`` (M,) with jackknife SEs from (B, K) delete-one-block replicates."""
    f = np.asarray(f, dtype=np.float64)
    A = np.asarray(annotations, dtype=np.float64)
    prop_h2, enr = ratios(f, A)
    se_h2, se_enr = jackknife_se(loo_prop_h2), jackknife_se(loo_enr)
    return pd.DataFrame({"Category": names, "Prop._SNPs": A.mean(0), "Prop._h2": prop_h2,
                         "Prop._h2_std_error": se_h2, "Enrichment": enr, "Enrichment_std_error": se_enr,
                         "Enrichment_p": normal_p(enr, se_enr)})[COLUMNS]


def _snp_blocks(M: int, n_blocks: int) -> np.ndarray:
    return np.linspace(0, M, int(min(n_blocks, M)) + 1).astype(int)


def enrichment_table(f: np.ndarray, annotations: np.ndarray, names: list[str], n_blocks: int = 200) -> pd.DataFrame:
    """The fixed-prior table for SNPs in genomic order: ``f`` (M,) per-SNP h2, ``annotations`` (M, A) 0/1;
    SEs from deleting each of ``n_blocks`` contiguous SNP blocks with the prior held fixed."""
    f = np.asarray(f, dtype=np.float64)
    A = np.asarray(annotations, dtype=np.float64)
    M = len(f)
    edges = _snp_blocks(M, n_blocks)
    B = len(edges) - 1
    loo_h2, loo_enr = np.empty((B, A.shape[1])), np.empty((B, A.shape[1]))
    for b in range(B):
        keep = np.ones(M, dtype=bool)
        keep[edges[b]:edges[b + 1]] = False
        loo_h2[b], loo_enr[b] = ratios(f[keep], A[keep])
    return table_from_replicates(f, A, names, loo_h2, loo_enr)


def fixed_h2_se(f: np.ndarray, n_blocks: int = 200) -> float:
    """Fixed-prior jackknife SE of h2 = sum f: delete each contiguous SNP block, rescale the rest to M SNPs."""
    f = np.asarray(f, dtype=np.float64)
    M = len(f)
    edges = _snp_blocks(M, n_blocks)
    reps = np.array([(f.sum() - f[lo:hi].sum()) * M / max(M - (hi - lo), 1) for lo, hi in itertools.pairwise(edges)])
    return float(jackknife_se(reps))
