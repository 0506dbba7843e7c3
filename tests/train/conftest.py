"""Fixtures of the training tests: one tiny simulated dataset, shared Ray runs, the S3 server.

The dataset (4 chromosomes x 3 Mb, 600 simulated people, one threshold-truth trait; 4,490 SNPs,
12 LD slices of ~370 core SNPs: 9 training slices on chromosomes 1-3, 3 held-out on chromosome 4)
takes ~5 s to simulate. Ray runs reuse the session's Ray instance (``ray_session`` in tests/conftest.py)
and cost ~15-25 s each once Ray is up.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

TRAIT = "thr"
HOLDOUT = "4"


def base_config(data: str, storage: str, name: str, **kw):
    """The tests' training config: 2 CPU workers, one slice per worker per step (5 steps per epoch
    on the 9 training slices in fixed shards of 4 and 5, so one rank idles through one all-reduce)."""
    from deepwas_dist.train.config import TrainConfig
    # sigma learned: the tests' datasets (12 Mb, mean chi^2 ~30) are far too small for an LD score regression
    # intercept (measured -0.7 to 0.25, SE > 1), so --sigma ldsc (the default) has its own tests (test_sigma)
    # jackknife fixed: these tests are about training; the refit jackknifes (refit-local costs ~50 s on this
    # dataset under load, against ~10 s fixed) have their own tests in tests/evaluate
    values = dict(data=data, storage=storage, name=name, workers=2, accumulation=1, epochs=2, seed=0,
                  holdout_chroms=HOLDOUT, model="mlp", size="small", lr=1e-2, cache_mib=256.0, sigma="learn",
                  jackknife="fixed")
    values.update(kw)
    return TrainConfig(**values).validate()


@pytest.fixture(scope="session")
def sim_dataset(tmp_path_factory) -> str:
    """URL (a local directory) of the tests' simulated dataset."""
    from deepwas_dist.simulate.dataset import SimulationSpec, write_simulated_dataset
    from deepwas_dist.simulate.traits import TraitSpec

    url = str(tmp_path_factory.mktemp("train-data") / "sim")
    # out-of-sample (the default): LD from the 600-person panel, z from a separate 6,000-person cohort
    spec = SimulationSpec(n_individuals=600, chroms=(1, 2, 3, 4), length_mb=3.0, seed=0,
                          traits=(TraitSpec(TRAIT, h2=0.3, N=30_000, truth="threshold"),), n_tracks=0,
                          core_kb=1000.0, bandwidth_kb=500.0, design="out-of-sample")
    write_simulated_dataset(url, spec, log=lambda s: None)
    return url


@pytest.fixture(scope="session")
def run_storage(tmp_path_factory) -> Path:
    """A local directory for the session's run directories."""
    return tmp_path_factory.mktemp("runs")


@dataclasses.dataclass
class Run:
    """A finished training run: its config, returned metrics, run directory and parameter trace."""

    cfg: object
    metrics: dict
    run_dir: Path
    trace_dir: Path | None


def wait_for_output(capfd, text: str, seconds: float = 15.0) -> str:
    """Everything captured until ``text`` shows up (or ``seconds`` pass): worker prints reach the driver
    through Ray's log monitor, a little after the fact."""
    seen = ""
    deadline = time.monotonic() + seconds
    while True:
        out = capfd.readouterr()
        seen += out.out + out.err
        if text in seen or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def run(cfg, trace_dir: Path | None = None, callbacks: list | None = None) -> Run:
    """Train ``cfg`` on Ray; ``trace_dir``: the parameters and gradients of every step saved there
    (TraceSteps); ``callbacks``: more step callbacks."""
    from deepwas_dist.train.callbacks import TraceSteps
    from deepwas_dist.train.run import run_training
    cbs = ([TraceSteps(str(trace_dir))] if trace_dir is not None else []) + list(callbacks or [])
    metrics = run_training(cfg, callbacks=cbs)
    return Run(cfg, metrics, Path(cfg.storage) / cfg.name, trace_dir)


def train_in_process(cfg, evaluate: bool = True, callbacks: list | None = None) -> tuple:
    """One in-process worker (no Ray): plan, train (with step ``callbacks``), and (``evaluate``) evaluate and
    write the outputs. Returns (dataset, plan, split, net, history, metrics or None)."""
    import torch

    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.report import evaluate_model
    from deepwas_dist.train.loop import run_worker
    from deepwas_dist.train.plan import make_plan
    from deepwas_dist.train.session import LocalSession

    torch.set_num_threads(1)
    ds = Dataset.open(cfg.data)
    plan, split = make_plan(cfg, ds, [TRAIT])
    session = LocalSession()
    try:
        net, history = run_worker(cfg, plan, session, callbacks=callbacks or ())
    finally:
        session.close()
    net.eval()
    metrics = evaluate_model(cfg, ds, plan, split, net, history, log=lambda s: None) if evaluate else None
    return ds, plan, split, net, history, metrics


@pytest.fixture(scope="session")
def ddp_two_workers(ray_session, sim_dataset, run_storage, tmp_path_factory) -> Run:
    """2 workers x accumulation 2, exact linear algebra, 2 epochs, parameters traced every step.
    Fixed shards of 4 and 5 slices, 3 steps per epoch (about 4 slices each): ranks accumulate over 1-2
    slices per step (DDP no_sync), unequally at some steps.
    Shared by the DDP-equivalence test and (as the uninterrupted reference) the fault-tolerance test."""
    cfg = base_config(sim_dataset, str(run_storage), "ddp-2w", method="exact", accumulation=2)
    return run(cfg, tmp_path_factory.mktemp("trace-2w"))


class TrainerCalled(Exception):
    """Raised by :func:`fake_trainer`'s TorchTrainer: the driver got as far as starting training."""


@pytest.fixture
def fake_trainer(monkeypatch) -> dict:
    """``run_training`` without Ray: Ray counts as started, the cluster has ``seen["resources"]`` (8 CPUs
    unless a test changes it), and TorchTrainer records what it was given in ``seen``, then raises
    TrainerCalled (or, when a test sets ``seen["fit"]``, its ``fit()`` calls that)."""
    import ray
    import ray.train.torch

    seen: dict = {"resources": {"CPU": 8.0}}

    class FakeTrainer:
        def __init__(self, fn, *, train_loop_config, scaling_config, run_config):
            seen.update(config=train_loop_config, scaling=scaling_config, env=run_config.worker_runtime_env)
            if "fit" not in seen:
                raise TrainerCalled

        def fit(self):
            return seen["fit"]()

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: dict(seen["resources"]))
    monkeypatch.setattr(ray.train.torch, "TorchTrainer", FakeTrainer)
    return seen
