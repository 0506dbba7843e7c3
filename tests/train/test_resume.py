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
def test_resume_continues_from_the_last_complete_checkpoint(ray_session, sim_dataset, run_storage, capfd):
    """Two runs: the first stops after epoch 2; its newest checkpoint (step 10, the one Ray Train hands the
    resumed run) is then truncated in storage, so the resumed run warns, falls back to the previous complete
    one (step 5, end of epoch 1), and trains epochs 2 and 3 from there. That one run covers both halves of
    --resume: Ray Train handing a stopped run's newest checkpoint to a new driver, and the loop's fall-back
    from a damaged one (the undamaged hand-over within a run: tests/train/test_fault_tolerance.py)."""
    first = run(base_config(sim_dataset, str(run_storage), "resumable", epochs=2))
    assert [r["epoch"] for r in first.metrics["history"]] == [1, 2]
    capfd.readouterr()
    newest = max((p for p in first.run_dir.glob("checkpoint_*") if p.is_dir()),
                 key=lambda p: json.loads((p / META_FILE).read_text())["global_step"])
    assert json.loads((newest / META_FILE).read_text())["global_step"] == 10
    with open(newest / STATE_FILE, "r+b") as fh:
        fh.truncate(100)

    second = run(base_config(sim_dataset, str(run_storage), "resumable", epochs=3, resume=True))
    log = wait_for_output(capfd, "resumed from checkpoint at epoch 1")
    assert f"skipping damaged checkpoint {newest}" in log and "resumed from checkpoint at epoch 1" in log, log[-3000:]
    hist = second.metrics["history"]
    assert [r["epoch"] for r in hist] == [1, 2, 3] and hist[-1]["step"] == 15
    assert hist[0] == first.metrics["history"][0], "epoch 1 is the first run's row, read from its checkpoint"
    saved = json.loads((second.run_dir / "metrics.json").read_text())
    assert [r["epoch"] for r in saved["history"]] == [1, 2, 3]
    assert json.loads((second.run_dir / "config.json").read_text())["config"]["epochs"] == 3


def test_existing_run_without_resume_is_an_input_error(sim_dataset, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "config.json").write_text("{}")
    with pytest.raises(InputError, match="--resume"):
        run_training(base_config(sim_dataset, str(tmp_path), "taken"))


def test_resume_without_a_run_is_an_input_error(sim_dataset, tmp_path):
    with pytest.raises(InputError, match="no run 'missing'"):
        run_training(base_config(sim_dataset, str(tmp_path), "missing", resume=True))
    assert not (tmp_path / "missing").exists()
