"""draw_z against the exact covariance R S R + sigma R; simulate_traits bookkeeping."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.simulate import DEFAULT_TRAITS, TraitSpec, draw_z, simulate_panel, simulate_traits

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
