"""--resume: a stopped run continues from its last checkpoint (the previous complete one when that is
damaged); names are checked before any work."""
from __future__ import annotations

import json

import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.train.checkpoint import META_FILE, STATE_FILE
from deepwas_dist.train.run import run_training

from .conftest import base_config, run, wait_for_output


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_resume_continues_from_the_last_epoch(ray_session, sim_dataset, run_storage, capfd):
    first = run(base_config(sim_dataset, str(run_storage), "resumable", epochs=2))
    assert len(first.metrics["history"]) == 2
    capfd.readouterr()

    second = run(base_config(sim_dataset, str(run_storage), "resumable", epochs=3, resume=True))
    log = wait_for_output(capfd, "resumed from checkpoint at epoch 2")
    assert "resumed from checkpoint at epoch 2" in log
    hist = second.metrics["history"]
    assert [r["epoch"] for r in hist] == [1, 2, 3]
    assert hist[:2] == first.metrics["history"], "the first two epochs are the first run's rows"
    assert hist[2]["step"] == 15
    saved = json.loads((second.run_dir / "metrics.json").read_text())
    assert [r["epoch"] for r in saved["history"]] == [1, 2, 3]
    assert json.loads((second.run_dir / "config.json").read_text())["config"]["epochs"] == 3
    capfd.readouterr()

    # the checkpoint Ray Train hands over (its newest, step 15) is truncated in storage: the loop warns and
    # resumes from the previous complete one (step 10, end of epoch 2), so epoch 3 is trained again
    newest = max((p for p in second.run_dir.glob("checkpoint_*") if p.is_dir()),
                 key=lambda p: json.loads((p / META_FILE).read_text())["global_step"])
    assert json.loads((newest / META_FILE).read_text())["global_step"] == 15
    with open(newest / STATE_FILE, "r+b") as fh:
        fh.truncate(100)
    third = run(base_config(sim_dataset, str(run_storage), "resumable", epochs=4, resume=True))
    log = wait_for_output(capfd, "resumed from checkpoint at epoch 2")
    assert f"skipping damaged checkpoint {newest}" in log and "resumed from checkpoint at epoch 2" in log, log[-3000:]
    hist = third.metrics["history"]
    assert [r["epoch"] for r in hist] == [1, 2, 3, 4] and hist[-1]["step"] == 20
    assert hist[:2] == first.metrics["history"]


def test_existing_run_without_resume_is_an_input_error(sim_dataset, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    with pytest.raises(InputError, match="--resume"):
        run_training(base_config(sim_dataset, str(tmp_path), "taken"))


def test_resume_without_a_run_is_an_input_error(sim_dataset, tmp_path):
    with pytest.raises(InputError, match="no run 'missing'"):
        run_training(base_config(sim_dataset, str(tmp_path), "missing", resume=True))
    assert not (tmp_path / "missing").exists()
