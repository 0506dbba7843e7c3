"""Simulated annotations and track windows have the intended genomic structure."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data.schema import CHR, MAF, SNP
from deepwas_dist.errors import InputError
from deepwas_dist.simulate import simulate_annotations, simulate_tracks


@pytest.fixture(scope="module")
def snps(small_panels) -> pd.DataFrame:
    return pd.concat([p.snps for p in small_panels], ignore_index=True)


@pytest.fixture(scope="module")
def annots(snps):
    return simulate_annotations(snps, n_binary=8, n_continuous=4, seed=5)


def run_ratio(x: np.ndarray, chrom: np.ndarray) -> float:
    """Mean length of runs of 1s (along each chromosome) over its expectation 1/(1-p) under i.i.d. Bernoulli."""
    runs = []
    for c in np.unique(chrom):
        d = np.diff(np.r_[0, x[chrom == c], 0])
        runs += list(np.flatnonzero(d == -1) - np.flatnonzero(d == 1))
    return float(np.mean(runs) * (1 - x.mean()))


def test_columns_and_binary_values(snps, annots):
    frame, names = annots
    assert list(frame.columns) == [SNP, *names]
    assert list(frame[SNP]) == list(snps[SNP])
    binary = [n for n in names if n.startswith("bin_")]
    assert len(binary) == 8 and len([n for n in names if n.startswith("cont_")]) == 4
    for n in binary:
        assert frame[n].dtype == np.int8 and set(frame[n].unique()) <= {0, 1}


def test_coverage_varies(annots):
    frame, names = annots
    cov = np.array([frame[n].mean() for n in names if n.startswith("bin_")])
    assert cov.min() > 0 and cov.max() < 0.5
    assert cov.max() / cov.min() > 5


def test_runs_are_clustered(snps, annots):
    frame, names = annots
    chrom = snps[CHR].to_numpy()
    ratios = [run_ratio(frame[n].to_numpy(), chrom) for n in names if n.startswith("bin_")]
    assert min(ratios) > 1.5 and np.mean(ratios) > 3
    # the statistic is ~1 for independent Bernoulli draws with the same coverage
    shuffled = np.random.default_rng(0).permutation(frame["bin_0"].to_numpy())
    assert run_ratio(shuffled, chrom) < 1.5


def test_continuous_are_smooth_along_the_genome(snps, annots):
    frame, names = annots
    first = snps[CHR].to_numpy() == 1
    for n in (n for n in names if n.startswith("cont_")):
        x = frame.loc[first, n].to_numpy()
        assert np.corrcoef(x[:-1], x[1:])[0, 1] > 0.4               # neighbours alike (noise var 0.25)
        assert x.std() > 0.5


def test_maf_features(snps, annots):
    frame, names = annots
    np.testing.assert_allclose(frame["log10_maf"], np.log10(snps[MAF]))
    bins = frame[[n for n in names if n.startswith("maf_bin_")]].to_numpy()
    assert np.all(bins.sum(axis=1) == 1)
    order = np.argsort(snps[MAF].to_numpy())
    assert np.all(np.diff(bins[order].argmax(axis=1)) >= 0)        # bins increase with MAF


def test_determinism_and_chromosome_independence(snps, annots):
    frame, _ = annots
    chr2 = snps[snps[CHR] == 2].reset_index(drop=True)
    alone, _ = simulate_annotations(chr2, seed=5)
    pd.testing.assert_frame_equal(alone, frame[snps[CHR].to_numpy() == 2].reset_index(drop=True))
    other, _ = simulate_annotations(snps, seed=6)
    assert not other.equals(frame)
    with pytest.raises(InputError, match="MAF"):
        simulate_annotations(snps.drop(columns=[MAF]))


def test_tracks_shape_and_centred_peaks(snps):
    tr = simulate_tracks(snps, n_tracks=4, window=32, seed=2)
    assert tr.shape == (len(snps), 4, 32) and tr.dtype == np.float32
    np.testing.assert_array_equal(tr, simulate_tracks(snps, n_tracks=4, window=32, seed=2))
    peak = tr[:, 0, :]
    centre_hits = (peak[:, 16] > 0.5).mean()
    edge_hits = (peak[:, [0, 31]] > 0.5).mean()
    assert centre_hits > 0.1 and centre_hits > 2 * edge_hits       # peaks sit on SNPs more than beside them
    for t in range(1, 4):                                           # smooth tracks vary smoothly in the window
        x = tr[:, t, :]
        assert np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1] > 0.5
        assert abs(np.corrcoef(x[:, 16], peak[:, 16])[0, 1]) < 0.2  # and carry no SNP-centred signal
