"""Per-slice curvature in a prior's parameters (evaluate/curvature.py) against central differences of exact
autograd gradients of the slice loss: a linear prior (sigma learned: its rows come from the closed form's
sigma blocks), and a small tanh network (non-linear in its parameters) with sigma held, with and without
the mismatch term."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from deepwas_dist.evaluate.curvature import slice_curvature, trainable
from deepwas_dist.evaluate.objective import slice_loss


class TinyNet(nn.Module):
    """A 2-layer tanh prior with the attributes the jackknife reads (log_sigma, log_lambda())."""

    def __init__(self, n_features: int, sigma_trainable: bool, log_lambda: float | None):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.hidden = nn.Linear(n_features, 3).double()
        self.out = nn.Linear(3, 1).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.4 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            self.out.bias.fill_(-9.0)
        self.log_sigma = nn.Parameter(torch.tensor([0.1], dtype=torch.float64), requires_grad=sigma_trainable)
        self._ll = None if log_lambda is None else torch.tensor([log_lambda], dtype=torch.float64)

    def forward(self, x, tracks=None):
        return self.out(torch.tanh(self.hidden(x)))

    def log_lambda(self):
        return self._ll


def fd_curvature(net, batch, log_N, step: float = 1e-5):
    """Central differences of the autograd gradient in the trainable parameters."""
    coords = [p for _, p in trainable(net)]

    def grad():
        loss = slice_loss(batch, net(batch.features.double()), net.log_sigma, log_N, "likelihood", method="exact",
                          log_lambda=net.log_lambda())[0]
        gs = torch.autograd.grad(loss, coords, allow_unused=True)
        return torch.cat([(torch.zeros_like(p) if x is None else x).reshape(-1) for p, x in zip(coords, gs)])

    flat = torch.nn.utils.parameters_to_vector(coords).detach().clone()
    g0, cols = grad(), []
    for i in range(flat.numel()):
        out = []
        for sgn in (1, -1):
            v = flat.clone()
            v[i] += sgn * step
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(v, coords)
            out.append(grad())
        cols.append((out[0] - out[1]) / (2 * step))
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(flat, coords)
    return g0, torch.stack(cols, 1)


def check(net, batches, log_N):
    for b in batches[:2]:
        g, H = slice_curvature(net, b, log_N)
        g_ref, H_ref = fd_curvature(net, b, log_N)
        assert float((g - g_ref).abs().max()) <= 1e-9 * float(g_ref.abs().max())
        assert float((H - H_ref).abs().max()) <= 1e-5 * float(H_ref.abs().max())


def test_linear_prior_with_sigma_learned(small_fit):
    net, batches, log_N, *_ = small_fit
    check(copy.deepcopy(net).double(), batches, log_N)


@pytest.mark.parametrize("log_lambda", [None, math.log(0.05)])
def test_tanh_network_with_sigma_held(small_fit, log_lambda):
    _, batches, log_N, *_ = small_fit
    net = TinyNet(batches[0].features.shape[1], sigma_trainable=False, log_lambda=log_lambda)
    check(net, batches, log_N)
    g, H = slice_curvature(net, batches[0], log_N)
    assert g.numel() == H.shape[0] == sum(p.numel() for _, p in trainable(net))
