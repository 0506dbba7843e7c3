"""The driver of a training run: plan it, run Ray Train's TorchTrainer, then evaluate and write outputs.

    result = run_training(TrainConfig(...))

Run directory: ``<storage>/<name>/`` (local path or s3://). Ray Train keeps its own files there
(checkpoint_*/ and its run state); ours are listed in :mod:`deepwas_dist.evaluate.report`. Planning is
:mod:`deepwas_dist.train.plan`, the final evaluation :mod:`deepwas_dist.train.evaluation`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import signal
import sys
import threading
import time
from typing import Sequence

from ..credentials import redact, secrets_env
from ..data.reader import Dataset
from ..data.storage import absolute_url, filesystem, is_local, is_local_url, join
from ..demo import demo_dataset_url
from ..errors import InputError
from .callbacks import StepCallback
from .checkpoint import load_latest, load_or_fall_back, prune_unregistered
from .config import TrainConfig
from .evaluation import evaluate_run, evaluate_state, saved_plan
from .in_process import StorageSession
from .loop import run_worker, train_loop_per_worker
from .plan import make_plan, resolve_traits
from .resources import check_resources, train_requests, wait_s_for
from .runplan import PLAN_FILE


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


def _dir_name(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.model}-{cfg.size}-{cfg.objective}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def run_training(cfg: TrainConfig, *, log=print, ray_init_kwargs: dict | None = None, evaluate: bool = True,
                 callbacks: Sequence[StepCallback] = ()) -> dict:
    """Train, evaluate and write every output; returns the metrics dict (also in metrics.json).

    ``evaluate=False`` skips the final evaluation and outputs and returns {"history": [...]} only.
    ``callbacks`` run on every worker after every optimiser step (:mod:`deepwas_dist.train.callbacks`).
    """
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

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
    if not cfg.in_process and not ray.is_initialized():
        kw = dict(ray_init_kwargs or {})
        if not cfg.use_gpu and "address" not in kw and "RAY_ADDRESS" not in os.environ:
            # a fresh local instance: without address="local", ray.init joins a cluster some other process
            # started on this machine, and refuses num_cpus there (ValueError)
            kw.setdefault("address", "local")
            kw.setdefault("num_cpus", max(cfg.num_workers + 2, os.cpu_count() or 2))
        ray.init(**kw, log_to_driver=True)
    # before anything is written: a request the cluster cannot meet would otherwise wait for ever
    if not cfg.in_process:
        check_resources(*train_requests(cfg.gpus, cfg.workers), ray.cluster_resources,
                        wait_s=wait_s_for(ray_init_kwargs), log=log)
    # a resumed run continues with the plan it started with (plan.json), not a recomputed one
    plan, split = saved_plan(fs, run_root, cfg, ds) if cfg.resume else make_plan(cfg, ds, traits)
    if is_local(fs):
        plan.run_dir_local = run_root
    plan.run_url = cfg.storage.rstrip("/") + "/" + cfg.name
    fs.makedirs(run_root, exist_ok=True)
    with fs.open(join(run_root, "config.json"), "w") as fh:
        json.dump({"config": public_config(cfg), "traits": traits, "holdout_chroms": split.heldout_chroms,
                   "holdout": split.to_dict()}, fh, indent=1)
    with fs.open(join(run_root, PLAN_FILE), "w") as fh:
        json.dump(plan.to_json(), fh)
    log(f"[deepwas] run {cfg.name}: {len(traits)} trait(s) {traits}, {cfg.model}/{cfg.size} "
        f"({cfg.objective}), {len(plan.train_keys)} training slices, {len(plan.heldout_keys)} held-out slices "
        f"(held out: {split.describe()}), " + ("in this process (--workers 0, no Ray)" if cfg.in_process else
                                                f"{cfg.num_workers} {'GPU' if cfg.use_gpu else 'CPU'} worker(s)"))
    if cfg.in_process:
        return _train_in_process(cfg, ds, plan, split, callbacks, log, evaluate)

    storage_path, storage_fs = storage_for_ray(cfg.storage, cfg.storage_options)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train": public_config(cfg), "plan": plan.to_json(), "callbacks": list(callbacks)},
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
    registered = {_dir_name(result.checkpoint.path)} | {_dir_name(c.path) for c, _ in result.best_checkpoints or []}
    for p in prune_unregistered(plan.run_url, registered, cfg.storage_options or None):
        log(f"[deepwas] removed {p}: a checkpoint Ray Train did not register (cut short, or superseded)")
    if not evaluate:
        with result.checkpoint.as_directory() as d:
            return {"history": load_or_fall_back(d, plan.run_url, cfg.storage_options or None, log=log)[1]["history"]}
    metrics = evaluate_run(cfg, ds, plan, split, result.checkpoint, log=log)
    sys.stdout.flush()
    return metrics


def _train_in_process(cfg: TrainConfig, ds: Dataset, plan, split, callbacks, log, evaluate: bool) -> dict:
    """``--workers 0``: the worker loop in this process, checkpoints in the run directory, then the same
    evaluation as after a Ray Train run (:mod:`deepwas_dist.train.in_process`)."""
    t0 = time.perf_counter()
    run_worker(cfg, plan, StorageSession(plan.run_url, cfg.storage_options), callbacks=callbacks)
    log(f"[deepwas] training finished in {time.perf_counter() - t0:.0f} s; evaluating on held-out slices")
    state, meta, _ = load_latest(plan.run_url, cfg.storage_options or None, log=log)
    if not evaluate:
        return {"history": meta["history"]}
    metrics = evaluate_state(cfg, ds, plan, split, state, meta, log=log)
    sys.stdout.flush()
    return metrics
