"""Tables of the realistic benchmark (:mod:`~deepwas_dist.experiments.realistic`).

Per (treatment, objective, prior): mean and standard error over seeds (results.csv, table.md). Paired
differences (paired.csv, the second table of table.md) are taken per seed on the same dataset, so their
s.e. leaves out the variation between datasets that both fits share:

- likelihood minus LDSC objective, same treatment and prior;
- each prior minus the linear one, same treatment and objective.

A difference is "resolved" when it is at least two standard errors from 0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..train.config import TrainConfig

METRICS = ("h2", "h2_bias", "enrichment", "true_enrichment", "log_f_pearson_r", "nll_vs_null_per_snp", "sigma",
           "lambda", "epoch_kept")
#: Metrics of the paired differences: held-out NLL gain per SNP over the null, and r(log f).
PAIRED = ("nll_vs_null_per_snp", "log_f_pearson_r")
KEYS = ["treatment", "objective", "model"]


def summarise(cells: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error over seeds per (treatment, objective, model)."""
    cells = cells.copy()
    for col, fill in (("epoch_kept", np.nan), ("weight_decay", TrainConfig.weight_decay)):
        if col not in cells:                     # cells saved before validation or decay choice existed
            cells[col] = fill
    agg = cells.groupby(KEYS, sort=False)[list(METRICS)].agg(["mean", "sem"])
    agg.columns = [a if b == "mean" else f"{a}_se" for a, b in agg.columns]
    extra = cells.groupby(KEYS, sort=False).agg(parameters=("parameters", "first"), seeds=("seed", "nunique"),
                                                annotation=("annotation", "first"),
                                                weight_decay=("weight_decay", _decay_counts))
    return agg.reset_index().merge(extra.reset_index(), on=KEYS)


def _decay_counts(values: pd.Series) -> str:
    """The weight decays kept over seeds, e.g. ``1 x3, 10 x7``."""
    counts = values.value_counts().sort_index()
    return ", ".join(f"{v:g} x{n}" for v, n in counts.items()) if len(counts) > 1 else f"{counts.index[0]:g}"


def _difference(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Mean, s.e. and seeds ahead of ``a - b`` per :data:`PAIRED` metric, over the seeds both have."""
    a, b = a.set_index("seed"), b.set_index("seed")
    seeds = a.index.intersection(b.index)
    out = {"seeds": len(seeds)}
    for m in PAIRED:
        d = a.loc[seeds, m] - b.loc[seeds, m]
        out.update({f"d_{m}": float(d.mean()), f"d_{m}_se": float(d.sem()) if len(d) > 1 else float("nan"),
                    f"d_{m}_ahead": int((d > 0).sum())})
    return out


def paired(cells: pd.DataFrame) -> pd.DataFrame:
    """The paired differences of the module docstring, one row per contrast."""
    rows = []
    for (t, m), g in cells.groupby(["treatment", "model"], sort=False):
        lik, ldsc = g[g["objective"] == "likelihood"], g[g["objective"] == "ldsc"]
        if len(lik) and len(ldsc):
            rows.append({"contrast": "likelihood minus LDSC", "treatment": t, "prior": m, **_difference(lik, ldsc)})
    for (t, o), g in cells.groupby(["treatment", "objective"], sort=False):
        base = g[g["model"] == "linear"]
        for m in g["model"].unique():
            if m not in ("linear", "constant") and len(base):
                rows.append({"contrast": f"{o}: {m} minus linear", "treatment": t, "prior": m,
                             **_difference(g[g["model"] == m], base)})
    return pd.DataFrame(rows)


def markdown_table(t: pd.DataFrame, header: str, pairs: pd.DataFrame | None = None) -> str:
    """The summary (mean +- s.e. over seeds) and the paired differences as Markdown."""
    f = lambda r, k, d=3: (f"{r[k]:.{d}f} ± {r[k + '_se']:.{d}f}" if np.isfinite(r.get(k + "_se", np.nan))  # noqa: E731
                           else (f"{r[k]:.{d}f}" if np.isfinite(r[k]) else "–"))
    lines = [header, "",
             "| LD mismatch | objective | prior | h2 (bias) | strongest enrichment (true) | r(log f) | "
             "NLL vs null (per SNP) | sigma | lambda | epoch kept | weight decay |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for _, r in t.iterrows():
        lines.append(f"| {r['treatment']} | {r['objective']} | {r['model']} | {f(r, 'h2')} ({r['h2_bias']:+.3f}) | "
                     f"{f(r, 'enrichment', 2)} ({r['true_enrichment']:.2f}) | {f(r, 'log_f_pearson_r')} | "
                     f"{f(r, 'nll_vs_null_per_snp', 4)} | {f(r, 'sigma', 2)} | {f(r, 'lambda', 4)} | "
                     f"{f(r, 'epoch_kept', 0)} | {r['weight_decay']} |")
    if pairs is not None and len(pairs):
        lines += ["", "Paired by seed (same dataset): held-out NLL gain per SNP and r(log f), mean ± s.e., seeds "
                  "ahead; ** at least 2 s.e. from 0", "",
                  "| contrast | LD mismatch | prior | NLL gain per SNP | r(log f) |", "|---|---|---|---:|---:|"]
        for _, r in pairs.iterrows():
            cells = []
            for m, d in (("nll_vs_null_per_snp", 5), ("log_f_pearson_r", 3)):
                mean, se = r[f"d_{m}"], r[f"d_{m}_se"]
                star = "**" if np.isfinite(se) and se > 0 and abs(mean) >= 2 * se else ""
                cells.append(f"{star}{mean:+.{d}f} ± {se:.{d}f}{star}, {r[f'd_{m}_ahead']}/{r['seeds']}")
            lines.append(f"| {r['contrast']} | {r['treatment']} | {r['prior']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def write_tables(out: Path, cells: pd.DataFrame, header: str) -> pd.DataFrame:
    """results.csv, paired.csv and table.md under ``out`` from the per-seed cells (also to re-tabulate saved
    ones); returns the summary."""
    table, pairs = summarise(cells), paired(cells)
    table.to_csv(out / "results.csv", index=False)
    pairs.to_csv(out / "paired.csv", index=False)
    (out / "table.md").write_text(markdown_table(table, header, pairs))
    return table
