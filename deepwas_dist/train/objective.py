"""One slice's training loss: the prior network's output turned into the likelihood or LDSC objective.

Both objectives see the same slice, network output and traits, so they differ in nothing else.
The loss is a *sum* over the slice's core SNPs (the NLL is already one; LDSC's per-SNP mean is
multiplied by n), so that a step's loss divided by the step's core-SNP count is a per-SNP average.
"""
from __future__ import annotations

import hashlib

import torch

from ..data.reader import SliceBatch
from ..ldsc import ldsc_loss
from ..likelihood import marginal_nll


def probe_generator(seed: int, epoch: int, chrom: int, slice_id: int) -> torch.Generator:
    """A CPU generator for a slice's probe vectors that depends only on (seed, epoch, slice), so any
    number of workers draws the same probes for the same slice."""
    h = hashlib.blake2b(f"{seed}/{epoch}/{chrom}/{slice_id}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(h, "little") & ((1 << 63) - 1))


def slice_loss(batch: SliceBatch, log_f: torch.Tensor, log_sigma: torch.Tensor, log_N: torch.Tensor,
               objective: str, method: str = "auto", num_probes: int = 16,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """Loss summed over traits and core SNPs (nats for the likelihood) and what was computed.

    ``log_f`` (m, T) from the network, ``log_sigma`` (T,), ``log_N`` (T,) the traits' log GWAS sizes.
    """
    dt = batch.ld.dtype
    log_s = log_f.to(dt) + log_N.to(device=log_f.device, dtype=dt)[None, :]
    if objective == "likelihood":
        out = marginal_nll(batch.ld, batch.z, log_s, log_sigma.to(dt), method=method, num_probes=num_probes,
                           generator=generator)
        return out.nll.sum(), {"method": out.method, "cg_iters": out.cg_iters}
    res = ldsc_loss(batch.ld, batch.z, log_s, log_sigma.to(dt))
    return res.loss.sum() * batch.n, {"method": "ldsc", "cg_iters": 0}
