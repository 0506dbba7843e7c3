"""Does a bigger prior help? The paper's central claim, on semi-synthetic data with non-linear truths.

Every cell of {LDSC objective, full likelihood} x {constant, linear, small MLP, larger MLP} is trained on
the same dataset, training chromosomes, epoch budget and seeds, and scored *with the likelihood* on the
held-out chromosomes: NLL per SNP relative to the null prior and to the true prior, recovery of the true
log f (Pearson r, RMSE), h2 error, parameter count and training time. Seed i is a dataset of its own
(simulation seed ``simulation.seed + i``) and the training seed i, so the error bars cover the data as
well as the fit; the paired table differences the cells of one seed (same data), which the seeds' shared
spread does not blur. Outputs a Markdown table (and the paired one), CSVs and a PNG of held-out
improvement against parameter count, one line per objective, seed error bars.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..data.reader import Dataset
from ..simulate.dataset import SimulationSpec, write_simulated_dataset
from ..simulate.traits import TraitSpec
from ..train.config import TrainConfig
from ..train.plan import make_plan
from .fit import fit_and_score, fit_pool

#: The traits of the experiment: a paper-like thresholded enrichment and a random-network truth, both
#: non-linear in the annotations (no track windows, so every model sees the same inputs).
TRAITS = (TraitSpec("threshold", h2=0.3, N=40_000, truth="threshold", truth_options={"factor": 20.0}),
          TraitSpec("network", h2=0.3, N=40_000, truth="network", truth_options={"use_tracks": False,
                                                                                  "log_sd": 1.5}))
MODELS = (("constant", "small"), ("linear", "small"), ("mlp", "small"), ("mlp", "medium"))
OBJECTIVES = ("ldsc", "likelihood")


@dataclass
class ScalingSpec:
    """Sizes of the experiment; ``reduced()`` is the CI version."""

    simulation: SimulationSpec = field(default_factory=lambda: SimulationSpec(
        n_individuals=2000, chroms=tuple(range(1, 9)), length_mb=5.0, traits=TRAITS, n_tracks=0,
        core_kb=1000.0, bandwidth_kb=500.0, seed=7, design="out-of-sample"))
    holdout: str = "6,7,8"
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 25
    models: tuple[tuple[str, str], ...] = MODELS
    objectives: tuple[str, ...] = OBJECTIVES
    lr: float = 3e-3

    def reduced(self) -> "ScalingSpec":
        sim = replace(self.simulation, n_individuals=800, chroms=(1, 2, 3, 4), length_mb=3.0)
        return replace(self, simulation=sim, holdout="4", seeds=(0,), epochs=8,
                       models=(("constant", "small"), ("linear", "small"), ("mlp", "small")))


def _cell(args: tuple) -> dict:
    """One (objective, model, size, seed) fit in a worker process."""
    import torch
    torch.set_num_threads(1)
    data, holdout, objective, model, size, seed, epochs, lr, traits, sigmas = args
    cfg = TrainConfig(data=data, objective=objective, model=model, size=size, seed=seed, epochs=epochs, lr=lr,
                      holdout_chroms=holdout, method="exact", eval_every=0, log_every_epoch=False, workers=1,
                      accumulation=4)
    ds = Dataset.open(data)
    plan, _ = make_plan(cfg, ds, list(traits))
    r = fit_and_score(cfg, plan, true_sigma=list(sigmas))
    rows = []
    for t, name in enumerate(traits):
        n = float(r.heldout_snps[t])
        rows.append({"objective": objective, "model": f"{model}/{size}" if model in ("mlp", "conv") else model,
                     "seed": seed, "trait": name, "parameters": r.parameters, "train_seconds": r.seconds,
                     "nll_vs_null_per_snp": (r.null[t] - r.nll[t]) / n,
                     "nll_vs_true_per_snp": (r.nll[t] - r.true[t]) / n if r.true is not None else float("nan"),
                     "log_f_pearson_r": float(r.recovery_r[t]) if r.recovery_r is not None else float("nan"),
                     "log_f_rmse": float(r.recovery_rmse[t]) if r.recovery_rmse is not None else float("nan"),
                     "h2": float(r.h2[t]), "sigma": float(r.sigma[t]) if r.sigma is not None else float("nan"),
                     "lambda": float(r.lam[t]) if r.lam is not None else float("nan")})
    return {"rows": rows}


def run_scaling(spec: ScalingSpec, out_dir: str, data_dir: str | None = None, processes: int | None = None,
                log: Callable[[str], None] = print) -> pd.DataFrame:
    """Simulate (or reuse) one dataset per seed, fit every cell, write table.md, results.csv, paired.csv,
    cells.csv and scaling.png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(data_dir or out / "data")
    sims = {t.name: t for t in spec.simulation.traits}
    traits = tuple(sims)
    t0 = time.perf_counter()
    data = {}
    for seed in spec.seeds:
        path = root / f"seed{spec.simulation.seed + seed}"
        if not (path / "manifest.json").exists():
            write_simulated_dataset(str(path), replace(spec.simulation, seed=spec.simulation.seed + seed), log=log)
        data[seed] = str(path)
    jobs = [(data[seed], spec.holdout, o, m, s, seed, spec.epochs, spec.lr, traits,
             tuple(sims[t].sigma for t in traits))
            for seed in spec.seeds for o in spec.objectives for (m, s) in spec.models]
    log(f"[scaling] {len(jobs)} fits ({len(spec.objectives)} objectives x {len(spec.models)} models x "
        f"{len(spec.seeds)} seeds, a dataset each), {spec.epochs} epochs each, held-out chromosomes {spec.holdout}")
    rows = []
    with fit_pool(processes) as pool:
        for i, res in enumerate(pool.map(_cell, jobs), 1):
            rows += res["rows"]
            log(f"  [{i}/{len(jobs)}] {jobs[i - 1][2]:>10} {jobs[i - 1][3]}/{jobs[i - 1][4]} seed {jobs[i - 1][5]} "
                f"({time.perf_counter() - t0:.0f} s)")
    cells = pd.DataFrame(rows)
    true_h2 = {t: sims[t].h2 for t in traits}
    cells["h2_error"] = cells["h2"] - cells["trait"].map(true_h2)
    cells.to_csv(out / "cells.csv", index=False)
    summary = summarise(cells)
    summary.to_csv(out / "results.csv", index=False)
    paired = paired_differences(cells)
    paired.to_csv(out / "paired.csv", index=False)
    text = markdown_table(summary) + "\n" + paired_table(paired)
    (out / "table.md").write_text(text)
    (out / "scaling.png").write_bytes(plot_scaling(summary))
    log(text)
    log(f"[scaling] wrote {out}/table.md, results.csv, paired.csv, cells.csv, scaling.png "
        f"({time.perf_counter() - t0:.0f} s)")
    return summary


METRICS = ("nll_vs_null_per_snp", "nll_vs_true_per_snp", "log_f_pearson_r", "log_f_rmse", "h2_error", "sigma",
           "lambda")


def summarise(cells: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error over seeds per (objective, model, trait), plus the mean over traits."""
    g = cells.groupby(["objective", "model", "trait", "seed"], sort=False)[list(METRICS)].mean().reset_index()
    allt = g.groupby(["objective", "model", "seed"], sort=False)[list(METRICS)].mean().reset_index()
    allt["trait"] = "mean"
    g = pd.concat([g, allt], ignore_index=True)
    agg = g.groupby(["objective", "model", "trait"], sort=False)[list(METRICS)].agg(["mean", "sem"])
    agg.columns = [f"{a}" if b == "mean" else f"{a}_se" for a, b in agg.columns]
    extra = cells.groupby(["objective", "model"], sort=False).agg(parameters=("parameters", "first"),
                                                                  train_seconds=("train_seconds", "mean"))
    return agg.reset_index().merge(extra.reset_index(), on=["objective", "model"])


def markdown_table(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (mean +- s.e. over seeds; NLL differences in nats per held-out SNP)."""
    head = ("| objective | model | params | trait | NLL vs null (per SNP, higher better) | NLL vs true prior "
            "(lower better) | r(log f) | RMSE(log f) | h2 error | sigma | lambda | train s |\n"
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for _, r in summary.iterrows():
        f = lambda k, d=4: (f"{r[k]:.{d}f} ± {r[k + '_se']:.{d}f}" if np.isfinite(r.get(k + "_se", np.nan))  # noqa: E731
                            else f"{r[k]:.{d}f}")
        lines.append(f"| {r['objective']} | {r['model']} | {int(r['parameters']):,} | {r['trait']} | "
                     f"{f('nll_vs_null_per_snp')} | {f('nll_vs_true_per_snp')} | {f('log_f_pearson_r', 3)} | "
                     f"{f('log_f_rmse', 3)} | {f('h2_error', 3)} | {f('sigma', 2)} | {f('lambda', 4)} | "
                     f"{r['train_seconds']:.0f} |")
    return "\n".join(lines) + "\n"


#: The paired comparisons: (label, (objective, model) of the first cell, (objective, model) subtracted).
PAIRS = tuple((f"likelihood minus LDSC, {m}", ("likelihood", m), ("ldsc", m))
              for m in ("constant", "linear", "mlp/small", "mlp/medium")) + tuple(
    (f"{o}: {m} minus constant", (o, m), (o, "constant"))
    for o in ("likelihood", "ldsc") for m in ("linear", "mlp/small", "mlp/medium"))


def paired_differences(cells: pd.DataFrame) -> pd.DataFrame:
    """Per seed, mean over traits, the difference of two cells on the same dataset (:data:`PAIRS`): held-out
    NLL vs null and r(log f), their mean and s.e. over seeds, and the seeds in which the first is ahead."""
    per = cells.groupby(["objective", "model", "seed"])[["nll_vs_null_per_snp", "log_f_pearson_r"]].mean()
    present = set(zip(cells["objective"], cells["model"]))
    rows = []
    for label, a, b in PAIRS:
        if a not in present or b not in present:
            continue
        d = (per.loc[a] - per.loc[b]).dropna(how="all")
        row = {"comparison": label, "seeds": len(d), "ahead": int((d["nll_vs_null_per_snp"] > 0).sum())}
        for k in d.columns:
            row[k] = float(d[k].mean())
            row[f"{k}_se"] = float(d[k].sem()) if len(d) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(paired: pd.DataFrame) -> str:
    """The paired differences as Markdown (nats per held-out SNP; the first cell ahead when positive)."""
    lines = ["| paired difference (same dataset per seed; mean of traits) | held-out NLL vs null | seeds ahead | "
             "r(log f) |", "|---|---:|---:|---:|"]
    for _, r in paired.iterrows():
        f = lambda k, d: (f"{r[k]:+.{d}f} ± {r[k + '_se']:.{d}f}" if np.isfinite(r[k + "_se"])  # noqa: E731
                          else f"{r[k]:+.{d}f}")
        lines.append(f"| {r['comparison']} | {f('nll_vs_null_per_snp', 4)} | {r['ahead']}/{r['seeds']} | "
                     f"{f('log_f_pearson_r', 3)} |")
    return "\n".join(lines) + "\n"


def plot_scaling(summary: pd.DataFrame) -> bytes:
    """Held-out NLL improvement over the null (mean over traits) against parameter count, per objective."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    s = summary[summary["trait"] == "mean"]
    for obj, sub in s.groupby("objective"):
        sub = sub.sort_values("parameters")
        ax.errorbar(sub["parameters"], sub["nll_vs_null_per_snp"], yerr=sub["nll_vs_null_per_snp_se"].fillna(0),
                    marker="o", capsize=3, label=f"trained on {obj}")
        for _, r in sub.iterrows():
            ax.annotate(r["model"], (r["parameters"], r["nll_vs_null_per_snp"]), fontsize=7,
                        textcoords="offset points", xytext=(4, -10))
    ax.set_xscale("log")
    ax.set(xlabel="prior parameters", ylabel="held-out NLL improvement over null\n(nats per SNP, mean of traits)",
           title="Bigger priors help under the likelihood?")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
