"""Cutting a chromosome into LD slices (DESIGN.md section 1, "Banded approximation").

Cores tile each chromosome without overlap: core k holds the SNPs with ``BP // core_bp == k`` for a
core width ``core_bp = core_kb * 1000`` on a grid anchored at position 0, so the tiling does not depend
on which SNPs a dataset has. Empty windows are skipped (a slice never has an empty core). Each core gets
flanks on both sides: every SNP within ``bandwidth_kb`` (on BP) and/or ``bandwidth_cm`` (on CM) of some
core SNP. When both bandwidths are given the flank is their union, so either one can later be served
by cropping.

All ranges are row indices [lo, hi) into the chromosome's SNP table, which is sorted by BP.

:class:`SliceGeometry` is the one home of the slice-geometry and LD-storage defaults of every ingestion
path (``DatasetWriter.add_ld_slices``, ``prepare plink / ukbb-ld / simulate``, ``SimulationSpec``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..slice import EIG_THRESHOLD


@dataclass(frozen=True)
class SliceGeometry:
    """How a dataset's chromosomes are cut into slices and how their LD is stored.

    ``core_kb``: core width (cores tile the chromosome on a grid anchored at 0); ``bandwidth_kb`` /
    ``bandwidth_cm``: flank width on BP / on the genetic map (their union when both are set);
    ``shrinkage``: R <- (1 - a) R + a I before the eigendecomposition; ``eig_threshold``: relative
    eigenvalue cut of R_CC; ``dtype``: storage type of the whitened factors Z and T.
    """

    core_kb: float = 1000.0
    bandwidth_kb: float | None = 1000.0
    bandwidth_cm: float | None = None
    shrinkage: float = 0.0
    eig_threshold: float = EIG_THRESHOLD
    dtype: str = "float32"


#: Real reference panels (``prepare plink``, ``prepare ukbb-ld``): 1 Mb cores with 1 Mb flanks.
PANEL_GEOMETRY = SliceGeometry()
#: Simulated datasets (``prepare simulate``, ``SimulationSpec``, the embedded demo): 500 kb flanks, not
#: 1000. Kept apart on purpose: the simulated chromosomes are short (5 Mb by default), and every measured
#: figure of the simulated tests, experiments and README (and the cached demo datasets) was produced with
#: 500 kb flanks; unifying the two would change those numbers.
SIMULATED_GEOMETRY = SliceGeometry(bandwidth_kb=500.0)


@dataclass(frozen=True)
class SlicePlan:
    """Geometry of one slice: SNP rows [lo, hi) of chromosome ``chrom``, core rows [core_lo, core_hi)."""

    chrom: int
    slice_id: int
    lo: int
    hi: int
    core_lo: int
    core_hi: int

    @property
    def m(self) -> int:
        """SNPs in the slice (core + flanks)."""
        return self.hi - self.lo

    @property
    def n(self) -> int:
        """Core SNPs."""
        return self.core_hi - self.core_lo

    def core_mask(self) -> np.ndarray:
        """(m,) bool mask of core SNPs within the slice."""
        mask = np.zeros(self.m, dtype=bool)
        mask[self.core_lo - self.lo:self.core_hi - self.lo] = True
        return mask


def _check_positions(bp: np.ndarray, cm: np.ndarray | None, chrom: int) -> tuple[np.ndarray, np.ndarray | None]:
    bp = np.asarray(bp)
    if bp.ndim != 1 or bp.size == 0:
        raise InputError(f"chr{chrom}: need a non-empty 1-D array of positions, got shape {bp.shape}")
    if np.any(np.diff(bp) < 0):
        i = int(np.nonzero(np.diff(bp) < 0)[0][0])
        raise InputError(f"chr{chrom}: SNP positions are out of order (row {i + 1}: BP {bp[i + 1]} < {bp[i]}); "
                         "fix: sort the SNP table by BP")
    if cm is not None:
        cm = np.asarray(cm, dtype=np.float64)
        if cm.shape != bp.shape:
            raise InputError(f"chr{chrom}: CM has shape {cm.shape}, BP has {bp.shape}")
        if not np.all(np.isfinite(cm)):
            raise InputError(f"chr{chrom}: CM has missing/non-finite values; fix: fill genetic map positions "
                             "(e.g. interpolate a genetic map) or use --bandwidth-kb")
        if np.any(np.diff(cm) < 0):
            i = int(np.nonzero(np.diff(cm) < 0)[0][0])
            raise InputError(f"chr{chrom}: CM decreases at row {i + 1} while BP increases; fix: use a genetic "
                             "map on the same build as BP")
    return bp, cm


def _check_bandwidths(bandwidth_kb: float | None, bandwidth_cm: float | None) -> None:
    if bandwidth_kb is None and bandwidth_cm is None:
        raise InputError("give a flank bandwidth: --bandwidth-kb (on BP) and/or --bandwidth-cm (on CM)")
    for name, v in (("--bandwidth-kb", bandwidth_kb), ("--bandwidth-cm", bandwidth_cm)):
        if v is not None and not (np.isfinite(v) and v >= 0):
            raise InputError(f"{name} must be a finite number >= 0, got {v!r}")


def flank_range(bp: np.ndarray, cm: np.ndarray | None, core_lo: int, core_hi: int,
                bandwidth_kb: float | None, bandwidth_cm: float | None) -> tuple[int, int]:
    """[lo, hi): the core rows plus every row within the bandwidth(s) of a core SNP (union of kb and cM)."""
    lo, hi = core_lo, core_hi
    if bandwidth_kb is not None:
        bw = bandwidth_kb * 1000.0
        lo = min(lo, int(np.searchsorted(bp, bp[core_lo] - bw, side="left")))
        hi = max(hi, int(np.searchsorted(bp, bp[core_hi - 1] + bw, side="right")))
    if bandwidth_cm is not None:
        if cm is None:
            raise InputError("--bandwidth-cm needs CM (genetic map) positions in the SNP table (the .bim's "
                             "third column); fix: use a panel with a genetic map, or --bandwidth-kb")
        lo = min(lo, int(np.searchsorted(cm, cm[core_lo] - bandwidth_cm, side="left")))
        hi = max(hi, int(np.searchsorted(cm, cm[core_hi - 1] + bandwidth_cm, side="right")))
    return lo, hi


def plan_slices(chrom: int, bp: np.ndarray, *, cm: np.ndarray | None = None,
                core_kb: float = SliceGeometry.core_kb,
                bandwidth_kb: float | None = None, bandwidth_cm: float | None = None) -> list[SlicePlan]:
    """Slices of one chromosome whose SNPs (sorted) sit at ``bp`` (and genetic positions ``cm``).

    Cores: non-empty windows ``[k * core_bp, (k + 1) * core_bp)``; flanks: see :func:`flank_range`.
    Slice ids are 0, 1, ... in genomic order.
    """
    if not (np.isfinite(core_kb) and core_kb > 0):
        raise InputError(f"--core-kb must be > 0, got {core_kb!r}")
    _check_bandwidths(bandwidth_kb, bandwidth_cm)
    bp, cm = _check_positions(bp, cm, chrom)
    if bandwidth_cm is not None and cm is None:
        raise InputError(f"chr{chrom}: bandwidth_cm needs CM (genetic map) positions in the SNP table; "
                         "fix: add a CM column or use bandwidth_kb")
    window = np.floor_divide(bp.astype(np.float64), core_kb * 1000.0).astype(np.int64)
    starts = np.concatenate([[0], np.nonzero(np.diff(window))[0] + 1])
    ends = np.concatenate([starts[1:], [bp.size]])
    plans = []
    for sid, (c0, c1) in enumerate(zip(starts.tolist(), ends.tolist())):
        lo, hi = flank_range(bp, cm, c0, c1, bandwidth_kb, bandwidth_cm)
        plans.append(SlicePlan(chrom=int(chrom), slice_id=sid, lo=lo, hi=hi, core_lo=c0, core_hi=c1))
    return plans


def resolve_bandwidth(requested_kb: float | None, requested_cm: float | None,
                      stored_kb: float | None, stored_cm: float | None) -> tuple[float | None, float | None]:
    """Check a requested bandwidth against the stored maximum; (None, None) means "as stored".

    A smaller bandwidth is served by cropping flank rows; a larger one, or one on a scale (kb/cM) the
    dataset was not cut on, is an InputError.
    """
    if requested_kb is None and requested_cm is None:
        return None, None
    _check_bandwidths(requested_kb, requested_cm)
    for unit, req, stored in (("kb", requested_kb, stored_kb), ("cm", requested_cm, stored_cm)):
        if req is None:
            continue
        if stored is None:
            label, other = ("kb", "cM") if unit == "kb" else ("cM", "kb")
            instead = "drop --bandwidth" if unit == "kb" else "request a bandwidth in kb (--bandwidth)"
            raise InputError(f"a flank bandwidth of {req} {label} was requested, but the dataset's flanks were "
                             f"cut in {other} only; fix: {instead}, or re-ingest with prepare.py "
                             f"--bandwidth-{unit} set")
        if req > stored + 1e-9:
            raise InputError(f"--bandwidth {req} {unit} exceeds the stored maximum {stored} {unit}; fix: use "
                             f"--bandwidth <= {stored}, or re-ingest with prepare.py --bandwidth-{unit} wider")
    return requested_kb, requested_cm


def crop_keep_mask(bp: np.ndarray, cm: np.ndarray | None, core_mask: np.ndarray,
                   bandwidth_kb: float | None, bandwidth_cm: float | None) -> np.ndarray:
    """(m,) bool mask of a stored slice's SNPs that lie within the (smaller) bandwidth of its core.

    ``bp``/``cm`` are the slice SNPs' positions, ``core_mask`` its contiguous core. Equals the slice
    :func:`plan_slices` would cut with this bandwidth.
    """
    idx = np.nonzero(core_mask)[0]
    c0, c1 = int(idx[0]), int(idx[-1]) + 1
    lo, hi = flank_range(np.asarray(bp), None if cm is None else np.asarray(cm, dtype=np.float64),
                         c0, c1, bandwidth_kb, bandwidth_cm)
    keep = np.zeros(len(core_mask), dtype=bool)
    keep[lo:hi] = True
    return keep


def contiguous_blocks(keys, blocks: int) -> dict[tuple[int, int], int]:
    """Contiguous blocks of slices in genomic order (sizes differ by at most one): slice key -> block.
    The one definition used by the block hold-out (``train.holdout``) and the block jackknife."""
    order = sorted(keys)
    edges = np.linspace(0, len(order), blocks + 1).astype(int)
    return {k: b for b in range(blocks) for k in order[edges[b]:edges[b + 1]]}


def seeded_subsample(keys: list, k: int, seed: int) -> list:
    """Up to ``k`` of ``keys`` drawn without replacement by ``numpy.random.default_rng(seed)``, in their
    original order (all of them when there are at most ``k``): the one subsample rule of the plan's
    initial fits, the intercept regression and the report's baselines."""
    keys = list(keys)
    idx = np.random.default_rng(seed).choice(len(keys), size=min(int(k), len(keys)), replace=False)
    return [keys[i] for i in sorted(idx)]
