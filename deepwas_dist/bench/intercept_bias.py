"""Where LD score regression's intercept goes on simulated out-of-sample data, with no sampling noise.

``--sigma sldsc`` (the default) holds the likelihood's sigma at the LDSC intercept of the training slices.
On the simulator that intercept is well above the simulated sigma at high power (1.77 +- 0.04 for a truth
of 1 in ``experiment scaling``). This benchmark takes the noise out: for an msprime population split into
a reference panel (n_panel people: the slices' LD) and a GWAS cohort (n_gwas: the LD the z-scores really
have; the simulator draws z = R_c b + e with Cov(e) = sigma R_c), a constant prior s = N h2 / M and
sigma = 1 give the exact expectation

    E[chi2_i] = sigma + s sum_k (R_c)_ik^2        (k over the whole chromosome, the cohort's sample LD)

and LDSC's regression of E[chi2] on [1, l_i] (:func:`deepwas_dist.ldsc.ldsc_intercept`, its weights) is
the intercept's limit for infinitely many GWAS on this LD. One row per LD score l_i:

    panel_bc        the slices' LD score: the panel's bias-corrected r^2 over the slice (what runs use)
    panel_raw       the same without the bias correction r^2 - (1 - r^2) / (n - 2)
    cohort_slice    the cohort's own r^2 over the slice (no panel error; the LD beyond the flanks lost)
    cohort_chrom    the cohort's own r^2 over the chromosome: E[chi2]'s own regressor, intercept 1 exactly
    cohort_chrom_bc the cohort's r^2 over the chromosome, bias-corrected (the population's LD score)
    panel_bc_corrected  panel_bc, with the regression corrected for the LD scores' sampling noise taken
                    as the sum of the pairs' r^2 variances (:func:`corrected_intercept`; not used by runs)
    panel_bc_split_half the same correction with the noise variance measured from two halves of the panel
                    (:func:`split_half_noise`; not used by runs)

Reading the differences: cohort_chrom_bc - cohort_chrom is the cohort's sample LD (s M_chrom / n_gwas: in a
real GWAS of N = n people with residual variance 1 - h2 it is part of the intercept's 1; here N and n_gwas
differ and the noise is sigma, so it is not); cohort_slice - cohort_chrom the LD beyond the flanks; and
panel_bc - cohort_slice (less the within-slice sample LD the bias correction removes) the attenuation of
the slope by the panel's noisy LD scores (errors in variables), which moves the intercept by about
(1 - slope / s) s mean(l).

    python -m deepwas_dist.bench intercept-bias [--panels 500 1000 2000] [--gwas 20000] [--N 40000] [--json FILE]
"""
from __future__ import annotations

import json
from typing import Callable, Sequence

import numpy as np

from ..data.slicing import plan_slices
from ..ldsc import ldsc_intercept
from ..simulate.genotypes import simulate_panel_and_cohort
from ..slice import unbiased_r2
from .mismatch_bias import standardise

KINDS = ("panel_bc", "panel_raw", "cohort_slice", "cohort_chrom", "cohort_chrom_bc")
#: The extra rows: the slices' LD score with the regression corrected for its noise (:func:`corrected_intercept`),
#: the noise variance summed over pairs, and measured from two halves of the panel (:func:`split_half_noise`).
CORRECTED = "panel_bc_corrected"
SPLIT_HALF = "panel_bc_split_half"


def split_half_noise(l_a: np.ndarray, l_b: np.ndarray) -> np.ndarray:
    """Per-SNP estimate of the sampling variance of the full panel's LD score from the LD scores ``l_a``,
    ``l_b`` of two disjoint halves of it (each bias-corrected): the halves' errors are independent with
    twice the full panel's variance when it falls like 1 / n (the 4 rho^2 Var(r) term of
    :func:`r2_noise_variance`, which dominates when the pairs' errors are correlated through LD), so
    E[(l_a - l_b)^2] = 4 Var(l_full) and the estimate is (l_a - l_b)^2 / 4. Its sum is what
    :func:`corrected_intercept` needs; per SNP it is a one-draw estimate, unbiased but noisy. SNPs with
    no variation in a half (NaN there) get the mean of the others."""
    v = (l_a - l_b) ** 2 / 4.0
    return np.where(np.isfinite(v), v, np.nanmean(v))


def r2_noise_variance(r2_bc: np.ndarray, n: int) -> np.ndarray:
    """Sampling variance of the bias-corrected r^2 of a pair, from ``n`` people: with rho^2 estimated by
    the corrected r^2 (clipped to [0, 1]), Var(r) ~ (1 - rho^2)^2 / n (Fisher) and Var(r^2) ~ 4 rho^2
    Var(r) + 2 Var(r)^2, scaled by the correction's factor (1 + 1 / (n - 2))^2."""
    rho2 = np.clip(r2_bc, 0.0, 1.0)
    v = (1.0 - rho2) ** 2 / n
    return (4.0 * rho2 * v + 2.0 * v * v) * (1.0 + 1.0 / (n - 2)) ** 2


def corrected_intercept(ell: np.ndarray, noise_var: np.ndarray, chi2: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the regression of ``chi2`` on [1, ell] corrected for the noise in ``ell``
    (per-SNP variance ``noise_var``, errors independent of chi2 and of ell): the method-of-moments
    errors-in-variables estimator (A^T A - D)^{-1} A^T chi2, D = diag(0, sum_i noise_var_i). Unweighted:
    LDSC's weights are functions of the noisy ell, and with them this correction is no longer consistent."""
    A = np.stack([np.ones_like(ell), ell], 1)
    G = A.T @ A
    G[1, 1] -= float(np.sum(noise_var))
    coef = np.linalg.solve(G, A.T @ chi2)
    return float(coef[0]), float(coef[1])


def _half_ld(X: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """(LD, people, monomorphic mask) of some of the panel's people: a SNP with no variation among them gets
    r = 0 with every SNP, and its own LD score there is NaN (:func:`split_half_noise` fills it)."""
    X = X - X.mean(0)
    sd = X.std(0)
    flat = sd == 0
    X = X / np.where(flat, 1.0, sd)
    return X.T @ X / X.shape[0], X.shape[0], flat


def ld_scores(Xp: np.ndarray, Xc: np.ndarray, bp: np.ndarray, core_kb: float = 1000.0,
              bandwidth_kb: float = 500.0) -> dict[str, np.ndarray]:
    """Per core SNP of every slice of one chromosome: each LD score of :data:`KINDS`; ``panel_bc_var``, the
    sampling variance of panel_bc as the sum of its pairs' (:func:`r2_noise_variance`, pairs independent);
    ``cohort_slice_bc``, the cohort's bias-corrected slice LD score (panel_bc's target, to measure its
    noise); and ``panel_half_a``/``panel_half_b``, panel_bc from each half of the panel's people
    (:func:`split_half_noise`). ``Xp``, ``Xc``: standardised genotypes of the panel and the cohort (people x
    SNPs, same SNPs in ``bp`` order)."""
    n_p, n_c = Xp.shape[0], Xc.shape[0]
    Rc = Xc.T @ Xc / n_c
    Rp = Xp.T @ Xp / n_p
    Rh = [_half_ld(Xp[: n_p // 2]), _half_ld(Xp[n_p // 2:])]
    rc2 = Rc ** 2
    out: dict[str, list[np.ndarray]] = {k: [] for k in (*KINDS, "panel_bc_var", "cohort_slice_bc", "panel_half_a",
                                                        "panel_half_b")}
    for sp in plan_slices(1, bp, core_kb=core_kb, bandwidth_kb=bandwidth_kb):
        C = np.arange(sp.lo, sp.hi)[sp.core_mask()]
        r2p, r2c, r2c_chrom = Rp[C][:, sp.lo:sp.hi] ** 2, rc2[C][:, sp.lo:sp.hi], rc2[C]
        bc = unbiased_r2(r2p, n_p)
        out["panel_raw"].append(r2p.sum(1))
        out["panel_bc"].append(bc.sum(1))
        for key, (R, n, flat) in zip(("panel_half_a", "panel_half_b"), Rh):
            out[key].append(np.where(flat[C], np.nan, unbiased_r2(R[C][:, sp.lo:sp.hi] ** 2, n).sum(1)))
        out["panel_bc_var"].append(r2_noise_variance(bc, n_p).sum(1))
        out["cohort_slice"].append(r2c.sum(1))
        out["cohort_slice_bc"].append(unbiased_r2(r2c, n_c).sum(1))
        out["cohort_chrom"].append(r2c_chrom.sum(1))
        out["cohort_chrom_bc"].append(unbiased_r2(r2c_chrom, n_c).sum(1))
    return {k: np.concatenate(v) for k, v in out.items()}


def limit_intercepts(scores: dict[str, np.ndarray], s: float, sigma: float = 1.0) -> list[dict]:
    """LDSC's intercept and slope / s for E[chi2] = sigma + s * cohort_chrom regressed on each LD score, and
    on panel_bc with the noise correction (row :data:`CORRECTED`)."""
    expected = sigma + s * scores["cohort_chrom"]
    rows = []
    for k in KINDS:
        a, b = ldsc_intercept(scores[k], expected)
        rows.append({"ld_score": k, "mean_l": float(scores[k].mean()), "intercept": float(a[0]),
                     "slope_over_s": float(b[0] / s)})
    for name, noise in ((CORRECTED, scores["panel_bc_var"]),
                        (SPLIT_HALF, split_half_noise(scores["panel_half_a"], scores["panel_half_b"]))):
        a, b = corrected_intercept(scores["panel_bc"], noise, expected)
        rows.append({"ld_score": name, "mean_l": float(scores["panel_bc"].mean()), "intercept": a,
                     "slope_over_s": b / s})
    return rows


def run(panels: Sequence[int] = (500, 1000, 2000), n_gwas: int = 20_000, N: float = 40_000, h2: float = 0.3,
        chroms: Sequence[int] = (1, 2, 3), length_mb: float = 5.0, seed: int = 0, json_path: str | None = None,
        log: Callable[[str], None] = print) -> list[dict]:
    """The limit intercepts for each panel size (one msprime population of panel + cohort per size)."""
    rows = []
    log(f"constant prior, h2 {h2}, N {N:g}, sigma 1; GWAS cohort {n_gwas:,}; {len(chroms)} msprime chromosomes x "
        f"{length_mb:g} Mb; slices: 1 Mb cores, 500 kb flanks")
    log(f"{'panel':>6} {'LD score':>16} {'mean l':>7} {'intercept':>9} {'slope/s':>8}")
    for n_panel in panels:
        pairs = simulate_panel_and_cohort(n_panel, n_gwas, chroms, length_mb, seed=seed)
        per = [ld_scores(standardise(p.genotypes), standardise(c.genotypes), p.snps["BP"].to_numpy())
               for p, c in pairs]
        M = sum(p.n_snps for p, _ in pairs)
        s = N * h2 / M
        scores = {k: np.concatenate([d[k] for d in per]) for k in per[0]}
        common = dict(panel=n_panel, n_gwas=n_gwas, N=N, h2=h2, M=M, s=s,
                      mean_chi2=float(1.0 + s * scores["cohort_chrom"].mean()),
                      sample_ld=float(s * np.mean([p.n_snps for p, _ in pairs]) / n_gwas),
                      noise_var_measured=float(np.var(scores["panel_bc"] - scores["cohort_slice_bc"])),
                      noise_var_pairs=float(scores["panel_bc_var"].mean()),
                      noise_var_split_half=float(split_half_noise(scores["panel_half_a"],
                                                                  scores["panel_half_b"]).mean()))
        for r in limit_intercepts(scores, s):
            r.update(common)
            rows.append(r)
            log(f"{n_panel:>6} {r['ld_score']:>16} {r['mean_l']:>7.2f} {r['intercept']:>9.3f} "
                f"{r['slope_over_s']:>8.3f}")
        r = rows[-1]
        log(f"{'':>6} mean E[chi2] {r['mean_chi2']:.2f}; s M_chrom / n_gwas = {r['sample_ld']:.3f}; variance of the "
            f"panel's LD score noise {r['noise_var_measured']:.3f} (against the cohort's), {r['noise_var_pairs']:.3f} "
            f"summed over pairs, {r['noise_var_split_half']:.3f} from two halves of the panel")
    if json_path:
        with open(json_path, "w") as fh:
            json.dump({"benchmark": "intercept-bias", "rows": rows}, fh, indent=1)
    return rows
