"""Polygenic scores on held-out people: does a better prior give a better PRS than the usual alternatives?

Semi-synthetic data (``simulate``, out-of-sample design): per seed one msprime population per chromosome
gives a reference panel (LD), a disjoint GWAS cohort (z) and a disjoint test cohort with genotypes, true
genetic values g and phenotypes y = g + e, Var(e) = 1 - h2 (:mod:`~deepwas_dist.simulate.testcohort`).
Two traits with truths non-linear in the annotations (a thresholded enrichment and a random tanh
network, as in the scaling experiment). Every prior is fitted on the training chromosomes (both traits
at once; the defaults: truncation 99.5% + lambda, sigma at the S-LDSC intercept):

- likelihood-trained mlp/small and mlp/medium, the linear prior, the constant prior (one f per trait:
  LDpred-inf-like);
- the LDSC-objective-trained linear and mlp/small priors, scored like the rest (their sigma and lambda
  fitted by likelihood with f held, :func:`~deepwas_dist.evaluate.heldout.scoring_prior`);
- the true prior (F_TRUE, sigma and lambda fitted the same way): the ceiling.

Each prior's posterior means E[beta | z] (every SNP from the slice where it is core, z of all
chromosomes) become per-allele weights and a PRS of every test person (:mod:`~deepwas_dist.evaluate.prs`),
scored as r^2 with g and with y on the held-out chromosomes (PRS, g of those chromosomes only; y whole)
and genome-wide. Mean +- s.e. over seeds (dataset and training seed together), and paired differences
between priors per seed. Outputs in ``out``: prs_cells.csv, prs_results.csv, prs_table.md, prs_r2.png,
prs_regions.png (posterior mean against true effect along two held-out regions, first seed).
"""
from __future__ import annotations

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
from ..evaluate.effects import batch_posterior_arrays
from ..evaluate.heldout import BASELINE_SLICES, fit_nuisance
from ..evaluate.prs import per_allele_weights, polygenic_score, r2
from ..settings import MismatchSetting
from ..simulate.dataset import SimulationSpec, write_simulated_dataset
from ..simulate.testcohort import open_test_cohort
from ..simulate.traits import TraitSpec
from ..train.config import TrainConfig
from ..train.plan import make_plan
from .fit import fit_and_score, fit_pool, shared_cache
from .prs_report import markdown_table, plot_r2, plot_regions, summarise

TRAITS = (TraitSpec("threshold", h2=0.3, N=10_000, truth="threshold", truth_options={"factor": 20.0}),
          TraitSpec("network", h2=0.3, N=10_000, truth="network", truth_options={"use_tracks": False,
                                                                                  "log_sd": 1.5}))


@dataclass(frozen=True)
class Prior:
    """One compared prior: objective and model (``model == "true"``: the simulation's F_TRUE)."""

    label: str
    objective: str = "likelihood"
    model: str = "constant"
    size: str = "small"


PRIORS = (Prior("true prior (ceiling)", model="true"),
          Prior("likelihood mlp/medium", model="mlp", size="medium"),
          Prior("likelihood mlp/small", model="mlp"),
          Prior("likelihood linear", model="linear"),
          Prior("constant (LDpred-inf-like)", model="constant"),
          Prior("LDSC-trained mlp/small", objective="ldsc", model="mlp"),
          Prior("LDSC-trained linear", objective="ldsc", model="linear"))


@dataclass
class PRSSpec:
    """Sizes of the experiment; ``quick()`` is the test's version (about a minute)."""

    simulation: SimulationSpec = field(default_factory=lambda: SimulationSpec(
        n_individuals=1000, n_gwas=10_000, n_test=2000, chroms=tuple(range(1, 9)), length_mb=5.0, traits=TRAITS,
        n_tracks=0, core_kb=1000.0, bandwidth_kb=500.0, design="out-of-sample"))
    holdout: str = "7,8"
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 15
    lr: float = 3e-3
    priors: tuple[Prior, ...] = PRIORS

    def quick(self) -> "PRSSpec":
        sim = replace(self.simulation, n_individuals=300, n_gwas=3000, n_test=400, chroms=(1, 2, 3), length_mb=2.0)
        return replace(self, simulation=sim, holdout="3", seeds=(0,), epochs=4,
                       priors=tuple(p for p in PRIORS if p.model in ("true", "constant")
                                    or (p.model == "mlp" and p.size == "small")))

    @property
    def holdout_chroms(self) -> list[int]:
        return [int(c) for c in self.holdout.split(",")]


def _config(data: str, holdout: str, p: Prior, seed: int, epochs: int, lr: float) -> TrainConfig:
    return TrainConfig(data=data, objective=p.objective, model="constant" if p.model == "true" else p.model,
                       size=p.size, seed=seed, epochs=epochs, lr=lr, holdout_chroms=holdout, method="exact",
                       eval_every=0, log_every_epoch=False, workers=1, accumulation=4)


def true_prior_effects(cfg: TrainConfig, ds: Dataset, traits: list[str]) -> dict[int, np.ndarray]:
    """Per chromosome (M_c, T) posterior means of gamma under the true f, with sigma and lambda as an
    LDSC-trained prior gets them: lambda (and sigma unless held) fitted by likelihood on the baseline
    training slices with f fixed."""
    plan, _ = make_plan(cfg, ds, traits)
    cache = shared_cache(cfg, plan)
    log_N = torch.tensor(plan.log_N, dtype=torch.float64)
    log_f = lambda b: torch.log(b.f_true.to(torch.float64).clamp_min(1e-300))  # noqa: E731
    held = plan.fixed_log_sigma is not None
    ls = torch.tensor(plan.fixed_log_sigma if held else [0.0] * len(traits), dtype=torch.float64)
    ll = None
    if MismatchSetting.parse(cfg.mismatch).enabled:
        base = [cache.get(k) for k in seeded_subsample(plan.train_keys, BASELINE_SLICES, cfg.seed)]
        ls, ll = fit_nuisance(base, [log_f(b) for b in base], log_N, ls, learn_sigma=not held)
    batches = (cache.get(k) for k in plan.all_keys)
    arrays = batch_posterior_arrays(batches, lambda b: (log_f(b), ls, ll), log_N,
                                    {c: ds.manifest.snps.per_chrom[c] for c in ds.chromosomes})
    return {c: mean for c, (mean, _) in arrays.items()}


def score_effects(ds: Dataset, effects: dict[int, np.ndarray], traits: list[str], N: list[float],
                  heldout: list[int]) -> tuple[list[dict], dict[int, np.ndarray]]:
    """r^2 of the PRS from ``effects`` (per chromosome (M_c, T) posterior means of gamma) with g and y of the
    test cohort, per trait, held out and genome-wide; and the per-allele weights (M_c, T) per chromosome."""
    tc = open_test_cohort(ds.url, ds.manifest.write_id, ds.storage_options or None)
    T = len(traits)
    prs_all, prs_ho, g_ho = np.zeros((tc.n, T)), np.zeros((tc.n, T)), np.zeros((tc.n, T))
    weights = {}
    for c in ds.chromosomes:
        arr = tc.chromosome(c)
        snps = ds.snps(c)
        if not np.array_equal(arr["snp"], snps[S.SNP].to_numpy().astype(str)):
            raise InputError(f"{tc.url}: chr{c}'s SNPs are not the dataset's; fix: re-simulate the dataset with "
                             "--test-individuals N --overwrite")
        maf = snps[S.MAF].to_numpy(np.float64)
        w = np.stack([per_allele_weights(effects[c][:, t], N[t], maf) for t in range(T)], 1)
        weights[c] = w
        score = polygenic_score(arr["genotypes"], w)
        prs_all += score
        if c in heldout:
            prs_ho += score
            g_ho += np.stack([arr[f"g_{t}"] for t in traits], 1)
    rows = []
    for t, name in enumerate(traits):
        g, y = tc.phenotypes[f"g_{name}"].to_numpy(), tc.phenotypes[f"y_{name}"].to_numpy()
        rows.append({"trait": name, "r2_g_heldout": r2(prs_ho[:, t], g_ho[:, t]),
                     "r2_y_heldout": r2(prs_ho[:, t], y), "r2_g_all": r2(prs_all[:, t], g),
                     "r2_y_all": r2(prs_all[:, t], y)})
    return rows, weights


def _cell(args: tuple) -> dict:
    """One prior on one seed's dataset, in a worker process."""
    torch.set_num_threads(1)
    data, holdout, p, seed, epochs, lr, traits, N, keep_weights = args
    cfg = _config(data, holdout, p, seed, epochs, lr)
    ds = Dataset.open(data)
    t0 = time.perf_counter()
    if p.model == "true":
        effects, parameters = true_prior_effects(cfg, ds, list(traits)), 0
    else:
        plan, _ = make_plan(cfg, ds, list(traits))
        r = fit_and_score(cfg, plan, effects=True)
        effects, parameters = r.effects, r.parameters
    heldout = [int(c) for c in holdout.split(",")]
    rows, weights = score_effects(ds, effects, list(traits), list(N), heldout)
    for row in rows:
        row.update(prior=p.label, seed=seed, parameters=parameters, seconds=time.perf_counter() - t0)
    return {"rows": rows, "weights": {heldout[0]: weights[heldout[0]]} if keep_weights else None}


def run_prs(spec: PRSSpec, out_dir: str, data_dir: str | None = None, processes: int | None = None,
            log: Callable[[str], None] = print) -> pd.DataFrame:
    """Simulate (or reuse) one dataset with a test cohort per seed, fit and score every prior, write the
    outputs (module docstring); returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_root = Path(data_dir) if data_dir else out / "prs-data"
    t0 = time.perf_counter()
    traits = tuple(t.name for t in spec.simulation.traits)
    N = tuple(float(t.N) for t in spec.simulation.traits)
    data = {}
    for seed in spec.seeds:
        path = data_root / f"seed{seed}"
        if not (path / "manifest.json").exists() or not Path(f"{path}.testcohort/meta.json").exists():
            write_simulated_dataset(str(path), replace(spec.simulation, seed=seed), overwrite=True, log=log)
        data[seed] = str(path)
    jobs = [(data[seed], spec.holdout, p, seed, spec.epochs, spec.lr, traits, N, seed == spec.seeds[0])
            for seed in spec.seeds for p in spec.priors]
    log(f"[prs] {len(jobs)} cells ({len(spec.priors)} priors x {len(spec.seeds)} seeds), {spec.epochs} epochs, "
        f"held-out chromosomes {spec.holdout}, test cohort {spec.simulation.n_test:,}")
    rows, weights = [], {}
    with fit_pool(processes) as pool:
        for i, (job, res) in enumerate(zip(jobs, pool.map(_cell, jobs)), 1):
            rows += res["rows"]
            if res["weights"] is not None:
                weights[job[2].label] = res["weights"]
            r = res["rows"]
            log(f"  [{i}/{len(jobs)}] {job[2].label} seed {job[3]}: held-out r2(g) "
                + ", ".join(f"{x['trait']} {x['r2_g_heldout']:.3f}" for x in r)
                + f" ({time.perf_counter() - t0:.0f} s)")
    cells = pd.DataFrame(rows)
    cells.to_csv(out / "prs_cells.csv", index=False)
    table = summarise(cells, [p.label for p in spec.priors])
    table.to_csv(out / "prs_results.csv", index=False)
    wall = time.perf_counter() - t0
    md = markdown_table(table, cells, spec_line(spec), wall)
    (out / "prs_table.md").write_text(md)
    (out / "prs_r2.png").write_bytes(plot_r2(table))
    first = Dataset.open(data[spec.seeds[0]])
    (out / "prs_regions.png").write_bytes(plot_regions(first, weights, spec.holdout_chroms[0], traits))
    log(md)
    log(f"[prs] wrote {out}/prs_table.md, prs_results.csv, prs_cells.csv, prs_r2.png, prs_regions.png "
        f"({wall:.0f} s)")
    return table


def spec_line(spec: PRSSpec) -> str:
    """One line describing the data and training budget."""
    s = spec.simulation
    tr = "; ".join(f"{t.name} (h2 {t.h2:g}, N {t.N:,.0f})" for t in s.traits)
    return (f"{len(s.chroms)} chromosomes x {s.length_mb:g} Mb (held out: {spec.holdout}); panel {s.n_individuals:,}, "
            f"GWAS cohort {s.gwas_individuals:,}, test cohort {s.n_test:,}; traits {tr}; {spec.epochs} epochs; "
            f"{len(spec.seeds)} seed{'s' if len(spec.seeds) > 1 else ''}")

