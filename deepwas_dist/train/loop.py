"""The per-worker training loop that Ray Train runs on every worker (one per GPU, or per CPU slot).

Each rank owns a fixed shard of the training slices for the whole run (``assignment.plan_shards``), so
its slice cache fills in the first epoch and is hit after when the shard fits ``--cache-mib``; while
it scores a step it reads the next step's missing slices in the background (``SliceCache.prefetch``).
Each step, every rank scores its slices of the step, every trait at once, accumulating gradients
locally (DDP ``no_sync``) and all-reducing once at the step's last slice (a rank without a slice at a
step still joins the all-reduce, with a zero gradient). The loss is normalised by the step's core-SNP
count over *all* ranks, so the all-reduced gradient is exactly that of the step's per-SNP objective,
whatever the number of workers.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import tempfile
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..credentials import restore_secrets
from ..data.cache import SliceCache, cache_budget
from ..data.reader import Dataset
from ..errors import InputError
from ..evaluate.heldout import RunNull, prior_from_model, score_slices
from ..mismatch import LAMBDA_INIT
from ..models import build_prior
from .assignment import plan_shards, split_evenly
from .callbacks import StepCallback, StepEvent
from .checkpoint import load_or_fall_back, save_state
from .config import TrainConfig
from .objective import probe_generator, slice_loss
from .runplan import RunPlan
from .selection import OBJECTIVE_METRIC, best_epoch, selection_metric, should_stop
from .session import RayTrainSession, Session
from .tblog import EpochLogger


class _Module(nn.Module):
    """What DDP wraps: the prior network, returning its per-trait log sigma and log lambda (None
    without the mismatch term) too, so that every parameter is used inside ``forward`` (DDP's
    requirement)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, features, tracks):
        return self.net(features, tracks), self.net.log_sigma, self.net.log_lambda()


def build_model(cfg: TrainConfig, plan: RunPlan) -> nn.Module:
    """The run's prior network, seeded, so every rank starts from the same parameters."""
    torch.manual_seed(cfg.seed)
    K, w = plan.tracks_shape or (0, 0)
    net = build_prior(cfg.model, cfg.size, n_features=plan.n_features, n_traits=len(plan.traits),
                      n_tracks=K, window=w)
    with torch.no_grad():
        net.bias.copy_(torch.tensor(plan.init_log_f, dtype=net.bias.dtype))
        if plan.init_log_sigma is not None:
            net.log_sigma.copy_(torch.tensor(plan.init_log_sigma, dtype=net.log_sigma.dtype))
    if plan.fixed_log_sigma is not None:              # --sigma ldsc | VALUE: held there, never trained
        with torch.no_grad():
            net.log_sigma.copy_(torch.tensor(plan.fixed_log_sigma, dtype=net.log_sigma.dtype))
        net.log_sigma.requires_grad_(False)
    setting = cfg.mismatch_setting
    if setting.mode == "fixed":
        net.enable_mismatch(setting.value, learn=False)
    elif setting.mode == "learn":
        init = plan.init_log_lambda if plan.init_log_lambda is not None else [math.log(LAMBDA_INIT)] * net.n_traits
        net.enable_mismatch(torch.tensor(init, dtype=torch.float64).exp(), learn=True)
    return net


#: Learning-rate multiplier of the per-trait nuisance scalars (log sigma, log lambda). Adam moves each
#: parameter by about lr per step, so at lr 3e-3 a few hundred steps move log sigma by < 1: on chr22 height
#: the trained (sigma, lambda) ended at (3.35, 0.015) against (2.8, 0.025) for the best fit with the
#: same f, and the held-out NLL fell below the null's. They carry no weight decay (it would pull them
#: towards sigma = 1, lambda = 1, a bias, not a regulariser).
NUISANCE_LR_FACTOR = 10.0
#: ... but at most this (per step, in log units): at --lr 1e-2 a 10x rate (0.1) made the nuisance scalars
#: overshoot in short runs (the Tune test's lr 1e-2 trials lost to lr 1e-5 ones).
NUISANCE_LR_MAX = 0.03


def make_optimizer(cfg: TrainConfig, net: nn.Module) -> torch.optim.Optimizer:
    """AdamW on the network's weight matrices and kernels (``--lr``, ``--weight-decay``), on its biases
    (``--lr``, no decay) and on its nuisance scalars (log sigma, log lambda: NUISANCE_LR_FACTOR x lr up to
    NUISANCE_LR_MAX, no decay). Decoupled decay pulls a parameter towards 0: for a weight that is shrinkage
    towards a flatter prior, but for the output bias (log f ~ log(h2 / M), about -10) it is a pull towards
    f = 1, so biases are not decayed."""
    nuisance = [p for n, p in net.named_parameters() if n in ("log_sigma", "log_lambda_raw") and p.requires_grad]
    ids = {id(p) for p in nuisance}
    rest = [p for p in net.parameters() if id(p) not in ids]
    lr_n = max(cfg.lr, min(cfg.lr * NUISANCE_LR_FACTOR, NUISANCE_LR_MAX))
    return torch.optim.AdamW([{"params": [p for p in rest if p.dim() >= 2]},
                              {"params": [p for p in rest if p.dim() < 2], "weight_decay": 0.0},
                              {"params": nuisance, "lr": lr_n, "weight_decay": 0.0}],
                             lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_lambda(cfg: TrainConfig, steps_per_epoch: int):
    """Linear warm-up over ``warmup_epochs`` then cosine decay to 10% at the last step."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        prog = min(1.0, (step - warm) / max(1, total - warm))
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * prog))
    return f


def train_loop_per_worker(config: dict) -> None:
    """Ray Train entry point. ``config`` = {"train": TrainConfig dict, "plan": RunPlan dict}."""
    quiet_ray_train_logs()
    cfg = TrainConfig(**config["train"])
    torch.set_num_threads(max(1, int(os.environ.get("DEEPWAS_THREADS_PER_WORKER", "1"))))
    run_worker(cfg, RunPlan.from_json(config["plan"]), RayTrainSession(cfg.use_gpu),
               callbacks=config.get("callbacks") or ())


def run_worker(cfg: TrainConfig, plan: RunPlan, session: Session, heldout_keys: list | None = None,
               final_metrics: Callable[[nn.Module, SliceCache], dict] | None = None,
               cache: SliceCache | None = None, callbacks: Sequence[StepCallback] = ()
               ) -> tuple[nn.Module, list[dict]]:
    """Train on this rank until ``cfg.epochs``, resuming from the session's latest checkpoint.

    Reports one metrics row per epoch (with a checkpoint) and, if asked, every K steps. Returns the
    network and the per-epoch history; with validation slices (``plan.val_keys``: ``--val-chroms``) the
    network is the epoch's with the lowest validation NLL, and ``--patience`` stops training early
    (:mod:`deepwas_dist.train.selection`). ``heldout_keys`` overrides the plan's held-out slices (Tune
    validates on its own chromosomes); ``final_metrics(net, cache)`` adds to the last epoch's row;
    ``cache`` lets in-process callers keep read slices across fits; ``callbacks`` run after every
    optimiser step (:mod:`deepwas_dist.train.callbacks`).
    """
    rank, world, device = session.rank, session.world, session.device
    net = build_model(cfg, plan)
    module = session.prepare(_Module(net))
    is_ddp = isinstance(module, nn.parallel.DistributedDataParallel)
    opt = make_optimizer(cfg, net)
    planned = cfg.plan_world or world              # plan_world > world: test-only, see EpochPlan.for_rank
    if planned < world:
        raise ValueError(f"plan_world {planned} is below the {world} workers")
    shards = plan_shards(plan.train_keys, plan.train_costs, plan.train_ncore, planned, cfg.accumulation, cfg.seed)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, shards.num_steps))

    start_epoch, start_step, global_step, history = 0, 0, 0, list(plan.history)
    partial = None          # (loss, snps, slices, seconds) of a mid-epoch checkpoint, summed over ranks
    best_state = None       # --val-chroms: the parameters of the epoch with the lowest validation NLL
    with session.latest_checkpoint() as d:
        if d is not None:
            state, meta = load_or_fall_back(d, plan.run_url, restore_secrets(cfg.storage_options),
                                            log=print if rank == 0 else _quiet)
            net.load_state_dict(state["model"])
            if len(state["optimizer"]["param_groups"]) != len(opt.param_groups):
                raise InputError(f"--resume: the checkpoint in {plan.run_url} was written by an earlier version "
                                 f"(an optimiser of {len(state['optimizer']['param_groups'])} parameter groups, now "
                                 f"{len(opt.param_groups)}); fix: train into a new --name (or evaluate the run as is)")
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            np.random.set_state(state["numpy_rng"])
            random.setstate(state["python_rng"])
            start_epoch, start_step, global_step = meta["epoch"], meta["step_in_epoch"], meta["global_step"]
            history = meta["history"]
            partial = meta.get("partial")
            best_state = state.get("best_model")
            if rank == 0:
                print(f"[deepwas] resumed from checkpoint at epoch {start_epoch}, step {start_step} "
                      f"(global step {global_step})", flush=True)

    if cache is None:
        cache = SliceCache(Dataset.open(plan.data_url, restore_secrets(plan.storage_options)), plan.traits,
                           bandwidth_kb=cfg.bandwidth_kb, device=device, dtype=cfg.dtype,
                           keep_variance=cfg.ld_keep_variance,
                           max_bytes=cache_budget(cfg.cache_mib, device, session.local_world))
    log_N = torch.tensor(plan.log_N, dtype=torch.float64, device=device)
    ho_keys = plan.heldout_keys if heldout_keys is None else heldout_keys
    ho_costs = [1.0] * len(ho_keys) if heldout_keys is not None else plan.heldout_costs

    def report(metrics: dict, epoch: int, step_in_epoch: int, partial_sums: list[float] | None = None) -> None:
        if rank == 0:
            with tempfile.TemporaryDirectory() as d:
                save_state(d, net, opt, sched, epoch, step_in_epoch, global_step, history, partial_sums,
                           best_model=best_state)
                session.report(metrics, d)
        else:
            session.report(metrics, None)

    thrash_warned = False
    metric = selection_metric(cfg.val_select, cfg.objective)     # the history key the choice of epoch reads
    tb = EpochLogger(plan.run_url, restore_secrets(plan.storage_options)) if rank == 0 and plan.run_url else None
    for epoch in range(start_epoch, cfg.epochs):
        if should_stop(history, cfg.patience, metric):
            if rank == 0:
                b, v = best_epoch(history, metric)
                print(f"[deepwas] early stop after epoch {history[-1]['epoch']}: the validation {metric} has not "
                      f"fallen below epoch {b}'s {v:.5f} for {cfg.patience} epoch(s) (--patience)", flush=True)
            break
        ep = shards.epoch(epoch)
        mine = ep.for_rank(rank, world)
        t0 = time.perf_counter()
        loss_sum, snps, slices, before, reads0 = 0.0, 0, 0, 0.0, cache.reads
        first = start_step if epoch == start_epoch else 0
        if first and partial and rank == 0:       # the part of this epoch done before the checkpoint
            loss_sum, snps, slices, before = partial[0], int(partial[1]), int(partial[2]), partial[3]
        for s in range(first, ep.num_steps):
            keys = mine[s]
            if s + 1 < ep.num_steps:
                cache.prefetch(mine[s + 1])
            opt.zero_grad(set_to_none=False)
            scale = world / max(ep.snps[s], 1)       # DDP averages over ranks: undo, then per SNP
            if not keys:                               # no slice for this rank: still join the all-reduce
                out, ls, ll = module(torch.zeros(0, plan.n_features, device=device), None if plan.tracks_shape is None
                                     else torch.zeros(0, *plan.tracks_shape, device=device))
                (out.sum() * 0.0 + ls.sum() * 0.0 + (0.0 if ll is None else ll.sum() * 0.0)).backward()
            for i, key in enumerate(keys):
                sync = i == len(keys) - 1
                with (module.no_sync() if is_ddp and not sync else contextlib.nullcontext()):
                    b = cache.get(key)
                    log_f, log_sigma, log_lambda = module(b.features, b.tracks)
                    loss, _ = slice_loss(b, log_f, log_sigma, log_N, cfg.objective, cfg.method, cfg.num_probes,
                                         probe_generator(cfg.seed, epoch, *key), log_lambda=log_lambda)
                    (loss * scale).backward()
                loss_sum += float(loss.detach())
                snps += b.n
                slices += 1
            wants_grad = any(cb.wants_grad for cb in callbacks)
            grad = _flat(p.grad for p in net.parameters()) if wants_grad else None   # all-reduced, unclipped
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            global_step += 1
            if callbacks:
                event = StepEvent(rank, global_step, lambda: _flat(net.parameters()), grad)
                for cb in callbacks:
                    cb.on_step(event)
            if cfg.checkpoint_every_steps and global_step % cfg.checkpoint_every_steps == 0 \
                    and s + 1 < ep.num_steps:
                sums = session.allreduce([loss_sum, snps, slices, before + (time.perf_counter() - t0) / world])
                report({"epoch": epoch, "step": global_step, "partial": True}, epoch, s + 1, sums.tolist())
        elapsed = time.perf_counter() - t0 + before * world
        tot = session.allreduce([loss_sum, snps, slices, cache.reads - reads0])
        where = np.zeros(world)
        where[rank] = int(session.node_id[:12], 16) + 1
        nodes = len(set(session.allreduce(where).tolist()))        # distinct nodes the workers ran on
        secs = float(session.allreduce([elapsed])[0]) / world
        T = len(plan.traits)
        row = {"epoch": epoch + 1, "step": global_step, "train_loss_per_snp": float(tot[0] / max(tot[1] * T, 1)),
               "slices_per_s": float(tot[2] / max(secs, 1e-9)), "snps_per_s": float(tot[1] / max(secs, 1e-9)),
               "lr": float(sched.get_last_lr()[0]), "seconds": secs, "nodes": nodes,
               "slice_reads": int(tot[3])}       # training slices read from storage this epoch, all ranks
        if ho_keys and cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
            row.update(heldout_metrics(plan.traits, ho_keys, ho_costs, net, cache, session, log_N,
                                       null_prior(plan, net.log_lambda() is not None)))
        if plan.val_keys:               # every epoch: the choice of epoch reads it
            row.update(heldout_metrics(plan.traits, plan.val_keys, plan.val_costs, net, cache, session, log_N,
                                       null_prior(plan, net.log_lambda() is not None), prefix="val"))
            if metric == OBJECTIVE_METRIC:
                row[metric] = objective_per_snp(cfg, plan.val_keys, plan.val_costs, net, cache, session, log_N)
        if final_metrics is not None and epoch + 1 == cfg.epochs:
            row.update(final_metrics(net, cache))
        history.append(row)
        if plan.val_keys and (best_epoch(history, metric) or (None,))[0] == row["epoch"]:
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if rank == 0 and cfg.log_every_epoch:
            print(format_epoch_line(row, plan.traits), flush=True)
        # the first full epoch fills the cache: the start epoch, and after a mid-epoch resume the next one too
        # (the resumed epoch skipped the steps before the checkpoint, so their slices are read the epoch after)
        if rank == 0 and epoch > start_epoch + (1 if start_step else 0) and row["slice_reads"] and not thrash_warned:
            thrash_warned = True
            print(f"[deepwas] warning: epoch {epoch + 1} read {row['slice_reads']:,} training slices from storage "
                  f"again: the shards do not fit the workers' slice caches ({cache.max_bytes / 2 ** 20:,.0f} MiB "
                  "each); fix: a larger --cache-mib, or more workers", flush=True)
        if tb is not None:
            tb.log(row)
        report(row, epoch + 1, 0)
    if best_state is not None:
        net.load_state_dict(best_state)
    return net, history


def quiet_ray_train_logs() -> None:
    """Keep Ray Train's per-report INFO lines out of the console (our epoch line says it once).
    Some of its modules log through loggers named by file path, hence the scan."""
    for name in ["ray.train", *list(logging.root.manager.loggerDict)]:
        if name.startswith("ray.train") or "/ray/train/" in name:
            logging.getLogger(name).setLevel(logging.WARNING)


def heldout_metrics(traits: list[str], keys: list, costs: list[float], net: nn.Module, cache: SliceCache,
                    session: Session, log_N: torch.Tensor, null: tuple[torch.Tensor, torch.Tensor | None],
                    prefix: str = "heldout") -> dict:
    """NLL of ``keys`` (this rank's share, summed over ranks) under the network and the null prior:
    ``<prefix>_nll_per_snp``, ``<prefix>_improvement_per_snp`` (pooled over traits) and per trait."""
    mine = split_evenly(keys, costs, session.world)[session.rank]
    T = len(traits)
    null_ls, null_ll = null
    prior = prior_from_model(net)
    sums = np.zeros(3 * T)
    for k in mine:
        # One slice per call: score_slices seeds the iterative path's probes by a slice's position in its
        # input, so scoring this rank's whole share at once made the numbers depend on the world size.
        sc = score_slices([cache.get(k)], prior, log_N, null_ls, method="auto", null_log_lambda=null_ll)
        sums += np.concatenate([sc.nll, sc.null, sc.n_snps])
    tot = session.allreduce(sums)
    nll, null, n = tot[:T], tot[T:2 * T], tot[2 * T:]
    p = prefix
    out = {f"{p}_nll_per_snp": float(nll.sum() / max(n.sum(), 1)),
           f"{p}_improvement_per_snp": float((null.sum() - nll.sum()) / max(n.sum(), 1))}
    for t, name in enumerate(traits):
        out[f"{p}_nll/{name}"] = float(nll[t])
        out[f"{p}_nll_per_snp/{name}"] = float(nll[t] / max(n[t], 1))
        out[f"{p}_improvement_per_snp/{name}"] = float((null[t] - nll[t]) / max(n[t], 1))
    return out


def objective_per_snp(cfg: TrainConfig, keys: list, costs: list[float], net: nn.Module, cache: SliceCache,
                      session: Session, log_N: torch.Tensor) -> float:
    """The training objective (``cfg.objective``) of the network on ``keys`` per core SNP and trait, this
    rank's share summed over ranks (:data:`~deepwas_dist.train.selection.OBJECTIVE_METRIC`)."""
    mine = split_evenly(keys, costs, session.world)[session.rank]
    sums = np.zeros(2)
    with torch.no_grad():
        for k in mine:
            b = cache.get(k)
            log_f = net(b.features, b.tracks)
            loss, _ = slice_loss(b, log_f, net.log_sigma, log_N, cfg.objective, cfg.method, cfg.num_probes,
                                 probe_generator(cfg.seed, 0, *k), log_lambda=net.log_lambda())
            sums += [float(loss), b.n * log_f.shape[1]]
    tot = session.allreduce(sums)
    return float(tot[0] / max(tot[1], 1))


def run_null(plan: RunPlan) -> RunNull:
    """The run's null prior: the plan's fit of :func:`deepwas_dist.evaluate.heldout.fit_run_null`, whose
    docstring defines every "vs null" figure."""
    if plan.null_log_sigma is None:
        raise ValueError("the run plan has no null prior (make_plan fits it)")
    no_lambda = plan.null_log_sigma if plan.null_log_lambda is None else plan.null_log_sigma_no_lambda
    return RunNull(plan.null_log_sigma, plan.null_log_lambda, no_lambda)


def null_prior(plan: RunPlan, has_lambda: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The run's null (log sigma, log lambda or None) to compare a prior with (``has_lambda``) or without
    lambda with."""
    return run_null(plan).for_prior(has_lambda)


def format_epoch_line(row: dict, traits: list[str]) -> str:
    """One human-readable line per epoch."""
    ho = row.get("heldout_nll_per_snp")
    ho_s = f"held-out NLL/SNP {ho:.5f}" if ho is not None else "held-out NLL/SNP    -   "
    val = row.get("val_nll_per_snp")
    val_s = f"validation NLL/SNP {val:.5f}  " if val is not None else ""
    return (f"[deepwas] epoch {row['epoch']:>3}  loss/SNP {row['train_loss_per_snp']:.5f}  {ho_s}  {val_s}"
            f"{row['slices_per_s']:.1f} slices/s  {row['snps_per_s']:,.0f} SNPs/s  lr {row['lr']:.2e}")


def _quiet(_: str) -> None:
    pass


def _flat(tensors) -> np.ndarray:
    return torch.cat([t.detach().reshape(-1).cpu().double() for t in tensors]).numpy()


__all__ = ["train_loop_per_worker", "run_worker", "RunPlan", "build_model"]
