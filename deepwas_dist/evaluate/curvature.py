"""Per-slice curvature of the exact likelihood in a small prior's parameters, in one pass.

The jackknife's Newton refits need, for every training slice k, the Hessian H_k of its loss in the prior's
trainable parameters theta (P of them, at most NEWTON_MAX_PARAMS). By forward differences that is P + 1
exact gradient passes over all slices; here it is one. The slice loss depends on theta only through the
network's output l = log f (m, T) (log s = l + log N) and through log sigma (T), so by the chain rule

    H_k = sum_t J_t^T H_ss,t J_t + sum_t sum_j g_tj d^2 l_tj / dtheta^2   (+ the log sigma rows),

with J_t = dl_t/dtheta (m, P) by forward-mode autodiff of the network, g_t and H_ss,t the NLL's gradient
and Hessian in log s (:func:`deepwas_dist.likelihood.marginal_nll_hessian`, closed form), and the second
term (zero for priors linear in theta: constant, linear, the refit-local correction) by autodiff of the
scalar sum_j g_tj l_tj(theta) with g held. log sigma, when it is trainable, is one of the theta (its rows
from the closed form's sigma blocks); held (``--sigma ldsc``), it is not. lambda is held throughout.
Cost per slice: about two exact gradient passes (the m x m block of the closed form), against P + 1 for
forward differences: on the demo's refit-local prior (99 parameters) 2 passes instead of 100.
Checked against forward differences of exact gradients in tests/evaluate/test_curvature.py.
"""
from __future__ import annotations

import torch
from torch.func import functional_call, hessian, jacfwd

from ..data.reader import SliceBatch
from ..likelihood import marginal_nll_hessian


def trainable(net: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The parameters the jackknife refits, in ``net.parameters()`` order (the flat vector's order)."""
    return [(n, p) for n, p in net.named_parameters() if p.requires_grad]


def slice_curvature(net: torch.nn.Module, batch: SliceBatch, log_N: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(gradient (P,), Hessian (P, P)) of the slice's exact NLL (summed over traits) in ``net``'s P trainable
    parameters, in the order of ``net.parameters()``."""
    named = trainable(net)
    names, shapes = [n for n, _ in named], [p.shape for _, p in named]
    sizes = [p.numel() for _, p in named]
    theta = torch.cat([p.detach().reshape(-1) for _, p in named]).double()
    P = theta.numel()
    X = batch.features.double()
    tracks = None if batch.tracks is None else batch.tracks.double()

    def output(th: torch.Tensor) -> torch.Tensor:
        params = {n: v.reshape(s) for n, v, s in zip(names, torch.split(th, sizes), shapes)}
        return functional_call(net, params, (X, tracks))

    with torch.no_grad():
        lf = output(theta).double()
    J = jacfwd(output)(theta).double()                                          # (m, T, P)
    log_sigma = net.log_sigma.detach().double()
    ll = net.log_lambda()
    parts = marginal_nll_hessian(batch.ld, batch.z, lf + log_N.double()[None, :], log_sigma,
                                 None if ll is None else ll.detach().double())
    sig_idx = _sigma_index(net, named)
    g, H = torch.zeros(P, dtype=torch.float64), torch.zeros(P, P, dtype=torch.float64)
    G = torch.stack([p.grad_log_s for p in parts], 1)                          # (m, T)
    for t, p in enumerate(parts):
        Jt = J[:, t, :]
        g += Jt.T @ p.grad_log_s
        H += Jt.T @ p.h_ss @ Jt
        if sig_idx is not None:                  # log sigma's column of J is 0: only the closed form's blocks
            j = sig_idx[t]
            cross = Jt.T @ p.h_s_sigma
            H[:, j] += cross
            H[j, :] += cross
            H[j, j] += p.h_sigma_sigma
            g[j] += p.grad_log_sigma
    H += hessian(lambda th: (output(th) * G).sum())(theta)
    return g, 0.5 * (H + H.T)


def _sigma_index(net: torch.nn.Module, named: list[tuple[str, torch.nn.Parameter]]) -> list[int] | None:
    """Flat positions of log sigma's T entries among the trainable parameters, or None when it is held."""
    offset = 0
    for _, p in named:
        if p is net.log_sigma:
            return list(range(offset, offset + p.numel()))
        offset += p.numel()
    return None
