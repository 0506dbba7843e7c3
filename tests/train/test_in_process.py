"""``--workers 0``: the training loop in the driver process, without Ray (train/in_process.py). Same run
directory as a Ray run: config, plan, checkpoints (the newest two, complete), outputs; evaluate.py and
--resume read it back."""
from __future__ import annotations

import dataclasses
import json

import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.train.checkpoint import complete_candidates
from deepwas_dist.train.in_process import KEEP

from .conftest import TRAIT, base_config


@pytest.fixture
def no_ray(monkeypatch):
    """Starting Ray or a TorchTrainer fails the test."""
    import ray
    import ray.train.torch

    def refuse(*a, **k):
        raise AssertionError("--workers 0 started Ray")
    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray.train.torch, "TorchTrainer", refuse)


def test_workers_0_trains_evaluates_and_resumes_without_ray(sim_dataset, run_storage, no_ray):
    from deepwas_dist.train.evaluation import evaluate_run_dir
    from deepwas_dist.train.run import run_training

    lines = []
    cfg = base_config(sim_dataset, str(run_storage), "in-process", workers=0, model="linear", epochs=2,
                      accumulation=2, method="exact")
    m = run_training(cfg, log=lines.append)
    run_dir = run_storage / "in-process"
    assert any("in this process (--workers 0, no Ray)" in x for x in lines)
    t = m["traits"][TRAIT]
    assert t["heldout_slices"] == 3 and t["improvement_vs_null_per_snp"] > 0 and t["h2"] > 0
    assert [h["epoch"] for h in m["history"]] == [1, 2]
    assert (run_dir / "metrics.json").exists() and (run_dir / "summary.txt").exists()
    assert (run_dir / "snpvar" / f"{TRAIT}.1.snpvar.gz").exists()
    assert len(complete_candidates(str(run_dir))) == KEEP          # one per epoch, the newest two kept
    assert json.loads((run_dir / "config.json").read_text())["config"]["workers"] == 0

    again = evaluate_run_dir(str(run_dir), log=lambda s: None)
    assert again["traits"][TRAIT]["heldout_nll"] == pytest.approx(t["heldout_nll"], rel=1e-9)

    # --resume with more epochs: the first two are kept, the third trained from the epoch-2 checkpoint
    more = run_training(dataclasses.replace(cfg, epochs=3, resume=True), log=lambda s: None)
    assert [h["epoch"] for h in more["history"]] == [1, 2, 3]
    assert more["history"][:2] == m["history"]
    assert len(complete_candidates(str(run_dir))) == KEEP


def test_negative_workers_name_the_flag():
    with pytest.raises(InputError, match="--workers"):
        base_config("unused", "unused", "x", workers=-1)


def test_a_mid_epoch_resume_does_not_warn_that_the_cache_is_too_small(sim_dataset, tmp_path, capsys):
    """After a resume from a mid-epoch checkpoint, the epoch after the resumed one reads the slices of the
    steps the resumed epoch skipped: that is the cache filling, not a cache too small for the shard."""
    from deepwas_dist.train.callbacks import FailOnce
    from deepwas_dist.train.run import run_training

    cfg = base_config(sim_dataset, str(tmp_path), "mid", workers=0, model="linear", epochs=3, method="exact",
                      checkpoint_every_steps=1)
    with pytest.raises(RuntimeError, match="injected failure"):
        run_training(cfg, log=lambda s: None, callbacks=[FailOnce(at_step=12, marker=str(tmp_path / "failed"))])
    capsys.readouterr()
    m = run_training(dataclasses.replace(cfg, resume=True), log=lambda s: None)
    out = capsys.readouterr().out
    assert "resumed from checkpoint at epoch 1, step 2" in out      # epoch 2 of 3 (0-based in the line), mid-way
    assert [h["epoch"] for h in m["history"]] == [1, 2, 3] and m["history"][2]["slice_reads"] > 0
    assert "training slices from storage again" not in out
