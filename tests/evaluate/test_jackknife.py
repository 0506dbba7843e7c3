"""The refit jackknife: its arithmetic against a brute-force delete-one computation, and its refits
against cold fits of the leave-one-block-out objective."""
from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from deepwas_dist.data.slicing import contiguous_blocks
from deepwas_dist.errors import InputError
from deepwas_dist.evaluate.enrichment import (
    COLUMNS,
    jackknife_se,
    ratios,
    table_from_replicates,
)
from deepwas_dist.evaluate.jackknife import (
    FitTrace,
    RefitJackknife,
    RefitSettings,
    fit_lbfgs,
    refit_enrichment_table,
    refit_jackknife,
    shape_held,
)

from .conftest import shaped_mlp


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
    assert np.isclose(h2[0], np.exp(logf.mean(0)).sum())
    tot = np.exp(logf[:, :, 0]).sum(1)
    assert np.isclose(h2_se[0], np.sqrt((B - 1) / B * np.sum((tot - tot.mean()) ** 2)))
    t2 = table_from_replicates(f, A, ["a", "b"], np.zeros((B, 2)), np.zeros((B, 2)))
    assert (t2["Enrichment_std_error"] == 0).all()


def test_block_of_is_contiguous():
    keys = [(2, i) for i in range(7)] + [(1, i) for i in range(5)]
    which = contiguous_blocks(keys, 4)
    order = sorted(keys)
    assert [which[k] for k in order] == sorted(which[k] for k in order)
    assert set(which.values()) == {0, 1, 2, 3}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["newton", "lbfgs"])
def test_warm_refits_reach_the_cold_leave_one_out_optimum(small_fit, method):
    """Each warm refit reaches a stationary point of its leave-one-block-out objective, and where a cold, long
    L-BFGS fit (from the untrained prior) of the same objective finds no lower loss, matches it: h2 and every
    binary annotation's enrichment to a small fraction of their jackknife SEs (measured over 3 blocks: newton
    h2 within 3e-5 SE and enrichment within 2e-4 SE). Individual log f can differ more, along directions
    the data do not determine (the prior's two redundant offsets, rare annotations).

    Known limitation, measured here since the simulator's European history (this dataset changed): the
    objective is not convex, and on block 2 the cold fit finds a better optimum (loss per SNP 0.95091
    against 0.95206; enrichments 2 SEs apart) that both warm refits (Newton and L-BFGS) miss: they stay in
    the basin of the full-data optimum, which is the local jackknife. At most one block may do that."""
    net, batches, log_N, feats, A, _ = small_fit
    jk = refit_jackknife(net, batches, log_N, feats, RefitSettings(n_blocks=3, method=method), log=lambda s: None)
    _, se = jk.h2()
    assert se[0] > 0
    f_full = np.exp(jk.log_f_full[:, 0])
    enr_se = refit_enrichment_table(jk, 0, f_full, A, [str(i) for i in range(A.shape[1])])["Enrichment_std_error"]
    enr_se = enr_se.to_numpy()
    ok = enr_se > 1e-3          # one simulated annotation covers almost every SNP: its enrichment is ~1 exactly
    assert max(r.max_grad for r in jk.refits) < 1e-5
    elsewhere = 0
    for b in range(3):
        cold = copy.deepcopy(net).double()
        keep = [x for x in batches if (x.chrom, x.slice_id) not in set(jk.blocks[b])]
        trace = fit_lbfgs(cold, keep, log_N, "likelihood", iters=300, tolerance_grad=1e-10)
        print(f"{method} block {b}: loss per SNP cold {trace.loss:.6f}, warm {jk.refits[b].loss:.6f}")
        if trace.loss < jk.refits[b].loss - 1e-6:          # the cold fit found a better optimum elsewhere
            elsewhere += 1
            continue
        with torch.no_grad():
            lf = np.concatenate([cold(X.double(), None).numpy() for X, _ in feats])
        dh2 = abs(np.exp(lf).sum() - np.exp(jk.log_f_blocks[b]).sum())
        denr = np.abs(ratios(np.exp(lf[:, 0]), A)[1] - ratios(np.exp(jk.log_f_blocks[b, :, 0]), A)[1])
        print(f"{method} block {b}: |dh2| = {dh2 / se[0]:.1e} SE, "
              f"max |dEnrichment| = {np.max(denr[ok] / enr_se[ok]):.1e} SE")
        assert dh2 < 0.02 * se[0]
        assert np.all(denr < 0.1 * enr_se + 1e-4)
    assert elsewhere <= 1


def test_too_few_blocks_is_an_input_error(small_fit):
    net, batches, log_N, feats, *_ = small_fit
    with pytest.raises(InputError, match="--jackknife-blocks"):
        refit_jackknife(net, batches[:1], log_N, feats, RefitSettings(n_blocks=20), log=lambda s: None)


@pytest.mark.slow
@pytest.mark.parametrize("jackknife", ["refit", "fixed"])
def test_report_writes_the_chosen_jackknife(small_fit, tmp_path, jackknife):
    """evaluate_model: metrics and summary.txt say which jackknife made the SEs; the table keeps S-LDSC's columns."""
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.report import evaluate_model
    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.plan import make_plan

    net, *_, url = small_fit
    ds = Dataset.open(url)
    cfg = TrainConfig(data=url, model="linear", method="exact", mismatch="off", ld_keep_variance=1.0,
                      storage=str(tmp_path), name="run",
                      holdout_chroms="2", jackknife=jackknife, jackknife_blocks=3).validate()
    plan, holdout = make_plan(cfg, ds, ["t"])
    m = evaluate_model(cfg, ds, plan, holdout, copy.deepcopy(net), [], log=lambda s: None)["traits"]["t"]
    tab = pd.read_csv(tmp_path / "run" / "enrichment" / "t.results", sep="\t")
    assert list(tab.columns) == COLUMNS and (tab["Enrichment_std_error"] > 0).all()
    assert f"SE of h2 and enrichment: {jackknife} (" in (tmp_path / "run" / "summary.txt").read_text()
    assert m["jackknife"]["jackknife"] == jackknife and m["h2_se"] > 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["traits"]["t"]["h2_se"] == m["h2_se"]


def test_shape_held_refits_only_the_scale_and_sigma(small_fit):
    """A large prior's jackknife refits 2T parameters (offset, log sigma) and keeps its shape: every
    replicate's log f is the full fit's plus a per-trait constant, and each refit is the cold optimum of the
    scale without its block (one-dimensional problems, so the warm Newton refit must match the cold fit)."""
    _, batches, log_N, feats, A, url = small_fit
    net = shaped_mlp(url)
    held = shape_held(net)
    assert [n for n, p in held.named_parameters() if p.requires_grad] == ["bias", "log_sigma"]
    assert all(p.requires_grad for p in net.parameters())          # the trained network is untouched
    jk = refit_jackknife(held, batches, log_N, feats, RefitSettings(n_blocks=3), log=lambda s: None)
    assert jk.shape_held and jk.summary()["jackknife"] == "refit-scale"
    shift = jk.log_f_blocks[:, :, 0] - jk.log_f_full[None, :, 0]
    assert np.allclose(shift, shift[:, :1], atol=1e-9)             # shape held: a constant shift per block
    _, se = jk.h2()
    assert se[0] > 0
    for b in range(3):
        cold = shape_held(net).double()
        keep = [x for x in batches if (x.chrom, x.slice_id) not in set(jk.blocks[b])]
        fit_lbfgs(cold, keep, log_N, "likelihood", iters=200, tolerance_grad=1e-10)
        with torch.no_grad():
            lf = np.concatenate([cold(X.double(), None).numpy() for X, _ in feats])
        assert abs(np.exp(lf).sum() - np.exp(jk.log_f_blocks[b]).sum()) < 1e-3 * se[0]


def test_report_refits_a_large_priors_scale(small_fit, tmp_path):
    """An mlp is not refitted as a whole (unregularised full-batch refits of it are not the trained
    estimator): with --jackknife refit-scale the report refits its scale, so h2 has a refit SE, and gives
    fixed-prior enrichment SEs (the default, refit-local: tests/evaluate/test_local_shape.py)."""
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.report import evaluate_model
    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.plan import make_plan

    *_, url = small_fit
    ds = Dataset.open(url)
    cfg = TrainConfig(data=url, model="mlp", size="small", method="exact", mismatch="off", storage=str(tmp_path),
                      name="run", sigma="learn", jackknife="refit-scale", jackknife_blocks=3,
                      holdout_chroms="2").validate()
    plan, holdout = make_plan(cfg, ds, ["t"])
    m = evaluate_model(cfg, ds, plan, holdout, shaped_mlp(url), [], log=lambda s: None)["traits"]["t"]
    assert m["jackknife"]["jackknife"] == "refit-scale" and m["h2_se"] > 0
    tab = pd.read_csv(tmp_path / "run" / "enrichment" / "t.results", sep="\t")
    assert (tab["Enrichment_std_error"] > 0).all()
    assert "refit-scale: h2 SEs refit the prior's scale" in (tmp_path / "run" / "summary.txt").read_text()
