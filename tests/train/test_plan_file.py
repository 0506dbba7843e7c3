"""The run plan is a typed contract saved in the run directory (plan.json): it round-trips through JSON,
holds no credential, and evaluation / resume read it back instead of recomputing it."""
from __future__ import annotations

import json

import pytest

from .conftest import TRAIT, base_config


def test_plan_round_trips_and_is_read_back_not_recomputed(sim_dataset, tmp_path, monkeypatch):
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.data.storage import filesystem
    from deepwas_dist.train import evaluation
    from deepwas_dist.train.plan import make_plan
    from deepwas_dist.train.run import public_config
    from deepwas_dist.train.runplan import PLAN_FILE, RunPlan

    cfg = base_config(sim_dataset, str(tmp_path), "planned", sigma="ldsc",
                      storage_options={"key": "AKIA-secret", "endpoint_url": "http://x"})
    ds = Dataset.open(sim_dataset)
    plan, split = make_plan(cfg, ds, [TRAIT])
    assert plan.fixed_log_sigma is not None and plan.sigma_ldsc is not None
    text = json.dumps(plan.to_json())
    assert RunPlan.from_json(json.loads(text)) == plan
    run = tmp_path / "planned"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"config": public_config(cfg), "traits": [TRAIT],
                                                 "holdout": split.to_dict()}))
    (run / PLAN_FILE).write_text(text)

    def recompute(*a, **k):
        raise AssertionError("the plan was recomputed")

    monkeypatch.setattr(evaluation, "make_plan", recompute)
    fs, root = filesystem(str(run))
    again, split2 = evaluation.saved_plan(fs, root, cfg, ds)
    assert again == plan and split2.to_dict() == split.to_dict()
    plan_with_secret = RunPlan.from_json({**plan.to_json(), "storage_options": {"secret": "s3cr3t"}})
    assert "s3cr3t" not in json.dumps(plan_with_secret.to_json())
    with pytest.raises(AssertionError, match="recomputed"):
        (run / PLAN_FILE).unlink()
        evaluation.saved_plan(fs, root, cfg, ds)


def test_runs_from_before_sigma_existed_are_evaluated_with_sigma_learned():
    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.evaluation import saved_config

    old = {k: v for k, v in TrainConfig(data="d").to_dict().items() if k != "sigma"}
    assert saved_config({"config": old}).sigma == "learn"
    assert saved_config({"config": {**old, "sigma": "sldsc"}}).sigma == "sldsc"
    assert TrainConfig().sigma == "sldsc"
