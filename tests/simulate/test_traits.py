"""draw_z against the exact covariance R S R + sigma R (in-sample) and R_c S R_c + sigma R_c (a GWAS cohort's
LD, out-of-sample); simulate_traits bookkeeping; in-sample draws unchanged from before the cohort existed."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.simulate import (
    DEFAULT_TRAITS,
    TraitSpec,
    draw_z,
    simulate_features,
    simulate_panel,
    simulate_traits,
)
from deepwas_dist.simulate.seeds import derive_seed, key
from deepwas_dist.simulate.traits import draw_z_traits

N_DRAWS = 20_000
#: Every entry of the sample covariance must lie within this many standard errors of the truth. Under
#: the model each standardised deviation is ~N(0, 1); over ~1,800 entries P(max > 5) is about 1e-3.
MAX_SE = 5.0


@pytest.fixture(scope="module")
def cov_panel():
    """400 individuals, the first 60 SNPs of a 0.5 Mb chromosome (strong LD between neighbours)."""
    p = simulate_panel(n_individuals=400, chroms=(1,), length_mb=0.5, seed=11)[0]
    assert p.n_snps >= 60
    return p.subset(slice(0, 60))


def max_standardised_deviation(draws: np.ndarray, Sigma: np.ndarray) -> float:
    """max_ij |S_hat_ij - Sigma_ij| / SE_ij for zero-mean draws (M, n), SE_ij^2 = (S_ii S_jj + S_ij^2) / n."""
    n = draws.shape[1]
    S_hat = draws @ draws.T / n
    se = np.sqrt((np.outer(np.diag(Sigma), np.diag(Sigma)) + Sigma ** 2) / n)
    return float(np.max(np.abs(S_hat - Sigma) / se))


def _model(panel, seed=0):
    X = panel.standardized()
    R = X.T @ X / X.shape[0]
    f = np.random.default_rng(seed).uniform(0.2, 1.0, panel.n_snps)
    f *= 0.1 / f.sum()
    return R, f, 200.0                                        # N f ~ 0.33: signal and noise comparable


@pytest.mark.parametrize("sigma", [1.0, 1.7])
def test_empirical_covariance_matches_model(cov_panel, sigma):
    R, f, N = _model(cov_panel)
    assert np.max(np.abs(R - np.eye(len(R)))) > 0.8            # LD is real: strong off-diagonal entries
    Sigma = R @ np.diag(N * f) @ R + sigma * R
    draws = draw_z(cov_panel, f, N, sigma=sigma, seed=5, n_draws=N_DRAWS)
    assert draws.shape == (cov_panel.n_snps, N_DRAWS)
    assert max_standardised_deviation(draws, Sigma) < MAX_SE


def test_covariance_check_rejects_iid_noise(cov_panel):
    """The statistic above has the power to see e ~ N(0, sigma I) instead of N(0, sigma R)."""
    R, f, N = _model(cov_panel)
    sigma = 1.0
    Sigma = R @ np.diag(N * f) @ R + sigma * R
    g = np.random.default_rng(9)
    b = np.sqrt(N * f)[:, None] * g.standard_normal((len(f), N_DRAWS))
    wrong = R @ b + np.sqrt(sigma) * g.standard_normal((len(f), N_DRAWS))
    assert max_standardised_deviation(wrong, Sigma) > 4 * MAX_SE
    no_ld_signal = b + np.sqrt(sigma) * (np.linalg.cholesky(R + 1e-10 * np.eye(len(R))) @ g.standard_normal(b.shape))
    assert max_standardised_deviation(no_ld_signal, Sigma) > 4 * MAX_SE


def test_null_trait_is_pure_ld_noise(cov_panel):
    R, f, _ = _model(cov_panel)
    draws = draw_z(cov_panel, f, 0.0, sigma=1.3, seed=1, n_draws=N_DRAWS)
    assert max_standardised_deviation(draws, 1.3 * R) < MAX_SE


def test_draw_z_shapes_determinism_and_errors(cov_panel):
    _, f, N = _model(cov_panel)
    z = draw_z(cov_panel, f, N, seed=3)
    assert z.shape == (cov_panel.n_snps,) and z.dtype == np.float64
    np.testing.assert_array_equal(z, draw_z(cov_panel, f, N, seed=3))
    assert not np.array_equal(z, draw_z(cov_panel, f, N, seed=4))
    with pytest.raises(InputError, match="shape"):
        draw_z(cov_panel, f[:-1], N)
    with pytest.raises(InputError):
        draw_z(cov_panel, -f, N)


def test_simulate_traits(small_panels, small_features):
    res = simulate_traits(small_panels, small_features, DEFAULT_TRAITS, seed=2)
    assert set(res) == {s.name for s in DEFAULT_TRAITS}
    for spec in DEFAULT_TRAITS:
        z, f = res[spec.name]                                     # unpacks as (z per chrom, f per chrom)
        assert [len(x) for x in z] == [len(x) for x in f] == [p.n_snps for p in small_panels]
        assert abs(sum(x.sum() for x in f) - spec.h2) < 1e-12
        assert res[spec.name].truth.kind == spec.truth
        assert np.mean(np.concatenate(z) ** 2) > 1.5               # signal on top of sigma ~ 1
    assert not np.allclose(res["sim_linear"].f[0], res["sim_network"].f[0])
    # a trait does not change when others are added or removed
    alone = simulate_traits(small_panels, small_features, [DEFAULT_TRAITS[2]], seed=2)
    for a, b in zip(alone["sim_network"].z, res["sim_network"].z):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="SNPs"):
        simulate_traits(small_panels[:1], small_features, DEFAULT_TRAITS, seed=2)
    with pytest.raises(InputError, match="h2"):
        TraitSpec("bad", h2=1.5, N=1000)
    with pytest.raises(InputError, match="truth"):
        TraitSpec("bad", h2=0.5, N=1000, truth="quadratic")


# ------------------------------------------------------------------------------ designs
def _main_draw_z(panel, f, N, sigma, seed):
    """draw_z as it was before the out-of-sample design (frozen copy): the in-sample reference."""
    X = panel.standardized()
    n = X.shape[0]
    g = np.random.default_rng(seed)
    b = np.sqrt(N * f)[:, None] * g.standard_normal((panel.n_snps, 1))
    e = g.standard_normal((n, 1)) * np.sqrt(sigma)
    return (X.T @ (X @ b / n + e / np.sqrt(n)))[:, 0]


def test_in_sample_equals_the_previous_draw(small_panels, small_features):
    res = simulate_traits(small_panels, small_features, DEFAULT_TRAITS, seed=2)
    for spec in DEFAULT_TRAITS:
        for p, z, f in zip(small_panels, res[spec.name].z, res[spec.name].f):
            old = _main_draw_z(p, f, spec.N, spec.sigma, derive_seed(2, key(spec.name), p.chrom))
            np.testing.assert_array_equal(z, old)                    # bit for bit


@pytest.fixture(scope="module")
def cov_pair(panel_and_cohort):
    """Panel (150) and cohort (600) restricted to 40 adjacent SNPs, with their LD matrices."""
    panel, cohort = (x.subset(slice(0, 40)) for x in panel_and_cohort)
    R = [x.standardized().T @ x.standardized() / x.n_individuals for x in (panel, cohort)]
    return panel, cohort, R[0], R[1]


def test_out_of_sample_covariance_is_the_cohorts(cov_pair):
    """z drawn with the cohort matches R_c S R_c + sigma R_c, and clearly not the panel's R S R + sigma R."""
    _, cohort, R, Rc = cov_pair
    assert np.max(np.abs(R - Rc)) > 0.15                             # the two LD estimates clearly differ
    f = np.random.default_rng(0).uniform(0.2, 1.0, cohort.n_snps)
    f *= 0.1 / f.sum()
    N, sigma = 200.0, 1.2
    draws = draw_z(cohort, f, N, sigma=sigma, seed=5, n_draws=N_DRAWS)
    cov = lambda L: L @ np.diag(N * f) @ L + sigma * L
    assert max_standardised_deviation(draws, cov(Rc)) < MAX_SE
    assert max_standardised_deviation(draws, cov(R)) > 4 * MAX_SE


def test_blocked_draw_equals_one_block(cov_pair):
    _, cohort, _, _ = cov_pair
    f = np.full(cohort.n_snps, 0.01)
    one = draw_z(cohort, f, 500.0, sigma=1.1, seed=3, n_draws=4)
    blocked = draw_z(cohort, f, 500.0, sigma=1.1, seed=3, n_draws=4, block_bytes=8 * cohort.n_snps * 77)
    np.testing.assert_allclose(blocked, one, rtol=1e-10, atol=1e-10)
    many = draw_z_traits(cohort, [(f, 500.0, 1.1, 3), (2 * f, 100.0, 1.0, 4)], block_bytes=8 * cohort.n_snps * 50)
    np.testing.assert_allclose(many[0], draw_z(cohort, f, 500.0, 1.1, seed=3), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(many[1], draw_z(cohort, 2 * f, 100.0, 1.0, seed=4), rtol=1e-10, atol=1e-10)


def test_simulate_traits_with_cohorts(panel_and_cohort):
    panel, cohort = panel_and_cohort
    feats = simulate_features([panel], seed=1, n_tracks=0)
    spec = TraitSpec("t", h2=0.3, N=5000)
    out = simulate_traits([panel], feats, [spec], seed=1, cohorts=[cohort])["t"]
    ins = simulate_traits([panel], feats, [spec], seed=1)["t"]
    np.testing.assert_array_equal(out.f[0], ins.f[0])                # same truth; z differs by the LD used
    np.testing.assert_array_equal(out.z[0], draw_z(cohort, out.f[0], 5000, seed=derive_seed(1, key("t"), 1)))
    assert not np.allclose(out.z[0], ins.z[0])
    with pytest.raises(InputError, match="cohorts"):
        simulate_traits([panel], feats, [spec], seed=1, cohorts=[cohort, cohort])
    with pytest.raises(InputError, match="cohort's SNPs"):
        simulate_traits([panel], feats, [spec], seed=1, cohorts=[cohort.subset(slice(1, None))])
