"""Resource requests the Ray cluster cannot meet fail at once, naming the flag (``--gpus 4`` on a
machine without GPUs waited for ever); Ctrl-C during training stops the run with exit status 130."""
from __future__ import annotations

import pytest

from deepwas_dist.cli import run_cli
from deepwas_dist.errors import InputError
from deepwas_dist.train.resources import check_resources, train_requests

from .conftest import TrainerCalled, base_config


def test_gpus_on_a_cluster_without_gpus_is_refused_before_anything_is_written(fake_trainer, sim_dataset, tmp_path):
    from deepwas_dist.train.run import run_training

    fake_trainer["resources"] = {"CPU": 16.0}
    cfg = base_config(sim_dataset, str(tmp_path), "gpu", gpus=4)
    with pytest.raises(InputError, match=r"--gpus 4: 4 GPU requested but the Ray cluster has 0; drop --gpus") as e:
        run_training(cfg, log=lambda s: None)
    assert "\n" not in str(e.value)
    assert "config" not in fake_trainer, "the trainer was started"
    assert not (tmp_path / "gpu").exists(), "nothing is written: the same --name works once the flag is fixed"


def test_enough_resources_pass(fake_trainer, sim_dataset, tmp_path):
    from deepwas_dist.train.run import run_training

    fake_trainer["resources"] = {"CPU": 8.0, "GPU": 4.0}
    with pytest.raises(TrainerCalled):
        run_training(base_config(sim_dataset, str(tmp_path), "ok", gpus=4), log=lambda s: None)
    assert fake_trainer["scaling"].num_workers == 4 and fake_trainer["scaling"].use_gpu


def test_too_many_cpu_workers_names_workers():
    with pytest.raises(InputError, match=r"--workers 6: 6 CPU requested but the Ray cluster has 4"):
        check_resources(*train_requests(0, 6), lambda: {"CPU": 4.0})


def test_an_autoscaling_cluster_gets_a_bounded_wait():
    calls = []

    def growing():
        calls.append(1)
        return {"CPU": 8.0, "GPU": 2.0 if len(calls) >= 3 else 0.0}

    check_resources(*train_requests(2, 0), growing, wait_s=60, poll_s=0.0, log=lambda s: None)
    assert len(calls) == 3
    with pytest.raises(InputError, match=r"has 0 \(after waiting 0 s\)"):
        check_resources(*train_requests(2, 0), lambda: {"CPU": 8.0}, wait_s=0.05, poll_s=0.01, log=lambda s: None)


@pytest.mark.parametrize("raised", [KeyboardInterrupt, SystemExit])   # SystemExit: Ray Train's SIGINT handler
def test_ctrl_c_during_training_stops_with_130(fake_trainer, sim_dataset, tmp_path, raised):
    import signal

    from deepwas_dist.train.run import run_training

    before = signal.getsignal(signal.SIGINT)

    def fit():
        signal.signal(signal.SIGINT, lambda *a: None)      # as Ray Train's fit() does
        raise raised(0) if raised is SystemExit else raised()

    fake_trainer["fit"] = fit
    evaluated = []
    cfg = base_config(sim_dataset, str(tmp_path), f"ctrl-c-{raised.__name__}")
    assert run_cli(lambda: evaluated.append(run_training(cfg, log=lambda s: None))) == 130
    assert not evaluated
    assert signal.getsignal(signal.SIGINT) is before, "Ray's SIGINT handler left installed"


def test_tune_gpus_per_trial_on_a_cluster_without_gpus_is_refused(monkeypatch, sim_dataset, tmp_path):
    import ray

    from deepwas_dist.tune.scan import ScanConfig, run_scan

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})
    sc = ScanConfig(data=sim_dataset, storage=str(tmp_path), name="scan", gpus_per_trial=0.5, sigma="learn")
    with pytest.raises(InputError, match=r"--gpus-per-trial 0.5: 0.5 GPU requested but the Ray cluster has 0"):
        run_scan(sc, log=lambda s: None)


def test_cpu_runs_start_their_own_local_ray(fake_trainer, sim_dataset, tmp_path, monkeypatch):
    """ray.init without an address joins a cluster another process started on the machine and then
    refuses num_cpus (ValueError): a CPU run asks for a fresh local instance."""
    import ray

    from deepwas_dist.train.run import run_training

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    got = {}
    monkeypatch.setattr(ray, "init", lambda **kw: got.update(kw))
    with pytest.raises(TrainerCalled):
        run_training(base_config(sim_dataset, str(tmp_path), "local-ray"), log=lambda s: None)
    assert got["address"] == "local" and got["num_cpus"] >= 4


def test_a_local_ray_for_training_keeps_its_dashboard(fake_trainer, sim_dataset, tmp_path, monkeypatch):
    """Ray Train's placement-group cleaner watches the controller through the State API, which the
    dashboard serves: a local Ray started without it warns every few seconds ("State API may be
    temporarily unavailable") and leaks a dead controller's placement group."""
    import ray

    from deepwas_dist.train.run import run_training

    seen = {}

    def init(**kw):
        seen.update(kw)
    monkeypatch.setattr(ray, "is_initialized", lambda: bool(seen))
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(TrainerCalled):
        run_training(base_config(sim_dataset, str(tmp_path), "dash", workers=2), log=lambda s: None)
    assert seen["address"] == "local" and seen["num_cpus"] >= 4
    assert seen.get("include_dashboard", True) is not False
