"""Held-out evaluation: the likelihood of held-out slices under a prior, against two baselines.

Held-out slices are whole chromosomes or blocks of slices within chromosomes (``train.holdout``; buffer
slices next to held-out blocks are neither trained on nor scored). For every trait: the total and
per-SNP NLL of held-out slices under the trained prior; the same under the null prior (s = 0, sigma
fitted on training slices) and under a constant prior (one f and one sigma per trait, fitted on
training slices); h2 = sum of predicted f over every SNP of
the dataset; and, for simulated data, how well log f recovers the truth. Always the likelihood,
whatever objective trained the prior.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from ..data.reader import Dataset, SliceBatch
from ..likelihood import marginal_nll, null_nll

SliceKey = tuple[int, int]
#: (features (m, A), tracks or None) -> (log f (m, T), log sigma (T,)), both detached.
PriorFn = Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class SliceScores:
    """Sums over a set of slices, per trait (T,): NLL under the prior, NLL under the null, core SNPs."""

    nll: np.ndarray
    null: np.ndarray
    n_snps: np.ndarray
    n_slices: int


def prior_from_model(model: torch.nn.Module) -> PriorFn:
    """Wrap a :class:`PriorNet` as a detached prior function."""
    def fn(features, tracks):
        with torch.no_grad():
            return model(features, tracks).detach(), model.log_sigma.detach()
    return fn


def constant_prior(log_f: torch.Tensor, log_sigma: torch.Tensor) -> PriorFn:
    """The prior with one log f and one log sigma per trait."""
    def fn(features, tracks):
        return log_f[None, :].expand(features.shape[0], -1), log_sigma
    return fn


def score_slices(batches: Iterable[SliceBatch], prior: PriorFn, log_N: torch.Tensor, null_log_sigma: torch.Tensor,
                 method: str = "exact") -> SliceScores:
    """NLL of every batch under ``prior`` and under the null prior, summed per trait."""
    nll = nul = cnt = None
    k = 0
    for b in batches:
        with torch.no_grad():
            log_f, log_sigma = prior(b.features, b.tracks)
            dt = b.ld.dtype
            log_s = log_f.to(dt) + log_N.to(dt)[None, :]
            v = marginal_nll(b.ld, b.z, log_s, log_sigma.to(dt), method=method,
                             generator=torch.Generator().manual_seed(k)).nll.cpu().numpy()
            v0 = null_nll(b.ld, b.z, null_log_sigma.to(dt)).cpu().numpy()
        nll = v if nll is None else nll + v
        nul = v0 if nul is None else nul + v0
        cnt = np.full_like(v, b.n) if cnt is None else cnt + b.n
        k += 1
    T = len(log_N)
    zero = np.zeros(T)
    return SliceScores(nll=zero if nll is None else nll, null=zero if nul is None else nul,
                       n_snps=zero if cnt is None else cnt, n_slices=k)


def fit_null_log_sigma(batches: Iterable[SliceBatch], n_traits: int) -> torch.Tensor:
    """MLE of log sigma under the null prior from training slices: log(sum u^T u / sum r), per trait."""
    uu, r = np.zeros(n_traits), 0
    for b in batches:
        u = b.ld.whiten(b.z)
        uu += u.square().sum(0).cpu().numpy()
        r += b.ld.rank
    return torch.tensor(np.log(np.maximum(uu, 1e-300) / max(r, 1)), dtype=torch.float64)


def fit_constant_prior(batches: list[SliceBatch], log_N: torch.Tensor, init_log_f: torch.Tensor,
                       iters: int = 60, objective: str = "likelihood") -> tuple[torch.Tensor, torch.Tensor]:
    """(log f, log sigma) per trait minimising ``objective`` (likelihood: exact NLL; or ldsc) summed over
    the given slices, by L-BFGS."""
    from ..train.objective import slice_loss
    T = len(log_N)
    log_f = init_log_f.clone().to(torch.float64).requires_grad_(True)
    log_sigma = torch.zeros(T, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_f, log_sigma], lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")
    n_total = sum(b.n for b in batches) or 1

    def closure():
        opt.zero_grad()
        loss = torch.zeros((), dtype=torch.float64)
        for b in batches:
            lf = log_f[None, :].expand(b.m, -1)
            loss = loss + slice_loss(b, lf, log_sigma, log_N, objective, method="exact")[0]
        loss = loss / n_total
        loss.backward()
        return loss

    opt.step(closure)
    return log_f.detach(), log_sigma.detach()


def recovery(log_f_pred: np.ndarray, f_true: np.ndarray) -> dict:
    """Pearson r and RMSE of predicted log f against the true log f (SNPs with f_true > 0)."""
    ok = np.isfinite(f_true) & (f_true > 0) & np.isfinite(log_f_pred)
    if ok.sum() < 3:
        return {"pearson_r": float("nan"), "rmse": float("nan"), "n": int(ok.sum())}
    a, b = log_f_pred[ok], np.log(f_true[ok])
    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
    return {"pearson_r": r, "rmse": float(np.sqrt(np.mean((a - b) ** 2))), "n": int(ok.sum())}
