"""A large prior made small for the refit jackknife: the trained network plus a local correction of its shape.

A network with thousands of parameters cannot be refitted per jackknife block (its unregularised
full-batch refits are not what AdamW training estimates; see :mod:`.jackknife`). Holding all of it fixed
and refitting only its per-trait scale (``refit-scale``) leaves the shape's uncertainty out, so every
enrichment replicate is the same. This module keeps the trained network's features and refits a
*linear* correction on the leading directions of its last hidden layer:

    log f_t(x) = g_t(x) + c_t + sum_{k<K} w_tk u_k(x),    u_k(x) = (h(x) - mu) . v_k / s_k,

where g is the trained network, h(x) its trunk's output (the head's input), mu the mean of h over the
SNPs, v_k and s_k the k-th right singular vector and singular value / sqrt(M) of the centred (M, H)
matrix of h over the SNPs (so each u_k has mean 0 and variance 1), and c, w start at 0 (the trained
prior). The trainable parameters are c (T), w (T, K) and, when the run learned it, log sigma (T): with
K = :func:`n_components` they number at most NEWTON_MAX_PARAMS, so the jackknife's Newton refits apply.

What this measures: each refit re-estimates the scale and the shape within the span of the network's K
leading features (with K = H, the head's whole input, that is an exact refit of the head, as the
network's last layer is linear). The replicates of h2, Prop._h2 and Enrichment then all vary, and their
spread carries the uncertainty of the total, of sigma and of the shape along those directions; the trunk
(the features themselves) is held at its trained value, and its own uncertainty is left out. This is
the "last-layer" jackknife; it is the refit jackknife of a linear prior whose annotations are the
network's learned features.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

#: Largest number of feature directions refitted per trait (the cost is ~(T (K + 2) + 1) exact passes
#: over the training slices for the Newton Hessians, then ~10 per block).
MAX_COMPONENTS = 32
#: Singular values below this fraction of the largest are numerically zero (dead or duplicate units).
RANK_TOL = 1e-6


def n_components(n_hidden: int, n_traits: int, max_params: int, sigma_learned: bool) -> int:
    """K: at most MAX_COMPONENTS and the head's input size, with T (K + 1) (+ T) <= ``max_params``."""
    per_trait = max_params // n_traits - 1 - int(sigma_learned)
    return max(0, min(MAX_COMPONENTS, n_hidden, per_trait))


class LocalShape(nn.Module):
    """``net`` held fixed, plus the per-trait offset ``bias`` (T,) and feature weights ``weight`` (T, K)
    on its trunk's K leading standardised principal components (module docstring). Has the attributes
    the jackknife reads: ``log_sigma`` and ``log_lambda()`` (the network's, sigma trainable as it was)."""

    jackknife_kind = "refit-local"

    def __init__(self, net: nn.Module, mean: torch.Tensor, directions: torch.Tensor):
        super().__init__()
        self.net = copy.deepcopy(net)
        sigma_trainable = self.net.log_sigma.requires_grad
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.net.log_sigma.requires_grad_(sigma_trainable)
        T, K = self.net.n_traits, directions.shape[1]
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("directions", directions.detach().clone())     # (H, K): v_k / s_k
        self.bias = nn.Parameter(torch.zeros(T, dtype=directions.dtype))
        self.weight = nn.Parameter(torch.zeros(T, K, dtype=directions.dtype))

    @property
    def log_sigma(self) -> nn.Parameter:
        return self.net.log_sigma

    @property
    def log_lambda_raw(self) -> nn.Parameter | None:
        return self.net.log_lambda_raw

    def log_lambda(self) -> torch.Tensor | None:
        return self.net.log_lambda()

    @property
    def n_components(self) -> int:
        return int(self.directions.shape[1])

    def components(self, annotations: torch.Tensor, tracks: torch.Tensor | None) -> torch.Tensor:
        """u (m, K): the SNPs' standardised leading principal components of the trunk's output."""
        h = self.net.trunk(annotations, tracks)
        return (h - self.mean.to(h.dtype)) @ self.directions.to(h.dtype)

    def forward(self, annotations: torch.Tensor, tracks: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(annotations, tracks)
        u = self.components(annotations, tracks)
        return out + self.bias.to(out.dtype) + u @ self.weight.to(out.dtype).T


def local_shape(net: nn.Module, features: Sequence[tuple[torch.Tensor, torch.Tensor | None]],
                max_params: int) -> LocalShape:
    """The :class:`LocalShape` of a trained ``net`` (a PriorNet with a head), its principal components
    taken over the SNPs of ``features`` (per chromosome: standardised annotations, tracks or None)."""
    with torch.no_grad():
        H = torch.cat([net.trunk(X.to(net.bias.dtype), None if t is None else t.to(net.bias.dtype)).double()
                       for X, t in features])
    mean = H.mean(0)
    _, s, Vt = torch.linalg.svd(H - mean, full_matrices=False)
    scale = s / H.shape[0] ** 0.5
    rank = int((s > RANK_TOL * s[0]).sum()) if s.numel() and s[0] > 0 else 0
    K = min(rank, n_components(H.shape[1], net.n_traits, max_params, net.log_sigma.requires_grad))
    return LocalShape(net, mean, Vt[:K].T / scale[:K])


__all__ = ["MAX_COMPONENTS", "LocalShape", "local_shape", "n_components"]
