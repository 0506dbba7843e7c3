"""sigma from LD score regression: the intercept that ``--sigma ldsc`` holds the likelihood's sigma at.

Why. sigma is the null variance of a z-score (1 without confounding; LDSC's intercept). With a small
reference panel the full likelihood does not identify it: the panel's LD misdescribes the cohort's, and
the cheapest explanation of that excess variance is a larger sigma, so learned sigma rises and h2 falls
(chr22 height, 1000G LD: sigma 2.0, h2 0.0026, against S-LDSC's intercept 1.24 and h2 0.0053; the
noise-free limit, ``bench mismatch-bias``, shows the same on simulations). LD score regression estimates
the intercept from how chi^2 grows with the LD score, which the panel estimates well (bias-corrected
r^2, summed over hundreds of SNPs): S-LDSC's intercept barely moves with panel size.

What. Over the core SNPs of the given slices, with l_i = sum_k r^2_ik (the slice LD score, bias-corrected
for the panel size) and chi2_i = z_i^2, :func:`deepwas_dist.ldsc.ldsc_intercept` fits
E[chi2_i] = sigma + s l_i with LDSC's weights, per trait (``--sigma ldsc``). ``--sigma sldsc`` adds the
stratified LD scores l_ic = sum_k r^2_ik a_kc of the dataset's (standardised) annotations, S-LDSC's
regression, whose intercept stays unbiased when per-SNP heritability varies with annotations that
correlate with LD score, at the price of a larger SE. Measured: on the demo's linear-truth trait (whose
truth depends on MAF features) the unstratified intercept is 2.26 ± 0.14 and the stratified 1.04 ± 0.44
(truth 1); on chr22 height 1.15 ± 0.22 and 1.69 ± 0.37 (S-LDSC, unstratified: 1.24 ± 0.15). Its SE is the
delete-one-block jackknife over contiguous blocks of slices
(:func:`deepwas_dist.data.slicing.contiguous_blocks`), as in S-LDSC.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data.reader import Dataset, SliceBatch
from ..data.slicing import contiguous_blocks, seeded_subsample
from ..errors import InputError
from ..ldsc import ldsc_intercept
from .enrichment import jackknife_se

#: Jackknife blocks of the intercept's SE (S-LDSC uses 200 over the genome; a chromosome has fewer slices).
INTERCEPT_BLOCKS = 20
#: Training slices (at most; a seeded subsample beyond) whose core SNPs the regression uses.
INTERCEPT_SLICES = 400


@dataclass(frozen=True)
class LDScoreStats:
    """Per core SNP of the slices used: slice LD score (n,), chi^2 (n, T), its slice's key, and the
    stratified LD scores (n, A) of the annotations (None: none, or unstratified)."""

    ld_score: np.ndarray
    chi2: np.ndarray
    keys: list[tuple[int, int]]
    strata: np.ndarray | None = None

    @classmethod
    def from_batches(cls, batches: Sequence[SliceBatch], stratify: bool = False) -> "LDScoreStats":
        ls, c2, st, keys = [], [], [], []
        for b in batches:
            r2 = b.ld.ld2_core.double()
            ls.append(r2.sum(1).numpy())
            if stratify and b.features.shape[1]:
                st.append((r2 @ b.features.double()).numpy())
            c2.append(b.z.double().square().numpy())
            keys += [(b.chrom, b.slice_id)] * b.n
        if not ls:
            raise InputError("--sigma ldsc needs training slices to regress on; none were given")
        return cls(np.concatenate(ls), np.concatenate(c2), keys, np.concatenate(st) if st else None)

    def without(self, drop: set) -> "LDScoreStats":
        keep = np.array([k not in drop for k in self.keys])
        return LDScoreStats(self.ld_score[keep], self.chi2[keep], [k for k, m in zip(self.keys, keep) if m],
                            None if self.strata is None else self.strata[keep])


@dataclass(frozen=True)
class Intercept:
    """Per trait: LDSC's intercept (the sigma it implies), its jackknife SE, and the slope s (per-SNP
    prior variance in z units, N h2 / M)."""

    sigma: list[float]
    se: list[float]
    slope: list[float]
    blocks: int

    def to_json(self) -> dict:
        return {"sigma": self.sigma, "se": self.se, "slope": self.slope, "blocks": self.blocks}


def intercept_stats(ds: Dataset, traits: Sequence[str], keys: Sequence[tuple[int, int]],
                    bandwidth_kb: float | None = None, seed: int = 0, stratify: bool = False) -> LDScoreStats:
    """The regression's data from up to ``INTERCEPT_SLICES`` of the slices ``keys`` (seeded subsample),
    read with their full stored LD (not truncated: an LD score sums r^2 over the whole slice);
    ``stratify``: with the annotations' stratified LD scores (``--sigma sldsc``)."""
    keys = seeded_subsample(keys, INTERCEPT_SLICES, seed)
    return LDScoreStats.from_batches([ds.read_slice(c, s, list(traits), bandwidth_kb=bandwidth_kb, tracks=False)
                                      for c, s in keys], stratify=stratify)


def fit_intercept(stats: LDScoreStats, traits: Sequence[str], blocks: int = INTERCEPT_BLOCKS) -> Intercept:
    """The intercept per trait with its block-jackknife SE; InputError (naming ``--sigma``) when an
    intercept is not positive, which no null variance can be."""
    a, b = ldsc_intercept(*_arrays(stats))
    bad = [f"{t} ({v:.3g})" for t, v in zip(traits, a) if not v > 0]
    if bad:
        raise InputError(f"--sigma ldsc/sldsc: the LD score regression intercept is not positive for {', '.join(bad)}; "
                         "fix: pass --sigma VALUE (e.g. an S-LDSC intercept) or --sigma learn")
    order = sorted(set(stats.keys))
    B = min(int(blocks), len(order))
    se = np.full(len(a), np.nan)
    if B >= 2:
        se = jackknife_se(_leave_one_block_out(stats, contiguous_blocks(order, B), B))
    return Intercept(sigma=a.tolist(), se=se.tolist(), slope=b.tolist(), blocks=B)


def block_intercepts(stats: LDScoreStats, which: dict[tuple[int, int], int], n_blocks: int) -> np.ndarray:
    """(B, T) intercepts with each block of ``which`` (slice key -> block) left out in turn: the
    jackknife refits of a ``--sigma ldsc`` run hold sigma at these, so its SEs include the intercept's."""
    return np.maximum(_leave_one_block_out(stats, which, n_blocks), 1e-6)


def _leave_one_block_out(stats: LDScoreStats, which: dict[tuple[int, int], int], n_blocks: int) -> np.ndarray:
    """(B, T) intercepts, block b of ``which`` left out in row b."""
    return np.stack([ldsc_intercept(*_arrays(stats.without({k for k, j in which.items() if j == b})))[0]
                     for b in range(n_blocks)])


def block_log_sigma(ds: Dataset, traits: Sequence[str], keys: Sequence[tuple[int, int]],
                    bandwidth_kb: float | None = None, seed: int = 0, stratify: bool = False):
    """The refit jackknife's ``block_log_sigma`` for a ``--sigma ldsc`` run on the training slices ``keys``:
    (which, B) -> (B, T) log intercepts, each without one block (the same slices as the run's intercept)."""
    stats = intercept_stats(ds, traits, keys, bandwidth_kb, seed, stratify)
    return lambda which, B: np.log(block_intercepts(stats, which, B))


def _arrays(s: LDScoreStats) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    return s.ld_score, s.chi2, s.strata
