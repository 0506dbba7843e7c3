"""A relative --data (as in the README) is resolved in the driver: Ray workers run in other directories."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import TrainerCalled, base_config


def test_relative_data_and_storage_reach_the_workers_absolute(fake_trainer, sim_dataset, tmp_path, monkeypatch):
    from deepwas_dist.train.run import run_training

    shutil.copytree(sim_dataset, tmp_path / "data" / "sim")
    monkeypatch.chdir(tmp_path)
    cfg = base_config("data/sim", "runs", "rel")
    with pytest.raises(TrainerCalled):
        run_training(cfg, log=lambda s: None)
    monkeypatch.chdir("/")          # where a Ray worker may start
    train, plan = fake_trainer["config"]["train"], fake_trainer["config"]["plan"]
    for url in (train["data"], plan["data_url"], train["storage"], plan["run_url"]):
        assert os.path.isabs(url) and Path(url).is_relative_to(tmp_path), url
    assert Path(plan["data_url"], "manifest.json").exists()
    saved = json.loads((tmp_path / "runs" / "rel" / "config.json").read_text())["config"]
    assert saved["data"] == str(tmp_path / "data" / "sim")     # evaluate.py works from any directory


def test_absolute_url_leaves_remote_urls_alone(tmp_path, monkeypatch):
    from deepwas_dist.data.storage import absolute_url, is_local_url

    monkeypatch.chdir(tmp_path)
    assert absolute_url("data/x") == str(tmp_path / "data" / "x")
    assert absolute_url("file://data/x") == str(tmp_path / "data" / "x")
    assert absolute_url("s3://bucket/x") == "s3://bucket/x" and absolute_url(None) is None
    assert is_local_url("/a/b") and is_local_url("file:///a") and not is_local_url("gs://b/x")
