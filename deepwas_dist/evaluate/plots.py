"""PNG plots of a run: training/validation curves, enrichment with error bars, predicted vs true log f."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def curves_png(history: list[dict]) -> bytes:
    """Training loss and held-out NLL per SNP by epoch."""
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(ep, [h["train_loss_per_snp"] for h in history], marker="o")
    ax[0].set(xlabel="epoch", ylabel="training loss per core SNP", title="training objective")
    val = [(h["epoch"], h["heldout_nll_per_snp"]) for h in history if h.get("heldout_nll_per_snp") is not None]
    if val:
        ax[1].plot(*zip(*val), marker="o", color="C1")
    ax[1].set(xlabel="epoch", ylabel="held-out NLL per SNP (nats)", title="held-out likelihood")
    return _png(fig)


def enrichment_png(table: pd.DataFrame, trait: str) -> bytes:
    """Enrichment per binary annotation with jackknife error bars."""
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(table) + 2), 3.6))
    x = np.arange(len(table))
    ax.bar(x, table["Enrichment"], yerr=table["Enrichment_std_error"], capsize=3, color="C2")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xticks(x, table["Category"], rotation=45, ha="right")
    ax.set(ylabel="h2 enrichment", title=f"{trait}: enrichment of predicted per-SNP h2")
    return _png(fig)


def truth_png(log_f_pred: np.ndarray, f_true: np.ndarray, trait: str, heldout: np.ndarray | None = None) -> bytes:
    """Predicted vs true log f (held-out SNPs highlighted)."""
    ok = np.isfinite(f_true) & (f_true > 0)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    lt, lp = np.log(f_true[ok]), log_f_pred[ok]
    ho = heldout[ok] if heldout is not None else np.zeros(ok.sum(), bool)
    ax.scatter(lt[~ho], lp[~ho], s=3, alpha=0.3, label="training chromosomes")
    if ho.any():
        ax.scatter(lt[ho], lp[ho], s=3, alpha=0.3, color="C1", label="held-out slices")
    lim = [min(lt.min(), lp.min()), max(lt.max(), lp.max())]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set(xlabel="true log f", ylabel="predicted log f", title=trait)
    ax.legend(markerscale=4, fontsize=8)
    return _png(fig)
