"""The driver of a training run: plan it, run Ray Train's TorchTrainer, then evaluate and write outputs.

    result = run_training(TrainConfig(...))

Run directory: ``<storage>/<name>/`` (local path or s3://). Ray Train keeps its own files there
(checkpoint_*/ and its run state); ours are listed in :mod:`deepwas_dist.evaluate.report`.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..credentials import redact, secrets_env
from ..data import schema as S
from ..data.reader import Dataset
from ..data.storage import absolute_url, filesystem, is_local, is_local_url, join
from ..errors import InputError
from ..evaluate.heldout import RunNull, fit_constant_prior, fit_run_null
from ..mismatch import LAMBDA_INIT, MismatchSetting
from .assignment import slice_cost
from .config import TrainConfig
from .holdout import HoldoutSplit, SliceKey, resolve_holdout_chroms, resolve_split
from .loop import RunPlan, train_loop_per_worker
from .resources import check_resources, train_requests, wait_s_for


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
    rng = np.random.default_rng(seed)
    pick = [keys[i] for i in sorted(rng.choice(len(keys), size=min(k, len(keys)), replace=False))]
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
        split = resolve_split(slice_keys(ds), cfg.holdout_chroms, cfg.holdout_blocks)
    if not split.train_keys:
        raise InputError(f"{ds.url}: no training slices outside the held-out ones ({split.describe()}); "
                         "fix: hold out fewer with --holdout-chroms or --holdout-blocks")
    return plan_for(cfg, ds, traits, split), split


def plan_for(cfg: TrainConfig, ds: Dataset, traits: list[str], split: HoldoutSplit) -> RunPlan:
    """A run plan that trains on ``split.train_keys`` and scores ``split.heldout_keys`` (buffer slices:
    neither)."""
    idx = ds.slice_index()
    keys = slice_keys(ds)
    geometry = {k: (slice_cost(int(m), int(r)), int(n))
                for k, m, r, n in zip(keys, idx[S.M_SNPS], idx[S.RANK], idx[S.N_CORE])}
    unknown = [k for k in split.train_keys + split.heldout_keys + split.buffer_keys if k not in geometry]
    if unknown:
        raise InputError(f"{ds.url}: held-out split names slices {unknown[:3]} that the dataset does not have; "
                         "fix: re-run training (the dataset changed since the run was planned)")
    log_N, guess, moment = trait_scales(ds, traits, mean_ld_score(ds, keys, seed=cfg.seed))
    train_keys = list(split.train_keys)
    init = initial_prior(cfg, ds, traits, train_keys, log_N, guess)
    return RunPlan(data_url=ds.url, storage_options=dict(ds.storage_options), traits=traits,
                   train_keys=train_keys, train_costs=[geometry[k][0] for k in train_keys],
                   train_ncore=[geometry[k][1] for k in train_keys], heldout_keys=list(split.heldout_keys),
                   heldout_costs=[geometry[k][0] for k in split.heldout_keys], log_N=log_N,
                   init_log_f=init.log_f, init_log_sigma=init.log_sigma, init_log_lambda=init.log_lambda,
                   null_log_sigma=None if init.null is None else init.null.log_sigma,
                   null_log_lambda=None if init.null is None else init.null.log_lambda,
                   null_log_sigma_no_lambda=None if init.null is None else init.null.log_sigma_no_lambda,
                   n_features=len(ds.feature_names), tracks_shape=ds.tracks_shape,
                   buffer_keys=list(split.buffer_keys), h2_moment=moment)


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
                  guess: list[float]) -> InitialPrior:
    """The constant prior that minimises the run's own objective on a seeded subsample of training
    slices, so every network starts at the best constant prior instead of a flat region (its head starts
    at zero), with lambda when the run models mismatch; and the null prior fitted on the same slices."""
    T = len(traits)
    mismatch = cfg.mismatch_setting.mode == "learn"
    sigma0 = [0.0] * T if cfg.fixed_sigma is None else [math.log(cfg.fixed_sigma)] * T
    if not keys:
        return InitialPrior(guess, sigma0, [math.log(LAMBDA_INIT)] * T if mismatch else None, None)
    rng = np.random.default_rng(cfg.seed)
    pick = [keys[i] for i in sorted(rng.choice(len(keys), size=min(INIT_SLICES, len(keys)), replace=False))]
    batches = [ds.read_slice(c, s, traits, bandwidth_kb=cfg.bandwidth_kb, tracks=False,
                               keep_variance=cfg.ld_keep_variance) for c, s in pick]
    fixed_ls = cfg.fixed_log_sigma
    lf, ls, ll = fit_constant_prior(batches, torch.tensor(log_N, dtype=torch.float64),
                                    torch.tensor(guess, dtype=torch.float64), iters=25, objective=cfg.objective,
                                    mismatch=mismatch, fixed_log_sigma=fixed_ls)
    # the null follows --mismatch itself (not the LDSC objective's lambda-less network): see fit_run_null
    null = fit_run_null(batches, T, MismatchSetting.parse(cfg.mismatch), fixed_log_sigma=fixed_ls)
    fits = [lf, ls] + ([] if ll is None else [ll])
    if not all(bool(torch.isfinite(x).all()) for x in fits):
        return InitialPrior(guess, sigma0, [math.log(LAMBDA_INIT)] * T if mismatch else None, null)
    return InitialPrior(lf.tolist(), ls.tolist(), None if ll is None else ll.tolist(), null)


def storage_for_ray(url: str, storage_options: dict):
    """(storage_path, pyarrow filesystem or None) for Ray's RunConfig from an fsspec URL and options."""
    if is_local_url(url):
        return absolute_url(url), None
    if url.startswith("s3://"):
        import pyarrow.fs as pafs
        opts = dict(storage_options or {})
        endpoint = opts.get("endpoint_url") or opts.get("client_kwargs", {}).get("endpoint_url")
        kw = {}
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kw.update(endpoint_override=host or endpoint, scheme=scheme if host else "https")
        if opts.get("key") or opts.get("secret"):
            if not (opts.get("key") and opts.get("secret")):
                raise InputError("--storage-option for s3://: give both key=... and secret=... (or neither, to "
                                 "use the AWS credential chain: AWS_* environment variables or AWS_PROFILE)")
            kw.update(access_key=opts["key"], secret_key=opts["secret"])
            if opts.get("token"):
                kw.update(session_token=opts["token"])
        region = opts.get("client_kwargs", {}).get("region_name") or opts.get("region_name")
        if region:
            kw.update(region=region)
        if opts.get("anon"):
            kw.update(anonymous=True)
        return url.removeprefix("s3://"), pafs.S3FileSystem(**kw)
    return url, None          # other schemes: let Ray resolve the URI itself


def public_config(cfg: TrainConfig) -> dict:
    """The config as written to config.json and shipped to workers: credentials redacted (see
    :func:`deepwas_dist.credentials.redact`; workers get them through their environment)."""
    return {**cfg.to_dict(), "storage_options": redact(cfg.storage_options)}


def public_plan(plan: RunPlan) -> dict:
    """The run plan as shipped to workers (and Tune's persisted params): credentials redacted."""
    return {**asdict(plan), "storage_options": redact(plan.storage_options)}


def fit_interruptibly(trainer):
    """``trainer.fit()``, where Ctrl-C stops the run cleanly: Ray Train's own SIGINT handler aborts the
    workers and then exits the process with status 0 (SystemExit); that becomes a KeyboardInterrupt
    (exit 130 in :func:`deepwas_dist.cli.run_cli`), and the SIGINT handler from before is restored."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        return trainer.fit()
    except SystemExit as e:
        raise KeyboardInterrupt("training aborted (Ctrl-C)") from e
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)


def default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.model}-{cfg.size}-{cfg.objective}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run_training(cfg: TrainConfig, *, log=print, ray_init_kwargs: dict | None = None, evaluate: bool = True) -> dict:
    """Train, evaluate and write every output; returns the metrics dict (also in metrics.json).

    ``evaluate=False`` skips the final evaluation and outputs and returns {"history": [...]} only.
    """
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from ..demo import demo_dataset_url
    from ..evaluate.report import evaluate_run

    cfg.validate()
    if cfg.data is None:
        cfg.data = demo_dataset_url(log=log)
    # Ray workers run in other directories (and on other nodes): local paths are resolved here, once
    cfg.data, cfg.storage = absolute_url(cfg.data), absolute_url(cfg.storage)
    ds = Dataset.open(cfg.data, cfg.storage_options or None)
    traits = resolve_traits(ds, cfg.traits)
    cfg.name = cfg.name or default_run_name(cfg)
    fs, root = filesystem(cfg.storage, cfg.storage_options or None)
    run_root = join(root, cfg.name)
    has_state = fs.exists(join(run_root, "config.json"))
    if has_state and not cfg.resume:
        raise InputError(f"run {cfg.name!r} already exists in {cfg.storage}; fix: pass --resume to continue it, "
                         "or choose another --name")
    if cfg.resume and not has_state:
        raise InputError(f"--resume: no run {cfg.name!r} in {cfg.storage} to resume; check --name and --storage")
    if not ray.is_initialized():
        kw = dict(ray_init_kwargs or {})
        if not cfg.use_gpu and "address" not in kw and "RAY_ADDRESS" not in os.environ:
            # a fresh local instance: without address="local", ray.init joins a cluster some other process
            # started on this machine, and refuses num_cpus there (ValueError)
            kw.setdefault("address", "local")
            kw.setdefault("num_cpus", max(cfg.num_workers + 2, os.cpu_count() or 2))
        ray.init(**kw, log_to_driver=True)
    # before anything is written: a request the cluster cannot meet would otherwise wait for ever
    check_resources(*train_requests(cfg.gpus, cfg.workers), ray.cluster_resources,
                    wait_s=wait_s_for(ray_init_kwargs), log=log)
    plan, split = make_plan(cfg, ds, traits)
    if is_local(fs):
        plan.run_dir_local = run_root
    plan.run_url = cfg.storage.rstrip("/") + "/" + cfg.name
    fs.makedirs(run_root, exist_ok=True)
    with fs.open(join(run_root, "config.json"), "w") as fh:
        json.dump({"config": public_config(cfg), "traits": traits, "holdout_chroms": split.heldout_chroms,
                   "holdout": split.to_dict()}, fh, indent=1)
    log(f"[deepwas] run {cfg.name}: {len(traits)} trait(s) {traits}, {cfg.model}/{cfg.size} "
        f"({cfg.objective}), {len(plan.train_keys)} training slices, {len(plan.heldout_keys)} held-out slices "
        f"(held out: {split.describe()}), {cfg.num_workers} {'GPU' if cfg.use_gpu else 'CPU'} worker(s)")

    storage_path, storage_fs = storage_for_ray(cfg.storage, cfg.storage_options)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train": public_config(cfg), "plan": public_plan(plan)},
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                     resources_per_worker=None if cfg.use_gpu else {"CPU": 1},
                                     placement_strategy=cfg.placement_strategy),
        run_config=RunConfig(name=cfg.name, storage_path=storage_path, storage_filesystem=storage_fs,
                             failure_config=FailureConfig(max_failures=cfg.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2),
                             worker_runtime_env={"env_vars": {"RAY_TRAIN_ENABLE_PRINT_PATCH": "0",
                                                              **secrets_env(cfg.storage_options)}}),
    )
    t0 = time.perf_counter()
    result = fit_interruptibly(trainer)
    log(f"[deepwas] training finished in {time.perf_counter() - t0:.0f} s; evaluating on held-out slices")
    if result.checkpoint is None:
        raise RuntimeError("training finished without a checkpoint")
    if not evaluate:
        from .loop import load_state
        with result.checkpoint.as_directory() as d:
            return {"history": load_state(d)[1]["history"]}
    metrics = evaluate_run(cfg, ds, plan, split, result.checkpoint, log=log)
    sys.stdout.flush()
    return metrics
