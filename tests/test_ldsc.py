"""The LDSC objective against a direct numpy computation from R (DESIGN.md section 1, "LDSC objective")."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepwas_dist import InputError, LDSlice
from deepwas_dist.ldsc import ldsc_intercept, ldsc_loss, ldsc_weight_scale

from .ld_fixtures import middle_third_core
from .test_slice import genotype_ld

M, N_REF = 120, 60


@pytest.fixture(scope="module")
def setup():
    R = genotype_ld(N_REF, M, seed=7)
    core = middle_third_core(M)
    sl = LDSlice.from_ld(R, core, n_ref=N_REF)
    g = np.random.default_rng(8)
    z = g.standard_normal((sl.n, 3)) * np.array([1.0, 2.0, 1.5])
    log_s = math.log(0.02) + g.normal(0, 1, (M, 3))
    log_sigma = np.array([0.05, -0.1, 0.2])
    return R, core, sl, z, log_s, log_sigma


def direct(R, core, z, s, sigma, s_bar, n_ref=N_REF):
    """Loss, E[chi2], weights and d loss / d log s, d loss / d log sigma (weights fixed), all numpy."""
    r2 = R[core] ** 2
    r2 = r2 - (1 - r2) / (n_ref - 2)
    ell = np.maximum(r2.sum(1), 1.0)
    E = r2 @ s + sigma
    w = 1.0 / (ell * (sigma + s_bar * ell) ** 2)
    resid = E - z ** 2
    loss = np.mean(w * resid ** 2)
    g_log_s = (2.0 * w * resid) @ r2 * s / len(z)
    g_log_sigma = np.mean(2.0 * w * resid) * sigma
    return loss, E, w, g_log_s, g_log_sigma


def test_single_trait_matches_direct(setup):
    R, core, sl, z, log_s, log_sigma = setup
    s_bar = 3.0
    out = ldsc_loss(sl, torch.tensor(z[:, 0]), torch.tensor(log_s[:, 0]), torch.tensor(log_sigma[0]), s_bar=s_bar)
    loss, E, w, _, _ = direct(R, core, z[:, 0], np.exp(log_s[:, 0]), math.exp(log_sigma[0]), s_bar)
    assert out.loss.shape == () and out.expected_chi2.shape == (sl.n,) and out.weights.shape == (sl.n,)
    assert float(out.loss) == pytest.approx(loss, rel=1e-10)
    np.testing.assert_allclose(out.expected_chi2.numpy(), E, rtol=1e-10)
    np.testing.assert_allclose(out.weights.numpy(), w, rtol=1e-10)


def test_ld_score_is_clipped_at_one():
    """With a tiny panel the corrected LD scores of weakly linked SNPs go below 1: l is clipped at 1."""
    R = np.eye(6)
    R[0, 1] = R[1, 0] = 0.1
    core = np.array([True, True, True, False, False, False])
    sl = LDSlice.from_ld(R, core, n_ref=5)
    z, log_s, ls = np.ones(3), np.zeros(6), 0.0
    out = ldsc_loss(sl, torch.tensor(z), torch.tensor(log_s), torch.tensor(ls), s_bar=0.5)
    r2 = R[core] ** 2
    r2 = r2 - (1 - r2) / 3
    assert (r2.sum(1) < 1).all()                  # every raw score is below 1
    np.testing.assert_allclose(out.weights.numpy(), 1.0 / (1.0 * (1.0 + 0.5) ** 2), rtol=1e-12)
    assert float(out.loss) == pytest.approx(direct(R, core, z, np.exp(log_s), 1.0, 0.5, n_ref=5)[0], rel=1e-10)


def test_batched_traits_match_direct_and_single_calls(setup):
    R, core, sl, z, log_s, log_sigma = setup
    s_bar = np.array([2.0, 0.5, 4.0])
    out = ldsc_loss(sl, torch.tensor(z), torch.tensor(log_s), torch.tensor(log_sigma), s_bar=torch.tensor(s_bar))
    assert out.loss.shape == (3,) and out.expected_chi2.shape == (sl.n, 3)
    for t in range(3):
        one = ldsc_loss(sl, torch.tensor(z[:, t]), torch.tensor(log_s[:, t]), torch.tensor(log_sigma[t]),
                        s_bar=float(s_bar[t]))
        assert float(out.loss[t]) == pytest.approx(float(one.loss), rel=1e-12)
        ref = direct(R, core, z[:, t], np.exp(log_s[:, t]), math.exp(log_sigma[t]), s_bar[t])[0]
        assert float(out.loss[t]) == pytest.approx(ref, rel=1e-10)
    # a scalar s_bar is shared by every trait
    shared = ldsc_loss(sl, torch.tensor(z), torch.tensor(log_s), torch.tensor(log_sigma), s_bar=2.0)
    for t in range(3):
        ref = direct(R, core, z[:, t], np.exp(log_s[:, t]), math.exp(log_sigma[t]), 2.0)[0]
        assert float(shared.loss[t]) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("s_bar", [1.5, None])
def test_gradient_matches_analytic_with_fixed_weights(setup, s_bar):
    R, core, sl, z, log_s, log_sigma = setup
    ls = torch.tensor(log_s[:, 1], requires_grad=True)
    lsg = torch.tensor(log_sigma[1], requires_grad=True)
    ldsc_loss(sl, torch.tensor(z[:, 1]), ls, lsg, s_bar=s_bar).loss.backward()
    s = np.exp(log_s[:, 1])
    sb = s.mean() if s_bar is None else s_bar
    _, _, _, g_s, g_sigma = direct(R, core, z[:, 1], s, math.exp(log_sigma[1]), sb)
    np.testing.assert_allclose(ls.grad.numpy(), g_s, rtol=1e-9, atol=1e-12 * np.abs(g_s).max())
    assert float(lsg.grad) == pytest.approx(g_sigma, rel=1e-9)


def test_s_bar_none_uses_mean_prior_variance(setup):
    R, core, sl, z, log_s, log_sigma = setup
    out = ldsc_loss(sl, torch.tensor(z), torch.tensor(log_s), torch.tensor(log_sigma), s_bar=None)
    for t in range(3):
        s = np.exp(log_s[:, t])
        loss, _, w, _, _ = direct(R, core, z[:, t], s, math.exp(log_sigma[t]), s.mean())
        assert float(out.loss[t]) == pytest.approx(loss, rel=1e-10)
        np.testing.assert_allclose(out.weights[:, t].numpy(), w, rtol=1e-10)


def test_weight_scale():
    assert ldsc_weight_scale(400_000, 0.5, 1_000_000) == pytest.approx(0.2)


def test_bad_inputs_shared_with_marginal_nll(setup):
    R, core, sl, z, log_s, log_sigma = setup
    z1, s1, sg = torch.tensor(z[:, 0]), torch.tensor(log_s[:, 0]), torch.tensor(log_sigma[0])
    with pytest.raises(InputError, match="core SNPs"):
        ldsc_loss(sl, z1[:-1], s1, sg)
    with pytest.raises(InputError, match="log_s must have shape"):
        ldsc_loss(sl, z1, s1[:-1], sg)
    with pytest.raises(InputError, match="log_sigma must have shape"):
        ldsc_loss(sl, torch.tensor(z), torch.tensor(log_s), torch.zeros(2, dtype=torch.float64))
    bad = z1.clone()
    bad[4] = float("nan")
    with pytest.raises(InputError, match=r"z\[4\] is nan"):
        ldsc_loss(sl, bad, s1, sg)


def test_ldsc_intercept_is_the_constant_priors_stationary_point(setup):
    """The closed-form IRLS intercept and slope zero the gradient of ldsc_loss for a constant prior (weights
    from the current prior, as in training), trait by trait."""
    _, _, sl, z, _, _ = setup
    ell = sl.ld2_core.sum(1).numpy()
    g = np.random.default_rng(3)
    chi2 = np.abs(np.stack([1.2 + 0.05 * ell + g.normal(0, 0.3, sl.n), 0.9 + 0.2 * ell + g.normal(0, 0.3, sl.n)], 1))
    a, b = ldsc_intercept(ell, chi2)
    zz = torch.tensor(np.sqrt(chi2))
    log_s = torch.tensor(np.log(b), requires_grad=True)
    log_sigma = torch.tensor(np.log(a), requires_grad=True)
    loss = ldsc_loss(sl, zz, log_s[None, :].expand(sl.m, -1), log_sigma).loss.sum()
    loss.backward()
    assert float(log_s.grad.abs().max()) < 1e-9 and float(log_sigma.grad.abs().max()) < 1e-9
    # exact data: the regression line itself
    a1, b1 = ldsc_intercept(ell, 1.3 + 0.2 * ell)
    np.testing.assert_allclose([a1[0], b1[0]], [1.3, 0.2], rtol=1e-10)
