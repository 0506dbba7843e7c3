"""S-LDSC-style enrichment of a prior's per-SNP heritability in binary annotations, with a block jackknife.

For annotation a: Prop._SNPs = |a| / M, Prop._h2 = sum_{j in a} f_j / sum_j f_j, Enrichment = Prop._h2 /
Prop._SNPs. Standard errors come from a delete-one-block jackknife over ``n_blocks`` contiguous genomic
blocks of SNPs, with the fitted prior held fixed: they describe how consistently the enrichment holds
along the genome, not the uncertainty of fitting the network (refitting it 200 times is not affordable).
Enrichment_p is two-sided for Enrichment = 1 under a normal approximation.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

COLUMNS = ["Category", "Prop._SNPs", "Prop._h2", "Prop._h2_std_error", "Enrichment", "Enrichment_std_error",
           "Enrichment_p"]


def _ratios(f: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prop_snps = A.mean(0)
    prop_h2 = (A * f[:, None]).sum(0) / f.sum()
    return prop_h2, prop_h2 / np.where(prop_snps > 0, prop_snps, np.nan)


def enrichment_table(f: np.ndarray, annotations: np.ndarray, names: list[str], n_blocks: int = 200) -> pd.DataFrame:
    """The enrichment table for SNPs in genomic order: ``f`` (M,) per-SNP h2, ``annotations`` (M, A) 0/1."""
    f = np.asarray(f, dtype=np.float64)
    A = np.asarray(annotations, dtype=np.float64)
    M = len(f)
    prop_h2, enr = _ratios(f, A)
    B = int(min(n_blocks, M))
    edges = np.linspace(0, M, B + 1).astype(int)
    loo_h2, loo_enr = np.empty((B, A.shape[1])), np.empty((B, A.shape[1]))
    for b in range(B):
        keep = np.ones(M, dtype=bool)
        keep[edges[b]:edges[b + 1]] = False
        loo_h2[b], loo_enr[b] = _ratios(f[keep], A[keep])
    jk = lambda x: np.sqrt((B - 1) / B * np.nansum((x - np.nanmean(x, 0)) ** 2, 0))  # noqa: E731
    se_h2, se_enr = jk(loo_h2), jk(loo_enr)
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = np.where(se_enr > 0, (enr - 1.0) / se_enr, np.where(enr == 1.0, 0.0, np.inf))
    p = np.array([math.erfc(abs(z) / math.sqrt(2)) if not np.isnan(z) else float("nan") for z in zs])
    return pd.DataFrame({"Category": names, "Prop._SNPs": A.mean(0), "Prop._h2": prop_h2,
                         "Prop._h2_std_error": se_h2, "Enrichment": enr, "Enrichment_std_error": se_enr,
                         "Enrichment_p": p})[COLUMNS]
