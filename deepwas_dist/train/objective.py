"""Training-side pieces of the objective: seeded probe vectors per slice (the loss itself is
:func:`deepwas_dist.evaluate.objective.slice_loss`, shared with evaluation)."""
from __future__ import annotations

import hashlib

import torch

from ..evaluate.objective import slice_loss

__all__ = ["probe_generator", "slice_loss"]


def probe_generator(seed: int, epoch: int, chrom: int, slice_id: int) -> torch.Generator:
    """A CPU generator for a slice's probe vectors that depends only on (seed, epoch, slice), so any
    number of workers draws the same probes for the same slice."""
    h = hashlib.blake2b(f"{seed}/{epoch}/{chrom}/{slice_id}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(h, "little") & ((1 << 63) - 1))
