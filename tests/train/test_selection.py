"""Early stopping on validation chromosomes (train/selection.py): the rule on histories, the loop keeping
the chosen epoch's parameters and stopping on --patience (resumed too), and a run evaluating that epoch."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from deepwas_dist.train import loop
from deepwas_dist.train.selection import best_epoch, selection, should_stop

from .conftest import TRAIT, base_config


def rows(*vals):
    return [{"epoch": i + 1, **({} if v is None else {"val_nll_per_snp": v})} for i, v in enumerate(vals)]


def test_the_rule_lowest_validation_nll_earliest_on_a_tie():
    assert best_epoch(rows(0.5, 0.4, 0.4, 0.45)) == (2, 0.4)
    assert best_epoch(rows(None, math.nan, 0.6, None)) == (3, 0.6)     # rows without a finite score skipped
    assert best_epoch(rows(None, None)) is None and best_epoch([]) is None
    assert not should_stop(rows(0.5, 0.4, 0.45), 2)
    assert should_stop(rows(0.5, 0.4, 0.45, 0.41), 2)
    assert not should_stop(rows(0.5, 0.4, 0.45, 0.41), 0)                 # patience 0: never
    assert not should_stop(rows(None, None, None), 1)                      # nothing to stop on
    s = selection(rows(0.5, 0.4, 0.45, 0.41), epochs=10)
    assert (s.epoch, s.val_nll_per_snp, s.epochs_trained, s.stopped_early) == (2, 0.4, 4, True)
    assert selection(rows(0.5, 0.4), epochs=2).stopped_early is False
    assert selection(rows(None), epochs=1) is None


def test_the_loop_keeps_the_best_epoch_and_stops_on_patience(sim_dataset, run_storage, monkeypatch, capsys):
    """Scripted validation NLLs 0.5, 0.4, 0.45, 0.46 with --patience 2: training stops after epoch 4 of 8,
    the returned network has exactly epoch 2's parameters, and a resume trains nothing more."""
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.train.plan import make_plan
    from deepwas_dist.train.session import LocalSession

    script, seen = iter([0.5, 0.4, 0.45, 0.46, 0.3, 0.2, 0.1, 0.1]), []
    real = loop.heldout_metrics

    def scripted(traits, keys, costs, net, cache, session, log_N, null, prefix="heldout"):
        if prefix != "val":
            return real(traits, keys, costs, net, cache, session, log_N, null, prefix=prefix)
        seen.append({k: v.detach().clone() for k, v in net.state_dict().items()})
        return {"val_nll_per_snp": next(script)}
    monkeypatch.setattr(loop, "heldout_metrics", scripted)
    cfg = base_config(sim_dataset, str(run_storage), "sel", workers=0, model="linear", epochs=8, lr=3e-2,
                      method="exact", val_chroms="3", patience=2)
    plan, split = make_plan(cfg, Dataset.open(sim_dataset), [TRAIT])
    assert split.val_chroms == [3] and plan.val_keys and all(c != 3 for c, _ in plan.train_keys)
    session = LocalSession()
    try:
        net, history = loop.run_worker(cfg, plan, session)
        assert [h["epoch"] for h in history] == [1, 2, 3, 4]
        assert "early stop after epoch 4" in capsys.readouterr().out
        for k, v in net.state_dict().items():
            assert torch.equal(v, seen[1][k]), k                 # epoch 2's parameters, not epoch 4's
        assert not all(torch.equal(seen[1][k], seen[3][k]) for k in seen[1])   # (which differ)
        again, history2 = loop.run_worker(dataclasses.replace(cfg, resume=True), plan, session)
        assert history2 == history and len(seen) == 4           # the resume trains and scores nothing more
        for k, v in again.state_dict().items():
            assert torch.equal(v, seen[1][k]), k
    finally:
        session.close()


def test_a_validating_run_evaluates_its_chosen_epoch(sim_dataset, run_storage):
    """``--workers 0 --val-chroms auto``: chromosome 3 validates (1-2 train, 4 held out); metrics name the
    chosen epoch, which is the history's lowest validation NLL, and are those of the saved best parameters."""
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.data.storage import filesystem
    from deepwas_dist.train.checkpoint import load_latest
    from deepwas_dist.train.evaluation import evaluate_run_dir, evaluate_state, saved_plan
    from deepwas_dist.train.run import run_training

    cfg = base_config(sim_dataset, str(run_storage), "val-run", workers=0, model="linear", epochs=3,
                      method="exact", val_chroms="auto")
    m = run_training(cfg, log=lambda s: None)
    assert m["holdout"]["val_chroms"] == [3] and all(k[0] == 3 for k in m["holdout"]["val_keys"])
    vals = [h["val_nll_per_snp"] for h in m["history"]]
    assert len(vals) == 3 and all(math.isfinite(v) for v in vals)
    assert m["selection"]["epoch"] == 1 + vals.index(min(vals)) and not m["selection"]["stopped_early"]
    run_dir = str(run_storage / "val-run")
    assert "lowest validation NLL/SNP" in (run_storage / "val-run" / "summary.txt").read_text()
    state, meta, _ = load_latest(run_dir)
    ds = Dataset.open(sim_dataset)
    fs, root = filesystem(run_dir)
    plan, split = saved_plan(fs, root, cfg, ds)
    best_only = evaluate_state(cfg, ds, plan, split, {"model": state["best_model"]}, meta, log=lambda s: None)
    nll = m["traits"][TRAIT]["heldout_nll"]
    assert best_only["traits"][TRAIT]["heldout_nll"] == pytest.approx(nll, rel=1e-9)
    # the last epoch's parameters are not what is evaluated (here the last epoch may be the best one, so the
    # current parameters are replaced by a different prior to tell them apart)
    other = {k: v + 0.5 if v.is_floating_point() else v for k, v in state["model"].items()}
    mixed = evaluate_state(cfg, ds, plan, split, {"model": other, "best_model": state["best_model"]}, meta,
                           log=lambda s: None)
    assert mixed["traits"][TRAIT]["heldout_nll"] == pytest.approx(nll, rel=1e-9)
    assert evaluate_run_dir(run_dir, log=lambda s: None)["traits"][TRAIT]["heldout_nll"] == pytest.approx(nll, rel=1e-9)


def test_the_rule_reads_the_metric_it_is_given():
    """--val-select objective: the choice reads the LDSC loss rows; the selection still reports the
    validation NLL of the epoch it keeps, and the score it chose by."""
    from deepwas_dist.train.selection import OBJECTIVE_METRIC, VAL_METRIC, selection_metric
    assert selection_metric("objective", "ldsc") == OBJECTIVE_METRIC
    assert selection_metric("objective", "likelihood") == VAL_METRIC == selection_metric("nll", "ldsc")
    hist = [{"epoch": 1, VAL_METRIC: 0.5, OBJECTIVE_METRIC: 2.0}, {"epoch": 2, VAL_METRIC: 0.4, OBJECTIVE_METRIC: 3.0},
            {"epoch": 3, VAL_METRIC: 0.45, OBJECTIVE_METRIC: 2.5}]
    assert best_epoch(hist) == (2, 0.4) and best_epoch(hist, OBJECTIVE_METRIC) == (1, 2.0)
    assert should_stop(hist, 2, OBJECTIVE_METRIC) and not should_stop(hist, 2)
    s = selection(hist, epochs=3, metric=OBJECTIVE_METRIC)
    assert (s.epoch, s.val_nll_per_snp, s.metric, s.score) == (1, 0.5, OBJECTIVE_METRIC, 2.0)


def test_an_ldsc_run_chooses_by_its_own_objective(sim_dataset, run_storage):
    """--objective ldsc --val-select objective: every epoch's row has the LDSC loss per SNP on the validation
    slices; the kept network is the epoch of the lowest one, and its loss recomputed by hand slice by slice
    (slice_loss of the kept network, summed and divided by core SNPs x traits) is that row's."""
    from deepwas_dist.data.cache import SliceCache
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.objective import slice_loss
    from deepwas_dist.train.plan import make_plan
    from deepwas_dist.train.selection import OBJECTIVE_METRIC
    from deepwas_dist.train.session import LocalSession

    cfg = base_config(sim_dataset, str(run_storage), "ldsc-sel", workers=0, model="linear", objective="ldsc",
                      epochs=4, lr=3e-2, method="exact", val_chroms="3", val_select="objective")
    plan, _ = make_plan(cfg, Dataset.open(sim_dataset), [TRAIT])
    session = LocalSession()
    try:
        net, history = loop.run_worker(cfg, plan, session)
    finally:
        session.close()
    scores = [h[OBJECTIVE_METRIC] for h in history]
    assert len(scores) == 4 and all(math.isfinite(v) and v > 0 for v in scores)
    best = scores.index(min(scores))
    cache = SliceCache(Dataset.open(sim_dataset), plan.traits, bandwidth_kb=cfg.bandwidth_kb,
                       device=torch.device("cpu"), dtype=cfg.dtype, keep_variance=cfg.ld_keep_variance)
    log_N = torch.tensor(plan.log_N, dtype=torch.float64)
    total, n = 0.0, 0
    with torch.no_grad():
        for k in plan.val_keys:
            b = cache.get(k)
            total += float(slice_loss(b, net(b.features, b.tracks), net.log_sigma, log_N, "ldsc")[0])
            n += b.n * len(plan.traits)
    assert total / n == pytest.approx(scores[best], rel=1e-9)
