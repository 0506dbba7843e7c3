"""From a slice's LD matrix to its stored factors: the LD settings of a dataset and the per-slice numerics.

:func:`ld_settings` checks and records the settings (the manifest's "ld" geometry, the same on every
chromosome); :func:`slice_from_ld` fetches one slice's LD matrix R from the caller's ``ld_fn``, shrinks it
towards I and runs the eigendecomposition (:meth:`LDSlice.from_ld`, float64).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import InputError
from ..slice import LDSlice
from . import schema as S
from .slicing import SlicePlan


def ld_settings(*, core_kb: float, bandwidth_kb: float | None, bandwidth_cm: float | None, n_ref: int | None,
                shrinkage: float, eig_threshold: float, dtype: str, ld_source: str | None) -> dict:
    """The checked LD settings of add_ld_slices, keyed by :data:`manifest.LD_GEOMETRY_KEYS`."""
    if dtype not in S.STORAGE_DTYPES:
        raise InputError(f"dtype must be one of {sorted(S.STORAGE_DTYPES)}, got {dtype!r}")
    if not (0.0 <= shrinkage < 1.0):
        raise InputError(f"shrinkage must be in [0, 1), got {shrinkage}")
    if n_ref is not None and (int(n_ref) != n_ref or n_ref < 2):
        raise InputError(f"n_ref must be an integer >= 2 (reference-panel size), got {n_ref!r}")
    return {"core_kb": float(core_kb),
            "bandwidth_kb": None if bandwidth_kb is None else float(bandwidth_kb),
            "bandwidth_cm": None if bandwidth_cm is None else float(bandwidth_cm),
            "n_ref": None if n_ref is None else int(n_ref), "shrinkage": float(shrinkage),
            "eig_threshold": float(eig_threshold), "dtype": dtype, "source": ld_source}


def slice_from_ld(ld_fn: Callable[[int, int], np.ndarray], p: SlicePlan, geom: dict) -> LDSlice:
    """The whitened factors of slice ``p``: R = ld_fn(lo, hi) (dense, torch or scipy sparse), shrunk by
    ``geom["shrinkage"]`` towards I, eigenpairs above ``geom["eig_threshold"]`` kept."""
    name = f"chr{p.chrom} slice {p.slice_id} (SNP rows {p.lo}..{p.hi})"
    R = ld_fn(p.lo, p.hi)
    if hasattr(R, "toarray"):
        R = R.toarray()
    if isinstance(R, torch.Tensor):
        R = R.detach().cpu().numpy()
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (p.m, p.m):
        raise InputError(f"{name}: ld_fn({p.lo}, {p.hi}) returned shape {R.shape}, expected {(p.m, p.m)}")
    a = geom["shrinkage"]
    if a > 0:
        R = (1.0 - a) * R
        R[np.diag_indices(p.m)] += a
    return LDSlice.from_ld(R, p.core_mask(), geom["eig_threshold"], n_ref=geom["n_ref"], name=name)
