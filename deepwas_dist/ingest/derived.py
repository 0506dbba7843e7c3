"""Annotations computable from a reference panel alone, for data that comes without functional annotations.

They follow the LD-related annotations of the S-LDSC baseline-LD model (Gazal et al. 2017), which
explain much of heritability's variation across SNPs:
- MAF: log10 MAF and five MAF-bin indicators (low-frequency SNPs carry different per-SNP h2);
- LD score: log of the bias-corrected LD score in a +-1 cM window (+-1 Mb without a genetic map),
  and an indicator of the top LD-score quintile (SNPs in high LD have lower per-SNP h2 under selection);
- recombination rate: log(1 + cM/Mb) over +-100 kb from the genetic map, and its top-quintile indicator;
- SNP density: log of the number of panel SNPs within +-100 kb.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.schema import BP, CM, MAF, SNP
from ..errors import InputError
from ..slice import unbiased_r2

MAF_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5 + 1e-9)


def window_ld_scores(X: np.ndarray, pos: np.ndarray, half_window: float, block: int = 1024) -> np.ndarray:
    """LD score of every SNP: sum over SNPs within ``half_window`` (units of ``pos``) of the bias-corrected
    r^2 = r^2 - (1 - r^2) / (n - 2), computed from standardised genotypes X (n, M) in column blocks."""
    n, M = X.shape
    if len(pos) != M:
        raise InputError(f"positions ({len(pos)}) and genotype columns ({M}) differ")
    out = np.zeros(M)
    for lo in range(0, M, block):
        hi = min(M, lo + block)
        a = int(np.searchsorted(pos, pos[lo] - half_window, side="left"))
        b = int(np.searchsorted(pos, pos[hi - 1] + half_window, side="right"))
        r = X[:, lo:hi].T @ X[:, a:b] / n
        r2 = r * r
        r2 = unbiased_r2(r2, n)
        near = np.abs(pos[lo:hi, None] - pos[None, a:b]) <= half_window
        out[lo:hi] = (r2 * near).sum(1)
    return out


def _count_within(pos: np.ndarray, half: float) -> np.ndarray:
    return np.searchsorted(pos, pos + half, side="right") - np.searchsorted(pos, pos - half, side="left")


def _top_quintile(x: np.ndarray) -> np.ndarray:
    return (x >= np.quantile(x, 0.8)).astype(np.float64)


def derived_annotations(snps: pd.DataFrame, ld_scores: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    """(DataFrame SNP + annotations, annotation names) for one chromosome's SNP table (ordered by BP)."""
    for col in (SNP, BP, MAF):
        if col not in snps.columns:
            raise InputError(f"derived annotations need the SNP table column {col}")
    bp = snps[BP].to_numpy(np.float64)
    maf = np.clip(snps[MAF].to_numpy(np.float64), 1e-4, 0.5)
    out = {SNP: snps[SNP].to_numpy(), "log10_maf": np.log10(maf)}
    for i in range(len(MAF_EDGES) - 1):
        out[f"maf_bin_{i}"] = ((maf >= MAF_EDGES[i]) & (maf < MAF_EDGES[i + 1])).astype(np.float64)
    lds = np.log(np.clip(ld_scores, 1.0, None))
    out["log_ld_score"] = lds
    out["high_ld"] = _top_quintile(lds)
    if CM in snps.columns and snps[CM].notna().all() and snps[CM].to_numpy().max() > 0:
        cm = snps[CM].to_numpy(np.float64)
        lo = np.interp(bp - 1e5, bp, cm)
        hi = np.interp(bp + 1e5, bp, cm)
        rate = np.log1p(np.clip(hi - lo, 0, None) / 0.2)          # cM per Mb over 200 kb
        out["log_recomb_rate"] = rate
        out["high_recomb"] = _top_quintile(rate)
    out["log_snp_density"] = np.log(_count_within(bp, 1e5).astype(np.float64))
    df = pd.DataFrame(out)
    return df, [c for c in df.columns if c != SNP]
