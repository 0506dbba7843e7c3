"""Ground-truth annotation -> variance maps."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.simulate import TRUTH_KINDS, Truth, make_truth
from deepwas_dist.simulate.truth import threshold_mask


def _r2_log_linear(f: np.ndarray, A: np.ndarray) -> float:
    """R^2 of the least-squares fit of log f on [1, annotations]."""
    X = np.c_[np.ones(len(A)), A]
    y = np.log(f)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return 1.0 - np.var(y - X @ coef) / np.var(y)


@pytest.mark.parametrize("kind", TRUTH_KINDS)
def test_sum_is_h2_across_chromosomes(small_panels, small_features, kind):
    truth = make_truth(kind, small_features, 0.37, seed=4)
    f = truth.f(small_features)
    assert f.dtype == np.float64 and f.shape == (small_features.n_snps,)
    assert np.all(f > 0)
    assert abs(f.sum() - 0.37) < 1e-12
    per_chrom = np.split(f, np.cumsum([p.n_snps for p in small_panels])[:-1])
    assert all(0 < c.sum() < 0.37 for c in per_chrom)             # h2 is shared, not per chromosome
    # params are JSON: a truth rebuilt from its saved form gives the same f
    saved = json.loads(json.dumps({"name": truth.name, "kind": truth.kind, "h2": truth.h2, "params": truth.params}))
    np.testing.assert_array_equal(Truth(**saved).f(small_features), f)


def test_linear_is_log_linear_with_binary_enrichments(small_features):
    truth = make_truth("linear", small_features, 0.3, seed=1)
    f = truth.f(small_features)
    assert _r2_log_linear(f, small_features.annotations) > 0.999999
    assert np.std(np.log(f)) > 0.3
    # a binary annotation's weight is its log enrichment: toggle it and f scales by exp(w)
    j = small_features.names.index("bin_0")
    w = truth.params["weights"][j]
    lf = truth.log_f(small_features)
    A = small_features.annotations.copy()
    A[:, j] = 1 - A[:, j]
    flipped = type(small_features)(small_features.snp, A, small_features.names, small_features.tracks)
    np.testing.assert_allclose(truth.log_f(flipped) - lf, w * (1 - 2 * small_features.annotations[:, j]))


def test_threshold_enriches_the_intended_snps(small_features):
    truth = make_truth("threshold", small_features, 0.2, seed=6, factor=25.0)
    conds = truth.params["conditions"]
    assert len(conds) == 2
    # the intended SNPs, computed independently from the named annotation columns
    A = small_features.columns([c["annotation"] for c in conds])
    kinds = [np.isin(A[:, k], (0, 1)).all() for k in range(2)]
    assert sorted(kinds) == [False, True]                         # one binary, one continuous annotation
    intended = np.ones(len(A), bool)
    for k, c in enumerate(conds):
        intended &= (A[:, k] == 1) if kinds[k] else (A[:, k] > np.quantile(A[:, k], 0.5))
    np.testing.assert_array_equal(threshold_mask(truth, small_features), intended)
    assert 0 < intended.sum() < 0.5 * len(intended)
    f = truth.f(small_features)
    np.testing.assert_allclose(f[intended], 25.0 * f[~intended][0])
    np.testing.assert_allclose(f[~intended], f[~intended][0])
    p = intended.mean()
    assert abs(f[intended].sum() / 0.2 - 25 * p / (25 * p + 1 - p)) < 1e-12


def test_network_deterministic_and_nonlinear(small_features):
    a = make_truth("network", small_features, 0.5, seed=9, use_tracks=False)
    b = make_truth("network", small_features, 0.5, seed=9, use_tracks=False)
    c = make_truth("network", small_features, 0.5, seed=10, use_tracks=False)
    fa = a.f(small_features)
    np.testing.assert_array_equal(fa, b.f(small_features))
    assert np.corrcoef(np.log(fa), np.log(c.f(small_features)))[0, 1] < 0.9
    assert abs(np.std(np.log(fa)) - 1.0) < 1e-9                    # log_sd = 1 on the reference features
    assert _r2_log_linear(fa, small_features.annotations) < 0.9


def test_network_uses_tracks(small_features):
    with_tracks = make_truth("network", small_features, 0.5, seed=9)
    assert with_tracks.params["use_tracks"]
    f = with_tracks.f(small_features)
    assert _r2_log_linear(f, small_features.annotations) < 0.9
    # scrambling the track windows across SNPs changes f; the annotations alone do not determine it
    perm = np.random.default_rng(0).permutation(small_features.n_snps)
    scrambled = type(small_features)(small_features.snp, small_features.annotations, small_features.names,
                                     small_features.tracks[perm])
    assert np.corrcoef(np.log(f), np.log(with_tracks.f(scrambled)))[0, 1] < 0.95
    no_tracks = small_features.take(slice(None))
    no_tracks = type(no_tracks)(no_tracks.snp, no_tracks.annotations, no_tracks.names, None)
    with pytest.raises(InputError, match="track"):
        with_tracks.f(no_tracks)


def test_bad_arguments(small_features):
    with pytest.raises(InputError, match="kind"):
        make_truth("quadratic", small_features, 0.3, seed=0)
    with pytest.raises(InputError, match="h2"):
        make_truth("linear", small_features, 0.0, seed=0)
    truth = make_truth("linear", small_features, 0.3, seed=0)
    renamed = type(small_features)(small_features.snp, small_features.annotations,
                                   tuple("x" + n for n in small_features.names))
    with pytest.raises(InputError, match="missing"):
        truth.f(renamed)
