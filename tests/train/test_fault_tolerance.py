"""A worker failure mid-epoch is survived (Ray Train restarts the group, the loop resumes from the last
step checkpoint) and the run ends exactly where an uninterrupted run ends."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

from deepwas_dist.train.callbacks import FailOnce

from .conftest import TRAIT, base_config, run, wait_for_output

FAIL_AT = 5      # global step 5 = epoch 2, step 2 of 3: resumes mid-epoch from the step-4 checkpoint


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_injected_failure_recovers_to_the_uninterrupted_result(ddp_two_workers, sim_dataset, run_storage, tmp_path,
                                                                capfd):
    """Reference: the 2-worker run of the DDP test (same data, seed, epochs, accumulation, exact path,
    no mid-epoch checkpoints, no failure). Here rank 0 raises once after optimiser step 5 with a
    checkpoint after every step and max_failures=1. The restored state (parameters, AdamW moments, LR
    schedule, RNG, epoch position and the partial epoch sums) must make the rest of the run repeat
    the reference exactly: parameters after every step, epoch rows, final metrics, model.pt."""
    ref = ddp_two_workers
    cfg = base_config(sim_dataset, str(run_storage), "fault", method="exact", accumulation=2,
                      checkpoint_every_steps=1, max_failures=1)
    marker = tmp_path / "failed-once"
    res = run(cfg, tmp_path / "trace", callbacks=[FailOnce(FAIL_AT, str(marker))])

    assert marker.read_text() == str(FAIL_AT), "the failure did happen"
    assert any(p.name.startswith("checkpoint_") for p in res.run_dir.iterdir())

    for kind in ("grad", "step"):      # gradient each step used, parameters after it
        t_ref = {int(p.stem.split("_")[1]): np.load(p) for p in ref.trace_dir.glob(f"{kind}_*.npy")}
        t_res = {int(p.stem.split("_")[1]): np.load(p) for p in res.trace_dir.glob(f"{kind}_*.npy")}
        assert sorted(t_res) == sorted(t_ref) == list(range(1, 7))
        for step in sorted(t_ref):
            np.testing.assert_allclose(t_res[step], t_ref[step], rtol=1e-6, atol=1e-9, err_msg=f"{kind} {step}")

    for a, b in zip(res.metrics["history"], ref.metrics["history"], strict=True):
        assert (a["epoch"], a["step"]) == (b["epoch"], b["step"])
        for k in ("train_loss_per_snp", "heldout_nll_per_snp", "lr"):
            assert a[k] == pytest.approx(b[k], rel=1e-6), k
    ma, mb = res.metrics["traits"][TRAIT], ref.metrics["traits"][TRAIT]
    for k in ("heldout_nll", "heldout_nll_per_snp", "constant_nll_per_snp", "null_nll_per_snp", "h2", "sigma"):
        assert ma[k] == pytest.approx(mb[k], rel=1e-6), k

    sa = torch.load(io.BytesIO((res.run_dir / "model.pt").read_bytes()), weights_only=True)["state_dict"]
    sb = torch.load(io.BytesIO((ref.run_dir / "model.pt").read_bytes()), weights_only=True)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-6, atol=1e-9, msg=k)

    log = wait_for_output(capfd, "resumed from checkpoint at epoch 1, step")
    assert "injected failure at global step 5" in log
    # resumed in epoch 2 from a checkpoint (normally step 4's, mid-epoch; step 3's at the epoch end if Ray
    # had not yet taken step 6's report when the worker died), not from scratch, which would reproduce
    # the run as well
    assert re.search(r"resumed from checkpoint at epoch 1, step [01] \(global step [34]\)", log), log[-3000:]
