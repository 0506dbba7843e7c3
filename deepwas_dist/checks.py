"""Checks of the inputs every slice objective takes: z-scores, log prior variances, log sigma."""
from __future__ import annotations

import torch

from .errors import InputError
from .slice import LDSlice


def check_slice_inputs(sl: LDSlice, z, log_s, log_sigma
                       ) -> tuple[bool, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate per-slice inputs and return (batched, z (n, T), log_s (m, T), log_sigma (T,)).

    Raises InputError for mismatched shapes and non-finite values, naming the entry and the fix.
    """
    z = torch.as_tensor(z)
    log_s = torch.as_tensor(log_s)
    log_sigma = torch.as_tensor(log_sigma, dtype=log_s.dtype if log_s.is_floating_point() else None)
    if z.ndim not in (1, 2):
        raise InputError(f"z must be (n,) or (n, T), got shape {tuple(z.shape)}")
    batched = z.ndim == 2
    if z.shape[0] != sl.n:
        raise InputError(f"z has {z.shape[0]} rows but the slice has {sl.n} core SNPs; pass the core SNPs' "
                         "z-scores in slice order")
    T = z.shape[1] if batched else 1
    want_s = (sl.m, T) if batched else (sl.m,)
    if tuple(log_s.shape) != want_s:
        raise InputError(f"log_s must have shape {want_s} (one log prior variance per slice SNP"
                         f"{' and trait' if batched else ''}), got {tuple(log_s.shape)}")
    want_sigma = (T,) if batched else ()
    if tuple(log_sigma.shape) != want_sigma:
        raise InputError(f"log_sigma must have shape {want_sigma}, got {tuple(log_sigma.shape)}")
    for name, x in (("z", z), ("log_s", log_s), ("log_sigma", log_sigma)):
        bad = ~torch.isfinite(x.detach())
        if bool(bad.any()):
            idx = tuple(int(i) for i in torch.nonzero(bad)[0])
            raise InputError(f"{name}{list(idx)} is {x.detach()[idx].item()} ({int(bad.sum())} non-finite "
                             f"values); fix: drop SNPs with missing statistics before slicing, or check the "
                             f"prior network's output")
    if not batched:
        z, log_s, log_sigma = z[:, None], log_s[:, None], log_sigma.reshape(1)
    return batched, z, log_s, log_sigma


def check_log_lambda(log_lambda, batched: bool, T: int, like: torch.Tensor) -> torch.Tensor | None:
    """Validate the optional log mismatch variance: None, or () / (T,) like log_sigma; returns (T,) or None."""
    if log_lambda is None:
        return None
    out = torch.as_tensor(log_lambda, dtype=like.dtype if like.is_floating_point() else None)
    want = (T,) if batched else ()
    if tuple(out.shape) != want:
        raise InputError(f"log_lambda must have shape {want} (one log mismatch variance per trait), "
                         f"got {tuple(out.shape)}")
    if not bool(torch.isfinite(out.detach()).all()):
        raise InputError(f"log_lambda is not finite ({out.detach().tolist()}); use log_lambda=None for no "
                         "mismatch term, or a finite log variance")
    return out.reshape(T)
