"""The realistic benchmark: LD from a small reference panel, z-scores from a separate GWAS cohort.

Semi-synthetic data (``simulate``, out-of-sample design: msprime panel of ``n_panel`` people for LD, a
disjoint cohort of ``n_gwas`` from the same population for z), one trait whose truth is a thresholded
enrichment of binary annotations. Per seed (dataset and training seed together) every cell trains on the
training chromosomes and is scored with the likelihood on the held-out ones:

- the 2 x 3 table: {likelihood, LDSC} objective x {constant, linear, MLP} prior, with the defaults
  (lambda learned on R_CC's leading eigenpairs holding 99.5% of its variance);
- the LD-mismatch treatments, likelihood with constant and linear priors: lambda on every eigenpair,
  no mismatch term, and fixed shrinkage R <- 0.9 R + 0.1 I (a dataset ingested with --shrinkage 0.1);
- the in-sample design (z drawn with the panel's own LD) for contrast, lambda learned.

Columns: h2 bias (h2 - true h2), the strongest annotation's enrichment (largest true enrichment among
binary annotations) against its true value, r(log f) with the truth, held-out NLL improvement over the
null prior (per SNP), fitted sigma and lambda. Mean +- s.e. over seeds. cells.csv also has each fit's h2
by MAF bin and the truth's (:func:`h2_by_maf`).

With validation chromosomes (``val_chroms``, taken out of the training chromosomes) every fit keeps its
epoch of lowest validation NLL (train/selection.py), the same rule as ``train --val-chroms``, for every
objective: an LDSC-trained prior is then also chosen by the likelihood on the validation chromosomes.
With several ``weight_decays`` the linear and MLP cells are fitted with each, and every (cell, seed) keeps
the decay whose kept epoch has the lowest validation NLL (fits.csv has every fit, cells.csv the kept ones;
the constant prior has no decayed parameter and is fitted once).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.reader import Dataset
from ..errors import InputError
from ..simulate.dataset import SimulationSpec, write_simulated_dataset
from ..simulate.traits import TraitSpec
from ..train.config import TrainConfig
from ..train.holdout import check_chromosome_split
from ..train.plan import make_plan
from ..train.selection import selection, selection_metric
from .fit import check_weight_decays, fit_and_score, fit_pool, keep_best_weight_decay
from .realistic_report import write_tables

TRAIT = TraitSpec("enriched", h2=0.4, N=10_000, truth="threshold", truth_options={"factor": 10.0})


@dataclass(frozen=True)
class Treatment:
    """How LD mismatch is handled: the dataset design and shrinkage, and the run's --mismatch,
    --ld-keep-variance and --sigma."""

    name: str
    key: str = ""                                      # experiment realistic --treatments KEY
    design: str = "out-of-sample"
    shrinkage: float = 0.0
    mismatch: str = "learn"
    keep_variance: float | None = None
    sigma: str = TrainConfig.sigma                     # the run default (ldsc)

    @property
    def dataset(self) -> str:
        return f"{self.design}-shrink{self.shrinkage:g}"


#: The defaults (--mismatch learn, --ld-keep-variance 0.995, --sigma sldsc), and the alternatives.
LEARN = Treatment("default: truncation 99.5% + lambda, sigma at the S-LDSC intercept", "default", keep_variance=0.995)
TREATMENTS = (Treatment("default, sigma at the unstratified LDSC intercept", "sigma-ldsc", keep_variance=0.995,
                        sigma="ldsc"),
              Treatment("default, sigma learned", "sigma-learn", keep_variance=0.995, sigma="learn"),
              Treatment("default, sigma held at 1 (the simulated null variance)", "sigma-1", keep_variance=0.995,
                        sigma="1"),
              Treatment("lambda, all eigenpairs", "lambda-all"),
              Treatment("no mismatch term", "no-mismatch", mismatch="off"),
              Treatment("shrinkage 0.1", "shrinkage", shrinkage=0.1, mismatch="off"),
              Treatment("in-sample, default", "in-sample", design="in-sample", keep_variance=0.995))
#: --treatments keys: the default's 2 x 3 cells and every alternative
TREATMENT_KEYS = (LEARN.key,) + tuple(t.key for t in TREATMENTS)
PRIORS = (("constant", "small"), ("linear", "small"), ("mlp", "small"))


@dataclass
class RealisticSpec:
    """Sizes of the benchmark; ``reduced()`` is the CI version."""

    simulation: SimulationSpec = field(default_factory=lambda: SimulationSpec(
        n_individuals=500, n_gwas=10_000, chroms=tuple(range(1, 17)), length_mb=5.0, traits=(TRAIT,), n_tracks=0,
        core_kb=1000.0, bandwidth_kb=500.0, design="out-of-sample"))
    holdout: str = "13-16"
    #: training chromosomes every fit validates on, keeping its epoch of lowest validation NLL ("none": the last)
    val_chroms: str = "11-12"
    #: AdamW weight decays of the linear and MLP cells; with more than one, each keeps the best on validation
    weight_decays: tuple[float, ...] = (1e-4, 1.0, 10.0)
    #: with validation: stop a fit after this many epochs without a lower validation NLL (0: every epoch)
    patience: int = 25
    #: what picks an LDSC-trained fit's epoch and decay: "nll" (the likelihood's, as for every fit) or
    #: "objective" (its own LDSC loss on the validation chromosomes: LDSC without the likelihood)
    val_select: str = "nll"
    seeds: tuple[int, ...] = (0, 1, 2)
    #: enough for the constant and linear priors to converge (12 did not: README); the MLP stops far earlier
    epochs: int = 100
    lr: float = 3e-3
    priors: tuple[tuple[str, str], ...] = PRIORS
    treatments: tuple[Treatment, ...] = TREATMENTS
    #: the default's 2 x 3 cells (objective x prior) besides the treatments
    default_cells: bool = True

    def select(self, keys: list[str]) -> "RealisticSpec":
        """Only this spec's treatments of ``keys`` (:data:`TREATMENT_KEYS`; ``default``: the 2 x 3 cells)."""
        bad = sorted(set(keys) - set(TREATMENT_KEYS))
        if not keys:
            raise InputError(f"--treatments names no cells; use any of {','.join(TREATMENT_KEYS)}")
        if bad:
            raise InputError(f"--treatments: unknown {', '.join(bad)}; use any of {','.join(TREATMENT_KEYS)}")
        return replace(self, default_cells=LEARN.key in keys,
                       treatments=tuple(t for t in self.treatments if t.key in keys))

    def reduced(self) -> "RealisticSpec":
        sim = replace(self.simulation, n_gwas=5_000, chroms=(1, 2, 3), length_mb=3.0)
        return replace(self, simulation=sim, holdout="3", val_chroms="2" if self.validates else "none", seeds=(0,),
                       epochs=6, weight_decays=self.weight_decays[:1], patience=self.patience if self.validates else 0,
                       priors=PRIORS[:2],
                       treatments=tuple(t for t in TREATMENTS if t.mismatch == "off" and not t.shrinkage))

    @property
    def validates(self) -> bool:
        """Whether the fits validate (``val_chroms`` other than none)."""
        return self.val_chroms not in ("none", "")

    def unvalidated(self) -> "RealisticSpec":
        """Every fit trains all its epochs on chromosomes 1-12 and keeps the last (one weight decay, no
        patience): the protocol of the README's 12-epoch tables."""
        return replace(self, val_chroms="none", weight_decays=self.weight_decays[:1], patience=0)

    def cells(self) -> list[tuple[Treatment, str, str, str]]:
        """(treatment, objective, model, size) of every fit of one seed."""
        out = [(LEARN, o, m, s) for o in ("likelihood", "ldsc") for m, s in self.priors] if self.default_cells else []
        out += [(t, "likelihood", m, s) for t in self.treatments for m, s in self.priors[:2]]
        return out


def strongest_enrichment(ds: Dataset, log_f: np.ndarray, f_true: np.ndarray) -> tuple[str, float, float]:
    """(annotation, predicted enrichment, true enrichment) of the binary annotation most enriched in truth."""
    binary = list(ds.binary_features)
    A = np.concatenate([ds.snps(c, [S.SNP] + binary)[binary].to_numpy(np.float64) for c in ds.chromosomes])
    f = np.exp(log_f)
    enr = lambda w: (A * w[:, None]).sum(0) / w.sum() / A.mean(0)  # noqa: E731
    true = enr(f_true)
    k = int(np.nanargmax(true))
    return binary[k], float(enr(f)[k]), float(true[k])


#: MAF bin edges of the per-bin h2 columns (h2_maf0.. for MAF below 0.05, 0.05-0.1, ...; true_h2_maf0..).
MAF_EDGES = (0.05, 0.1, 0.2, 0.3)


def h2_by_maf(ds: Dataset, f: np.ndarray, prefix: str) -> dict[str, float]:
    """The sum of ``f`` (per SNP, chromosomes in dataset order) within each MAF bin of :data:`MAF_EDGES`."""
    maf = np.concatenate([ds.snps(c, [S.SNP, S.MAF])[S.MAF].to_numpy(np.float64) for c in ds.chromosomes])
    bins = np.digitize(maf, MAF_EDGES)
    return {f"{prefix}{b}": float(f[bins == b].sum()) for b in range(len(MAF_EDGES) + 1)}


def _true_f(ds: Dataset, trait: str) -> np.ndarray:
    parts = []
    for c in ds.chromosomes:
        ss = ds.sumstats(trait, [c]).set_index(S.SNP)
        parts.append(ss[S.F_TRUE].reindex(ds.snps(c)[S.SNP]).to_numpy(np.float64))
    return np.concatenate(parts)


def _cell(args: tuple) -> dict:
    import torch
    torch.set_num_threads(1)
    data, holdout, val, patience, val_select, wd, t, objective, model, size, seed, epochs, lr = args
    cfg = TrainConfig(data=data, objective=objective, model=model, size=size, seed=seed, epochs=epochs, lr=lr,
                      holdout_chroms=holdout, val_chroms=val, patience=patience, val_select=val_select,
                      weight_decay=wd, method="exact",
                      eval_every=0, log_every_epoch=False, workers=1, accumulation=4, mismatch=t.mismatch,
                      ld_keep_variance=t.keep_variance, sigma=t.sigma)
    ds = Dataset.open(data)
    plan, _ = make_plan(cfg, ds, [TRAIT.name])
    r = fit_and_score(cfg, plan)
    f_true = _true_f(ds, TRAIT.name)
    ann, enr, enr_true = strongest_enrichment(ds, r.log_f[:, 0], f_true)
    n = float(r.heldout_snps[0])
    chosen = selection(r.history, epochs, selection_metric(val_select, objective))
    return {"treatment": t.name, "objective": objective, "model": model if model != "mlp" else f"mlp/{size}",
            "seed": seed, "parameters": r.parameters, "h2": float(r.h2[0]), "h2_bias": float(r.h2[0]) - TRAIT.h2,
            "annotation": ann, "enrichment": enr, "true_enrichment": enr_true,
            "log_f_pearson_r": float(r.recovery_r[0]), "nll_vs_null_per_snp": (r.null[0] - r.nll[0]) / n,
            "sigma": float(r.sigma[0]), "lambda": float(r.lam[0]) if r.lam is not None else float("nan"),
            "seconds": r.seconds, "epoch_kept": chosen.epoch if chosen else epochs,
            "val_nll_per_snp": chosen.val_nll_per_snp if chosen else float("nan"),
            "val_score": chosen.score if chosen else float("nan"), "weight_decay": wd,
            **h2_by_maf(ds, np.exp(r.log_f[:, 0]), "h2_maf"), **h2_by_maf(ds, f_true, "true_h2_maf")}


def run_realistic(spec: RealisticSpec, out_dir: str, processes: int | None = None,
                  log: Callable[[str], None] = print) -> pd.DataFrame:
    """Simulate (or reuse) one dataset per (seed, design, shrinkage), fit every cell, write the tables."""
    check_chromosome_split(list(spec.simulation.chroms), spec.holdout, spec.val_chroms)
    check_weight_decays(spec.weight_decays, spec.validates)
    # the fits' flags, checked before anything is simulated
    TrainConfig(data=out_dir, epochs=spec.epochs, lr=spec.lr, val_chroms=spec.val_chroms, patience=spec.patience,
                val_select=spec.val_select, workers=1).validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    kinds = {(t.design, t.shrinkage) for t, *_ in spec.cells()}
    data = {}
    for seed in spec.seeds:
        for design, shrink in sorted(kinds):
            path = out / "data" / f"seed{seed}-panel{spec.simulation.n_individuals}-{design}-shrink{shrink:g}"
            if not (path / "manifest.json").exists():
                sim = replace(spec.simulation, seed=seed, design=design, shrinkage=shrink,
                              n_gwas=spec.simulation.n_gwas if design == "out-of-sample" else None)
                write_simulated_dataset(str(path), sim, log=log)
            data[(seed, design, shrink)] = str(path)
    jobs = [(data[(seed, t.design, t.shrinkage)], spec.holdout, spec.val_chroms, spec.patience, spec.val_select, wd,
             t, o, m, s, seed, spec.epochs, spec.lr)
            for seed in spec.seeds for t, o, m, s in spec.cells()
            for wd in (spec.weight_decays if m != "constant" else spec.weight_decays[:1])]
    log(f"[realistic] {len(jobs)} fits ({len(spec.cells())} cells x {len(spec.seeds)} seeds, weight decays "
        f"{spec.weight_decays}), {spec.epochs} epochs, held-out chromosomes {spec.holdout}, validation chromosomes "
        f"{spec.val_chroms}")
    rows = []
    with fit_pool(processes) as pool:
        for i, row in enumerate(pool.map(_cell, jobs), 1):
            rows.append(row)
            log(f"  [{i}/{len(jobs)}] {row['treatment']}, {row['objective']} {row['model']} seed {row['seed']}: "
                f"wd {row['weight_decay']:g}: h2 {row['h2']:.3f} ({time.perf_counter() - t0:.0f} s)")
    fits = pd.DataFrame(rows)
    fits.to_csv(out / "fits.csv", index=False)
    cells = fits if len(spec.weight_decays) == 1 else \
        keep_best_weight_decay(fits, ["treatment", "objective", "model", "seed"])
    cells.to_csv(out / "cells.csv", index=False)
    table = write_tables(out, cells, header(spec))
    log((out / "table.md").read_text())
    log(f"[realistic] wrote {out}/table.md, results.csv, paired.csv, cells.csv, fits.csv "
        f"({time.perf_counter() - t0:.0f} s)")
    return table


def header(spec: RealisticSpec) -> str:
    """The tables' first line: the design of ``spec``."""
    return (f"true h2 {TRAIT.h2}; panel {spec.simulation.n_individuals}, GWAS cohort {spec.simulation.n_gwas:,}; "
            f"{len(spec.seeds)} seeds; {spec.epochs} epochs"
            + (f", each fit keeping its epoch of lowest NLL on validation chromosome(s) {spec.val_chroms}"
               if spec.validates else "")
            + (f"; weight decays {', '.join(f'{w:g}' for w in spec.weight_decays)} chosen on validation"
               if len(spec.weight_decays) > 1 else "")
            + ("; LDSC-trained fits chosen by their own LDSC loss on validation" if spec.validates and
               spec.val_select == "objective" else ""))
