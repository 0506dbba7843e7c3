"""Planning a run: which traits and slices, their scales, the starting constant prior and the run's null.

    plan, split = make_plan(cfg, ds, traits)

Everything here is worked out once by the driver (``train.run``) or by a re-evaluation
(``train.evaluation``) and shipped to workers as a :class:`~deepwas_dist.train.runplan.RunPlan`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..data import schema as S
from ..data.reader import Dataset
from ..data.slicing import seeded_subsample
from ..errors import InputError
from ..evaluate.heldout import RunNull, fit_constant_prior, fit_run_null
from ..evaluate.intercept import Intercept, fit_intercept, intercept_stats
from ..mismatch import LAMBDA_INIT
from ..settings import MismatchSetting
from .assignment import slice_cost
from .config import TrainConfig
from .holdout import HoldoutSplit, SliceKey, resolve_holdout_chroms, resolve_split
from .runplan import RunPlan


def resolve_traits(ds: Dataset, traits: str) -> list[str]:
    """'all' or a comma list, checked against the dataset; a dataset without traits is refused here,
    before any work (it used to fail later inside torch)."""
    if not ds.traits:
        raise InputError(f"dataset {ds.url} has no traits; add them with `prepare.py sumstats --out {ds.url} "
                         "--trait NAME --file SUMSTATS`")
    if traits in ("all", "", None):
        return list(ds.traits)
    want = [t.strip() for t in traits.split(",") if t.strip()]
    missing = [t for t in want if t not in ds.traits]
    if missing:
        raise InputError(f"--traits: {missing} not in the dataset {ds.url} (it has {ds.traits})")
    return want


def resolve_holdout(ds: Dataset, spec: str) -> list[int]:
    """Held-out chromosomes of ``--holdout-chroms`` ('auto', 'none' or '6,7,8'); see :mod:`.holdout`."""
    return resolve_holdout_chroms(list(ds.chromosomes), spec)


def slice_keys(ds: Dataset) -> list[SliceKey]:
    """Every slice of the dataset as (chromosome, slice id), in the slice index's order."""
    idx = ds.slice_index()
    return [(int(c), int(s)) for c, s in zip(idx[S.CHR], idx[S.SLICE_ID])]


def mean_ld_score(ds: Dataset, keys: list[tuple[int, int]], k: int = 8, seed: int = 0) -> float:
    """Mean (bias-corrected, slice-local) LD score of core SNPs over up to ``k`` slices."""
    pick = seeded_subsample(keys, k, seed)
    scores = [ds.read_slice(c, s, tracks=False).ld.ld2_core.sum(1).clamp_min(1.0) for c, s in pick]
    return float(np.mean(np.concatenate([x.numpy() for x in scores])))


def trait_scales(ds: Dataset, traits: list[str], mean_ld: float) -> tuple[list[float], list[float], list[float]]:
    """log N per trait (median GWAS N), a starting log f: log(h2_guess / M), and the LDSC-style moment
    estimate h2 = (mean chi2 - 1) M / (N mean LD score) itself (h2_guess is it clipped to [0.01, 0.9];
    the unclipped value is kept for the guard rails of :mod:`deepwas_dist.evaluate.guards`)."""
    log_N, init, moment = [], [], []
    M = ds.n_snps
    for t in traits:
        ss = ds.sumstats(t)
        N = float(np.median(ss[S.N].to_numpy()))
        chi2 = float(np.mean(ss[S.Z].to_numpy() ** 2))
        h2_m = (chi2 - 1.0) * M / (N * mean_ld)
        log_N.append(math.log(N))
        init.append(math.log(float(np.clip(h2_m, 0.01, 0.9)) / M))
        moment.append(float(h2_m))
    return log_N, init, moment


def make_plan(cfg: TrainConfig, ds: Dataset, traits: list[str],
              split: HoldoutSplit | None = None) -> tuple[RunPlan, HoldoutSplit]:
    """The run plan shipped to workers, and the hold-out split (from the flags unless ``split`` is given:
    ``evaluate.py`` passes the one recorded in the run's config.json)."""
    if split is None:
        split = resolve_split(slice_keys(ds), cfg.holdout_chroms, cfg.holdout_blocks, cfg.val_chroms)
    if not split.train_keys:
        raise InputError(f"{ds.url}: no training slices outside the held-out ones ({split.describe()}); "
                         "fix: hold out fewer with --holdout-chroms or --holdout-blocks")
    return plan_for(cfg, ds, traits, split), split


def plan_for(cfg: TrainConfig, ds: Dataset, traits: list[str], split: HoldoutSplit) -> RunPlan:
    """A run plan that trains on ``split.train_keys``, validates on ``split.val_keys`` and scores
    ``split.heldout_keys`` (buffer slices: neither)."""
    idx = ds.slice_index()
    keys = slice_keys(ds)
    geometry = {k: (slice_cost(int(m), int(r)), int(n))
                for k, m, r, n in zip(keys, idx[S.M_SNPS], idx[S.RANK], idx[S.N_CORE])}
    unknown = [k for k in split.train_keys + split.heldout_keys + split.buffer_keys + split.val_keys
               if k not in geometry]
    if unknown:
        raise InputError(f"{ds.url}: held-out split names slices {unknown[:3]} that the dataset does not have; "
                         "fix: re-run training (the dataset changed since the run was planned)")
    log_N, guess, moment = trait_scales(ds, traits, mean_ld_score(ds, keys, seed=cfg.seed))
    train_keys = list(split.train_keys)
    fixed_ls, intercept = held_sigma(cfg, ds, traits, train_keys)
    init = initial_prior(cfg, ds, traits, train_keys, log_N, guess, fixed_ls)
    return RunPlan(data_url=ds.url, storage_options=dict(ds.storage_options), traits=traits,
                   train_keys=train_keys, train_costs=[geometry[k][0] for k in train_keys],
                   train_ncore=[geometry[k][1] for k in train_keys], heldout_keys=list(split.heldout_keys),
                   heldout_costs=[geometry[k][0] for k in split.heldout_keys], log_N=log_N,
                   init_log_f=init.log_f, init_log_sigma=init.log_sigma, init_log_lambda=init.log_lambda,
                   null_log_sigma=None if init.null is None else init.null.log_sigma,
                   null_log_lambda=None if init.null is None else init.null.log_lambda,
                   null_log_sigma_no_lambda=None if init.null is None else init.null.log_sigma_no_lambda,
                   n_features=len(ds.feature_names), tracks_shape=ds.tracks_shape,
                   buffer_keys=list(split.buffer_keys), h2_moment=moment, fixed_log_sigma=fixed_ls,
                   sigma_ldsc=None if intercept is None else intercept.to_json(), val_keys=list(split.val_keys),
                   val_costs=[geometry[k][0] for k in split.val_keys])


def held_sigma(cfg: TrainConfig, ds: Dataset, traits: list[str], keys: list
               ) -> tuple[list[float] | None, Intercept | None]:
    """(log sigma per trait or None, the intercept fit or None) of ``--sigma``: None when learned; the
    value when given; with ``ldsc`` (``sldsc``: stratified by the annotations) the LD score regression
    intercept on the training slices (:mod:`deepwas_dist.evaluate.intercept`)."""
    setting = cfg.sigma_setting
    if setting.mode == "learn":
        return None, None
    if setting.mode == "fixed":
        return [math.log(setting.value)] * len(traits), None
    stats = intercept_stats(ds, traits, keys, cfg.bandwidth_kb, cfg.seed, stratify=setting.mode == "sldsc")
    fit = fit_intercept(stats, traits)
    return [math.log(v) for v in fit.sigma], fit


#: Training slices used to fit the starting constant prior.
INIT_SLICES = 16


@dataclass
class InitialPrior:
    """Per trait: the starting constant prior (log f, log sigma, log lambda or None), and the run's null
    prior (:func:`deepwas_dist.evaluate.heldout.fit_run_null`) fitted on the same slices."""

    log_f: list[float]
    log_sigma: list[float]
    log_lambda: list[float] | None
    null: RunNull | None


def initial_prior(cfg: TrainConfig, ds: Dataset, traits: list[str], keys: list, log_N: list[float],
                  guess: list[float], fixed_log_sigma: list[float] | None = None) -> InitialPrior:
    """The constant prior that minimises the run's own objective on a seeded subsample of training
    slices, so every network starts at the best constant prior instead of a flat region (its head starts
    at zero), with lambda when the run models mismatch; and the null prior fitted on the same slices.
    ``fixed_log_sigma`` (per trait, :func:`held_sigma`): sigma held there in both."""
    T = len(traits)
    mismatch = cfg.mismatch_setting.mode == "learn"
    sigma0 = [0.0] * T if fixed_log_sigma is None else list(fixed_log_sigma)
    if not keys:
        return InitialPrior(guess, sigma0, [math.log(LAMBDA_INIT)] * T if mismatch else None, None)
    pick = seeded_subsample(keys, INIT_SLICES, cfg.seed)
    batches = [ds.read_slice(c, s, traits, bandwidth_kb=cfg.bandwidth_kb, tracks=False,
                               keep_variance=cfg.ld_keep_variance) for c, s in pick]
    fixed_ls = None if fixed_log_sigma is None else torch.tensor(fixed_log_sigma, dtype=torch.float64)
    lf, ls, ll = fit_constant_prior(batches, torch.tensor(log_N, dtype=torch.float64),
                                    torch.tensor(guess, dtype=torch.float64), iters=25, objective=cfg.objective,
                                    mismatch=mismatch, fixed_log_sigma=fixed_ls)
    # the null follows --mismatch itself (not the LDSC objective's lambda-less network): see fit_run_null
    null = fit_run_null(batches, T, MismatchSetting.parse(cfg.mismatch), fixed_log_sigma=fixed_ls)
    fits = [lf, ls] + ([] if ll is None else [ll])
    if not all(bool(torch.isfinite(x).all()) for x in fits):
        return InitialPrior(guess, sigma0, [math.log(LAMBDA_INIT)] * T if mismatch else None, null)
    return InitialPrior(lf.tolist(), ls.tolist(), None if ll is None else ll.tolist(), null)
