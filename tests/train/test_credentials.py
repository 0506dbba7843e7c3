"""Credentials given as storage options are never persisted: config.json, the plan shipped to workers
and Tune's params hold "<redacted>"; workers get them through the object store / their environment.
No Ray is started: the trainer and the tuner are replaced by fakes that record what they were given."""
from __future__ import annotations

import json

import pytest

from deepwas_dist.credentials import REDACTED, SECRETS_ENV, redact, restore_secrets, secrets_of

from .conftest import TrainerCalled, base_config

SECRET, KEY_ID = "s3cr3t-VALUE-123", "AKIA-KEY-ID-456"
OPTS = {"key": KEY_ID, "secret": SECRET, "anon": False,
        "client_kwargs": {"region_name": "eu-west-1", "aws_session_token": "tok-789"}}


def test_redact_and_restore_round_trip(monkeypatch):
    red = redact(OPTS)
    assert red == {"key": REDACTED, "secret": REDACTED, "anon": False,
                   "client_kwargs": {"region_name": "eu-west-1", "aws_session_token": REDACTED}}
    assert restore_secrets(red, secrets_of(OPTS)) == OPTS
    monkeypatch.delenv(SECRETS_ENV, raising=False)
    # nothing to restore from: the redacted keys are dropped (s3fs then reads AWS_* / the profile)
    assert restore_secrets(red) == {"anon": False, "client_kwargs": {"region_name": "eu-west-1"}}
    monkeypatch.setenv(SECRETS_ENV, json.dumps(secrets_of(OPTS)))
    assert restore_secrets(red) == OPTS


def test_train_run_persists_no_credential(fake_trainer, sim_dataset, tmp_path):
    from deepwas_dist.train.run import run_training

    cfg = base_config(sim_dataset, str(tmp_path), "creds", storage_options=dict(OPTS))
    with pytest.raises(TrainerCalled):
        run_training(cfg, log=lambda s: None)
    text = (tmp_path / "creds" / "config.json").read_text()
    shipped = json.dumps(fake_trainer["config"])
    for value in (SECRET, KEY_ID, "tok-789"):
        assert value not in text, "credential written to config.json"
        assert value not in shipped, "credential in the train_loop_config"
    saved = json.loads(text)["config"]["storage_options"]
    assert saved["secret"] == REDACTED and saved["anon"] is False
    # to the workers, in memory only
    assert json.loads(fake_trainer["env"]["env_vars"][SECRETS_ENV]) == secrets_of(OPTS)


def test_tune_param_space_holds_no_credential(monkeypatch, sim_dataset, tmp_path):
    import ray
    from ray import tune

    from deepwas_dist.tune.scan import ScanConfig, run_scan

    seen = {}

    class FakeTuner:
        @staticmethod
        def can_restore(path, storage_filesystem=None):
            return False

        def __init__(self, trainable, *, param_space, tune_config, run_config):
            seen["params"] = param_space
            raise TrainerCalled

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})
    monkeypatch.setattr(tune, "Tuner", FakeTuner)
    monkeypatch.setattr(tune, "with_parameters", lambda fn, **kw: seen.update(kw) or fn)
    sc = ScanConfig(data=sim_dataset, storage=str(tmp_path), name="scan", storage_options=dict(OPTS), sigma="learn")
    with pytest.raises(TrainerCalled):
        run_scan(sc, log=lambda s: None)
    params = json.dumps({k: v for k, v in seen["params"].items() if k in ("base", "plan")})
    assert SECRET not in params and KEY_ID not in params and "tok-789" not in params
    assert seen["storage_secrets"] == secrets_of(OPTS)
