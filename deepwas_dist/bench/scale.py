"""Scale benchmark (issue #12): genome datasets at HapMap3 density, the cost of every stage, a per-slice cost
model and the epoch time it projects to 1.1M and 10M SNPs on 8 and 32 workers.

    python -m deepwas_dist.bench scale [--sizes 100k[,300k,1m]] [--epochs 3] [--json docs/results/bench_scale.json]
                                       [--readme README.md]

Per measured size (datasets: :mod:`.scale_data`, built once and cached): the stages' wall time, CPU time
and peak memory (:mod:`.stages`): simulate, plan (null prior and intercept fit), first epoch, later
epochs (mean), evaluation (the report's held-out scoring, constant-prior baseline, posterior effects and
the jackknife, ``--jackknife fixed`` by default) and outputs (snpvar, effects, enrichment, plots,
model, metrics). Training runs in this process as one worker (the loop of a Ray Train worker, in a
:class:`~deepwas_dist.train.session.LocalSession`) with one torch thread, as a Ray Train CPU worker
runs; bytes read from storage per epoch are the stored bytes (the slice index's BYTES) of the slices
the worker's cache read. SNPs/s per worker: core SNPs trained per second of a later epoch.
``--scaling`` also runs the training benchmark (:mod:`.training`, Ray Train) at 1 and 2 workers on the
smallest size, for the all-reduce cost the projection uses. Then per-slice CPU times
(:mod:`.slice_timing`) are fitted by :mod:`.cost_model`, whose docstring states the projection's method.
Sizes not measured are projected, and labelled so.
"""
from __future__ import annotations

import math
import os
import statistics
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from ..data import schema as S
from ..data.cache import SliceCache
from ..data.reader import Dataset
from ..data.slicing import seeded_subsample
from ..errors import InputError
from ..evaluate import report
from ..evaluate.report import evaluate_model
from ..train.assignment import plan_shards
from ..train.config import TrainConfig
from ..train.loop import run_worker
from ..train.plan import make_plan, resolve_traits
from ..train.session import LocalSession
from .cost_model import Geometry, SliceTiming, allreduce_per_step, fit_cost, project_epoch
from .scale_data import GENOME_MB, HAPMAP3_SNPS, SNPS_PER_MB, BuiltDataset, ScaleDataSpec, build_or_reuse, size_label
from .slice_timing import time_batches, time_synthetic
from .stages import Meter, StageCost, machine_load, measure
from .training import run_benchmark as run_training_bench

#: Sizes the projection always covers, with the genome they span, and the worker counts asked for.
TARGETS = ((HAPMAP3_SNPS, GENOME_MB), (10_000_000, GENOME_MB))
TARGET_WORKERS = (1, 8, 32)
#: Ray's raylet start-up wait (seconds) for the scaling run, and the environment variable that sets it.
RAY_WAIT_VAR, RAY_START_WAIT_S = "RAY_raylet_start_wait_time_s", 180


@dataclass(frozen=True)
class ScaleSettings:
    """How each size is measured (defaults: the committed run)."""

    epochs: int = 3
    model: str = "mlp"
    size: str = "small"
    jackknife: str = "fixed"
    threads: int = 1
    cache_mib: float = 8192.0              # the worker's slice cache: the shard must fit (else LRU re-reads)
    slice_sample: int = 40                 # benchmark slices timed per size
    traits_grid: tuple[int, ...] = (1, 2, 3)
    synthetic: tuple[int, ...] = (1500, 3000, 6000)
    repeats: int = 3
    project_ranks: tuple[int, ...] = (2000,)   # also project 1.1M / 10M with LD rank capped here (a larger panel)
    scaling: bool = True
    scaling_epochs: int = 3
    scaling_size: int | None = None           # the measured size of the 1- vs 2-worker run (None: the first)
    seed: int = 0
    data: dict = field(default_factory=dict)   # ScaleDataSpec fields other than snps (n_panel, n_gwas, ...)


class CountingCache(SliceCache):
    """The worker's slice cache, also counting the stored bytes of the slices it reads from storage."""

    def __init__(self, dataset: Dataset, *args, **kwargs):
        super().__init__(dataset, *args, **kwargs)
        idx = dataset.slice_index()
        self.stored = {(int(c), int(s)): int(b) for c, s, b in zip(idx[S.CHR], idx[S.SLICE_ID], idx[S.BYTES])}
        self.bytes_read = 0

    def _read(self, key):
        b = super()._read(key)
        with self._lock:
            self.bytes_read += self.stored[(int(key[0]), int(key[1]))]
        return b


class EpochMeter:
    """Step callback closing one :class:`Meter` per epoch (every ``steps`` optimiser steps); an epoch's
    checkpoint copy falls into the next one's figure, and the last epoch's is not counted."""

    wants_grad = False

    def __init__(self, steps: int, cache: CountingCache):
        self.steps, self.cache = steps, cache
        self.costs: list[StageCost] = []
        self.bytes: list[int] = []
        self._meter, self._bytes0 = Meter("epoch 1"), 0

    def on_step(self, step) -> None:
        if step.global_step % self.steps:
            return
        self.costs.append(self._meter.stop())
        self.bytes.append(self.cache.bytes_read - self._bytes0)
        self._bytes0 = self.cache.bytes_read
        self._meter = Meter(f"epoch {len(self.costs) + 1}")


@contextmanager
def split_outputs(evaluation: Meter, costs: dict) -> Iterator[None]:
    """Time ``write_outputs`` apart from the rest of ``evaluate_model``: the evaluation meter stops and an
    outputs meter starts when the report calls it (its last call). The report module's name is swapped
    for the ``with`` block and restored after."""
    original = report.write_outputs

    def timed(*args, **kwargs):
        costs["evaluation"] = evaluation.stop()
        out = Meter("outputs")
        try:
            return original(*args, **kwargs)
        finally:
            costs["outputs"] = out.stop()

    report.write_outputs = timed
    try:
        yield
    finally:
        report.write_outputs = original


def mean_cost(name: str, costs: list[StageCost]) -> StageCost:
    return StageCost(name, statistics.fmean(c.wall_s for c in costs), statistics.fmean(c.cpu_s for c in costs),
                     max(c.peak_rss_bytes for c in costs), max(c.self_peak_rss_bytes for c in costs),
                     max(c.children_peak_rss_bytes for c in costs), costs[0].peak_scope)


def run_size(built: BuiltDataset, settings: ScaleSettings, storage: str,
             log: Callable[[str], None] = print) -> tuple[dict, list[SliceTiming], list[tuple[int, int]]]:
    """Measure one dataset: (its result row, its slice timings, (m, r) of each training slice)."""
    load = machine_load()
    ds = Dataset.open(built.url)
    traits = resolve_traits(ds, "all")
    label = size_label(built.spec.snps)
    cfg = TrainConfig(data=built.url, workers=1, epochs=max(2, settings.epochs), storage=storage,
                      name=f"scale-{label}", model=settings.model, size=settings.size, eval_every=0,
                      log_every_epoch=False, jackknife=settings.jackknife, seed=settings.seed,
                      cache_mib=settings.cache_mib).validate()
    with measure("plan") as planned:
        plan, split = make_plan(cfg, ds, traits)
    steps = plan_shards(plan.train_keys, plan.train_costs, plan.train_ncore, 1, cfg.accumulation, cfg.seed).num_steps
    cache = CountingCache(ds, plan.traits, bandwidth_kb=cfg.bandwidth_kb, device=torch.device("cpu"),
                          dtype=cfg.dtype, keep_variance=cfg.ld_keep_variance, max_bytes=cfg.cache_mib * 2 ** 20)
    meter = EpochMeter(steps, cache)
    session = LocalSession()
    log(f"[scale] {label}: training {len(plan.train_keys)} slices x {cfg.epochs} epochs ({steps} steps each)")
    try:
        net, history = run_worker(cfg, plan, session, cache=cache, callbacks=[meter])
    finally:
        session.close()
    net.eval()
    costs: dict[str, StageCost] = {}
    log(f"[scale] {label}: evaluating ({cfg.jackknife} jackknife) and writing outputs")
    with split_outputs(Meter("evaluation"), costs):
        evaluate_model(cfg, ds, plan, split, net, history, log=lambda *_: None)
    shapes = [(cache.get(k).ld.m, cache.get(k).ld.rank) for k in plan.train_keys]      # held: no reads
    log_N = torch.tensor(plan.log_N, dtype=torch.float64)
    keys = seeded_subsample(plan.train_keys, settings.slice_sample, settings.seed)
    log(f"[scale] {label}: timing {len(keys)} slices x T in {settings.traits_grid}")
    timings = time_batches((cache.get(k) for k in keys), lambda b: net(b.features, b.tracks).double()
                           + log_N[None, :], settings.traits_grid, settings.repeats, cfg.num_probes)
    later = meter.costs[1:]
    core_snps = sum(plan.train_ncore)
    info = ds.manifest.ld
    row = {"size": label, "target_snps": built.spec.snps, "snps": built.snps, "chromosomes": built.spec.n_chroms,
           "length_mb_per_chrom": built.spec.length_mb, "n_panel": built.spec.n_panel, "n_gwas": built.spec.n_gwas,
           "traits": len(traits), "dataset": built.url, "dataset_bytes": built.dataset_bytes, "slices": built.slices,
           "train_slices": len(plan.train_keys), "heldout_slices": len(plan.heldout_keys), "cached": built.cached,
           "steps_per_epoch": steps, "accumulation": cfg.accumulation, "core_snps_per_epoch": core_snps,
           "stages": [c.to_dict() for c in (built.simulate, planned.cost, meter.costs[0], mean_cost(
               "later epochs (mean)", later), costs["evaluation"], costs["outputs"])],
           "epochs": [{**c.to_dict(), "bytes_read": b, "slice_reads": h.get("slice_reads")}
                      for c, b, h in zip(meter.costs, meter.bytes, history)],
           "bytes_read_first_epoch": meter.bytes[0],
           "bytes_read_per_later_epoch": statistics.fmean(meter.bytes[1:]),
           "snps_per_s_per_worker": core_snps / statistics.fmean(c.wall_s for c in later),
           "snps_per_cpu_s_per_worker": core_snps / statistics.fmean(c.cpu_s for c in later),
           "cache_bytes": cache.nbytes, "slice_m": _spread([m for m, _ in shapes]),
           "slice_r": _spread([r for _, r in shapes]), "train_slice_shapes": [list(x) for x in shapes],
           "load_at_start": load,
           "geometry": {"core_kb": info.core_kb, "flank_kb": info.bandwidth_kb,
                        "ld_keep_variance": cfg.ld_keep_variance},
           "jackknife": cfg.jackknife, "model": f"{cfg.model}/{cfg.size}", "torch_threads": torch.get_num_threads()}
    return row, timings, shapes


def _spread(xs: list[int]) -> dict:
    return {"min": int(min(xs)), "median": float(np.median(xs)), "max": int(max(xs))}


def _scaling_row(rows: list[dict], settings: ScaleSettings) -> dict:
    """The measured size the 1- vs 2-worker run uses: ``settings.scaling_size``, else the first."""
    if settings.scaling_size is None:
        return rows[0]
    return next(r for r in rows if r["target_snps"] == settings.scaling_size)    # checked by run()


def measure_scaling(row: dict, settings: ScaleSettings, log: Callable[[str], None]) -> list[dict] | None:
    """``bench training`` (Ray Train) at 1 and 2 workers on ``row``'s dataset; None, logged, when Ray does
    not start or the run fails (on a loaded machine a local Ray's raylet can time out starting: its
    start-up wait is raised to :data:`RAY_START_WAIT_S` unless set)."""
    log(f"[scale] {row['size']}: Ray Train at 1 and 2 workers ({settings.scaling_epochs} epochs each)")
    saved = os.environ.get(RAY_WAIT_VAR)
    os.environ.setdefault(RAY_WAIT_VAR, str(RAY_START_WAIT_S))
    try:
        return run_training_bench([1, 2], settings.scaling_epochs, row["dataset"], settings.model, settings.size,
                                  log=lambda *_: None)
    except Exception as e:                 # noqa: BLE001 - a failed optional measurement is reported, not fatal
        log(f"[scale] the 1- vs 2-worker run failed ({type(e).__name__}: {e}); no all-reduce term")
        return None
    finally:
        if saved is None:
            os.environ.pop(RAY_WAIT_VAR, None)


def run(sizes: list[int], settings: ScaleSettings = ScaleSettings(), root: str | None = None,
        log: Callable[[str], None] = print) -> dict:
    """The whole benchmark: measured sizes, the cost model, projections (:mod:`.cost_model`)."""
    if settings.scaling and settings.scaling_size is not None and settings.scaling_size not in sizes:
        raise InputError(f"--scaling-size {settings.scaling_size:,} is not one of --sizes; fix: add it to --sizes")
    torch.set_num_threads(settings.threads)
    load0 = machine_load()
    rows, timings, shapes, scaling = [], [], [], None
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as storage:
        for n in sizes:
            built = build_or_reuse(ScaleDataSpec(n, seed=settings.seed, **settings.data), root, log=log)
            row, ts, sh = run_size(built, settings, storage, log)
            rows.append(row)
            timings += ts
            shapes.append(sh)
        if settings.scaling:
            scaling = measure_scaling(_scaling_row(rows, settings), settings, log)
    log(f"[scale] timing synthetic slices m in {settings.synthetic}")
    timings += time_synthetic(settings.synthetic, settings.traits_grid, settings.repeats)
    return summarise(rows, timings, shapes, scaling, settings, sizes, load0, machine_load())


def summarise(rows: list[dict], timings: list[SliceTiming], shapes: list[list[tuple[int, int]]],
              scaling: list[dict] | None, settings: ScaleSettings, sizes: list[int], load_start: dict,
              load_end: dict) -> dict:
    """Fit the cost model, calibrate it on the largest measured size's epochs (``shapes``: each measured
    size's training slices as (m, r)) and project."""
    fit = fit_cost(timings)
    i_big = max(range(len(rows)), key=lambda i: rows[i]["snps"])
    big, mr = rows[i_big], np.array(shapes[i_big], dtype=np.float64)
    predicted = float(fit.predict(mr[:, 0], mr[:, 1], np.full(len(mr), big["traits"])).sum())
    later = next(s for s in big["stages"] if s["name"].startswith("later"))
    overhead = later["cpu_s"] / predicted
    allreduce, allreduce_note = 0.0, "not measured (--no-scaling, or the run failed): no all-reduce cost"
    if scaling:
        one, two = (next(r for r in scaling if r["workers"] == w) for w in (1, 2))
        on = _scaling_row(rows, settings)
        steps_2 = math.ceil(on["train_slices"] / (2 * on["accumulation"]))
        allreduce = allreduce_per_step(one["epoch_s"], two["epoch_s"], steps_2)
        allreduce_note = (f"(epoch_2 - epoch_1 / 2) / steps_2 from Ray Train at 1 and 2 workers on {on['size']} "
                          f"(wall seconds on the shared machine: efficiency {two['efficiency']:.0%})")
    geo = Geometry(big["geometry"]["core_kb"], big["geometry"]["flank_kb"], big["slice_r"]["max"])
    larger = [Geometry(geo.core_kb, geo.flank_kb, int(k)) for k in settings.project_ranks if k > geo.rank_cap]
    measured = {r["target_snps"] for r in rows}
    asked = [(n, n / SNPS_PER_MB) for n in sorted(set(sizes) | {100_000, 300_000, 1_000_000}) if n not in measured]
    proj = [project_epoch(fit, geo, n, mb, 1, big["traits"], overhead, allreduce, big["accumulation"]).to_dict()
            for n, mb in asked]
    proj += [project_epoch(fit, g, n, mb, w, big["traits"], overhead, allreduce, big["accumulation"]).to_dict()
             for g in (geo, *larger) for n, mb in TARGETS for w in TARGET_WORKERS]
    pred = fit.predict([t.m for t in timings], [t.r for t in timings], [t.traits for t in timings])
    points = [{**t.__dict__, "predicted_s": float(p)} for t, p in zip(timings, pred)]
    return {"sizes": rows, "cost_model": {**fit.to_dict(), "timings": points,
                                          "calibrated_on": big["size"], "predicted_slice_cpu_s": predicted,
                                          "epoch_overhead": overhead, "allreduce_step_s": allreduce,
                                          "allreduce_method": allreduce_note,
                                          "geometry": geo.__dict__},
            "scaling": scaling, "projections": proj, "load": {"start": load_start, "end": load_end},
            "settings": {k: v for k, v in settings.__dict__.items()}, "device": "cpu"}
