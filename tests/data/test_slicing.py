"""Slice geometry: cores tile without overlap or empty cores, flanks by kb and/or cM, cropping."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.data.slicing import crop_keep_mask, plan_slices, resolve_bandwidth
from deepwas_dist.errors import InputError


def _positions(rng, M=800, span=9_000_000):
    bp = np.sort(rng.choice(np.arange(1, span), M, replace=False))
    bp = bp[(bp < 3_000_000) | (bp > 5_200_000)]          # a 2.2 Mb gap: windows 3 and 4 are empty
    return bp, np.cumsum(rng.exponential(0.002, bp.size))


def test_cores_tile_without_overlap_and_skip_empty_windows(rng):
    bp, _ = _positions(rng)
    plans = plan_slices(3, bp, core_kb=1000, bandwidth_kb=300)
    cover = np.zeros(bp.size, dtype=int)
    for k, p in enumerate(plans):
        assert p.chrom == 3 and p.slice_id == k and p.n > 0
        cover[p.core_lo:p.core_hi] += 1
        w = bp[p.core_lo:p.core_hi] // 1_000_000
        assert np.all(w == w[0])                              # one 1-Mb window per core
        if p.core_lo > 0:
            assert bp[p.core_lo - 1] // 1_000_000 < w[0]
    assert np.all(cover == 1)                                 # every SNP scored exactly once
    windows = [int(bp[p.core_lo] // 1_000_000) for p in plans]
    assert 3 not in windows and 4 not in windows and windows == sorted(set(windows))


def test_flanks_are_snps_within_bandwidth_of_the_core(rng):
    bp, cm = _positions(rng)
    for p in plan_slices(1, bp, cm=cm, core_kb=1000, bandwidth_kb=300):
        core = bp[p.core_lo:p.core_hi]
        dist = np.maximum(core[0] - bp, 0) + np.maximum(bp - core[-1], 0)
        expect = np.nonzero(dist <= 300_000)[0]
        assert (p.lo, p.hi) == (expect[0], expect[-1] + 1)
        assert p.core_mask().sum() == p.n and p.core_mask()[p.core_lo - p.lo]
    for p in plan_slices(1, bp, cm=cm, core_kb=1000, bandwidth_cm=0.1):
        c = cm[p.core_lo:p.core_hi]
        dist = np.maximum(c[0] - cm, 0) + np.maximum(cm - c[-1], 0)
        expect = np.nonzero(dist <= 0.1)[0]
        assert (p.lo, p.hi) == (expect[0], expect[-1] + 1)


def test_kb_and_cm_flanks_are_their_union(rng):
    bp, cm = _positions(rng)
    a = plan_slices(1, bp, cm=cm, bandwidth_kb=200)
    b = plan_slices(1, bp, cm=cm, bandwidth_cm=0.2)
    u = plan_slices(1, bp, cm=cm, bandwidth_kb=200, bandwidth_cm=0.2)
    for pa_, pb, pu in zip(a, b, u):
        assert (pu.lo, pu.hi) == (min(pa_.lo, pb.lo), max(pa_.hi, pb.hi))


@pytest.mark.parametrize("small", [({"bandwidth_kb": 100.0}), ({"bandwidth_kb": 0.0}), ({"bandwidth_cm": 0.05})])
def test_crop_mask_equals_cutting_with_the_smaller_bandwidth(rng, small):
    bp, cm = _positions(rng)
    big = plan_slices(2, bp, cm=cm, core_kb=1000, bandwidth_kb=400, bandwidth_cm=0.3)
    want = plan_slices(2, bp, cm=cm, core_kb=1000, **small)
    for pb, pw in zip(big, want):
        keep = crop_keep_mask(bp[pb.lo:pb.hi], cm[pb.lo:pb.hi], pb.core_mask(),
                              small.get("bandwidth_kb"), small.get("bandwidth_cm"))
        rows = np.arange(pb.lo, pb.hi)[keep]
        assert (rows[0], rows[-1] + 1) == (pw.lo, pw.hi) and keep.sum() == pw.m


def test_bandwidth_requests_are_checked_against_the_stored_maximum():
    assert resolve_bandwidth(None, None, 500.0, None) == (None, None)
    assert resolve_bandwidth(200.0, None, 500.0, None) == (200.0, None)
    with pytest.raises(InputError, match="exceeds the stored maximum 500"):
        resolve_bandwidth(600.0, None, 500.0, None)
    with pytest.raises(InputError, match="cut in kb only"):
        resolve_bandwidth(None, 0.5, 500.0, None)
    with pytest.raises(InputError, match=">= 0"):
        resolve_bandwidth(-1.0, None, 500.0, None)


def test_bad_geometry_inputs():
    with pytest.raises(InputError, match="out of order"):
        plan_slices(1, np.array([5, 3, 9]), bandwidth_kb=1)
    with pytest.raises(InputError, match="bandwidth"):
        plan_slices(1, np.array([1, 2, 3]))
    with pytest.raises(InputError, match="needs CM"):
        plan_slices(1, np.array([1, 2, 3]), bandwidth_cm=1.0)
    with pytest.raises(InputError, match="--core-kb"):
        plan_slices(1, np.array([1, 2, 3]), core_kb=0, bandwidth_kb=1)


def test_seeded_subsample_is_an_ordered_draw_without_replacement():
    from deepwas_dist.data.slicing import seeded_subsample

    keys = [(c, s) for c in (1, 2, 3) for s in range(7)]
    pick = seeded_subsample(keys, 5, seed=3)
    assert len(set(pick)) == 5 and set(pick) <= set(keys)
    assert pick == sorted(pick, key=keys.index)                     # genomic order kept
    assert pick == seeded_subsample(keys, 5, seed=3) != seeded_subsample(keys, 5, seed=4)
    assert seeded_subsample(keys, 100, seed=0) == keys               # all of them, in order
