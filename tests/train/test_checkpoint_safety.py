"""Checkpoints are read with ``weights_only=True``: a planted pickle is refused, and runs nothing."""
from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from deepwas_dist.errors import InputError
from deepwas_dist.models import build_prior
from deepwas_dist.train.checkpoint import META_FILE, STATE_FILE, load_state, save_state
from deepwas_dist.train.config import TrainConfig
from deepwas_dist.train.loop import lr_lambda


class _Payload:
    """Unpickling this creates a file: what an attacker's checkpoint would do."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_planted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    ckpt, target = tmp_path / "checkpoint_000001", tmp_path / "pwned"
    ckpt.mkdir()
    torch.save({"model": {}, "evil": _Payload(str(target))}, str(ckpt / STATE_FILE))
    (ckpt / META_FILE).write_text(json.dumps({"epoch": 1, "step_in_epoch": 0, "global_step": 1, "history": []}))
    assert not target.exists()
    with pytest.raises(InputError, match=r"checkpoint .*state\.pt .*refused"):
        load_state(str(ckpt))
    assert not target.exists(), "the checkpoint's payload ran"


def test_a_plain_pickle_checkpoint_is_refused(tmp_path):
    target = tmp_path / "pwned"
    with open(tmp_path / STATE_FILE, "wb") as fh:
        pickle.dump(_Payload(str(target)), fh)
    (tmp_path / META_FILE).write_text("{}")
    with pytest.raises(InputError, match="refused"):
        load_state(str(tmp_path))
    assert not target.exists()


def test_saved_state_loads_with_weights_only(tmp_path):
    net = build_prior("mlp", "tiny", n_features=3, n_traits=1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(TrainConfig(epochs=2), 3))
    save_state(str(tmp_path), net, opt, sched, epoch=0, step_in_epoch=1, global_step=1, history=[])
    raw = torch.load(os.path.join(tmp_path, STATE_FILE), weights_only=True)   # raises on any pickled object
    assert isinstance(raw["torch_rng"], torch.Tensor) and isinstance(raw["numpy_rng"]["keys"], torch.Tensor)
