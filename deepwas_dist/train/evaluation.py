"""Evaluating a run from its checkpoints: the end of ``deepwas train`` and all of ``deepwas evaluate``.

    metrics = evaluate_run(cfg, ds, plan, split, checkpoint)      # the driver, after Ray Train's fit
    metrics = evaluate_run_dir("runs/my-run")                     # later, from the run directory alone

Both load a checkpoint (tensors and plain values only, ``weights_only=True``), only a complete one (the
rule and the fall-back from a damaged one: :mod:`deepwas_dist.train.checkpoint`), rebuild the network as
the run's config and plan say, and hand it to :func:`deepwas_dist.evaluate.report.evaluate_model`, which
computes every metric and writes every output.
"""
from __future__ import annotations

import json
from typing import Callable

from ..credentials import restore_secrets
from ..data.reader import Dataset
from ..data.storage import filesystem, join
from ..errors import InputError
from ..evaluate.report import evaluate_model
from .checkpoint import load_latest, load_or_fall_back
from .config import TrainConfig
from .holdout import HoldoutSplit
from .loop import build_model
from .plan import make_plan
from .runplan import PLAN_FILE, RunPlan
from .selection import selection, selection_metric


def evaluate_run(cfg: TrainConfig, ds: Dataset, plan: RunPlan, split: HoldoutSplit, checkpoint,
                 log: Callable[[str], None] = print) -> dict:
    """Load the final checkpoint (the run's newest complete one if it is damaged), compute every metric,
    write every output; returns metrics."""
    with checkpoint.as_directory() as d:
        state, meta = load_or_fall_back(d, plan.run_url, cfg.storage_options or None, log=log)
    return evaluate_state(cfg, ds, plan, split, state, meta, log=log)


def evaluate_state(cfg: TrainConfig, ds: Dataset, plan: RunPlan, split: HoldoutSplit, state: dict, meta: dict,
                   log: Callable[[str], None] = print) -> dict:
    """Every metric and output of the prior in checkpoint ``state`` (with its ``meta``: the history): the
    last epoch's, or with validation (``--val-chroms``) the epoch's the run keeps (train/selection.py)."""
    history = meta.get("history", [])
    chosen = selection(history, cfg.epochs, selection_metric(cfg.val_select, cfg.objective)) \
        if "best_model" in state else None
    net = build_model(cfg, plan)
    net.load_state_dict(state["best_model"] if chosen is not None else state["model"])
    net.eval()
    if chosen is not None:
        log(f"[deepwas] the prior of epoch {chosen.epoch} of {chosen.epochs_trained} (lowest validation "
            f"{chosen.metric}, {chosen.score:.5f}{'; stopped early' if chosen.stopped_early else ''})")
    return evaluate_model(cfg, ds, plan, split, net, history, log=log,
                          selection=None if chosen is None else chosen.to_dict())


def latest_checkpoint_dir(run_dir: str, storage_options: dict | None = None,
                          log: Callable[[str], None] = print) -> str:
    """The run's newest complete checkpoint directory (by global step), checked, downloaded locally if
    remote; damaged ones are skipped with a warning, incomplete ones ignored; InputError if none."""
    return load_latest(run_dir, storage_options, log=log)[2]


def saved_config(saved: dict) -> TrainConfig:
    """The TrainConfig of a run directory's config.json. Runs from before ``--sigma`` existed trained
    sigma, so they are evaluated that way, not with today's default (``sldsc``)."""
    return TrainConfig(**{"sigma": "learn", **saved["config"]})


def saved_plan(fs, run_root: str, cfg: TrainConfig, ds: Dataset) -> tuple[RunPlan, HoldoutSplit]:
    """The run plan and hold-out split recorded in a run directory (``plan.json`` and config.json's
    ``holdout``), so evaluation and resume use exactly what training used (the --sigma ldsc intercept
    included) without recomputing it. Runs written before plan.json existed: the plan is recomputed from
    the recorded split (or, older still, from the flags)."""
    with fs.open(join(run_root, "config.json")) as fh:
        saved = json.load(fh)
    split = HoldoutSplit.from_dict(saved["holdout"]) if "holdout" in saved else None
    path = join(run_root, PLAN_FILE)
    if split is not None and fs.exists(path):
        with fs.open(path) as fh:
            plan = RunPlan.from_json(json.load(fh))
        plan.storage_options = dict(ds.storage_options)       # plan.json holds none (redacted)
        return plan, split
    return make_plan(cfg, ds, saved["traits"], split)


def evaluate_run_dir(run_url: str, storage_options: dict | None = None, log: Callable[[str], None] = print,
                     jackknife: str | None = None, jackknife_blocks: int | None = None) -> dict:
    """Re-evaluate a finished (or interrupted) run from its directory: latest checkpoint, same plan;
    ``jackknife`` / ``jackknife_blocks`` override the run's choice of standard errors."""
    fs, root = filesystem(run_url, storage_options)
    cfg_path = join(root, "config.json")
    if not fs.exists(cfg_path):
        raise InputError(f"{run_url}: no config.json; pass the directory of a run made by launch/train.py")
    with fs.open(cfg_path) as fh:
        saved = json.load(fh)
    cfg = saved_config(saved)
    if jackknife is not None:
        cfg.jackknife = jackknife
    if jackknife_blocks is not None:
        cfg.jackknife_blocks = jackknife_blocks
    cfg.validate()
    url = run_url.rstrip("/")
    cfg.storage, cfg.name = url.rsplit("/", 1) if "/" in url else (".", url)
    # config.json holds no credentials (redacted at training time): the flags given now, else the
    # environment / profile of the storage backend
    cfg.storage_options = {**restore_secrets(cfg.storage_options), **(storage_options or {})}
    ds = Dataset.open(cfg.data, cfg.storage_options or None)
    plan, split = saved_plan(fs, root, cfg, ds)
    state, meta, _ = load_latest(run_url, storage_options, log=log)
    log(f"[deepwas] evaluating {run_url} at epoch {meta['epoch']} (global step {meta['global_step']})")
    return evaluate_state(cfg, ds, plan, split, state, meta, log=log)
