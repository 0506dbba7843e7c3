"""Evaluate a finished run and write what users take away, into the run directory:

    <run>/metrics.json                          per trait: held-out NLL (total, per SNP), its improvement over
                                                the null and constant priors, h2, truth recovery; history
    <run>/snpvar/<trait>.<chr>.snpvar.gz        PolyFun-compatible: CHR SNP BP A1 A2 SNPVAR Z N (SNPVAR = f_j)
    <run>/enrichment/<trait>.results            S-LDSC-style table for binary annotations, block-jackknife SEs
                                                (``cfg.jackknife``: refit the prior per block, or hold it fixed;
                                                metrics.json and summary.txt say which)
    <run>/plots/curves.png, enrichment_<trait>.png, truth_<trait>.png
    <run>/effects/<trait>.<chr>.effects.gz      posterior effect sizes, PLINK --score columns first: SNP A1 BETA
                                                BETA_STD POSTERIOR_SD CHR BP A2 (``evaluate.effects``)
    <run>/model.pt                              the trained prior's state_dict and how to rebuild it
    <run>/summary.txt                           the final table, as printed
"""
from __future__ import annotations

import gzip
import io
import json
import math
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..data import schema as S
from ..data.cache import SliceCache, cache_budget
from ..data.reader import Dataset
from ..data.slicing import seeded_subsample
from ..data.storage import filesystem, join
from ..errors import InputError
from ..models import saved_prior
from ..settings import MismatchSetting
from ..train.config import TrainConfig
from ..train.holdout import HoldoutSplit
from ..train.loop import run_null
from ..train.runplan import RunPlan
from .effects import effects_table, posterior_arrays
from .enrichment import enrichment_table, fixed_h2_se
from .guards import TraitFit, check_trait, enrichment_masked_warning, format_warnings, mask_collapsed_enrichment
from .heldout import BASELINE_SLICES, constant_prior, fit_constant_prior, recovery, score_model, score_slices
from .intercept import block_log_sigma
from .jackknife import (
    NEWTON_MAX_PARAMS,
    RefitJackknife,
    RefitSettings,
    refit_enrichment_table,
    refit_jackknife,
    shape_held,
)
from .local_shape import local_shape
from .plots import curves_png, enrichment_png, truth_png

#: SNP blocks of the fixed-prior jackknife (``--jackknife fixed``).
FIXED_SNP_BLOCKS = 200


def predict_all(ds: Dataset, net: torch.nn.Module) -> dict[int, tuple[pd.DataFrame, np.ndarray]]:
    """Per chromosome: the SNP table and predicted log f (M, T)."""
    out = {}
    for c in ds.chromosomes:
        snps, X, tracks = ds.features(c)
        with torch.no_grad():
            out[c] = (snps, net(X, tracks).double().numpy())
    return out


def heldout_snp_mask(ds: Dataset, keys: list[tuple[int, int]], chroms: list[int]) -> np.ndarray:
    """(M,) bool over the SNPs of ``chroms`` in order: core SNPs of the slices ``keys``."""
    idx = ds.slice_index()
    want = set(keys)
    parts = []
    for c in chroms:
        mask = np.zeros(ds.manifest.snps.per_chrom[int(c)], dtype=bool)
        for ch, sid, lo, hi in zip(idx[S.CHR], idx[S.SLICE_ID], idx[S.CORE_LO], idx[S.CORE_HI]):
            if int(ch) == c and (c, int(sid)) in want:
                mask[int(lo):int(hi)] = True
        parts.append(mask)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def evaluate_model(cfg: TrainConfig, ds: Dataset, plan: RunPlan, split: HoldoutSplit, net: torch.nn.Module,
                   history: list[dict], log: Callable[[str], None] = print, selection: dict | None = None) -> dict:
    traits = plan.traits
    log_N = torch.tensor(plan.log_N, dtype=torch.float64)
    # every slice is read once while they fit in half the machine's memory (held-out ones are scored twice,
    # all of them for the effects, the training ones again for the jackknife)
    cache = SliceCache(ds, traits, bandwidth_kb=cfg.bandwidth_kb, device=torch.device("cpu"),
                       max_bytes=cache_budget(cfg.cache_mib, torch.device("cpu")), keep_variance=cfg.ld_keep_variance)
    read = lambda keys: (cache.get(k) for k in keys)  # noqa: E731
    base = list(read(seeded_subsample(plan.train_keys, BASELINE_SLICES, cfg.seed)))
    mismatch = MismatchSetting.parse(cfg.mismatch).enabled
    fixed_ls = None if plan.fixed_log_sigma is None else torch.tensor(plan.fixed_log_sigma, dtype=torch.float64)
    c_logf, c_ls, c_ll = fit_constant_prior(base, log_N, torch.tensor(plan.init_log_f, dtype=torch.float64),
                                            mismatch=mismatch, fixed_log_sigma=fixed_ls)
    scored = score_model(net, base, read(plan.heldout_keys), log_N, run_null(plan), mismatch,
                         sigma_held=fixed_ls is not None)
    prior, sigma, lam, ho_model = scored.prior, scored.log_sigma, scored.log_lambda, scored.heldout
    null_ls, null_ll = scored.null_log_sigma, scored.null_log_lambda
    ho_const = score_slices(read(plan.heldout_keys), constant_prior(c_logf, c_ls, c_ll), log_N, null_ls,
                            null_log_lambda=null_ll)

    preds = predict_all(ds, net)
    chroms = list(preds)
    effects = posterior_arrays(read(plan.all_keys), prior, log_N,
                               {c: len(preds[c][0]) for c in chroms})
    log_f_all = np.concatenate([preds[c][1] for c in chroms])
    snps_all = pd.concat([preds[c][0] for c in chroms], ignore_index=True)
    is_ho = heldout_snp_mask(ds, plan.heldout_keys, chroms)
    jk, fallback = None, None
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    if cfg.jackknife in ("refit", "refit-scale"):
        # A large network's unregularised full-batch refits do not estimate what AdamW training does (on the
        # test simulation L-BFGS took an mlp/small from h2 0.39 to 10.7): refit its scale and its last layer
        # on its leading features (refit-local), or its scale alone (refit-scale), the rest held.
        jk_net = net
        if n_params > NEWTON_MAX_PARAMS and cfg.jackknife == "refit" and getattr(net, "head", None) is not None:
            jk_net = local_shape(net, [ds.features(c)[1:] for c in chroms], NEWTON_MAX_PARAMS)
            log(f"[jackknife] the prior has {n_params:,} parameters: refitting its scale and its last layer on "
                f"the trunk's {jk_net.n_components} leading feature directions per block (the trunk held)")
        elif n_params > NEWTON_MAX_PARAMS:
            jk_net = shape_held(net)
            log(f"[jackknife] the prior has {n_params:,} parameters: refitting its scale per block with its "
                "shape held (h2 SEs include the fit of the total and of sigma; enrichment SEs are fixed-prior)")
        # --sigma ldsc: each refit holds the intercept estimated without its block
        setting = cfg.sigma_setting
        per_block = (block_log_sigma(ds, traits, plan.train_keys, cfg.bandwidth_kb, cfg.seed,
                                     stratify=setting.mode == "sldsc") if setting.intercept else None)
        try:
            jk = refit_jackknife(jk_net, list(read(plan.train_keys)), log_N, [ds.features(c)[1:] for c in chroms],
                                 RefitSettings(n_blocks=cfg.jackknife_blocks, objective=cfg.objective), log=log,
                                 block_log_sigma=per_block)
            h2_full, h2_se = jk.h2()
        except InputError as e:              # a refit left the valid region (K not positive definite)
            fallback = f"refit jackknife failed ({e}); fixed-prior SEs used, which ignore the uncertainty of the fit"
            log(f"[jackknife] warning: {fallback}")
    metrics: dict = {"run": cfg.name, "model": cfg.model, "size": cfg.size, "objective": cfg.objective,
                     "sigma_setting": cfg.sigma, "sigma_ldsc": plan.sigma_ldsc,
                     "parameters": int(sum(p.numel() for p in net.parameters())),
                     "heldout_chroms": split.heldout_chroms, "mismatch": cfg.mismatch,
                     "holdout": {"mode": split.mode, "description": split.describe(), "blocks": split.blocks,
                                 "heldout_keys": [list(k) for k in split.heldout_keys],
                                 "buffer_keys": [list(k) for k in split.buffer_keys],
                                 "val_chroms": split.val_chroms, "val_keys": [list(k) for k in split.val_keys]},
                     "selection": selection,
                     "n_snps": int(len(snps_all)), "traits": {}, "history": history}
    for t, name in enumerate(traits):
        n = float(ho_model.n_snps[t]) if len(ho_model.n_snps) else 0.0
        per = lambda x: float(x[t] / n) if n else float("nan")  # noqa: E731
        m = {"heldout_snps": int(n), "heldout_slices": ho_model.n_slices,
             "heldout_nll": float(ho_model.nll[t]) if n else float("nan"), "heldout_nll_per_snp": per(ho_model.nll),
             "null_nll_per_snp": per(ho_model.null), "constant_nll_per_snp": per(ho_const.nll),
             "improvement_vs_null_per_snp": per(ho_model.null) - per(ho_model.nll),
             "improvement_vs_constant_per_snp": per(ho_const.nll) - per(ho_model.nll),
             "h2": float(np.exp(log_f_all[:, t]).sum()), "constant_h2": float(math.exp(c_logf[t]) * len(snps_all)),
             "sigma": float(math.exp(float(sigma[t]))), "null_sigma": float(math.exp(float(null_ls[t]))),
             "lambda": None if lam is None else float(math.exp(float(lam[t]))),
             "null_lambda": None if null_ll is None else float(math.exp(float(null_ll[t])))}
        fit = TraitFit(name, h2=m["h2"], sigma=m["sigma"], heldout_slices=ho_model.n_slices, lam=m["lambda"],
                       h2_moment=plan.h2_moment[t] if plan.h2_moment else None, sigma_mode=cfg.sigma_setting.mode,
                       sigma_se=plan.sigma_ldsc["se"][t] if plan.sigma_ldsc else None)
        m["h2_moment"] = fit.h2_moment
        m["warnings"] = [w.to_dict() for w in check_trait(fit)]
        m["h2_collapsed"] = any(w["code"] == "h2_collapsed" for w in m["warnings"])
        if jk is not None:
            m.update(h2_se=float(h2_se[t]), h2_refit_full=float(h2_full[t]), jackknife=jk.summary())
        else:
            m.update(h2_se=fixed_h2_se(np.exp(log_f_all[:, t]), FIXED_SNP_BLOCKS),
                     jackknife={"jackknife": "fixed", "blocks": min(FIXED_SNP_BLOCKS, len(snps_all))})
            if fallback:
                m["jackknife"].update(requested="refit", reason=fallback)
        truth = _truth(ds, name, chroms)
        if truth is not None:
            m["true_h2"] = float(np.nansum(truth))
            m["recovery_all"] = recovery(log_f_all[:, t], truth)
            m["recovery_heldout"] = recovery(log_f_all[is_ho, t], truth[is_ho])
        metrics["traits"][name] = m
    write_outputs(cfg, ds, traits, preds, snps_all, log_f_all, is_ho, metrics, net, plan, log, jk, effects)
    return metrics


def _truth(ds: Dataset, trait: str, chroms: list[int]) -> np.ndarray | None:
    """F_TRUE aligned to the SNP tables of ``chroms`` (NaN where absent), or None without truth."""
    if not ds.manifest.traits[trait].has_f_true:
        return None
    parts = []
    for c in chroms:
        snps = ds.snps(c, [S.SNP])
        ss = ds.sumstats(trait, [c]).set_index(S.SNP)
        parts.append(ss[S.F_TRUE].reindex(snps[S.SNP]).to_numpy(dtype=np.float64))
    return np.concatenate(parts)


def write_outputs(cfg, ds, traits, preds, snps_all, log_f_all, is_ho, metrics, net, plan, log,
                  jk: RefitJackknife | None = None, effects: dict | None = None) -> None:
    fs, root = filesystem(cfg.storage, cfg.storage_options or None)
    run = join(root, cfg.name)

    def put(rel: str, data: bytes) -> None:
        path = join(run, rel)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as fh:
            fh.write(data)

    for t, name in enumerate(traits):
        ss = ds.sumstats(name).set_index(S.SNP)
        for c, (snps, lf) in preds.items():
            df = pd.DataFrame({"CHR": snps[S.CHR].to_numpy(), "SNP": snps[S.SNP].to_numpy(),
                               "BP": snps[S.BP].to_numpy(), "A1": snps[S.A1].to_numpy(), "A2": snps[S.A2].to_numpy(),
                               "SNPVAR": np.exp(lf[:, t])})
            df["Z"] = ss[S.Z].reindex(df["SNP"]).to_numpy()
            df["N"] = ss[S.N].reindex(df["SNP"]).to_numpy()
            put(f"snpvar/{name}.{c}.snpvar.gz", gzip_tsv(df))
            if effects is not None:
                mean, var = effects[c]
                tab = effects_table(snps, mean[:, t], var[:, t], float(np.exp(plan.log_N[t])))
                put(f"effects/{name}.{c}.effects.gz", gzip_tsv(tab))
        binary = list(ds.binary_features)
        if binary:
            A = np.concatenate([ds.snps(c, [S.SNP] + binary)[binary].to_numpy(np.float64) for c in preds])
            f = np.exp(log_f_all[:, t])
            if jk is not None and not jk.shape_held:
                tab = refit_enrichment_table(jk, t, f, A, binary)
            else:
                tab = enrichment_table(f, A, binary, n_blocks=FIXED_SNP_BLOCKS)
            m = metrics["traits"][name]
            if m.get("h2_collapsed"):
                tab = mask_collapsed_enrichment(tab)
                m["warnings"].append(enrichment_masked_warning(TraitFit(name, m["h2"], m["sigma"], 0)).to_dict())
            put(f"enrichment/{name}.results", tab.to_csv(sep="\t", index=False, float_format="%.6g").encode())
            put(f"plots/enrichment_{name}.png", enrichment_png(tab, name))
            metrics["traits"][name]["enrichment"] = tab.set_index("Category")["Enrichment"].to_dict()
        truth = _truth(ds, name, list(preds))
        if truth is not None:
            put(f"plots/truth_{name}.png", truth_png(log_f_all[:, t], truth, name, is_ho))
    if metrics["history"]:
        put("plots/curves.png", curves_png(metrics["history"]))
    buf = io.BytesIO()
    torch.save(saved_prior(net, cfg.model, cfg.size, plan.n_features, plan.tracks_shape, traits=traits,
                           log_N=plan.log_N, feature_names=list(ds.feature_names),
                           feature_mean=list(ds.manifest.features.mean),
                           feature_std=list(ds.manifest.features.std), **_track_record(ds, plan.tracks_shape)), buf)
    put("model.pt", buf.getvalue())
    put("metrics.json", json.dumps(metrics, indent=1, default=float).encode())
    table = summary_table(metrics)
    put("summary.txt", table.encode())
    log(table)
    log(f"[deepwas] outputs written to {cfg.storage.rstrip('/')}/{cfg.name}/ (metrics.json, snpvar/, effects/, "
        "enrichment/, plots/, model.pt)")


def _track_record(ds, tracks_shape) -> dict:
    """What ``deepwas predict`` needs to feed a conv prior another dataset's tracks: their names and, for
    ingested tracks, the window and the per-track normalisation (none for annotation-only priors)."""
    if not tracks_shape:
        return {}
    t = ds.manifest.tracks
    ingest = None if t.ingest is None else {k: t.ingest[k] for k in ("window_bp", "bins", "fill", "mean", "std")}
    return {"track_names": None if t.names is None else list(t.names), "tracks_ingest": ingest}


def gzip_tsv(df: pd.DataFrame) -> bytes:
    """A table as gzipped tab-separated text (NA for missing, 6 significant digits, reproducible bytes)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(df.to_csv(sep="\t", index=False, na_rep="NA", float_format="%.6g").encode())
    return buf.getvalue()


def summary_table(metrics: dict) -> str:
    """The final per-trait table (nats per held-out SNP; positive improvement = better than the baseline)."""
    head = (f"{'trait':<14}{'held-out SNPs':>14}{'NLL/SNP':>11}{'vs null':>11}{'vs const':>11}{'h2':>8}"
            f"{'(SE)':>9}{'true h2':>9}{'r(log f)':>10}{'sigma':>8}{'lambda':>9}")
    held = metrics.get("holdout", {}).get("description", f"chromosomes {metrics['heldout_chroms']}")
    lines = [f"model {metrics['model']}/{metrics['size']} ({metrics['parameters']:,} parameters), objective "
             f"{metrics['objective']}, mismatch {metrics.get('mismatch', 'off')}, held out: {held}", head,
             "-" * len(head)]
    for name, m in metrics["traits"].items():
        rec = m.get("recovery_all", {}).get("pearson_r", float("nan"))
        lines.append(f"{name:<14}{m['heldout_snps']:>14,}{m['heldout_nll_per_snp']:>11.5f}"
                     f"{m['improvement_vs_null_per_snp']:>+11.5f}{m['improvement_vs_constant_per_snp']:>+11.5f}"
                     f"{m['h2']:>8.3f}{m.get('h2_se', float('nan')):>9.4f}{m.get('true_h2', float('nan')):>9.3f}"
                     f"{rec:>10.3f}{m.get('sigma', float('nan')):>8.3f}"
                     f"{m['lambda'] if m.get('lambda') is not None else float('nan'):>9.4f}")
    jks = {f"{m['jackknife']['jackknife']} ({m['jackknife']['blocks']} blocks"
           + ("; refit requested, it failed" if "requested" in m["jackknife"] else "") + ")"
           for m in metrics["traits"].values() if "jackknife" in m}
    sel = metrics.get("selection")
    if sel:
        what = "NLL/SNP" if sel.get("metric", "val_nll_per_snp") == "val_nll_per_snp" else "LDSC loss/SNP"
        lines.append(f"the prior of epoch {sel['epoch']} of {sel['epochs_trained']} trained: the lowest validation "
                     f"{what} ({sel.get('score', sel['val_nll_per_snp']):.5f}) on chromosomes "
                     f"{metrics['holdout']['val_chroms']}"
                     + (" (stopped early, --patience)" if sel["stopped_early"] else ""))
    if jks:
        lines.append(f"SE of h2 and enrichment: {', '.join(sorted(jks))} delete-one-block jackknife")
    if any(m.get("jackknife", {}).get("jackknife") == "refit-scale" for m in metrics["traits"].values()):
        lines.append("refit-scale: h2 SEs refit the prior's scale (and sigma's intercept) per block with its shape "
                     "held; enrichment SEs are fixed-prior, which ignore the uncertainty of the shape")
    local = {m["jackknife"]["components"] for m in metrics["traits"].values()
             if m.get("jackknife", {}).get("jackknife") == "refit-local"}
    if local:
        lines.append(f"refit-local: each block refits the prior's scale and its last layer on the trunk's "
                     f"{', '.join(map(str, sorted(local)))} leading feature directions (and sigma's intercept); "
                     "the trunk is held, so its own uncertainty is left out")
    return "\n".join(lines) + "\n" + format_warnings(metrics["traits"])


__all__ = ["evaluate_model", "write_outputs", "summary_table", "gzip_tsv"]
