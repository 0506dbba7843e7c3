"""Calibrating a trained prior's log f on slices it was not trained on: an affine map per trait.

    log f'_j = c + b (log f_j - c) + a          (per trait; c the mean log f over the calibration slices)

A network can rank SNPs well (a high correlation with the true log f) and still spread its log f too
widely, and the likelihood then charges for the confident misses. The slope b < 1 shrinks the spread
about c, and the shift a moves the scale (h2). Both are fitted by maximum likelihood, the full marginal
likelihood of the calibration slices' z (``slice_loss``, exact), with everything else held: the
network, and sigma and lambda as trained. It is the prior's analogue of temperature scaling: 2 parameters
per trait, fitted on validation chromosomes (``--val-chroms``), so the held-out chromosomes stay a test.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from ..data.reader import SliceBatch
from .jackknife import FitTrace, fit_lbfgs

#: L-BFGS iterations of the 2T-parameter fit (it converges in far fewer).
CALIBRATION_ITERS = 100


class Calibrated(nn.Module):
    """A frozen float64 copy of a prior network with a per-trait slope and shift on its log f; its
    log sigma and log lambda are the network's."""

    def __init__(self, net: nn.Module, center: torch.Tensor):
        super().__init__()
        self.net = copy.deepcopy(net).double()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.register_buffer("center", center.detach().double())
        self.slope = nn.Parameter(torch.ones_like(self.center))
        self.shift = nn.Parameter(torch.zeros_like(self.center))

    @property
    def log_sigma(self) -> torch.Tensor:
        return self.net.log_sigma

    def log_lambda(self) -> torch.Tensor | None:
        return self.net.log_lambda()

    def forward(self, annotations: torch.Tensor, tracks: torch.Tensor | None = None) -> torch.Tensor:
        log_f = self.net(annotations.double(), None if tracks is None else tracks.double())
        return self.center + self.slope * (log_f - self.center) + self.shift


def calibrate(net: nn.Module, batches: Sequence[SliceBatch], log_N: torch.Tensor,
              iters: int = CALIBRATION_ITERS) -> tuple[Calibrated, FitTrace]:
    """``net`` calibrated on ``batches`` (the slope and shift of :class:`Calibrated` at their maximum
    likelihood, the rest held), and the fit's trace. ValueError without a slice."""
    if not batches:
        raise ValueError("calibration needs at least one slice")
    out = Calibrated(net, torch.zeros(net.n_traits))
    with torch.no_grad():
        lf = torch.cat([out.net(b.features.double(), None if b.tracks is None else b.tracks.double())[b.ld.core_mask]
                        for b in batches])
        out.center.copy_(lf.mean(0))
    trace = fit_lbfgs(out, list(batches), log_N, "likelihood", iters)
    return out, trace


__all__ = ["CALIBRATION_ITERS", "Calibrated", "calibrate"]
