"""Posterior effect sizes (deepwas_dist/posterior.py) against dense Gaussian conditioning."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepwas_dist import LDSlice
from deepwas_dist.likelihood import sample_core_z
from deepwas_dist.posterior import posterior_effects

from .ld_fixtures import middle_third_core, panel_ld
from .test_likelihood import realistic_prior


def brute_posterior(R: np.ndarray, core: np.ndarray, z, log_s, log_sigma, log_lambda):
    """E[gamma | z_C] = S R_{:,C} Sigma^+ z_C and diag(S - S R_{:,C} Sigma^+ R_{C,:} S), dense float64.
    Sigma_C = R_{C,:} S R_{:,C} + sigma R_CC (+ lambda I); a pseudo-inverse on range(R_CC) without lambda."""
    Rt = torch.as_tensor(R, dtype=torch.float64)
    c = torch.as_tensor(core)
    R_C = Rt[c]
    S = log_s.exp()
    Sig = R_C @ (S[:, None] * R_C.T) + log_sigma.exp() * R_C[:, c]
    if log_lambda is not None:
        Sig = Sig + log_lambda.exp() * torch.eye(int(c.sum()), dtype=torch.float64)
        inv = torch.linalg.inv(Sig)
    else:
        inv = torch.linalg.pinv(Sig, hermitian=True, rtol=1e-10)
    G = S[:, None] * R_C.T                                         # S R_{:,C}: (m, n)
    return G @ inv @ z, S - ((G @ inv) * G).sum(1)


@pytest.mark.parametrize("kind,m,log_lambda", [("fullrank", 600, None), ("lowrank", 900, None),
                                               ("fullrank", 600, math.log(0.1)), ("lowrank", 900, math.log(1e-3)),
                                               ("lowrank", 900, 0.0)])
def test_posterior_matches_dense_conditioning(kind, m, log_lambda):
    """Mean and variance within 1e-8 (relative to their largest value) of the dense brute force."""
    R = panel_ld(kind, m)
    core = middle_third_core(m)
    sl = LDSlice.from_ld(R, core, eig_threshold=1e-10)
    log_s = realistic_prior(m, 0)
    ls = torch.tensor(0.05, dtype=torch.float64)
    ll = None if log_lambda is None else torch.tensor(log_lambda, dtype=torch.float64)
    z = sample_core_z(sl, log_s, ls, torch.Generator().manual_seed(3), log_lambda=ll)
    post = posterior_effects(sl, z, log_s, ls, log_lambda=ll)
    mean, var = brute_posterior(R, core, z, log_s, ls, ll)
    assert float((post.mean - mean).abs().max()) <= 1e-8 * float(mean.abs().max())
    assert float((post.var - var).abs().max()) <= 1e-8 * float(var.abs().max())
    assert bool((post.var <= log_s.exp() + 1e-12).all())          # conditioning never adds variance


def test_batched_traits_equal_one_at_a_time():
    R = panel_ld("fullrank", 600)
    core = middle_third_core(600)
    sl = LDSlice.from_ld(R, core)
    log_s = torch.stack([realistic_prior(600, 0), realistic_prior(600, 1)], 1)
    ls = torch.tensor([0.0, 0.1], dtype=torch.float64)
    ll = torch.tensor([math.log(0.05), math.log(0.2)], dtype=torch.float64)
    z = torch.stack([sample_core_z(sl, log_s[:, t], ls[t], torch.Generator().manual_seed(t), log_lambda=ll[t])
                     for t in range(2)], 1)
    both = posterior_effects(sl, z, log_s, ls, log_lambda=ll)
    for t in range(2):
        one = posterior_effects(sl, z[:, t], log_s[:, t], ls[t], log_lambda=ll[t])
        assert torch.allclose(both.mean[:, t], one.mean, rtol=1e-12, atol=1e-14)
        assert torch.allclose(both.var[:, t], one.var, rtol=1e-12, atol=1e-14)


def test_core_only_and_allele_units():
    R = panel_ld("fullrank", 600)
    core = middle_third_core(600)
    sl = LDSlice.from_ld(R, core)
    log_s = realistic_prior(600, 0)
    z = sample_core_z(sl, log_s, 0.0, torch.Generator().manual_seed(0))
    post = posterior_effects(sl, z, log_s, 0.0)
    c = post.core_only()
    assert c.mean.shape == (int(core.sum()),)
    assert torch.equal(c.mean, post.mean[torch.as_tensor(core)])
    p = torch.full((c.mean.shape[0],), 0.2, dtype=torch.float64)
    b, sd = c.per_allele(N=10_000, allele_freq=p)
    assert torch.allclose(b, c.mean / math.sqrt(10_000 * 2 * 0.2 * 0.8))
    assert torch.allclose(sd, c.var.sqrt() / math.sqrt(10_000 * 2 * 0.2 * 0.8))
