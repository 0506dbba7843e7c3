"""Fit one prior in this process and score it: the unit of work of the experiments.

Uses the same training loop as ``launch/train.py`` (behind a :class:`LocalSession`) and the same
held-out scoring as ``launch/evaluate.py``; only the Ray wrapping is left out, so a grid of small fits
runs in a process pool without paying Ray's start-up per fit.
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data import schema as S
from ..data.cache import SliceCache, cache_budget
from ..data.reader import Dataset
from ..data.slicing import seeded_subsample
from ..errors import InputError
from ..evaluate.calibration import calibrate
from ..evaluate.effects import posterior_arrays
from ..evaluate.heldout import BASELINE_SLICES, fit_nuisance, recovery, score_model, score_slices
from ..evaluate.report import predict_all
from ..settings import MismatchSetting
from ..train.config import TrainConfig
from ..train.loop import null_prior, run_null, run_worker
from ..train.runplan import RunPlan
from ..train.session import LocalSession


@dataclass
class FitResult:
    """Per-trait scores of one fitted prior (arrays over traits) and its size and cost."""

    parameters: int
    seconds: float
    heldout_snps: np.ndarray
    nll: np.ndarray                 # held-out NLL (nats, total)
    null: np.ndarray                # under the null prior (sigma fitted on training slices)
    true: np.ndarray | None         # under the true prior (simulations)
    h2: np.ndarray
    recovery_r: np.ndarray | None
    recovery_rmse: np.ndarray | None
    history: list[dict]
    log_f: np.ndarray | None = None      # (M, T) predicted log f of every SNP, chromosomes in dataset order
    sigma: np.ndarray | None = None      # (T,) fitted sigma (as scored)
    lam: np.ndarray | None = None        # (T,) fitted lambda (as scored; None without mismatch)
    #: with ``effects=True``: per chromosome the posterior mean of gamma = sqrt(N) beta, (M_c, T), under the
    #: prior as scored (its sigma and lambda), each SNP from the slice where it is core (evaluate.effects)
    effects: dict[int, np.ndarray] | None = None
    net: torch.nn.Module | None = None   # the fitted prior (keep_net=True), in eval mode


def fit_pool(processes: int | None) -> ProcessPoolExecutor:
    """The process pool an experiment's fits run in: ``processes`` workers (--processes), one per core by default."""
    return ProcessPoolExecutor(max_workers=processes or max(1, os.cpu_count() or 1))


def check_weight_decays(weight_decays: tuple[float, ...], validates: bool) -> None:
    """Choosing among several --weight-decays reads the validation NLL: an error without --val-chroms."""
    if len(weight_decays) > 1 and not validates:
        raise InputError(f"--weight-decays {','.join(map(str, weight_decays))}: choosing among them needs "
                         "validation chromosomes; fix: add --val-chroms (e.g. 6)")


def keep_best_weight_decay(fits: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per ``keys`` (a cell and seed) the fit whose kept epoch has the lowest validation score
    (``val_score``: the score its choice of epoch read, :class:`~deepwas_dist.train.selection.Selection`)
    among its weight decays, in the order of first appearance."""
    return fits.loc[fits.groupby(keys, sort=False)["val_score"].idxmin()].reset_index(drop=True)


#: Slices read in this process, kept across fits of the same dataset (a process-pool worker runs many).
_CACHES: dict[tuple, SliceCache] = {}


def shared_cache(cfg: TrainConfig, plan: RunPlan) -> SliceCache:
    """This process's slice cache for (dataset, traits, bandwidth, dtype)."""
    key = (plan.data_url, tuple(plan.traits), cfg.bandwidth_kb, cfg.dtype, cfg.ld_keep_variance)
    if key not in _CACHES:
        _CACHES.clear()
        _CACHES[key] = SliceCache(Dataset.open(plan.data_url, plan.storage_options or None), plan.traits,
                                  bandwidth_kb=cfg.bandwidth_kb, device=torch.device("cpu"), dtype=cfg.dtype,
                                  keep_variance=cfg.ld_keep_variance,
                                  max_bytes=cache_budget(cfg.cache_mib, torch.device("cpu"),
                                                         len(os.sched_getaffinity(0))))   # a pool: one per core
    return _CACHES[key]


def fit_and_score(cfg: TrainConfig, plan: RunPlan, true_sigma: list[float] | None = None,
                  effects: bool = False, keep_net: bool = False, calibrated: bool = False) -> FitResult:
    """Train ``cfg`` on ``plan.train_keys`` in this process and score it on ``plan.heldout_keys``; with
    ``effects`` also the posterior effects of every SNP (``FitResult.effects``), with ``keep_net`` the
    fitted network (``FitResult.net``); with ``calibrated`` the network's log f calibrated on the plan's
    validation slices (:mod:`deepwas_dist.evaluate.calibration`) is what is scored."""
    t0 = time.perf_counter()
    cache = shared_cache(cfg, plan)
    session = LocalSession()
    try:
        net, history = run_worker(cfg, plan, session, cache=cache)
    finally:
        session.close()
    net.eval()
    ds = cache.ds
    T = len(plan.traits)
    log_N = torch.tensor(plan.log_N, dtype=torch.float64)
    read = lambda keys: [cache.get(k) for k in keys]  # noqa: E731
    if calibrated:
        if not plan.val_keys:
            raise ValueError("calibrated=True needs validation slices (--val-chroms)")
        net = calibrate(net, read(plan.val_keys), log_N)[0]
    seconds = time.perf_counter() - t0
    mismatch = MismatchSetting.parse(cfg.mismatch).enabled
    base_b = read(seeded_subsample(plan.train_keys, BASELINE_SLICES, cfg.seed))
    held = read(plan.heldout_keys)
    scored = score_model(net, base_b, held, log_N, run_null(plan), mismatch,
                         sigma_held=plan.fixed_log_sigma is not None)
    sc, sigma, lam = scored.heldout, scored.log_sigma, scored.log_lambda
    true = None
    if true_sigma is not None and all(b.f_true is not None for b in held):
        ts = torch.tensor([math.log(s) for s in true_sigma], dtype=torch.float64)
        true_ll = None
        if mismatch:                      # the true f with its own best-fitting sigma and lambda
            ts, true_ll = fit_nuisance(base_b, [torch.log(b.f_true.clamp_min(1e-300)) for b in base_b], log_N, ts)
        true = np.zeros(T)
        for b in held:
            lf = torch.log(b.f_true.clamp_min(1e-300))
            t_ls, t_ll = null_prior(plan, true_ll is not None)
            true += score_slices([b], lambda f, t, lf=lf: (lf, ts, true_ll), log_N, t_ls, null_log_lambda=t_ll).nll
    preds = predict_all(ds, net)                      # {chrom: (SNP table, (M_c, T) log f)}
    post = None
    if effects:
        arrays = posterior_arrays(read(plan.all_keys), scored.prior, log_N,
                                  {c: len(preds[c][0]) for c in preds})
        post = {c: mean for c, (mean, _) in arrays.items()}
    truths = []
    if all(ds.manifest.traits[t].has_f_true for t in plan.traits):
        for c, (snps, _) in preds.items():
            cols = []
            for t in plan.traits:
                ss = ds.sumstats(t, [c]).set_index(S.SNP)
                cols.append(ss[S.F_TRUE].reindex(snps[S.SNP]).to_numpy(np.float64))
            truths.append(np.stack(cols, 1))
    log_f = np.concatenate([lf for _, lf in preds.values()])
    rec_r = rec_rmse = None
    if truths:
        f_true = np.concatenate(truths)
        recs = [recovery(log_f[:, t], f_true[:, t]) for t in range(T)]
        rec_r = np.array([r["pearson_r"] for r in recs])
        rec_rmse = np.array([r["rmse"] for r in recs])
    return FitResult(parameters=int(sum(p.numel() for p in net.parameters())), seconds=seconds,
                     heldout_snps=sc.n_snps, nll=sc.nll, null=sc.null, true=true, h2=np.exp(log_f).sum(0),
                     recovery_r=rec_r, recovery_rmse=rec_rmse, history=history, log_f=log_f,
                     sigma=sigma.exp().numpy(), lam=None if lam is None else lam.exp().numpy(), effects=post,
                     net=net if keep_net else None)
