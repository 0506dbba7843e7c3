"""How far each LD-mismatch model can be from the truth, with no sampling noise at all.

For an msprime population split into a reference panel (n_panel people: the LD R of the slices) and a
GWAS cohort (n_gwas people: the LD R_c the z-scores really have), the true covariance of a slice's core
z-scores under a constant prior is Sigma_true = s R_c[C,:] R_c[:,C] + R_c[C,C] (s = N h2 / M). Every model
family below is fitted to Sigma_true itself, by minimising the expected NLL

    E_{z ~ N(0, Sigma_true)} NLL(z) = 1/2 [ logdet K + tr(K^{-1} K_true) ] + const,   K_true = T^T Sigma_true T,

over (log s, log sigma, its mismatch parameters), summed over slices (whitened range part, as in
:mod:`deepwas_dist.mismatch`). Its h2 is the estimator's limit for infinitely many independent GWAS on
this LD: the bias of the model family, not of a finite sample. Families, in R_CC's eigenbasis:

    off         K = sigma I + Z^T S Z
    lambda      + lambda Lambda^{-1}              (z_C gains lambda I: SuSiE-RSS, --mismatch learn)
    sqrt        + lambda Lambda^{-1/2}            (z_C gains lambda R_CC^{1/2}; not offered in training)
    truncation  lambda, on the leading eigenpairs holding 99.5% of tr R_CC (--ld-keep-variance 0.995)
    sigma1      truncation with sigma held at the true null variance 1 (--sigma 1)

``--truth band`` cuts the truth's LD at the slice (Sigma_true from R_c of the slice's SNPs only), to
separate the LD beyond the flanks, which the cohort's z carry and no slice sees, from the panel's error.

``--enrichment E`` makes the truth thresholded, like the realistic experiment's: one binary annotation A
(:data:`ANNOT_SHARE` of the SNPs, in runs of :data:`ANNOT_RUN`) whose SNPs carry E times the per-SNP
variance of the rest (f_i proportional to 1 + (E - 1) A_i, summing to h2), so that Sigma_true =
R_c[C,:] diag(N f) R_c[:,C] + R_c[C,C]. The constant-prior families then misfit the truth's shape, and two
more families fit the annotation too (S = diag(s (1 + (e - 1) A_i)), e learned: the limit of a prior that
can represent the truth):

    truncation_annot  truncation, prior s (1 + (e - 1) A)
    sigma1_annot      the same with sigma held at 1

    python -m deepwas_dist.bench mismatch-bias [--panels 500 1000 2000] [--truth chromosome|band]
        [--enrichment 10] [--json out.json]
"""
from __future__ import annotations

import json
import math

import numpy as np
import torch

from ..data.slicing import plan_slices
from ..simulate.genotypes import simulate_panel

FAMILIES = ("off", "lambda", "sqrt", "truncation", "sigma1")
#: The families whose prior also fits the annotation (with ``--enrichment``).
ANNOT_FAMILIES = ("truncation_annot", "sigma1_annot")
#: The thresholded truth's annotation: this share of the SNPs, in runs of this many consecutive SNPs.
ANNOT_SHARE, ANNOT_RUN = 0.1, 20


def threshold_annotation(m: int, g: np.random.Generator) -> np.ndarray:
    """(m,) 0/1: runs of :data:`ANNOT_RUN` consecutive SNPs starting at random, about :data:`ANNOT_SHARE`
    of them set (runs may overlap)."""
    a = np.zeros(m)
    for start in g.choice(m, size=max(1, int(round(ANNOT_SHARE * m / ANNOT_RUN))), replace=False):
        a[start:start + ANNOT_RUN] = 1.0
    return a


def standardise(G: np.ndarray) -> np.ndarray:
    """Genotypes (n, M) as float64 columns of mean 0 and sd 1 (the sample's own)."""
    X = G.astype(np.float64)
    X -= X.mean(0)
    return X / X.std(0)


def slices(n_panel: int, n_gwas: int, N: float, h2: float, chroms=(1, 2, 3), length_mb: float = 5.0,
           seed: int = 0, truth: str = "chromosome", enrichment: float = 1.0) -> tuple[list[dict], int]:
    """Per slice (core 1 Mb, flanks 500 kb): K_true, Z^T Z and Lambda in R_CC's eigenbasis, and Z and the
    annotation A of the slice's SNPs; and M. ``truth``: the true covariance from the cohort's LD over the
    whole chromosome, or the slice ('band'); ``enrichment``: the thresholded truth's per-SNP variance ratio
    in the annotation (1: constant)."""
    panels = simulate_panel(n_panel + n_gwas, chroms, length_mb, seed=seed)
    kept = []
    for p in panels:
        Gp, Gc = p.genotypes[:n_panel], p.genotypes[n_panel:]
        f = Gp.mean(0) / 2
        keep = (np.minimum(f, 1 - f) >= 0.01) & (Gc.std(0) > 0)
        kept.append((p.snps["BP"].to_numpy()[keep], standardise(Gp[:, keep]), standardise(Gc[:, keep])))
    M = sum(x[1].shape[1] for x in kept)
    g = np.random.default_rng(seed + 1)
    annots = [threshold_annotation(x[1].shape[1], g) if enrichment != 1.0 else np.zeros(x[1].shape[1])
              for x in kept]
    w = [1.0 + (enrichment - 1.0) * a for a in annots]
    scale = N * h2 / sum(float(x.sum()) for x in w)            # N f_i = scale * w_i, sum f = h2
    out = []
    for (bp, Xp, Xc), a, wc in zip(kept, annots, w):
        Rc = Xc.T @ Xc / n_gwas
        for sp in plan_slices(1, bp, core_kb=1000, bandwidth_kb=500):
            c = sp.core_mask()
            C = np.arange(sp.lo, sp.hi)[c]
            cols = slice(None) if truth == "chromosome" else slice(sp.lo, sp.hi)
            Rrows = Rc[C][:, cols]
            Sig = scale * (Rrows * wc[cols]) @ Rrows.T + Rc[np.ix_(C, C)]
            X = Xp[:, sp.lo:sp.hi]
            R = X.T @ X / n_panel
            lam, U = np.linalg.eigh(R[np.ix_(c, c)])
            k = lam > 1e-6 * lam[-1]
            T = U[:, k] / np.sqrt(lam[k])
            Z = R[:, c] @ T
            out.append({"Kt": torch.tensor(T.T @ Sig @ T), "ZtZ": torch.tensor(Z.T @ Z), "L": torch.tensor(lam[k]),
                        "Z": torch.tensor(Z), "A": torch.tensor(a[sp.lo:sp.hi]), "core_A": float(a[C].sum())})
    return out, M


def _restrict(d: dict, q: float) -> dict:
    order = torch.argsort(d["L"], descending=True)
    cum = torch.cumsum(d["L"][order], 0) / d["L"].sum()
    kk = order[: int((cum < q).sum()) + 1]
    return {**d, "Kt": d["Kt"][kk][:, kk], "ZtZ": d["ZtZ"][kk][:, kk], "L": d["L"][kk], "Z": d["Z"][:, kk]}


def fit(data: list[dict], family: str, M: int, N: float, s0: float, M_A: float = 0.0) -> dict:
    """The family's KL-projection of the truth: h2, sigma, lambda (and, for :data:`ANNOT_FAMILIES`, the
    fitted enrichment e of the annotation, which has ``M_A`` SNPs genome-wide)."""
    if family.startswith(("truncation", "sigma1")):
        data = [_restrict(d, 0.995) for d in data]
    power = None if family == "off" else -0.5 if family == "sqrt" else -1.0
    fixed_sigma = family.startswith("sigma1")
    annotated = family in ANNOT_FAMILIES
    p = torch.tensor([math.log(s0), 0.0, math.log(0.05), 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([p], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        tot = torch.zeros((), dtype=torch.float64)
        for d in data:
            sigma = torch.ones((), dtype=torch.float64) if fixed_sigma else p[1].exp()
            if annotated:       # Z^T diag(s (1 + (e - 1) A)) Z
                per = p[0].exp() * (1.0 + (p[3].exp() - 1.0) * d["A"])
                ZSZ = d["Z"].T @ (per[:, None] * d["Z"])
            else:
                ZSZ = p[0].exp() * d["ZtZ"]
            K = ZSZ + sigma * torch.eye(len(d["L"]), dtype=torch.float64)
            if power is not None:
                K = K + torch.diag(p[2].exp() * d["L"] ** power)
            L = torch.linalg.cholesky(K)
            tot = tot + 2 * L.diagonal().log().sum() + torch.cholesky_solve(d["Kt"], L).diagonal().sum()
        tot = 0.5 * tot
        tot.backward()
        return tot

    opt.step(closure)
    v = p.detach()
    e = float(v[3].exp()) if annotated else 1.0
    return {"family": family, "h2": float(v[0].exp()) * (M + (e - 1.0) * M_A) / N,
            "sigma": 1.0 if fixed_sigma else float(v[1].exp()),
            "lambda": float(v[2].exp()) if power is not None else None, "enrichment": e if annotated else None}


def run(panels=(500, 1000, 2000), n_gwas: int = 10_000, N: float = 10_000, h2: float = 0.4,
        json_path: str | None = None, log=print, truth: str = "chromosome", enrichment: float = 1.0) -> list[dict]:
    torch.set_num_threads(2)
    rows = []
    shape = "constant truth" if enrichment == 1.0 else (f"thresholded truth ({enrichment:g}x in {ANNOT_SHARE:.0%} of "
                                                        f"SNPs, runs of {ANNOT_RUN})")
    log(f"true h2 {h2}; GWAS cohort {n_gwas:,} (N {N:g}); 3 msprime chromosomes x 5 Mb; {shape}; "
        f"truth's LD over the {truth}")
    log(f"{'panel':>6} {'family':>16} {'h2':>7} {'sigma':>7} {'lambda':>8} {'e':>6}")
    families = FAMILIES + (ANNOT_FAMILIES if enrichment != 1.0 else ())
    for n_panel in panels:
        data, M = slices(n_panel, n_gwas, N, h2, truth=truth, enrichment=enrichment)
        M_A = sum(d["core_A"] for d in data)                 # every SNP is core in one slice
        for fam in families:
            r = {"panel": n_panel, **fit(data, fam, M, N, N * h2 / M, M_A)}
            rows.append(r)
            lam = "-" if r["lambda"] is None else f"{r['lambda']:.4f}"
            e = "-" if r["enrichment"] is None else f"{r['enrichment']:.2f}"
            log(f"{n_panel:>6} {fam:>16} {r['h2']:>7.3f} {r['sigma']:>7.2f} {lam:>8} {e:>6}")
    if json_path:
        with open(json_path, "w") as fh:
            json.dump({"true_h2": h2, "n_gwas": n_gwas, "N": N, "truth": truth, "enrichment": enrichment,
                       "rows": rows}, fh, indent=1)
    return rows
