"""The prior-network interface: SNP features -> log f per trait, with a learned log sigma per trait.

A :class:`PriorNet` is a trunk (shared by all traits) and a linear head with one output per trait.
``forward(annotations, tracks)`` returns log f (m, T): the log per-SNP heritability, so that
log s = log N + log f. Each trait also owns a log sigma (the LDSC-intercept-like residual scale) and,
once :meth:`PriorNet.enable_mismatch` is called, a log lambda (the LD-mismatch variance of
:mod:`deepwas_dist.mismatch`), learned or fixed.
The head starts at weight 0 and bias log(h2_init / M), i.e. at a constant prior with a sane h2.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..mismatch import LAMBDA_FLOOR

#: log of the largest lambda a network can express (z^2 units): far beyond any plausible mismatch, it only
#: keeps an unregularised optimiser (the jackknife's Newton refits) from overflowing lambda to inf.
LOG_LAMBDA_CAP = math.log(1e4)


class Trunk(nn.Module):
    """Maps features to hidden units; subclasses set ``out_dim``."""

    out_dim: int = 0

    def forward(self, annotations: torch.Tensor, tracks: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class PriorNet(nn.Module):
    """Trunk + per-trait head + per-trait log sigma.

    Args:
        trunk: the shared feature extractor.
        n_traits: T.
        init_log_f: (T,) or scalar starting log f (e.g. log(h2 / M)).
    """

    def __init__(self, trunk: Trunk, n_traits: int, init_log_f: float | torch.Tensor = math.log(1e-6),
                 name: str = "", size: str = ""):
        super().__init__()
        self.trunk = trunk
        self.name, self.size = name, size
        self.head = nn.Linear(trunk.out_dim, n_traits) if trunk.out_dim > 0 else None
        self.bias = nn.Parameter(torch.as_tensor(init_log_f, dtype=torch.float32).expand(n_traits).clone())
        self.log_sigma = nn.Parameter(torch.zeros(n_traits))
        self.log_lambda_raw: nn.Parameter | None = None
        if self.head is not None:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def n_traits(self) -> int:
        return int(self.bias.shape[0])

    def forward(self, annotations: torch.Tensor, tracks: torch.Tensor | None = None) -> torch.Tensor:
        """log f for every SNP and trait: (m, T). ``annotations`` (m, A), ``tracks`` (m, K, w) or None."""
        m = annotations.shape[0]
        out = self.bias.to(annotations.dtype).expand(m, -1)
        if self.head is not None:
            out = out + self.head(self.trunk(annotations, tracks))
        return out

    def enable_mismatch(self, init_lambda: float | torch.Tensor, learn: bool = True) -> None:
        """Give every trait a mismatch variance lambda, starting at ``init_lambda`` ((T,) or scalar),
        trained when ``learn`` (else fixed). lambda = LAMBDA_FLOOR + exp(raw) when learned."""
        lam = torch.as_tensor(init_lambda, dtype=torch.float64).expand(self.n_traits).clone()
        raw = (lam - LAMBDA_FLOOR).clamp_min(1e-12).log() if learn else lam.clamp_min(1e-300).log()
        self.log_lambda_raw = nn.Parameter(raw.to(torch.float32), requires_grad=learn)
        self._lambda_floor = LAMBDA_FLOOR if learn else 0.0

    def log_lambda(self) -> torch.Tensor | None:
        """log lambda per trait (T,), differentiable when learned; None without the mismatch term."""
        if self.log_lambda_raw is None:
            return None
        if self._lambda_floor == 0.0:
            return self.log_lambda_raw
        floor = torch.full_like(self.log_lambda_raw, math.log(self._lambda_floor))
        return torch.logaddexp(self.log_lambda_raw.clamp(max=LOG_LAMBDA_CAP), floor)

    def num_parameters(self) -> int:
        """Trainable parameters, including per-trait head, bias and log sigma."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def mlp_layers(in_dim: int, width: int, depth: int) -> nn.Sequential:
    """``depth`` Linear+SiLU layers of ``width`` units (an empty Sequential when depth is 0)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else width, width), nn.SiLU()]
    return nn.Sequential(*layers)
