"""--sigma ldsc's intercept: the regression on slice LD scores, its block jackknife, per-block intercepts."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.data.slicing import contiguous_blocks
from deepwas_dist.errors import InputError
from deepwas_dist.evaluate.enrichment import jackknife_se
from deepwas_dist.evaluate.intercept import LDScoreStats, block_intercepts, fit_intercept
from deepwas_dist.ldsc import ldsc_intercept


def _stats(intercepts=(1.1, 0.9), slopes=(0.05, 0.2), n_slices=12, per=80, seed=0) -> LDScoreStats:
    g = np.random.default_rng(seed)
    ell = g.gamma(4.0, 5.0, n_slices * per)
    chi2 = np.stack([a + b * ell for a, b in zip(intercepts, slopes)], 1) * g.chisquare(1, (ell.size, 2))
    keys = [(1 + i // 6, i % 6) for i in range(n_slices) for _ in range(per)]
    return LDScoreStats(ell, chi2, keys)


def test_fit_intercept_and_its_block_jackknife():
    st = _stats()
    fit = fit_intercept(st, ["a", "b"], blocks=4)
    a, b = ldsc_intercept(st.ld_score, st.chi2)
    assert fit.sigma == pytest.approx(a.tolist()) and fit.slope == pytest.approx(b.tolist())
    assert fit.sigma == pytest.approx([1.1, 0.9], abs=0.25)               # 960 SNPs, chi2 noise
    which = contiguous_blocks(sorted(set(st.keys)), 4)
    reps = []
    for j in range(4):
        keep = np.array([which[k] != j for k in st.keys])
        reps.append(ldsc_intercept(st.ld_score[keep], st.chi2[keep])[0])
    assert fit.se == pytest.approx(jackknife_se(np.stack(reps)).tolist(), rel=1e-12)
    assert fit.blocks == 4 and np.all(np.array(fit.se) > 0)
    np.testing.assert_allclose(block_intercepts(st, which, 4), np.stack(reps), rtol=1e-12)


def test_a_non_positive_intercept_is_refused_naming_the_flag():
    st = _stats()
    ell = 5.0 + st.ld_score                                   # chi2 exactly on a line with intercept -0.5
    st = LDScoreStats(ell, np.stack([0.2 * ell - 0.5, 0.2 * ell + 1.0], 1), st.keys)
    with pytest.raises(InputError, match=r"--sigma.*a \(-0\.5"):
        fit_intercept(st, ["a", "b"])


def test_stratified_intercept_is_unbiased_where_the_plain_one_is_not():
    """Per-SNP h2 that varies with an annotation correlated with the LD score biases LDSC's intercept;
    S-LDSC's regression on the stratified LD score recovers it (exact expectations, no noise)."""
    g = np.random.default_rng(5)
    ell = g.gamma(4.0, 5.0, 3000)
    # l_i1 = sum_k r_ik^2 a_k of an annotation of low-LD SNPs (like low MAF): large where l is small
    strat = 10.0 * np.exp(-ell / 10.0) + np.abs(g.normal(0, 0.5, ell.size))
    chi2 = 1.0 + 0.02 * ell + 0.2 * strat                  # intercept 1, tau = 0.2 on the annotation
    a_plain, _ = ldsc_intercept(ell, chi2)
    a_strat, _ = ldsc_intercept(ell, chi2, strata=strat[:, None])
    assert abs(a_plain[0] - 1.0) > 0.1                     # the plain regression is biased here
    assert a_strat[0] == pytest.approx(1.0, abs=1e-8)
    st = LDScoreStats(ell, chi2[:, None], [(1, i // 100) for i in range(ell.size)], strat[:, None])
    assert fit_intercept(st, ["t"]).sigma == pytest.approx([1.0], abs=1e-8)
    assert st.without({(1, 0)}).strata.shape == (ell.size - 100, 1)
