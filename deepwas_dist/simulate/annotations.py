"""Simulated functional annotations and tracks with genomic structure.

Annotations (one row per SNP):
  * ``bin_k``: binary, runs along the chromosome from a two-state (on/off) renewal process in bp with
    exponential run lengths; coverages spread over 1%-30% across k.
  * ``cont_k``: continuous, a smooth random function of position (Gaussian process with length scale
    20 kb-500 kb, unit variance, via random Fourier features) plus independent noise.
  * ``log10_maf`` and ``maf_bin_b``: MAF-derived (log10 MAF, and indicators of log-spaced MAF bins).

Tracks (one window per SNP): smooth signals along the genome sampled at ``window`` offsets spaced
``step_bp`` around each SNP. Track 0 is a "peak" track (ChIP-like Gaussian bumps), with peaks centred on
a random subset of SNPs plus background peaks elsewhere, so a convolution can tell whether a SNP sits
in a peak; the others are smooth fields of increasing length scale.

Per chromosome, every random draw derives from (seed, annotation, chromosome), so a chromosome's
annotations do not depend on which other chromosomes are passed.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..data.schema import BP, CHR, MAF, SNP
from ..errors import InputError
from .seeds import key, rng

#: Range of binary-annotation coverages (fraction of the genome in "on" runs).
COVERAGE_RANGE = (0.01, 0.30)
#: Mean "on" run length (bp) at 10% coverage; scales with sqrt(coverage).
RUN_BP_AT_10PCT = 20_000.0
#: Range of GP length scales (bp) of the continuous annotations.
CONT_LENGTH_SCALE_BP = (20_000.0, 500_000.0)
CONT_NOISE_SD = 0.5
_RFF_FEATURES = 48
_CHUNK = 4096


def simulate_annotations(
    snps: pd.DataFrame,
    n_binary: int = 8,
    n_continuous: int = 4,
    seed: int = 0,
    n_maf_bins: int = 4,
) -> tuple[pd.DataFrame, list[str]]:
    """Annotations for the SNPs of ``snps`` (columns CHR SNP BP MAF; any chromosomes, any order).

    Returns (DataFrame with column SNP then one column per annotation, in ``snps``' row order; the
    annotation names). Binary columns are int8 0/1, the others float64.
    """
    _check_snps(snps, (CHR, SNP, BP, MAF))
    if min(n_binary, n_continuous, n_maf_bins) < 0:
        raise InputError("n_binary, n_continuous and n_maf_bins must be >= 0")
    chrom = snps[CHR].to_numpy()
    bp = snps[BP].to_numpy(dtype=np.float64)
    out: dict[str, np.ndarray] = {SNP: snps[SNP].to_numpy()}

    g = rng(seed, key("coverage"))
    coverages = g.permutation(np.geomspace(*COVERAGE_RANGE, n_binary)) if n_binary else []
    for k, cov in enumerate(coverages):
        col = np.zeros(len(snps), dtype=np.int8)
        run_on = RUN_BP_AT_10PCT * np.sqrt(cov / 0.1) * np.exp(rng(seed, key("run"), k).normal(0.0, 0.3))
        for c in np.unique(chrom):
            rows = chrom == c
            col[rows] = _runs(bp[rows], cov, run_on, rng(seed, key("bin"), k, int(c)))
        out[f"bin_{k}"] = col

    for k in range(n_continuous):
        ell = np.exp(rng(seed, key("ell"), k).uniform(*np.log(CONT_LENGTH_SCALE_BP)))
        col = np.empty(len(snps))
        for c in np.unique(chrom):
            rows = chrom == c
            g = rng(seed, key("cont"), k, int(c))
            col[rows] = _smooth_field(g, ell)(bp[rows]) + CONT_NOISE_SD * g.standard_normal(rows.sum())
        out[f"cont_{k}"] = col

    maf = snps[MAF].to_numpy(dtype=np.float64)
    if np.any(~(maf > 0)) or np.any(maf > 0.5):
        raise InputError("MAF must be in (0, 0.5]; drop monomorphic SNPs and fill missing MAF")
    out["log10_maf"] = np.log10(maf)
    if n_maf_bins:
        edges = np.geomspace(0.01, 0.5, n_maf_bins + 1)[1:-1]
        which = np.searchsorted(edges, maf, side="right")
        for b in range(n_maf_bins):
            out[f"maf_bin_{b}"] = (which == b).astype(np.int8)
    frame = pd.DataFrame(out)
    return frame, [c for c in frame.columns if c != SNP]


def simulate_tracks(
    snps: pd.DataFrame,
    n_tracks: int = 4,
    window: int = 32,
    seed: int = 0,
    step_bp: float = 50.0,
    peak_fraction: float = 0.15,
) -> np.ndarray:
    """(M, n_tracks, window) float32 windows of functional tracks around each SNP of ``snps``.

    Position ``window // 2`` of each window is the SNP itself; offsets are multiples of ``step_bp`` (bp).
    Track 0 has peaks (Gaussian bumps, sd 100 bp) centred on a random ``peak_fraction`` of the SNPs, plus
    background peaks at about one per 10 kb. Tracks 1.. are smooth fields with length scales from 300 bp
    to 30 kb. All tracks carry N(0, 0.05^2) measurement noise.
    """
    _check_snps(snps, (CHR, SNP, BP))
    if n_tracks < 1 or window < 1:
        raise InputError(f"n_tracks and window must be >= 1, got {n_tracks}, {window}")
    chrom = snps[CHR].to_numpy()
    bp = snps[BP].to_numpy(dtype=np.float64)
    offsets = (np.arange(window) - window // 2) * float(step_bp)
    scales = np.geomspace(300.0, 30_000.0, max(n_tracks - 1, 1))
    out = np.empty((len(snps), n_tracks, window), dtype=np.float32)
    for c in np.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        pos = bp[rows][:, None] + offsets[None, :]             # (m, window)
        for t in range(n_tracks):
            g = rng(seed, key("track"), t, int(c))
            if t == 0:
                field = _peaks(g, bp[rows], peak_fraction)
            else:
                field = _smooth_field(g, scales[t - 1])
            out[rows, t, :] = field(pos) + 0.05 * g.standard_normal(pos.shape)
    return out


# ----------------------------------------------------------------------------------- helpers
def _check_snps(snps: pd.DataFrame, cols: tuple[str, ...]) -> None:
    missing = [c for c in cols if c not in snps.columns]
    if missing:
        raise InputError(f"SNP table lacks columns {missing}")
    if len(snps) == 0:
        raise InputError("SNP table is empty")


def _runs(bp: np.ndarray, coverage: float, mean_on: float, g: np.random.Generator) -> np.ndarray:
    """0/1 state at positions ``bp`` of an alternating on/off process with exponential run lengths
    (means mean_on and mean_on (1 - c) / c), started from its stationary distribution."""
    mean_off = mean_on * (1.0 - coverage) / coverage
    lo, hi = bp.min(), bp.max()
    state = int(g.random() < coverage)
    bounds, states = [lo - 1.0], [state]
    # exponential runs are memoryless, so the run in progress at lo is again exponential: stationary start
    while bounds[-1] <= hi:
        bounds.append(bounds[-1] + g.exponential(mean_on if state else mean_off))
        state = 1 - state
        states.append(state)
    idx = np.searchsorted(np.asarray(bounds[1:]), bp, side="right")
    return np.asarray(states, dtype=np.int8)[idx]


def _smooth_field(g: np.random.Generator, length_scale: float,
                  n_features: int = _RFF_FEATURES) -> Callable[[np.ndarray], np.ndarray]:
    """A random function of position approximately drawn from a unit-variance Gaussian process with
    squared-exponential kernel of the given length scale (bp), by random Fourier features."""
    w = g.normal(0.0, 1.0 / length_scale, n_features)
    phase = g.uniform(0.0, 2 * np.pi, n_features)
    amp = g.standard_normal(n_features) * np.sqrt(2.0 / n_features)

    def field(pos: np.ndarray) -> np.ndarray:
        flat = pos.reshape(-1)
        res = np.empty_like(flat, dtype=np.float64)
        for s in range(0, flat.size, _CHUNK * 8):
            p = flat[s:s + _CHUNK * 8]
            res[s:s + p.size] = np.cos(p[:, None] * w + phase) @ amp
        return res.reshape(pos.shape)

    return field


def _peaks(g: np.random.Generator, snp_bp: np.ndarray, fraction: float,
           background_per_bp: float = 1e-4, width_bp: float = 100.0) -> Callable[[np.ndarray], np.ndarray]:
    """A sum of Gaussian bumps (sd ``width_bp``, log-normal heights around 1): peaks centred on a random
    ``fraction`` of the SNPs (jitter sd 20 bp) plus Poisson background peaks."""
    lo, hi = snp_bp.min() - 5_000, snp_bp.max() + 5_000
    anchored = snp_bp[g.random(snp_bp.size) < fraction]
    anchored = anchored + g.normal(0.0, 20.0, anchored.size)
    background = g.uniform(lo, hi, g.poisson(background_per_bp * (hi - lo)))
    centres = np.sort(np.concatenate([anchored, background]))
    heights = np.exp(g.normal(0.0, 0.25, centres.size))
    reach = 5.0 * width_bp

    def field(pos: np.ndarray) -> np.ndarray:
        flat = pos.reshape(-1)
        res = np.zeros(flat.size)
        first = np.searchsorted(centres, flat - reach)
        last = np.searchsorted(centres, flat + reach)
        for k in range(int((last - first).max(initial=0))):
            idx = first + k
            near = idx < last
            d = flat[near] - centres[idx[near]]
            res[near] += heights[idx[near]] * np.exp(-0.5 * (d / width_bp) ** 2)
        return res.reshape(pos.shape)

    return field
