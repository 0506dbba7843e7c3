"""One slice's training loss: the prior network's output turned into the likelihood or LDSC objective.

Both objectives see the same slice, network output and traits, so they differ in nothing else.
The loss is a *sum* over the slice's core SNPs (the NLL is already one; LDSC's per-SNP mean is
multiplied by n), so that a step's loss divided by the step's core-SNP count is a per-SNP average.
"""
from __future__ import annotations

import torch

from ..data.reader import SliceBatch
from ..ldsc import ldsc_loss
from ..likelihood import marginal_nll


def slice_loss(batch: SliceBatch, log_f: torch.Tensor, log_sigma: torch.Tensor, log_N: torch.Tensor,
               objective: str, method: str = "auto", num_probes: int = 16,
               generator: torch.Generator | None = None,
               log_lambda: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Loss summed over traits and core SNPs (nats for the likelihood) and what was computed.

    ``log_f`` (m, T) from the network, ``log_sigma`` (T,), ``log_N`` (T,) the traits' log GWAS sizes,
    ``log_lambda`` (T,) the mismatch variance (None: no mismatch term; the LDSC objective ignores it,
    see :mod:`deepwas_dist.mismatch`).
    """
    dt = batch.ld.dtype
    log_s = log_f.to(dt) + log_N.to(device=log_f.device, dtype=dt)[None, :]
    if objective == "likelihood":
        ll = None if log_lambda is None else log_lambda.to(dt)
        out = marginal_nll(batch.ld, batch.z, log_s, log_sigma.to(dt), method=method, num_probes=num_probes,
                           generator=generator, log_lambda=ll)
        return out.nll.sum(), {"method": out.method, "cg_iters": out.cg_iters}
    res = ldsc_loss(batch.ld, batch.z, log_s, log_sigma.to(dt))
    return res.loss.sum() * batch.n, {"method": "ldsc", "cg_iters": 0}
