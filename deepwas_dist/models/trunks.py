"""The trunks behind the named priors: constant, linear (S-LDSC-like), mlp, conv."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from .base import Trunk, mlp_layers


class ConstantTrunk(Trunk):
    """No features: every SNP gets the trait's bias (the LDSC / constant-h2 prior)."""

    out_dim = 0

    def forward(self, annotations, tracks):  # pragma: no cover - never called (no head)
        return annotations[:, :0]


class LinearTrunk(Trunk):
    """Identity on the annotations: log f = X w + b, one weight per annotation (S-LDSC-like, exp link)."""

    def __init__(self, n_features: int):
        super().__init__()
        self.out_dim = n_features

    def forward(self, annotations, tracks):
        return annotations


class MLPTrunk(Trunk):
    """A ``depth`` x ``width`` SiLU MLP on the annotation vector."""

    def __init__(self, n_features: int, width: int, depth: int):
        super().__init__()
        self.net = mlp_layers(n_features, width, depth)
        self.out_dim = width

    def forward(self, annotations, tracks):
        return self.net(annotations)


class ConvTrunk(Trunk):
    """1-D conv tower over each SNP's window of tracks (K tracks x w positions), pooled, concatenated
    with the annotation vector, then an MLP."""

    def __init__(self, n_features: int, n_tracks: int, window: int, channels: int, conv_layers: int,
                 width: int, depth: int, kernel: int = 5):
        super().__init__()
        if n_tracks <= 0 or window <= 0:
            raise InputError("the conv prior needs track windows (n_tracks > 0 and window > 0); "
                             "use 'mlp' for annotation-only data")
        convs: list[nn.Module] = []
        for i in range(conv_layers):
            convs += [nn.Conv1d(n_tracks if i == 0 else channels, channels, kernel, padding=kernel // 2), nn.SiLU()]
        self.tower = nn.Sequential(*convs)
        self.pool_dim = 2 * channels                       # max- and mean-pool over positions
        self.mlp = mlp_layers(self.pool_dim + n_features, width, depth)
        self.out_dim = width
        self.n_tracks, self.window = n_tracks, window

    def forward(self, annotations, tracks):
        if tracks is None:
            raise InputError("the conv prior needs track windows (m, K, w) as its second input; this dataset "
                             "has none: use the 'mlp' prior, or ingest tracks with the SNP table")
        h = self.tower(tracks.to(annotations.dtype))
        pooled = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)
        return self.mlp(torch.cat([pooled, annotations], dim=1))
