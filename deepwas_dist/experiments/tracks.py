"""The conv prior on ingested bigWig tracks, end to end, against the MLP on annotations.

Per seed, the demo's data (``SimulationSpec`` defaults: 8 chromosomes x 5 Mb, 1,000-person panel, 10,000-person
GWAS cohort, out-of-sample) with the one trait whose truth depends on the tracks, ``sim_network``
(:func:`~deepwas_dist.simulate.truth.network_truth`: a random tanh MLP on the standardised annotations plus,
per random conv filter over the track window, the max and the centre value of its ReLU output). Its four
simulated tracks are exported as bigWigs (:mod:`deepwas_dist.simulate.bigwig`) and ingested back
(:func:`~deepwas_dist.ingest.tracks.prepare_tracks`, ``--window w*step --bins w``) into copies of the
dataset, so there are four datasets with the same SNPs, LD and z:

- ``sim``: the simulator's, annotations only as far as the MLP sees (its raw windows are there for conv);
- ``ingested16`` / ``ingested32``: windows from the bigWigs, stored float16 (the default) / float32,
  plus the ``track_mean_*`` annotations;
- ``simtracks``: the simulator's own windows stored the way ``prepare tracks`` stores (normalised, with
  ``track_mean_*``; :func:`~deepwas_dist.ingest.tracks.set_track_windows`), the ingest's control.

The cells (:data:`CELLS`) train on the training chromosomes and are scored on the held-out ones: held-out
NLL improvement over the null prior per SNP, r(log f) with the truth on held-out SNPs (and on all), h2
(true 0.4), mean +- s.e. over seeds. The truth's own held-out NLL is the ceiling.

With validation chromosomes (``val_chroms``) every fit keeps its epoch of lowest validation NLL, and with
several ``weight_decays`` every (cell, seed) is fitted with each and keeps the one whose kept epoch has the
lowest validation NLL (all fits in fits.csv): model selection that never looks at the held-out chromosomes.

Checks made on the way (per seed; :mod:`.tracks_checks`): how many SNPs' ingested windows equal the
simulator's (a bigWig has
one value per base, so where windows of nearby SNPs overlap the earlier SNP's values win: the exporter's
``cut`` count), and the float16 rounding of the stored windows (max and mean relative error, max error in
track standard deviations, the TRACKS column's bytes per SNP as float32 and float16, and the largest change
of a float32-trained conv prior's log f when fed the float16 windows). And, to read the NLL column, what
a given r(log f) is worth in held-out NLL on these data (:func:`truth_curve`: the truth degraded by noise).
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..data import schema as S
from ..data.reader import Dataset
from ..data.slicing import seeded_subsample
from ..errors import InputError
from ..evaluate.heldout import BASELINE_SLICES, fit_nuisance, score_slices
from ..ingest.tracks import prepare_tracks, set_track_windows
from ..simulate.bigwig import export_dataset_tracks
from ..simulate.dataset import SimulationSpec, write_simulated_dataset
from ..simulate.traits import DEFAULT_TRAITS
from ..train.config import TrainConfig
from ..train.holdout import check_chromosome_split
from ..train.loop import null_prior
from ..train.plan import make_plan
from ..train.selection import selection
from .fit import check_weight_decays, fit_and_score, fit_pool, keep_best_weight_decay, shared_cache
from .tracks_checks import f16_output_change, float16_error, ingest_check

TRAIT = next(t for t in DEFAULT_TRAITS if t.name == "sim_network")
#: --sigma of every fit: the unstratified LDSC intercept, which does not depend on the annotations, so the
#: null prior (and sigma) is the same in every cell of a seed and the "vs null" columns compare directly
#: (the run default, sldsc, fits the intercept with the annotations, which differ between the datasets).
SIGMA = "ldsc"
DATASETS = ("sim", "ingested16", "ingested32", "simtracks")


@dataclass(frozen=True)
class Cell:
    """One fit per seed: a prior on one of the seed's datasets (:data:`DATASETS`)."""

    name: str
    key: str                  # --cells KEY
    data: str
    model: str


CELLS = (Cell("conv, ingested bigWig tracks (float16, the default)", "conv16", "ingested16", "conv"),
         Cell("conv, ingested bigWig tracks (float32)", "conv32", "ingested32", "conv"),
         Cell("conv, the simulator's own tracks", "convsim", "simtracks", "conv"),
         Cell("mlp, annotations alone", "mlp", "sim", "mlp"),
         Cell("mlp, annotations + track means", "mlp-means", "ingested16", "mlp"))


@dataclass
class TracksSpec:
    """Sizes of the experiment; ``reduced()`` is the test's."""

    simulation: SimulationSpec = field(default_factory=lambda: SimulationSpec(traits=(TRAIT,)))
    holdout: str = "7-8"
    #: --val-chroms of every fit (and of the truth curve's plan): "none", or training chromosomes that each
    #: fit validates on, keeping its epoch with the lowest validation NLL (train/selection.py)
    val_chroms: str = "none"
    #: AdamW weight decays every cell is fitted with; with more than one (validation needed), each (cell, seed)
    #: keeps the decay whose kept epoch has the lowest validation NLL
    weight_decays: tuple[float, ...] = (1e-4,)
    #: score each fit's log f after an affine calibration on the validation chromosomes (evaluate/calibration.py)
    calibrated: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 12
    lr: float = 3e-3
    size: str = "small"
    step_bp: int = 50                     # the simulator's spacing of window positions (simulate_tracks)
    cells: tuple[Cell, ...] = CELLS

    def select(self, keys: list[str]) -> "TracksSpec":
        """Only the cells of ``keys`` (:attr:`Cell.key`), which must include the baseline (``mlp``)."""
        known = [c.key for c in CELLS]
        bad = sorted(set(keys) - set(known))
        if bad:
            raise InputError(f"--cells: unknown {', '.join(bad)}; use any of {','.join(known)}")
        if BASELINE_KEY not in keys:
            raise InputError(f"--cells {','.join(keys)}: every cell is compared with the MLP on annotations; "
                             f"fix: add {BASELINE_KEY}")
        return replace(self, cells=tuple(c for c in CELLS if c.key in keys))

    @property
    def datasets(self) -> tuple[str, ...]:
        """The seed's datasets the cells need (``sim`` always: the others are copies of it), and both ingested
        ones whenever one is (the ingest and float16 checks compare them)."""
        need = {"sim"} | {c.data for c in self.cells}
        if need & {"ingested16", "ingested32"}:
            need |= {"ingested16", "ingested32"}
        return tuple(d for d in DATASETS if d in need)

    @property
    def validates(self) -> bool:
        """Whether the fits validate (``val_chroms`` other than none)."""
        return self.val_chroms not in ("none", "")

    def reduced(self) -> "TracksSpec":
        """Two 1-Mb chromosomes (three with validation: 1 trains, 2 validates, 3 is held out), one seed."""
        val = self.validates
        sim = replace(self.simulation, n_individuals=200, n_gwas=2_000, chroms=(1, 2, 3) if val else (1, 2),
                      length_mb=1.0)
        return replace(self, simulation=sim, holdout="3" if val else "2", val_chroms="2" if val else "none",
                       seeds=(0,), epochs=2, size="tiny")


def _copy(src: str, dst: str) -> str:
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("_writers"))
    return dst


def build_datasets(spec: TracksSpec, seed: int, root: Path, log: Callable[[str], None] = print) -> dict:
    """The seed's datasets (:attr:`TracksSpec.datasets`) under ``root`` (reused when complete) and the
    bigWigs; returns {dataset name: url, "cut": SNPs whose exported window was cut}."""
    paths = {n: str(root / f"seed{seed}-{n}") for n in spec.datasets}
    done = root / f"seed{seed}-complete-{'-'.join(spec.datasets)}"
    if not (Path(paths["sim"]) / "manifest.json").exists():
        write_simulated_dataset(paths["sim"], replace(spec.simulation, seed=seed), log=log)
    elif (have := Dataset.open(paths["sim"]).chromosomes) != list(spec.simulation.chroms):
        raise InputError(f"{paths['sim']}: holds chromosomes {have}, not the {list(spec.simulation.chroms)} asked "
                         "for (--chroms); fix: give another --out, or the --chroms it was built with")
    if done.exists():
        return {**paths, "cut": int(done.read_text())}
    bw, cut = export_dataset_tracks(paths["sim"], str(root / f"seed{seed}-bw"), spec.step_bp)
    w = spec.simulation.window
    flags = [f"{n}={p}" for n, p in bw.items()]
    for name, dtype in (("ingested32", "float32"), ("ingested16", "float16")):
        if name in paths:
            prepare_tracks(_copy(paths["sim"], paths[name]), flags, window=w * spec.step_bp, bins=w, dtype=dtype,
                           progress=False)
    if "simtracks" in paths:
        ds = Dataset.open(paths["sim"])
        raw = {c: ds.features(c, tracks=True)[2].numpy() for c in ds.chromosomes}
        set_track_windows(_copy(paths["sim"], paths["simtracks"]), raw, list(bw), source="simulator",
                          dtype="float32")
    done.write_text(str(cut))
    log(f"[tracks] seed {seed}: datasets {', '.join(paths)} in {root} ({cut:,} exported windows cut)")
    return {**paths, "cut": cut}


def _heldout_rows(ds: Dataset, chroms: list[int]) -> np.ndarray:
    sizes = [ds.manifest.snps.per_chrom[c] for c in ds.chromosomes]
    ends = np.cumsum(sizes)
    return np.concatenate([np.arange(e - n, e) for c, n, e in zip(ds.chromosomes, sizes, ends) if c in chroms])


def _fit_cell(args: tuple) -> dict:
    torch.set_num_threads(1)
    data, holdout, val, wd, cell, seed, epochs, lr, size, calibrated = args
    cfg = TrainConfig(data=data, model=cell.model, size=size, seed=seed, epochs=epochs, lr=lr, holdout_chroms=holdout,
                      val_chroms=val, weight_decay=wd, method="exact", eval_every=0, log_every_epoch=False, workers=1,
                      accumulation=4, sigma=SIGMA)
    ds = Dataset.open(data)
    plan, _ = make_plan(cfg, ds, [TRAIT.name])
    r = fit_and_score(cfg, plan, true_sigma=[TRAIT.sigma], keep_net=True, calibrated=calibrated)
    f_true = np.concatenate([ds.sumstats(TRAIT.name, [c])[S.F_TRUE].to_numpy(np.float64) for c in ds.chromosomes])
    held = _heldout_rows(ds, sorted({c for c, _ in plan.heldout_keys}))
    lf = r.log_f[:, 0]
    n = float(r.heldout_snps[0])
    row = {"cell": cell.name, "data": cell.data, "model": cell.model if cell.model == "constant" else
           f"{cell.model}/{size}", "seed": seed, "parameters": r.parameters, "h2": float(r.h2[0]),
           "log_f_r_heldout": float(np.corrcoef(lf[held], np.log(f_true[held]))[0, 1]),
           "log_f_r_all": float(r.recovery_r[0]),
           "nll_vs_null_per_snp": (r.null[0] - r.nll[0]) / n,
           "true_vs_null_per_snp": (r.null[0] - r.true[0]) / n if r.true is not None else float("nan"),
           "heldout_snps": n, "seconds": r.seconds, "f16_max_dlogf": float("nan"),
           "epoch_kept": chosen.epoch if (chosen := selection(r.history, epochs)) else epochs,
           "val_nll_per_snp": chosen.val_nll_per_snp if chosen else float("nan"),
           "val_score": chosen.score if chosen else float("nan"), "weight_decay": wd}
    if calibrated:
        row.update(slope=float(r.net.slope.detach()[0]), shift=float(r.net.shift.detach()[0]))
    if cell.model == "conv" and ds.manifest.tracks.dtype == "float32":
        row["f16_max_dlogf"] = f16_output_change(ds, r.net)
    return row


#: r of the degraded truths of :func:`truth_curve`.
CURVE_R = (1.0, 0.9, 0.8, 0.68, 0.5, 0.36, 0.26, 0.0)
#: The degraded truth the others are compared with in the table (about the MLP on annotations' r).
CURVE_REF = 0.36


def truth_curve(data: str, seed: int, spec: TracksSpec, rs: tuple[float, ...] = CURVE_R) -> list[dict]:
    """How much held-out NLL a given r(log f) is worth here: degraded truths ``log f = mu + r (t - mu) +
    sqrt(1 - r^2) sd e`` (t the true log f, mu and sd its mean and sd, e iid N(0, 1)), shifted so that
    the f sum to the true h2, scored on the held-out slices like a trained prior (sigma as the cells',
    lambda fitted on the training baseline slices with f fixed), gain over the same null per SNP."""
    torch.set_num_threads(1)
    cfg = TrainConfig(data=data, model="constant", seed=seed, holdout_chroms=spec.holdout, val_chroms=spec.val_chroms,
                      method="exact", eval_every=0, log_every_epoch=False, workers=1, sigma=SIGMA)
    ds = Dataset.open(data)
    plan, _ = make_plan(cfg, ds, [TRAIT.name])
    cache = shared_cache(cfg, plan)
    log_N = torch.tensor(plan.log_N, dtype=torch.float64)
    base_b = [cache.get(k) for k in seeded_subsample(plan.train_keys, BASELINE_SLICES, cfg.seed)]
    held = [cache.get(k) for k in plan.heldout_keys]
    t = {c: np.log(ds.sumstats(TRAIT.name, [c])[S.F_TRUE].to_numpy(np.float64)) for c in ds.chromosomes}
    every = np.concatenate(list(t.values()))
    mu, sd = every.mean(), every.std()
    g = np.random.default_rng(seed)
    e = {c: g.standard_normal(len(v)) for c, v in t.items()}
    held_sigma = plan.fixed_log_sigma is not None
    init = (torch.as_tensor(plan.fixed_log_sigma, dtype=torch.float64).reshape(1) if held_sigma
            else torch.tensor([np.log(TRAIT.sigma)], dtype=torch.float64))
    null_ls, null_ll = null_prior(plan, True)
    rows = []
    for r in rs:
        lf = {c: mu + r * (v - mu) + np.sqrt(1 - r * r) * sd * e[c] for c, v in t.items()}
        shift = np.log(TRAIT.h2 / sum(np.exp(v).sum() for v in lf.values()))
        per = lambda b: torch.tensor(lf[b.chrom][b.snp_index] + shift, dtype=torch.float64)[:, None]  # noqa: E731
        ls, ll = fit_nuisance(base_b, [per(b) for b in base_b], log_N, init, learn_sigma=not held_sigma)
        nll = null = n = 0.0
        for b in held:
            sc = score_slices([b], lambda f, tr, x=per(b): (x, ls, ll), log_N, null_ls, null_log_lambda=null_ll)
            nll, null, n = nll + sc.nll[0], null + sc.null[0], n + sc.n_snps[0]
        r_got = float(np.corrcoef(np.concatenate(list(lf.values())), every)[0, 1])
        rows.append({"seed": seed, "r_target": r, "r": r_got,
                     "nll_vs_null_per_snp": (null - nll) / n, "sigma": float(ls.exp()[0]),
                     "lambda": float(ll.exp()[0])})
    return rows


def run_tracks(spec: TracksSpec, out_dir: str, processes: int | None = None,
               log: Callable[[str], None] = print) -> pd.DataFrame:
    """Build (or reuse) every seed's datasets, fit every cell, write cells.csv, checks.csv, results.csv and
    table.md under ``out_dir``."""
    if spec.calibrated and not spec.validates:
        raise InputError("--calibrate fits the calibration on validation chromosomes; fix: add --val-chroms (e.g. 6)")
    check_weight_decays(spec.weight_decays, spec.validates)
    check_chromosome_split(list(spec.simulation.chroms), spec.holdout, spec.val_chroms)
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data, checks = {}, []
    for seed in spec.seeds:
        data[seed] = build_datasets(spec, seed, out / "data", log)
        if "ingested32" not in data[seed]:        # cells on the simulator's windows only: nothing ingested
            continue
        chk = {"seed": seed, "cut": data[seed]["cut"], **ingest_check(data[seed]["sim"], data[seed]["ingested32"]),
               **float16_error(data[seed]["ingested32"], data[seed]["ingested16"])}
        checks.append(chk)
        log(f"[tracks] seed {seed}: {chk['exact_snps']:,} of {chk['snps']:,} ingested windows exact "
            f"({chk['cut']:,} cut in export); float16 max relative error {chk['f16_max_rel_err']:.2e}")
    jobs = [(data[seed][c.data], spec.holdout, spec.val_chroms, wd, c, seed, spec.epochs, spec.lr, spec.size,
             spec.calibrated)
            for seed in spec.seeds for c in spec.cells for wd in spec.weight_decays]
    log(f"[tracks] {len(jobs)} fits ({len(spec.cells)} cells x {len(spec.seeds)} seeds x weight decays "
        f"{spec.weight_decays}), {spec.epochs} epochs, held-out chromosomes {spec.holdout}, validation chromosomes "
        f"{spec.val_chroms}")
    rows = []
    with fit_pool(processes) as pool:
        for i, row in enumerate(pool.map(_fit_cell, jobs), 1):
            rows.append(row)
            log(f"  [{i}/{len(jobs)}] {row['cell']} seed {row['seed']} wd {row['weight_decay']:g}: validation NLL "
                f"{row['val_nll_per_snp']:.5f}/SNP, NLL vs null {row['nll_vs_null_per_snp']:+.5f}"
                f"/SNP, r(log f) held-out {row['log_f_r_heldout']:.3f} ({time.perf_counter() - t0:.0f} s)")
    curve = pd.DataFrame([row for seed in spec.seeds for row in truth_curve(data[seed]["sim"], seed, spec)])
    curve.to_csv(out / "truth_curve.csv", index=False)
    fits, checks = pd.DataFrame(rows), pd.DataFrame(checks)
    fits.to_csv(out / "fits.csv", index=False)
    cells = fits if len(spec.weight_decays) == 1 else keep_best_weight_decay(fits, ["cell", "seed"])
    cells.to_csv(out / "cells.csv", index=False)
    checks.to_csv(out / "checks.csv", index=False)
    table = write_tables(out, cells, checks, spec, curve)
    log(markdown_table(table, checks, spec, curve))
    log(f"[tracks] wrote {out}/table.md, results.csv, cells.csv, fits.csv, checks.csv "
        f"({time.perf_counter() - t0:.0f} s)")
    return table


def write_tables(out: Path, cells: pd.DataFrame, checks: pd.DataFrame, spec: TracksSpec,
                 curve: pd.DataFrame | None = None) -> pd.DataFrame:
    """results.csv and table.md from the per-seed cells, checks and truth curve (also to re-tabulate
    saved ones)."""
    table = summarise(cells)
    table.to_csv(out / "results.csv", index=False)
    (out / "table.md").write_text(markdown_table(table, checks, spec, curve))
    return table


METRICS = ("h2", "log_f_r_heldout", "log_f_r_all", "nll_vs_null_per_snp", "true_vs_null_per_snp", "seconds",
           "d_nll_vs_baseline", "d_r_vs_baseline", "epoch_kept")
#: The cell every other is compared with, seed by seed (the "vs MLP" columns): the MLP on annotations alone.
BASELINE_KEY = "mlp"
BASELINE = next(c.name for c in CELLS if c.key == BASELINE_KEY)


def _joined(values: pd.Series) -> str:
    return "/".join("-" if not np.isfinite(v) else f"{v:g}" for v in values)


def summarise(cells: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error over seeds per cell, in the cells' order; ``d_*_vs_baseline``: the
    paired difference from the :data:`BASELINE` cell of the same seed (held-out NLL gain per SNP, and
    r(log f) held-out), whose seed-to-seed spread is far smaller than that of the gains themselves."""
    cells = cells.copy()
    if "epoch_kept" not in cells:              # cells saved before validation existed: the last epoch, unrecorded
        cells["epoch_kept"] = np.nan
    base = cells[cells["cell"] == BASELINE].set_index("seed")
    if len(base):
        cells["d_nll_vs_baseline"] = cells["nll_vs_null_per_snp"] - cells["seed"].map(base["nll_vs_null_per_snp"])
        cells["d_r_vs_baseline"] = cells["log_f_r_heldout"] - cells["seed"].map(base["log_f_r_heldout"])
    else:
        cells["d_nll_vs_baseline"] = cells["d_r_vs_baseline"] = np.nan
    agg = cells.groupby(["cell", "model"], sort=False)[list(METRICS)].agg(["mean", "sem"])
    agg.columns = [a if b == "mean" else f"{a}_se" for a, b in agg.columns]
    if "weight_decay" not in cells:
        cells["weight_decay"] = np.nan
    extra = cells.groupby(["cell", "model"], sort=False).agg(parameters=("parameters", "first"),
                                                             weight_decay=("weight_decay", _joined),
                                                             seeds=("seed", "nunique"),
                                                             wins=("d_nll_vs_baseline", lambda d: int((d > 0).sum())))
    return agg.reset_index().merge(extra.reset_index(), on=["cell", "model"])


def markdown_table(t: pd.DataFrame, checks: pd.DataFrame, spec: TracksSpec, curve: pd.DataFrame | None = None) -> str:
    """The summary and the checks as Markdown (mean +- s.e. over seeds)."""
    def f(r, k, d=3):
        se = r.get(k + "_se", np.nan)
        return f"{r[k]:.{d}f} ± {se:.{d}f}" if np.isfinite(se) else f"{r[k]:.{d}f}"
    sim = spec.simulation
    lines = [f"trait {TRAIT.name} (true h2 {TRAIT.h2}); {len(sim.chroms)} chromosomes x {sim.length_mb:g} Mb, "
             f"held out {spec.holdout}; {spec.epochs} epochs"
             + ("" if not spec.validates else
                f", each fit keeping its epoch of lowest NLL on validation chromosome(s) {spec.val_chroms} (not "
                "trained on; mean in the 'epoch kept' column)")
             + ("; every fit's log f calibrated on the validation chromosomes (slope and shift)" if spec.calibrated
                else "")
             + f"; {len(spec.seeds)} seed(s); mean ± s.e.", "",
             "| prior (track source) | model | parameters | h2 | r(log f) held-out | r(log f) all | "
             f"NLL vs null (per SNP) | vs {BASELINE}: NLL gain (per SNP), seeds better | vs it: r(log f) "
             "| epoch kept | weight decay (per seed) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in t.iterrows():
        paired = ("(baseline)" if r["cell"] == BASELINE else
                  f"{r['d_nll_vs_baseline']:+.5f} ± {r['d_nll_vs_baseline_se']:.5f}, "
                  f"{int(r['wins'])}/{int(r['seeds'])}")
        lines.append(f"| {r['cell']} | {r['model']} | {int(r['parameters']):,} | {f(r, 'h2')} | "
                     f"{f(r, 'log_f_r_heldout')} | {f(r, 'log_f_r_all')} | {f(r, 'nll_vs_null_per_snp', 5)} | "
                     f"{paired} | {'-' if r['cell'] == BASELINE else format(r['d_r_vs_baseline'], '+.3f')} | "
                     + (f"{r['epoch_kept']:.1f} | " if np.isfinite(r["epoch_kept"]) else "- | ")
                     + f"{r['weight_decay']} |")
    true = t["true_vs_null_per_snp"].mean()
    d_true = float((t["true_vs_null_per_snp"] - t["nll_vs_null_per_snp"])[t["cell"] == BASELINE].mean())
    lines += [f"| the true f (ceiling; sigma and lambda fitted) | - | - | {TRAIT.h2} | 1 | 1 | {true:.5f} | "
              f"{d_true:+.5f} | - | - | - |"]
    if len(checks):
        lines += ["", "| seed | SNPs | ingested windows exact | cut in export | window r | float16 max / mean rel. "
                  "error | float16 max abs. error (sd) | TRACKS bytes/SNP f32 -> f16 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for _, c in checks.iterrows():
        lines.append(f"| {c['seed']} | {c['snps']:,} | {c['exact_snps']:,} | {c['cut']:,} | {c['window_r']:.4f} | "
                     f"{c['f16_max_rel_err']:.2e} / {c['f16_mean_rel_err']:.2e} | {c['f16_max_abs_err_sd']:.4f} | "
                     f"{c['tracks_bytes_per_snp_f32']:.0f} -> {c['tracks_bytes_per_snp_f16']:.0f} |")
    if curve is not None and len(curve):
        ref = curve[curve["r_target"] == CURVE_REF].set_index("seed")["nll_vs_null_per_snp"]
        d = curve.assign(d=curve["nll_vs_null_per_snp"] - curve["seed"].map(ref))
        g = d.groupby("r_target", sort=False)
        cv = pd.DataFrame({"r": g["r"].mean(), "mean": g["d"].mean(), "se": g["d"].sem()})
        lines += ["", "Degraded truths (truth_curve: the truth plus noise, h2 held at the truth's, sigma as the "
                  f"cells'): held-out NLL per SNP against the one at r = {CURVE_REF} (paired by seed):", "",
                  "| r(log f) | " + " | ".join(f"{r:.2f}" for r in cv["r"]) + " |", "|---|" + "---:|" * len(cv),
                  "| NLL gain vs r = " + f"{CURVE_REF} | " + " | ".join(
                      f"{m:+.5f} ± {e:.5f}" if np.isfinite(e) else f"{m:+.5f}" for m, e in zip(cv["mean"], cv["se"]))
                  + " |"]
    return "\n".join(lines) + "\n"
