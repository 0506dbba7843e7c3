"""Only complete checkpoints are used: a truncated or damaged newest one falls back to the previous
complete one with a warning (evaluate and resume); incomplete ones are ignored; unregistered ones removed."""
from __future__ import annotations

import json
import os

import fsspec
import pytest
import torch

from deepwas_dist.errors import InputError
from deepwas_dist.models import build_prior
from deepwas_dist.train.checkpoint import (
    MARKER_FILE,
    META_FILE,
    STATE_FILE,
    load_or_fall_back,
    load_state,
    prune_unregistered,
    save_state,
)
from deepwas_dist.train.config import TrainConfig
from deepwas_dist.train.evaluation import latest_checkpoint_dir
from deepwas_dist.train.loop import lr_lambda


def _save(run_dir, name: str, global_step: int) -> str:
    """A checkpoint as the loop writes it, whose model bias holds ``global_step`` (to tell them apart)."""
    net = build_prior("mlp", "tiny", n_features=3, n_traits=1)
    with torch.no_grad():
        net.bias.fill_(float(global_step))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(TrainConfig(epochs=2), 3))
    d = os.path.join(run_dir, name)
    os.makedirs(d)
    save_state(d, net, opt, sched, epoch=global_step // 3, step_in_epoch=0, global_step=global_step, history=[])
    return d


def _truncate(d: str) -> None:
    path = os.path.join(d, STATE_FILE)
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)


def _step(state: dict) -> float:
    return float(state["model"]["bias"].flatten()[0])


@pytest.fixture
def run_dir(tmp_path):
    """Steps 3 (complete), 6 (complete), 9 (half-written: no marker), 12 (meta only, never finished)."""
    _save(tmp_path, "checkpoint_2026-01-01_00-00-01.000000", 3)
    _save(tmp_path, "checkpoint_2026-01-01_00-00-02.000000", 6)
    half = _save(tmp_path, "checkpoint_2026-01-01_00-00-03.000000", 9)
    os.remove(os.path.join(half, MARKER_FILE))
    _truncate(half)
    meta_only = tmp_path / "checkpoint_2026-01-01_00-00-04.000000"
    meta_only.mkdir()
    (meta_only / META_FILE).write_text(json.dumps({"epoch": 4, "step_in_epoch": 0, "global_step": 12,
                                                   "history": []}))
    (tmp_path / "checkpoint_manager_snapshot.json").write_text("{}")       # Ray Train's, not a checkpoint
    return tmp_path


def test_evaluate_takes_the_newest_complete_checkpoint_and_ignores_incomplete_ones(run_dir):
    lines: list[str] = []
    d = latest_checkpoint_dir(str(run_dir), log=lines.append)
    state, meta = load_state(d)
    assert (meta["global_step"], _step(state)) == (6, 6.0)
    assert lines == [], "incomplete checkpoints are ignored without a word"


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one_with_a_warning(run_dir):
    newest = str(run_dir / "checkpoint_2026-01-01_00-00-02.000000")
    _truncate(newest)
    lines: list[str] = []
    state, meta = load_state(latest_checkpoint_dir(str(run_dir), log=lines.append))
    assert (meta["global_step"], _step(state)) == (3, 3.0)
    assert len(lines) == 1 and "\n" not in lines[0]
    assert newest in lines[0] and "truncated" in lines[0] and "warning" in lines[0]


def test_a_damaged_checkpoint_of_the_same_size_is_detected(run_dir):
    newest = run_dir / "checkpoint_2026-01-01_00-00-02.000000" / STATE_FILE
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    newest.write_bytes(bytes(raw))
    lines: list[str] = []
    _, meta = load_state(latest_checkpoint_dir(str(run_dir), log=lines.append))
    assert meta["global_step"] == 3 and "hash" in lines[0]


def test_no_usable_checkpoint_is_one_input_error_naming_the_run(run_dir):
    for name in ("checkpoint_2026-01-01_00-00-01.000000", "checkpoint_2026-01-01_00-00-02.000000"):
        _truncate(str(run_dir / name))
    with pytest.raises(InputError, match="no complete checkpoint") as e:
        latest_checkpoint_dir(str(run_dir), log=lambda s: None)
    assert str(run_dir) in str(e.value) and "\n" not in str(e.value) and "fix:" in str(e.value)


def test_resume_from_a_damaged_checkpoint_falls_back_to_the_newest_complete_one(run_dir):
    """What the loop does when Ray Train hands it its registered latest checkpoint, damaged."""
    handed = str(run_dir / "checkpoint_2026-01-01_00-00-02.000000")
    _truncate(handed)
    lines: list[str] = []
    state, meta = load_or_fall_back(handed, str(run_dir), log=lines.append)
    assert (meta["global_step"], _step(state)) == (3, 3.0)
    assert len(lines) == 1 and handed in lines[0]
    state, meta = load_or_fall_back(str(run_dir / "checkpoint_2026-01-01_00-00-01.000000"), str(run_dir))
    assert meta["global_step"] == 3


def test_prune_removes_only_unregistered_checkpoints(run_dir):
    keep = {"checkpoint_2026-01-01_00-00-01.000000", "checkpoint_2026-01-01_00-00-02.000000"}
    gone = prune_unregistered(str(run_dir), keep)
    assert len(gone) == 2
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(keep | {"checkpoint_manager_snapshot.json"})


def test_remote_storage_downloads_and_checks_the_newest_complete_checkpoint(run_dir):
    """The same on a remote filesystem (fsspec's in-memory one): the checkpoint is checked after download."""
    fs = fsspec.filesystem("memory")
    fs.put(str(run_dir) + "/", "/remote-run/", recursive=True)
    newest = "/remote-run/checkpoint_2026-01-01_00-00-02.000000"
    fs.pipe(f"{newest}/{STATE_FILE}", fs.cat(f"{newest}/{STATE_FILE}")[:100])
    lines: list[str] = []
    d = latest_checkpoint_dir("memory://remote-run", log=lines.append)
    assert not d.startswith("/remote-run") and os.path.isdir(d)
    assert load_state(d)[1]["global_step"] == 3 and len(lines) == 1 and newest in lines[0]
    gone = prune_unregistered("memory://remote-run", {"checkpoint_2026-01-01_00-00-01.000000"})
    assert len(gone) == 3 and fs.exists("/remote-run/checkpoint_manager_snapshot.json")
    fs.rm("/remote-run", recursive=True)


def test_a_run_from_before_markers_is_evaluated_from_its_newest_checkpoint_with_a_warning(run_dir):
    """No checkpoint of the run has a marker (an older release wrote it): the highest global step whose
    state loads is used, unverified, and the output says so; one marker anywhere turns this off."""
    from deepwas_dist.train.checkpoint import load_latest

    for p in run_dir.glob("checkpoint_*/" + MARKER_FILE):
        p.unlink()
    lines: list[str] = []
    state, meta, _ = load_latest(str(run_dir), log=lines.append)
    assert (meta["global_step"], _step(state)) == (6, 6.0)        # 12 has no state, 9 is truncated
    assert any("before checkpoints carried a completion marker" in x for x in lines)
