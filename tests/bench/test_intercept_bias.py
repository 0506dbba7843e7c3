"""The intercept-bias benchmark: its LD scores against the slices' own, and its exact limit."""
from __future__ import annotations

import numpy as np
import torch

from deepwas_dist.bench.intercept_bias import KINDS, ld_scores, limit_intercepts
from deepwas_dist.bench.mismatch_bias import standardise
from deepwas_dist.data.slicing import plan_slices
from deepwas_dist.simulate.genotypes import simulate_panel_and_cohort
from deepwas_dist.slice import LDSlice


def test_ld_scores_match_the_slices_and_the_limit_is_exact():
    (p, c), = simulate_panel_and_cohort(200, 1_000, (1,), 2.5, seed=3)
    Xp, Xc, bp = standardise(p.genotypes), standardise(c.genotypes), p.snps["BP"].to_numpy()
    sc = ld_scores(Xp, Xc, bp)
    assert set(KINDS) | {"panel_bc_var", "cohort_slice_bc", "panel_half_a", "panel_half_b"} == set(sc)
    # panel_bc is what a run regresses on: LDSlice.ld2_core's bias-corrected row sums, slice by slice
    Rp = Xp.T @ Xp / Xp.shape[0]
    want = []
    for sp in plan_slices(1, bp, core_kb=1000, bandwidth_kb=500):
        sl = LDSlice.from_ld(torch.from_numpy(Rp[sp.lo:sp.hi, sp.lo:sp.hi]), torch.from_numpy(sp.core_mask()),
                             n_ref=Xp.shape[0])
        want.append(sl.ld2_core.sum(1).numpy())
    np.testing.assert_allclose(sc["panel_bc"], np.concatenate(want), rtol=1e-10, atol=1e-10)
    # the regressor of E[chi2] itself gives back sigma and s exactly; a bias-corrected one sits above by
    # s times the cohort's sample LD (about M / n_gwas), and the panel's noisy scores attenuate the slope
    s = 2.0
    rows = {r["ld_score"]: r for r in limit_intercepts(sc, s, sigma=1.3)}
    assert abs(rows["cohort_chrom"]["intercept"] - 1.3) < 1e-8 and abs(rows["cohort_chrom"]["slope_over_s"] - 1) < 1e-8
    excess = rows["cohort_chrom_bc"]["intercept"] - 1.3
    assert 0.5 * s * p.n_snps / 1_000 < excess < 1.5 * s * p.n_snps / 1_000, excess
    assert rows["panel_bc"]["slope_over_s"] < 1.0


def test_the_noise_corrected_regression_undoes_a_known_attenuation():
    """corrected_intercept with the true noise variance recovers (sigma, s) from a noisy regressor."""
    from deepwas_dist.bench.intercept_bias import corrected_intercept
    g = np.random.default_rng(0)
    ell = g.gamma(4.0, 2.5, 200_000)
    noise = g.normal(0.0, 1.5, ell.size)
    chi2 = 1.2 + 0.8 * ell                                    # exact expectation, no sampling noise
    a, b = corrected_intercept(ell + noise, np.full(ell.size, 1.5 ** 2), chi2)
    assert abs(a - 1.2) < 0.1 and abs(b - 0.8) < 0.01, (a, b)


def test_split_half_noise_measures_the_panels_ld_score_noise():
    """Two halves of the panel estimate the full panel's LD-score noise: (l_a - l_b)^2 / 4 averages to
    between 1 and 2 times it (a half's variance is 2 to 4 times the full panel's, 1 / n to 1 / n^2), and
    the scatter of the panel's LD scores about the cohort's measures it (plus the cohort's own, about a
    tenth as large here); the pairs' independent sum is far below. A SNP monomorphic in a half is filled,
    not NaN."""
    from deepwas_dist.bench.intercept_bias import split_half_noise
    (p, c), = simulate_panel_and_cohort(300, 3_000, (1,), 2.5, seed=5)
    sc = ld_scores(standardise(p.genotypes), standardise(c.genotypes), p.snps["BP"].to_numpy())
    half = split_half_noise(sc["panel_half_a"], sc["panel_half_b"])
    assert np.isfinite(half).all()
    measured = np.var(sc["panel_bc"] - sc["cohort_slice_bc"])
    assert 0.8 * measured < half.mean() < 1.8 * measured, (half.mean(), measured)   # measured here: 1.53, 1.32
    assert half.mean() > 3 * sc["panel_bc_var"].mean()
    filled = split_half_noise(np.array([1.0, 3.0, np.nan]), np.array([3.0, 3.0, 2.0]))
    np.testing.assert_allclose(filled, [1.0, 0.0, 0.5])
