"""Posterior effect sizes of every SNP under the trained prior, written as PLINK score files.

For each slice and trait, :func:`deepwas_dist.posterior.posterior_effects` gives E[gamma | z] and
Var[gamma | z] (gamma = sqrt(N) beta, beta per standardised genotype) under the prior's f, sigma and
lambda; each SNP's estimate comes from the slice where it is core (see that module for why). SNPs that
are core in no slice (core SNPs without a z-score for some trait are demoted to flanks) get NA.

    <run>/effects/<trait>.<chr>.effects.gz   SNP A1 BETA BETA_STD POSTERIOR_SD CHR BP A2

BETA is the per-allele effect of A1 in phenotype standard deviations, beta / sqrt(2 p (1 - p)) with p the
panel's allele frequency (MAF: the scale is symmetric in p); BETA_STD the effect per standardised genotype;
POSTERIOR_SD the posterior sd of BETA. The first three columns are what ``plink2 --score FILE 1 2 3
header`` reads, so a polygenic score is one PLINK call away.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch

from ..data import schema as S
from ..data.reader import SliceBatch
from ..posterior import posterior_effects
from .heldout import PriorFn

EFFECT_COLUMNS = ("SNP", "A1", "BETA", "BETA_STD", "POSTERIOR_SD", "CHR", "BP", "A2")


def posterior_arrays(batches: Iterable[SliceBatch], prior: PriorFn, log_N: torch.Tensor,
                     n_snps: dict[int, int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per chromosome: (mean, var) of gamma, each (M_c, T), NaN where a SNP is core in no slice."""
    return batch_posterior_arrays(batches, lambda b: prior(b.features, b.tracks), log_N, n_snps)


def batch_posterior_arrays(batches: Iterable[SliceBatch], prior_of: Callable[[SliceBatch], tuple],
                           log_N: torch.Tensor, n_snps: dict[int, int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`posterior_arrays` with the prior given per slice: ``prior_of(batch)`` -> (log f (m, T),
    log sigma (T,), log lambda (T,) or None), e.g. a simulation's true f (``batch.f_true``)."""
    T = int(log_N.shape[0])
    out = {c: (np.full((m, T), np.nan), np.full((m, T), np.nan)) for c, m in n_snps.items()}
    for b in batches:
        log_f, log_sigma, log_lambda = prior_of(b)
        dt = b.ld.dtype
        log_s = log_f.to(dt) + log_N.to(dt)[None, :]
        post = posterior_effects(b.ld, b.z, log_s, log_sigma.to(dt),
                                 log_lambda=None if log_lambda is None else log_lambda.to(dt)).core_only()
        rows = b.snp_index[b.ld.core_mask.cpu().numpy()]
        mean, var = out[b.chrom]
        mean[rows], var[rows] = post.mean.cpu().numpy(), post.var.cpu().numpy()
    return out


def effects_table(snps: pd.DataFrame, mean: np.ndarray, var: np.ndarray, N: float) -> pd.DataFrame:
    """One trait's score-file table for one chromosome from its gamma moments (M_c,) and GWAS size N."""
    p = snps[S.MAF].to_numpy(dtype=np.float64)
    scale = np.sqrt(2.0 * p * (1.0 - p))
    beta_std = mean / np.sqrt(N)
    return pd.DataFrame({"SNP": snps[S.SNP].to_numpy(), "A1": snps[S.A1].to_numpy(), "BETA": beta_std / scale,
                         "BETA_STD": beta_std, "POSTERIOR_SD": np.sqrt(var / N) / scale,
                         "CHR": snps[S.CHR].to_numpy(), "BP": snps[S.BP].to_numpy(), "A2": snps[S.A2].to_numpy()},
                        columns=list(EFFECT_COLUMNS))
