"""The last-layer ("refit-local") jackknife of a large prior (evaluate/local_shape.py): the wrapper starts at
the trained prior, its components are the standardised principal components of the trunk's output (against
a brute-force SVD), with every direction it is an exact refit of the network's head, and its warm refits
reach the cold leave-one-block-out optimum."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from deepwas_dist.evaluate.jackknife import RefitSettings, fit_lbfgs, refit_jackknife
from deepwas_dist.evaluate.local_shape import MAX_COMPONENTS, local_shape, n_components

from .conftest import shaped_mlp


def _log_f(net, feats) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([net(X.double(), None).numpy() for X, _ in feats])


def test_components_and_budget():
    assert n_components(64, 1, 200, sigma_learned=True) == MAX_COMPONENTS
    assert n_components(8, 1, 200, sigma_learned=False) == 8
    assert n_components(256, 10, 200, sigma_learned=True) == 18          # 10 (18 + 1) + 10 = 200
    assert 10 * (n_components(256, 10, 200, True) + 2) <= 200


def test_starts_at_the_trained_prior_with_standardised_components(small_fit):
    *_, feats, _, url = small_fit
    net = shaped_mlp(url).double()
    loc = local_shape(net, feats, 200)
    assert [n for n, p in loc.named_parameters() if p.requires_grad] == ["bias", "weight", "net.log_sigma"]
    assert np.allclose(_log_f(loc, feats), _log_f(net, feats), atol=1e-12)
    with torch.no_grad():
        H = torch.cat([net.trunk(X.double(), None) for X, _ in feats]).numpy()
        U = torch.cat([loc.components(X.double(), None) for X, _ in feats]).numpy()
    K = loc.n_components
    assert K == MAX_COMPONENTS
    # brute force: PCA of the trunk's output, each component scaled to unit variance
    Hc = H - H.mean(0)
    _, s, Vt = np.linalg.svd(Hc, full_matrices=False)
    brute = Hc @ Vt[:K].T / (s[:K] / np.sqrt(len(H)))
    signs = np.sign((brute * U).sum(0))
    assert np.allclose(U, brute * signs, atol=1e-8)
    assert np.allclose(U.mean(0), 0, atol=1e-10) and np.allclose(U.var(0), 1, atol=1e-8)
    assert np.allclose(U.T @ U / len(U), np.eye(K), atol=1e-8)


@pytest.mark.slow
def test_every_direction_is_an_exact_refit_of_the_head(small_fit):
    """With K = the head's input size the corrections span every linear function of the trunk's output,
    so the best LocalShape equals the best network with its trunk frozen and its head (and bias) refitted."""
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.holdout import HoldoutSplit
    from deepwas_dist.train.loop import build_model
    from deepwas_dist.train.plan import plan_for, slice_keys

    _, batches, log_N, feats, _, url = small_fit
    ds = Dataset.open(url)
    cfg = TrainConfig(data=url, model="mlp", size="tiny", method="exact", mismatch="off", sigma="learn")
    net = build_model(cfg, plan_for(cfg, ds, ["t"], HoldoutSplit("none", slice_keys(ds), []))).double()
    with torch.no_grad():
        net.head.weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(0))
    for p in net.trunk.parameters():
        p.requires_grad_(False)
    head_fit = copy.deepcopy(net)
    loc = local_shape(net, feats, 10_000)
    assert loc.n_components == net.trunk.out_dim == 16          # mlp/tiny: every direction
    a = fit_lbfgs(loc, batches, log_N, "likelihood", iters=300, tolerance_grad=1e-10)
    b = fit_lbfgs(head_fit, batches, log_N, "likelihood", iters=300, tolerance_grad=1e-10)
    assert a.loss == pytest.approx(b.loss, rel=1e-7, abs=1e-9)


@pytest.mark.slow
def test_refit_local_varies_enrichment_and_matches_cold_refits(small_fit):
    """Unlike refit-scale, every replicate's shape moves (so enrichment gets a real jackknife); each warm
    Newton refit reaches the cold optimum of the same leave-one-block-out objective. Four directions (a
    budget of 6 parameters): this 6-slice dataset does not pin down 32 of them, and its cold fits stall."""
    _, batches, log_N, feats, A, url = small_fit
    net = shaped_mlp(url)
    loc = local_shape(net, feats, 6)
    assert loc.n_components == 4
    jk = refit_jackknife(loc, batches, log_N, feats, RefitSettings(n_blocks=3), log=lambda s: None)
    assert jk.kind == "refit-local" and not jk.shape_held
    assert jk.summary()["jackknife"] == "refit-local" and jk.summary()["components"] == loc.n_components
    shift = jk.log_f_blocks[:, :, 0] - jk.log_f_full[None, :, 0]
    assert not np.allclose(shift, shift[:, :1], atol=1e-6)          # the shape moves between replicates
    _, se = jk.h2()
    assert se[0] > 0 and max(r.max_grad for r in jk.refits) < 1e-5
    for b in range(3):
        cold = local_shape(net, feats, 6).double()
        keep = [x for x in batches if (x.chrom, x.slice_id) not in set(jk.blocks[b])]
        fit_lbfgs(cold, keep, log_N, "likelihood", iters=300, tolerance_grad=1e-10)
        assert abs(np.exp(_log_f(cold, feats)).sum() - np.exp(jk.log_f_blocks[b]).sum()) < 1e-2 * se[0]


def test_report_uses_refit_local_for_a_large_prior(small_fit, tmp_path):
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.report import evaluate_model
    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.plan import make_plan

    *_, url = small_fit
    ds = Dataset.open(url)
    cfg = TrainConfig(data=url, model="mlp", size="small", method="exact", mismatch="off", storage=str(tmp_path),
                      name="run", sigma="learn", jackknife_blocks=3, holdout_chroms="2").validate()
    plan, holdout = make_plan(cfg, ds, ["t"])
    m = evaluate_model(cfg, ds, plan, holdout, shaped_mlp(url), [], log=lambda s: None)["traits"]["t"]
    assert m["jackknife"]["jackknife"] == "refit-local" and m["h2_se"] > 0
    tab = pd.read_csv(tmp_path / "run" / "enrichment" / "t.results", sep="\t")
    assert (tab["Enrichment_std_error"] > 0).all()
    assert "refit-local" in (tmp_path / "run" / "summary.txt").read_text()
