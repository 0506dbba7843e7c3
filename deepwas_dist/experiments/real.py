"""Where the method stands on real data: 1000 Genomes chr22 LD and UK Biobank height chr22.

For each LD shrinkage value the panel is ingested (``prepare_plink``), panel-derived annotations are set
(``ingest.derived``: MAF, LD score, recombination rate, SNP density), and the height summary statistics
are harmonised (``prepare_sumstats``). Chromosome 22's slices are cut into B contiguous blocks
(``train.holdout.leave_block_out``, the same block logic as ``--holdout-blocks``); for each
prior x objective, B fits each leave one block out and are scored with the likelihood on it (held-out
NLL over the whole chromosome, block by block), and the same B delete-one-block fits give the block
jackknife standard error of h2 (sum of predicted f over chr22's SNPs).
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..data.reader import Dataset
from ..errors import InputError
from ..ingest.derived import derived_annotations, window_ld_scores
from ..ingest.from_plink import prepare_plink
from ..ingest.plink import read_panel
from ..ingest.updates import prepare_annotations, prepare_sumstats
from ..realdata import HEIGHT_SUMSTATS, panel_prefix, shared_data_dir
from ..train.config import TrainConfig
from ..train.holdout import leave_block_out
from ..train.plan import plan_for, slice_keys
from .fit import fit_and_score, fit_pool
from .realistic import LEARN, Treatment

TRAIT = "height"
#: S-LDSC 2.0.1's intercept for these z-scores and this panel (../shared/data/README.md: 1.24, SE 0.15).
SLDSC_INTERCEPT = 1.24
#: The default treatment with sigma held at that intercept (``--sigma 1.24``) instead of the tool's own.
SIGMA_SLDSC = Treatment(f"default, sigma held at S-LDSC's intercept {SLDSC_INTERCEPT}", keep_variance=0.995,
                        sigma=str(SLDSC_INTERCEPT))
#: The default treatment with sigma trained with the prior (``--sigma learn``).
SIGMA_LEARN = Treatment("default, sigma learned", keep_variance=0.995, sigma="learn")
#: The default treatment with sigma at the unstratified LDSC intercept (``--sigma ldsc``).
SIGMA_LDSC = Treatment("default, sigma at the unstratified LDSC intercept", keep_variance=0.995, sigma="ldsc")


@dataclass
class RealSpec:
    """Sizes of the real-data experiment; ``reduced()`` is the CI version."""

    treatments: tuple[Treatment, ...] = (LEARN, SIGMA_LDSC, SIGMA_LEARN, SIGMA_SLDSC,
                                         Treatment("lambda, all eigenpairs"),
                                         Treatment("no mismatch term", mismatch="off"))
    models: tuple[tuple[str, str], ...] = (("constant", "small"), ("linear", "small"), ("mlp", "small"))
    objectives: tuple[str, ...] = ("ldsc", "likelihood")
    blocks: int = 8
    epochs: int = 20
    core_kb: float = 1000.0
    bandwidth_kb: float = 500.0
    lr: float = 3e-3
    seed: int = 0

    def reduced(self) -> "RealSpec":
        return replace(self, treatments=(LEARN,), models=(("constant", "small"), ("linear", "small")), blocks=4,
                       epochs=6)

    def jobs(self) -> list[tuple[Treatment, str, str, str]]:
        """(treatment, objective, model, size): the likelihood under every treatment; LDSC (which trains
        no lambda) under the default treatment and shrunk LD only."""
        out = []
        for t in self.treatments:
            for o in self.objectives:
                if o == "ldsc" and not (t == LEARN or t.shrinkage > 0):
                    continue
                out += [(t, o, m, s) for m, s in self.models]
        return out


def build_dataset(out: str, shrinkage: float, spec: RealSpec, log: Callable[[str], None] = print) -> str:
    """Ingest the shared real data with ``shrinkage`` into ``out`` (reused if present)."""
    prefix = panel_prefix()
    if prefix is None:
        raise InputError(f"the real data is not in {shared_data_dir()}; set DEEPWAS_SHARED_DATA")
    if (Path(out) / "manifest.json").exists():
        return out
    t0 = time.perf_counter()
    prepare_plink(out, str(prefix), shrinkage=shrinkage, core_kb=spec.core_kb, bandwidth_kb=spec.bandwidth_kb,
                  progress=False)
    panel = read_panel(str(prefix), maf_min=0.01)
    ds = Dataset.open(out)
    snps = ds.snps(22)
    X = panel.standardized(0, panel.n_snps)
    have_cm = snps["CM"].notna().all() and snps["CM"].max() > 0
    pos = snps["CM"].to_numpy() if have_cm else snps["BP"].to_numpy() / 1e6
    ld = window_ld_scores(X, pos, half_window=1.0)
    ann, _ = derived_annotations(snps, ld)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "derived.parquet")
        ann.to_parquet(path)
        prepare_annotations(out, [path], progress=False)
    prepare_sumstats(out, TRAIT, str(shared_data_dir() / HEIGHT_SUMSTATS), progress=False)
    log(f"[real] ingested chr22 with shrinkage {shrinkage} into {out} ({time.perf_counter() - t0:.0f} s)")
    return out


#: Buffer slices around each held-out block in these fits. 0 keeps the folds of the published table in the
#: README (which predates buffers); training runs use ``holdout.BUFFER_SLICES``.
FOLD_BUFFER_SLICES = 0


def _fit(args: tuple) -> dict:
    import torch
    torch.set_num_threads(1)
    data, t, objective, model, size, block, blocks, spec = args
    ds = Dataset.open(data)
    split = leave_block_out(slice_keys(ds), blocks, block, buffer=FOLD_BUFFER_SLICES)
    cfg = TrainConfig(data=data, objective=objective, model=model, size=size, seed=spec.seed, epochs=spec.epochs,
                      lr=spec.lr, method="exact", eval_every=0, log_every_epoch=False, workers=1, accumulation=4,
                      mismatch=t.mismatch, ld_keep_variance=t.keep_variance, sigma=t.sigma)
    plan = plan_for(cfg, ds, [TRAIT], split)
    r = fit_and_score(cfg, plan)
    return {"treatment": t.name, "objective": objective, "model": model if model != "mlp" else f"mlp/{size}",
            "sigma": float(r.sigma[0]), "lambda": float(r.lam[0]) if r.lam is not None else float("nan"),
            "block": block, "heldout_snps": float(r.heldout_snps[0]), "nll": float(r.nll[0]),
            "null": float(r.null[0]), "h2": float(r.h2[0]), "parameters": r.parameters, "seconds": r.seconds}


def run_real(spec: RealSpec, out_dir: str, processes: int | None = None,
             log: Callable[[str], None] = print) -> pd.DataFrame:
    """Build the datasets, run every fold fit, write table.md, results.csv and folds.csv."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {a: build_dataset(str(out / "data" / f"shrink_{a:g}"), a, spec, log)
            for a in sorted({t.shrinkage for t in spec.treatments})}
    jobs = [(data[t.shrinkage], t, o, m, s, b, spec.blocks, spec) for t, o, m, s in spec.jobs()
            for b in range(spec.blocks)]
    log(f"[real] {len(jobs)} fits: {len(spec.jobs())} (LD treatment, objective, prior) x {spec.blocks} held-out "
        "blocks")
    t0 = time.perf_counter()
    rows = []
    with fit_pool(processes) as pool:
        for i, row in enumerate(pool.map(_fit, jobs), 1):
            rows.append(row)
            if i % max(1, len(jobs) // 10) == 0 or i == len(jobs):
                log(f"  {i}/{len(jobs)} fits ({time.perf_counter() - t0:.0f} s)")
    folds = pd.DataFrame(rows)
    folds.to_csv(out / "folds.csv", index=False)
    table = summarise(folds, spec.blocks)
    table.to_csv(out / "results.csv", index=False)
    (out / "table.md").write_text(markdown_table(table))
    log(markdown_table(table))
    log(f"[real] wrote {out}/table.md, results.csv, folds.csv ({time.perf_counter() - t0:.0f} s)")
    return table


def summarise(folds: pd.DataFrame, blocks: int) -> pd.DataFrame:
    """Per (shrinkage, objective, prior): held-out NLL summed over blocks, per SNP, vs null; h2 +- jackknife SE."""
    rows = []
    for key, g in folds.groupby(["treatment", "objective", "model"], sort=False):
        n = g["heldout_snps"].sum()
        h = g["h2"].to_numpy()
        se = float(np.sqrt((blocks - 1) / blocks * np.sum((h - h.mean()) ** 2))) if len(h) > 1 else float("nan")
        rows.append(dict(zip(["treatment", "objective", "model"], key), parameters=int(g["parameters"].iloc[0]),
                         sigma=float(g["sigma"].mean()), lam=float(g["lambda"].mean()),
                         heldout_snps=int(n), heldout_nll=float(g["nll"].sum()),
                         nll_per_snp=float(g["nll"].sum() / n),
                         improvement_vs_null_per_snp=float((g["null"].sum() - g["nll"].sum()) / n),
                         h2=float(h.mean()), h2_jackknife_se=se, fit_seconds=float(g["seconds"].mean())))
    return pd.DataFrame(rows)


def markdown_table(t: pd.DataFrame) -> str:
    lines = ["| LD mismatch | objective | prior | params | held-out NLL (nats) | NLL / SNP | vs null (per SNP) | "
             "h2 chr22 (± jackknife SE) | sigma | lambda |", "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for _, r in t.iterrows():
        lam = f"{r['lam']:.4f}" if np.isfinite(r["lam"]) else "–"
        lines.append(f"| {r['treatment']} | {r['objective']} | {r['model']} | {r['parameters']:,} | "
                     f"{r['heldout_nll']:.1f} | {r['nll_per_snp']:.5f} | {r['improvement_vs_null_per_snp']:+.5f} | "
                     f"{r['h2']:.4f} ± {r['h2_jackknife_se']:.4f} | {r['sigma']:.2f} | {lam} |")
    return "\n".join(lines) + "\n"
