"""Step callbacks run after every optimiser step, in-process and (pickled) on Ray workers."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from deepwas_dist.train.callbacks import FailOnce, StepEvent, TraceSteps


def test_trace_and_fail_once(tmp_path):
    ev = StepEvent(rank=0, global_step=3, params=lambda: np.arange(4.0), grad=np.ones(4))
    TraceSteps(str(tmp_path / "t")).on_step(ev)
    assert np.array_equal(np.load(tmp_path / "t" / "step_3.npy"), np.arange(4.0))
    assert np.array_equal(np.load(tmp_path / "t" / "grad_3.npy"), np.ones(4))
    TraceSteps(str(tmp_path / "r1")).on_step(StepEvent(1, 3, ev.params, ev.grad))
    assert not (tmp_path / "r1").exists()                      # rank 0 only
    fail = pickle.loads(pickle.dumps(FailOnce(3, str(tmp_path / "m"))))   # shipped to workers pickled
    fail.on_step(StepEvent(0, 2, ev.params, None))
    with pytest.raises(RuntimeError, match="injected failure at global step 3"):
        fail.on_step(ev)
    fail.on_step(ev)                                           # once: the marker records it
    assert (tmp_path / "m").read_text() == "3"


def test_in_process_run_calls_back_after_every_step(sim_dataset, tmp_path):
    """run_worker calls each callback once per optimiser step, with the gradient only when asked."""
    from .conftest import base_config, train_in_process

    seen: list[tuple[int, bool]] = []

    class Record:
        wants_grad = False

        def on_step(self, step):
            seen.append((step.global_step, step.grad is None))

    cfg = base_config(sim_dataset, str(tmp_path / "runs"), "cb", epochs=2, workers=1)
    history = train_in_process(cfg, evaluate=False, callbacks=[Record()])[4]
    assert [s for s, _ in seen] == list(range(1, history[-1]["step"] + 1)) and all(no for _, no in seen)
