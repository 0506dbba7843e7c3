"""The closed-form Hessian of the exact slice NLL (linalg/hessian.py) against autograd through dense brute
forces: Sigma_C on range(R_CC) without the mismatch term, N(0, Sigma_C + lambda I) with it (lambda held)."""
from __future__ import annotations

import math

import pytest
import torch

from deepwas_dist import LDSlice
from deepwas_dist.bench.brute import BruteForce
from deepwas_dist.likelihood import marginal_nll_hessian, sample_core_z

from ..ld_fixtures import middle_third_core, panel_ld
from ..test_likelihood import realistic_prior
from ..test_mismatch import brute_nll


def dense_hessian(fn, log_s: torch.Tensor, log_sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(gradient (m + 1,), Hessian (m + 1, m + 1)) of fn(log_s, log_sigma) by double autograd."""
    x = torch.cat([log_s, log_sigma.reshape(1)]).clone().requires_grad_(True)
    f = lambda v: fn(v[:-1], v[-1])  # noqa: E731
    g = torch.autograd.functional.jacobian(f, x)
    return g, torch.autograd.functional.hessian(f, x)


def closed_form(sl, z, log_s, ls, ll=None):
    p = marginal_nll_hessian(sl, z[:, None], log_s[:, None], ls.reshape(1),
                             None if ll is None else ll.reshape(1))[0]
    m = log_s.numel()
    H = torch.empty(m + 1, m + 1, dtype=torch.float64)
    H[:m, :m], H[:m, m], H[m, :m], H[m, m] = p.h_ss, p.h_s_sigma, p.h_s_sigma, p.h_sigma_sigma
    return torch.cat([p.grad_log_s, p.grad_log_sigma.reshape(1)]), H


def setup(kind: str, m: int, log_lambda: float | None, seed: int = 0):
    R, core = panel_ld(kind, m), middle_third_core(m)
    sl = LDSlice.from_ld(R, core)
    log_s = realistic_prior(m, seed)
    ls = torch.tensor(0.05, dtype=torch.float64)
    ll = None if log_lambda is None else torch.tensor(log_lambda, dtype=torch.float64)
    z = sample_core_z(sl, log_s, ls, torch.Generator().manual_seed(seed), log_lambda=ll)
    return R, core, sl, z, log_s, ls, ll


def assert_close(got: torch.Tensor, want: torch.Tensor, tol: float) -> None:
    assert float((got - want).abs().max()) <= tol * float(want.abs().max())


@pytest.mark.parametrize("kind,m", [("lowrank", 240), ("fullrank", 180)])
def test_hessian_matches_autograd_through_the_dense_nll(kind, m):
    R, core, sl, z, log_s, ls, _ = setup(kind, m, None)
    brute = BruteForce(R, core)
    g_ref, H_ref = dense_hessian(lambda a, b: brute.nll(z, a, b), log_s, ls)
    g, H = closed_form(sl, z, log_s, ls)
    assert_close(g, g_ref, 1e-6)
    assert_close(H, H_ref, 1e-6)
    assert torch.allclose(H, H.T, rtol=0, atol=1e-12 * float(H.abs().max()))


@pytest.mark.parametrize("kind,m", [("lowrank", 240), ("fullrank", 180)])
@pytest.mark.parametrize("log_lambda", [math.log(1e-3), math.log(0.1)])
def test_hessian_with_the_mismatch_term_matches_the_dense_model(kind, m, log_lambda):
    """lambda held: the (log s, log sigma) Hessian of N(0, Sigma_C + lambda I) over all n core z-scores."""
    R, core, sl, z, log_s, ls, ll = setup(kind, m, log_lambda)
    g_ref, H_ref = dense_hessian(lambda a, b: brute_nll(R, core, z, a, b, ll), log_s, ls)
    g, H = closed_form(sl, z, log_s, ls, ll)
    assert_close(g, g_ref, 1e-6)
    assert_close(H, H_ref, 1e-6)


def test_two_traits_are_two_independent_hessians():
    _, _, sl, z, log_s, ls, _ = setup("fullrank", 150, None)
    z2 = torch.stack([z, 0.5 * z.flip(0)], 1)
    s2 = torch.stack([log_s, log_s - 1.0], 1)
    parts = marginal_nll_hessian(sl, z2, s2, torch.stack([ls, ls + 0.2]))
    for t in range(2):
        one = marginal_nll_hessian(sl, z2[:, t:t + 1], s2[:, t:t + 1], torch.stack([ls, ls + 0.2])[t:t + 1])[0]
        assert torch.allclose(parts[t].h_ss, one.h_ss, rtol=1e-12, atol=0)
        assert torch.allclose(parts[t].h_s_sigma, one.h_s_sigma, rtol=1e-12, atol=0)
