"""Held-out evaluation: the likelihood of held-out slices under a prior, against two baselines.

Held-out slices are whole chromosomes or blocks of slices within chromosomes (``train.holdout``; buffer
slices next to held-out blocks are neither trained on nor scored). For every trait: the total and
per-SNP NLL of held-out slices under the trained prior; the same under the run's null prior
(:func:`fit_run_null`, the one baseline of every "vs null" figure) and under a constant prior (one f and
one sigma (and lambda) per trait, fitted on training slices); h2 = sum of predicted f over every SNP of
the dataset; and, for simulated data, how well log f recovers the truth. Always the likelihood,
whatever objective trained the prior.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from ..data.reader import SliceBatch
from ..likelihood import marginal_nll, null_nll
from ..mismatch import LAMBDA_INIT, floored_log_lambda
from ..settings import MismatchSetting
from .objective import slice_loss

SliceKey = tuple[int, int]
#: (features (m, A), tracks or None) -> (log f (m, T), log sigma (T,), log lambda (T,) or None), detached.
PriorFn = Callable[[torch.Tensor, torch.Tensor | None],
                   tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]


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
            ll = model.log_lambda() if hasattr(model, "log_lambda") else None
            return model(features, tracks).detach(), model.log_sigma.detach(), None if ll is None else ll.detach()
    return fn


def constant_prior(log_f: torch.Tensor, log_sigma: torch.Tensor, log_lambda: torch.Tensor | None = None) -> PriorFn:
    """The prior with one log f, one log sigma (and one log lambda) per trait."""
    def fn(features, tracks):
        return log_f[None, :].expand(features.shape[0], -1), log_sigma, log_lambda
    return fn


def with_nuisance(prior: PriorFn, log_sigma: torch.Tensor, log_lambda: torch.Tensor | None) -> PriorFn:
    """``prior``'s log f with the given (log sigma, log lambda) in place of its own."""
    def fn(features, tracks):
        return prior(features, tracks)[0], log_sigma, log_lambda
    return fn


def score_slices(batches: Iterable[SliceBatch], prior: PriorFn, log_N: torch.Tensor, null_log_sigma: torch.Tensor,
                 method: str = "exact", null_log_lambda: torch.Tensor | None = None) -> SliceScores:
    """NLL of every batch under ``prior`` and under the null prior (``null_log_sigma``, and
    ``null_log_lambda`` with the mismatch model), summed per trait. The prior and the null must both
    have lambda or both not: with it the NLL scores all n core z-scores, without it their projection."""
    nll = nul = cnt = None
    k = 0
    for b in batches:
        with torch.no_grad():
            log_f, log_sigma, log_lambda = prior(b.features, b.tracks)
            if (log_lambda is None) != (null_log_lambda is None):
                raise ValueError("score_slices: the prior and the null must both have lambda or both not")
            dt = b.ld.dtype
            log_s = log_f.to(dt) + log_N.to(dt)[None, :]
            ll = None if log_lambda is None else log_lambda.to(dt)
            v = marginal_nll(b.ld, b.z, log_s, log_sigma.to(dt), method=method, log_lambda=ll,
                             generator=torch.Generator().manual_seed(k)).nll.cpu().numpy()
            nl = None if null_log_lambda is None else null_log_lambda.to(dt)
            v0 = null_nll(b.ld, b.z, null_log_sigma.to(dt), nl).cpu().numpy()
        nll = v if nll is None else nll + v
        nul = v0 if nul is None else nul + v0
        cnt = np.full_like(v, b.n) if cnt is None else cnt + b.n
        k += 1
    T = len(log_N)
    zero = np.zeros(T)
    return SliceScores(nll=zero if nll is None else nll, null=zero if nul is None else nul,
                       n_snps=zero if cnt is None else cnt, n_slices=k)


def fit_null(batches: list[SliceBatch], n_traits: int, mismatch: bool = False, iters: int = 60,
             fixed_log_lambda: torch.Tensor | None = None, fixed_log_sigma: torch.Tensor | float | None = None
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """MLE of (log sigma, log lambda) per trait under the null prior s = 0 from training slices.

    Without mismatch: log sigma in closed form and None. With it: L-BFGS on the closed-form null NLL,
    lambda kept above LAMBDA_FLOOR as in the networks; with ``fixed_log_lambda``, lambda held there and
    sigma alone fitted. ``fixed_log_sigma`` (a float or (T,), ``--sigma VALUE``) holds sigma instead."""
    ls0 = fit_null_log_sigma(batches, n_traits) if fixed_log_sigma is None else _per_trait(fixed_log_sigma, n_traits)
    if not mismatch and fixed_log_lambda is None:
        return ls0, None
    log_sigma = ls0.clone().requires_grad_(fixed_log_sigma is None)
    if fixed_log_lambda is None:
        raw = torch.full((n_traits,), math.log(LAMBDA_INIT), dtype=torch.float64, requires_grad=True)
        params, log_lambda = [log_sigma, raw], lambda: floored_log_lambda(raw)
    else:
        fixed = _per_trait(fixed_log_lambda, n_traits)
        params, log_lambda = [log_sigma], lambda: fixed
    params = [p for p in params if p.requires_grad]
    if not params:
        return ls0, log_lambda().detach()
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")
    n_total = sum(b.n for b in batches) or 1

    def closure():
        opt.zero_grad()
        loss = sum(null_nll(b.ld, b.z, log_sigma, log_lambda()).sum() for b in batches) / n_total
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return log_sigma.detach(), log_lambda().detach()


@dataclass
class RunNull:
    """A run's null prior (see :func:`fit_run_null`), per trait."""

    log_sigma: list[float]              # with the run's lambda, if it has one
    log_lambda: list[float] | None      # None: the run has no mismatch term
    log_sigma_no_lambda: list[float]    # sigma alone, for a prior scored without lambda

    def for_prior(self, has_lambda: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(log sigma, log lambda or None) of the null to compare a prior with (or without) lambda with."""
        if has_lambda:
            if self.log_lambda is None:
                raise ValueError("a prior with lambda scored in a run without the mismatch term")
            return torch.tensor(self.log_sigma, dtype=torch.float64), torch.tensor(self.log_lambda, dtype=torch.float64)
        return torch.tensor(self.log_sigma_no_lambda, dtype=torch.float64), None


def _per_trait(x, n_traits: int) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64).reshape(-1).expand(n_traits).clone()


def fit_run_null(batches: list[SliceBatch], n_traits: int, setting: MismatchSetting,
                 fixed_log_sigma: torch.Tensor | float | None = None) -> RunNull:
    """THE null prior of a run, the baseline of every "vs null" figure: ``heldout_improvement_per_snp``
    in the training history and in Tune, ``improvement_vs_null_per_snp`` and ``null_nll_per_snp`` of
    evaluate.py and metrics.json.

    s = 0 for every SNP (no heritability), with the nuisance scalars fitted by maximum likelihood on
    ``batches``, the run's baseline training slices (``train.plan.initial_prior``'s seeded subsample):
    sigma; and lambda as ``--mismatch`` says: fitted jointly with sigma under ``learn``, held at VALUE
    under ``--mismatch VALUE`` (sigma fitted given it), none under ``off``. A prior scored without
    lambda (an LDSC-trained network of a ``learn`` run, whose lambda is fitted only at evaluation) is
    compared with the null without lambda, sigma fitted alone. With ``--sigma VALUE``
    (``fixed_log_sigma``) sigma is held at VALUE in every one of these. The driver fits it once (``make_plan``)
    and ships it in the RunPlan; nothing else fits a null for these figures (sigma = 1 is never used)."""
    plain, _ = fit_null(batches, n_traits, fixed_log_sigma=fixed_log_sigma)
    if not setting.enabled:
        return RunNull(plain.tolist(), None, plain.tolist())
    fixed = None if setting.mode == "learn" else torch.full((n_traits,), math.log(setting.value), dtype=torch.float64)
    ls, ll = fit_null(batches, n_traits, mismatch=True, fixed_log_lambda=fixed, fixed_log_sigma=fixed_log_sigma)
    return RunNull(ls.tolist(), ll.tolist(), plain.tolist())


def fit_null_log_sigma(batches: Iterable[SliceBatch], n_traits: int) -> torch.Tensor:
    """MLE of log sigma under the null prior from training slices: log(sum u^T u / sum r), per trait."""
    uu, r = np.zeros(n_traits), 0
    for b in batches:
        u = b.ld.whiten(b.z)
        uu += u.square().sum(0).cpu().numpy()
        r += b.ld.rank
    return torch.tensor(np.log(np.maximum(uu, 1e-300) / max(r, 1)), dtype=torch.float64)


def fit_constant_prior(batches: list[SliceBatch], log_N: torch.Tensor, init_log_f: torch.Tensor,
                       iters: int = 60, objective: str = "likelihood", mismatch: bool = False,
                       fixed_log_sigma: torch.Tensor | float | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(log f, log sigma, log lambda or None) per trait minimising ``objective`` (likelihood: exact NLL;
    or ldsc) summed over the given slices, by L-BFGS. ``mismatch``: also fit lambda (likelihood only;
    under LDSC lambda is a second intercept, not identifiable apart from sigma). ``fixed_log_sigma``
    (a float or (T,), ``--sigma VALUE``): sigma held there, not fitted."""
    T = len(log_N)
    log_f = init_log_f.clone().to(torch.float64).requires_grad_(True)
    log_sigma = (torch.zeros(T, dtype=torch.float64, requires_grad=True) if fixed_log_sigma is None
                 else _per_trait(fixed_log_sigma, T))
    learn_lam = mismatch and objective == "likelihood"
    raw = torch.full((T,), math.log(LAMBDA_INIT), dtype=torch.float64, requires_grad=learn_lam)
    params = [p for p in [log_f, log_sigma] + ([raw] if learn_lam else []) if p.requires_grad]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")
    n_total = sum(b.n for b in batches) or 1
    lam_of = lambda: floored_log_lambda(raw) if learn_lam else None  # noqa: E731

    def closure():
        opt.zero_grad()
        loss = torch.zeros((), dtype=torch.float64)
        for b in batches:
            lf = log_f[None, :].expand(b.m, -1)
            loss = loss + slice_loss(b, lf, log_sigma, log_N, objective, method="exact", log_lambda=lam_of())[0]
        loss = loss / n_total
        loss.backward()
        return loss

    opt.step(closure)
    ll = lam_of()
    return log_f.detach(), log_sigma.detach(), None if ll is None else ll.detach()


def fit_nuisance(batches: list[SliceBatch], log_fs: list[torch.Tensor], log_N: torch.Tensor,
                 init_log_sigma: torch.Tensor, iters: int = 40, learn_sigma: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(log sigma, log lambda) per trait maximising the likelihood on ``batches`` with their log f
    (``log_fs``, one (m, T) per batch) held fixed: how a prior trained without lambda (the LDSC
    objective), or the true prior of a simulation, is scored under the mismatch model. ``learn_sigma``
    False (``--sigma VALUE``): sigma stays at ``init_log_sigma``, lambda alone is fitted."""
    log_sigma = init_log_sigma.clone().to(torch.float64).requires_grad_(learn_sigma)
    raw = torch.full_like(log_sigma, math.log(LAMBDA_INIT)).requires_grad_(True)
    opt = torch.optim.LBFGS([log_sigma, raw] if learn_sigma else [raw], lr=1.0, max_iter=iters,
                            line_search_fn="strong_wolfe")
    fixed = [(b, lf.to(torch.float64).detach()) for b, lf in zip(batches, log_fs)]
    n_total = sum(b.n for b in batches) or 1

    def closure():
        opt.zero_grad()
        ll = floored_log_lambda(raw)
        loss = sum(marginal_nll(b.ld, b.z, lf + log_N[None, :], log_sigma, method="exact", log_lambda=ll).nll.sum()
                   for b, lf in fixed) / n_total
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return log_sigma.detach(), floored_log_lambda(raw).detach()


def scoring_prior(net: torch.nn.Module, base: list[SliceBatch], log_N: torch.Tensor, mismatch: bool,
                  sigma_held: bool) -> tuple[PriorFn, torch.Tensor, torch.Tensor | None]:
    """(prior, log sigma (T,), log lambda (T,) or None) as a trained network is scored: its own sigma and
    lambda, except that a prior trained without lambda (the LDSC objective) under a mismatch model gets
    (sigma, lambda) fitted by likelihood on the baseline slices ``base`` with its f fixed (sigma only
    when not ``sigma_held``), so both objectives are scored alike. One definition for the report and the
    experiments."""
    prior = prior_from_model(net)
    sigma, lam = net.log_sigma.detach().double(), net.log_lambda()
    if mismatch and lam is None:
        sigma, lam = fit_nuisance(base, [prior(b.features, b.tracks)[0] for b in base], log_N, sigma,
                                  learn_sigma=not sigma_held)
        prior = with_nuisance(prior, sigma, lam)
    return prior, sigma, None if lam is None else lam.detach().double()


#: Training slices used to fit the baselines (null sigma, constant prior, an LDSC-trained prior's sigma
#: and lambda): a bounded, seeded subsample (:func:`deepwas_dist.data.slicing.seeded_subsample`).
BASELINE_SLICES = 40


@dataclass
class ModelScores:
    """A trained network as scored on held-out slices: the prior it is scored with, its (log) sigma and
    lambda as scored, the held-out sums, and the run's null it was compared with."""

    prior: PriorFn
    log_sigma: torch.Tensor                  # (T,)
    log_lambda: torch.Tensor | None          # (T,); None without the mismatch term
    heldout: SliceScores
    null_log_sigma: torch.Tensor
    null_log_lambda: torch.Tensor | None


def score_model(net: torch.nn.Module, base: list[SliceBatch], held: Iterable[SliceBatch], log_N: torch.Tensor,
                null: RunNull, mismatch: bool, sigma_held: bool) -> ModelScores:
    """Score a trained network on ``held`` against the run's ``null``: its sigma and lambda as
    :func:`scoring_prior` sets them (from the baseline slices ``base``), and the null with or without
    lambda to match. The one scoring of a network, shared by the report and the experiments."""
    prior, sigma, lam = scoring_prior(net, base, log_N, mismatch, sigma_held=sigma_held)
    null_ls, null_ll = null.for_prior(lam is not None)
    sc = score_slices(held, prior, log_N, null_ls, null_log_lambda=null_ll)
    return ModelScores(prior, sigma, lam, sc, null_ls, null_ll)


def recovery(log_f_pred: np.ndarray, f_true: np.ndarray) -> dict:
    """Pearson r and RMSE of predicted log f against the true log f (SNPs with f_true > 0)."""
    ok = np.isfinite(f_true) & (f_true > 0) & np.isfinite(log_f_pred)
    if ok.sum() < 3:
        return {"pearson_r": float("nan"), "rmse": float("nan"), "n": int(ok.sum())}
    a, b = log_f_pred[ok], np.log(f_true[ok])
    r = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
    return {"pearson_r": r, "rmse": float(np.sqrt(np.mean((a - b) ** 2))), "n": int(ok.sum())}
