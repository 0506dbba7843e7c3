"""Tables and pictures of the PRS experiment (:mod:`~deepwas_dist.experiments.prs`).

Per (prior, trait): mean and standard error over seeds of r^2 with g and with y, held out and genome-wide,
plus the mean over the traits (computed per seed first). Paired differences between two priors are
taken per seed on the same dataset (same test cohort, same z), so their s.e. leaves out the variation
between datasets that both priors share.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.reader import Dataset
from ..simulate.testcohort import open_test_cohort

METRICS = ("r2_g_heldout", "r2_y_heldout", "r2_g_all", "r2_y_all")
#: (prior, against) pairs reported as per-seed differences in held-out r^2 with g.
CONTRASTS = (("likelihood mlp/small", "constant (LDpred-inf-like)"),
             ("likelihood mlp/small", "LDSC-trained mlp/small"),
             ("likelihood mlp/small", "LDSC-trained linear"),
             ("likelihood mlp/small", "true prior (ceiling)"),
             ("likelihood mlp/medium", "constant (LDpred-inf-like)"),
             ("likelihood mlp/medium", "LDSC-trained mlp/small"),
             ("likelihood mlp/medium", "true prior (ceiling)"),
             ("likelihood linear", "constant (LDpred-inf-like)"))
#: Priors drawn in the regions picture (when present).
DRAWN = ("true prior (ceiling)", "likelihood mlp/small", "constant (LDpred-inf-like)", "LDSC-trained mlp/small")


def with_trait_mean(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` plus, per (prior, seed), a row with trait "mean": the mean of the traits' metrics."""
    m = cells.groupby(["prior", "seed"], sort=False)[list(METRICS)].mean().reset_index()
    m["trait"] = "mean"
    return pd.concat([cells[["prior", "seed", "trait", *METRICS]], m], ignore_index=True)


def summarise(cells: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Mean and s.e. over seeds per (prior, trait), priors in ``order``, the trait mean last."""
    g = with_trait_mean(cells)
    agg = g.groupby(["prior", "trait"], sort=False)[list(METRICS)].agg(["mean", "sem"])
    agg.columns = [a if b == "mean" else f"{a}_se" for a, b in agg.columns]
    agg = agg.reset_index()
    extra = cells.groupby("prior").agg(parameters=("parameters", "first"), seeds=("seed", "nunique"),
                                       seconds=("seconds", "mean")).reset_index()
    agg = agg.merge(extra, on="prior")
    traits = list(dict.fromkeys(cells["trait"])) + ["mean"]
    agg["_p"] = agg["prior"].map({p: i for i, p in enumerate(order)})
    agg["_t"] = agg["trait"].map({t: i for i, t in enumerate(traits)})
    return agg.sort_values(["_t", "_p"]).drop(columns=["_p", "_t"]).reset_index(drop=True)


def contrasts(cells: pd.DataFrame, metric: str = "r2_g_heldout") -> pd.DataFrame:
    """Per-seed differences ``metric``(prior) - ``metric``(against) of the trait means: mean, s.e., n."""
    g = with_trait_mean(cells)
    g = g[g["trait"] == "mean"].pivot(index="seed", columns="prior", values=metric)
    rows = []
    for a, b in CONTRASTS:
        if a in g and b in g:
            d = (g[a] - g[b]).dropna()
            rows.append({"prior": a, "against": b, "difference": d.mean(),
                         "se": d.sem() if len(d) > 1 else np.nan, "seeds": len(d), "ahead_in": int((d > 0).sum())})
    return pd.DataFrame(rows)


def _pm(r, k: str, d: int = 3) -> str:
    se = r.get(f"{k}_se", np.nan)
    return f"{r[k]:.{d}f} ± {se:.{d}f}" if np.isfinite(se) else f"{r[k]:.{d}f}"


def markdown_table(t: pd.DataFrame, cells: pd.DataFrame, header: str, wall_s: float) -> str:
    """The summary and the paired contrasts as Markdown (mean +- s.e. over seeds)."""
    lines = [header + f"; wall time {wall_s / 60:.1f} min", "",
             "| prior | trait | params | r² with g, held-out chr | r² with y, held-out chr | r² with g, genome-wide | "
             "r² with y, genome-wide |", "|---|---|---:|---:|---:|---:|---:|"]
    for _, r in t.iterrows():
        name = f"**{r['prior']}**" if r["trait"] == "mean" else r["prior"]
        lines.append(f"| {name} | {r['trait']} | {int(r['parameters']):,} | {_pm(r, 'r2_g_heldout')} | "
                     f"{_pm(r, 'r2_y_heldout')} | {_pm(r, 'r2_g_all')} | {_pm(r, 'r2_y_all')} |")
    c = contrasts(cells)
    if len(c):
        lines += ["", "Paired differences per seed, held-out r² with g (mean of the traits):", "",
                  "| prior | minus | difference | seeds ahead |", "|---|---|---:|---:|"]
        for _, r in c.iterrows():
            se = f" ± {r['se']:.4f}" if np.isfinite(r["se"]) else ""
            lines.append(f"| {r['prior']} | {r['against']} | {r['difference']:+.4f}{se} | "
                         f"{r['ahead_in']}/{r['seeds']} |")
    return "\n".join(lines) + "\n"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_r2(t: pd.DataFrame) -> bytes:
    """Bars of r^2 with g per prior (mean +- s.e. over seeds), one group per trait, held out and genome-wide."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    priors = list(dict.fromkeys(t["prior"]))
    traits = list(dict.fromkeys(t["trait"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=False)
    width = 0.8 / len(priors)
    for ax, (k, title) in zip(axes, (("r2_g_heldout", "held-out chromosomes"), ("r2_g_all", "genome-wide"))):
        for i, p in enumerate(priors):
            sub = t[t["prior"] == p].set_index("trait").reindex(traits)
            ax.bar(np.arange(len(traits)) + (i - (len(priors) - 1) / 2) * width, sub[k],
                   yerr=sub[f"{k}_se"].fillna(0), width=width, capsize=2, label=p)
        ax.set_xticks(np.arange(len(traits)), traits)
        ax.set(ylabel="PRS r² with the true genetic value", title=f"test cohort, {title}")
    axes[0].legend(fontsize=7, loc="lower left")
    return _png(fig)


def plot_regions(ds: Dataset, weights: dict[str, dict[int, np.ndarray]], chrom: int, traits: tuple[str, ...],
                 width_bp: int = 400_000) -> bytes:
    """Posterior mean per-allele effects against the true ones along two windows of held-out chromosome
    ``chrom`` (first seed), one row per trait: the window around the largest true effect, and the
    chromosome's middle."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    arr = open_test_cohort(ds.url, ds.manifest.write_id).chromosome(chrom)
    bp = ds.snps(chrom)[S.BP].to_numpy()
    fig, axes = plt.subplots(len(traits), 2, figsize=(13, 3.2 * len(traits)), squeeze=False)
    for ti, name in enumerate(traits):
        true = arr[f"beta_{name}"]
        centres = (int(bp[np.argmax(np.abs(true))]), int(bp[len(bp) // 2]))
        for ax, centre in zip(axes[ti], centres):
            sel = (bp >= centre - width_bp // 2) & (bp < centre + width_bp // 2)
            x = bp[sel] / 1e6
            ax.vlines(x, 0, true[sel], color="0.6", lw=1)
            ax.plot(x, true[sel], "o", color="k", ms=3, label="true effect")
            for p in DRAWN:
                if p in weights:
                    ax.plot(x, weights[p][chrom][sel, ti], "-", lw=1.2, label=p)
            ax.axhline(0, color="0.8", lw=0.5)
            ax.set(xlabel=f"chr{chrom} position (Mb)", ylabel="per-allele effect (phenotype sd)", title=name)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
