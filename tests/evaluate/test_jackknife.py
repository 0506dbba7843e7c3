"""The refit jackknife: its arithmetic against a brute-force delete-one computation, and its refits
against cold fits of the leave-one-block-out objective."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from deepwas_dist.evaluate.enrichment import jackknife_se, ratios, table_from_replicates
from deepwas_dist.evaluate.jackknife import (RefitJackknife, FitTrace, RefitSettings, block_of, fit_lbfgs,
                                             refit_enrichment_table, refit_jackknife)
from deepwas_dist.errors import InputError


def test_jackknife_se_brute_force(rng):
    B, K = 17, 3
    x = rng.normal(size=(B, K))
    brute = np.array([np.sqrt((B - 1) / B * sum((x[b, k] - x[:, k].mean()) ** 2 for b in range(B))) for k in range(K)])
    assert np.allclose(jackknife_se(x), brute)
    # the delete-one jackknife of a mean is the usual standard error of the mean
    y = rng.normal(size=40)
    loo = np.array([np.delete(y, i).mean() for i in range(40)])
    assert np.isclose(jackknife_se(loo[:, None])[0], y.std(ddof=1) / np.sqrt(40))


def test_refit_table_uses_all_snps_per_replicate(rng):
    M, B = 600, 5
    A = (rng.random((M, 2)) < 0.3).astype(float)
    logf = rng.normal(-9, 0.5, size=(B, M, 1))
    jk = RefitJackknife(log_f_full=logf.mean(0), log_f_blocks=logf, blocks=[[]] * B,
                        full=FitTrace(1, 0.0, 0.0, 0.0), refits=[FitTrace(1, 0.0, 0.0, 0.0)] * B)
    f = np.exp(logf.mean(0)[:, 0])
    tab = refit_enrichment_table(jk, 0, f, A, ["a", "b"])
    reps = [ratios(np.exp(logf[b, :, 0]), A) for b in range(B)]     # brute force, replicate by replicate
    for k in range(2):
        enr = np.array([r[1][k] for r in reps])
        ph2 = np.array([r[0][k] for r in reps])
        se = np.sqrt((B - 1) / B * np.sum((enr - enr.mean()) ** 2))
        assert np.isclose(tab.loc[k, "Enrichment_std_error"], se)
        assert np.isclose(tab.loc[k, "Prop._h2_std_error"], np.sqrt((B - 1) / B * np.sum((ph2 - ph2.mean()) ** 2)))
        assert np.isclose(tab.loc[k, "Enrichment"], ratios(f, A)[1][k])
    h2, h2_se = jk.h2()
    tot = np.exp(logf[:, :, 0]).sum(1)
    assert np.isclose(h2_se[0], np.sqrt((B - 1) / B * np.sum((tot - tot.mean()) ** 2)))
    t2 = table_from_replicates(f, A, ["a", "b"], np.zeros((B, 2)), np.zeros((B, 2)))
    assert (t2["Enrichment_std_error"] == 0).all()


def test_block_of_is_contiguous():
    keys = [(2, i) for i in range(7)] + [(1, i) for i in range(5)]
    which = block_of(keys, 4)
    order = sorted(keys)
    assert [which[k] for k in order] == sorted(which[k] for k in order)
    assert set(which.values()) == {0, 1, 2, 3}
