"""The training configuration: --config YAML/TOML files, flags over file values, errors naming the flag."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.train.config import TrainConfig, make_config, read_config_file

ROOT = Path(__file__).resolve().parents[2]


def _launch_train():
    spec = importlib.util.spec_from_file_location("launch_train_for_tests", ROOT / "launch" / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _config(argv: list[str]) -> TrainConfig:
    """What launch/train.py builds from ``argv`` (without running anything)."""
    mod = _launch_train()
    args = vars(mod.parser().parse_args(argv))
    path = args.pop("config")
    return make_config(read_config_file(path) if path else {}, args)


YAML = """\
data: /data/ds
epochs: 7
weight-decay: 0.001
num_probes: 8
bandwidth: 250
holdout-chroms: "6,7,8"
lr: 3e-3            # YAML 1.1 reads this as the *string* '3e-3'
resume: true
storage_options:
  endpoint_url: http://127.0.0.1:9000
"""

TOML = """\
data = "/data/ds"
epochs = 7
weight-decay = 0.001
num_probes = 8
bandwidth = 250
holdout_chroms = "6,7,8"
lr = 3e-3
resume = true

[storage_options]
endpoint_url = "http://127.0.0.1:9000"
"""


@pytest.mark.parametrize("suffix,text", [(".yaml", YAML), (".toml", TOML)])
def test_config_file_keys_with_either_spelling(tmp_path, suffix, text):
    f = tmp_path / f"run{suffix}"
    f.write_text(text)
    cfg = _config(["--config", str(f)])
    assert cfg.data == "/data/ds"
    assert cfg.epochs == 7 and isinstance(cfg.epochs, int)
    assert cfg.weight_decay == pytest.approx(1e-3)
    assert cfg.num_probes == 8
    assert cfg.bandwidth_kb == 250.0 and isinstance(cfg.bandwidth_kb, float)
    assert cfg.holdout_chroms == "6,7,8"
    assert cfg.lr == pytest.approx(3e-3) and isinstance(cfg.lr, float)
    assert cfg.resume is True
    assert cfg.storage_options == {"endpoint_url": "http://127.0.0.1:9000"}
    assert cfg.model == TrainConfig().model, "keys not in the file keep their defaults"


def test_flags_override_the_file(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text(YAML)
    cfg = _config(["--config", str(f), "--epochs", "3", "--bandwidth", "100", "--holdout-chroms", "8",
                   "--lr", "0.01"])
    assert (cfg.epochs, cfg.bandwidth_kb, cfg.holdout_chroms, cfg.lr) == (3, 100.0, "8", 0.01)
    assert cfg.num_probes == 8, "values only in the file survive"
    # no flags: defaults
    assert _config([]) == TrainConfig()


def test_list_values_in_a_file_become_comma_lists(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("holdout_chroms: [6, 7, 8]\ntraits: [A, B]\n")
    cfg = _config(["--config", str(f)])
    assert (cfg.holdout_chroms, cfg.traits) == ("6,7,8", "A,B")


@pytest.mark.parametrize("suffix,text,key", [(".yaml", "epochs: 3\nlearning_rate: 0.1\n", "learning_rate"),
                                             (".toml", "epoch = 3\n", "epoch")])
def test_unknown_key_is_named(tmp_path, suffix, text, key):
    f = tmp_path / f"run{suffix}"
    f.write_text(text)
    with pytest.raises(InputError, match=key):
        _config(["--config", str(f)])


@pytest.mark.parametrize("text,flag", [
    ("epochs: 0", "--epochs"),
    ("epochs: ten", "--epochs"),
    ("accumulation: 1.5", "--accumulation"),
    ("lr: -1", "--lr"),
    ("lr: fast", "--lr"),
    ("bandwidth: -5", "--bandwidth"),
    ("bandwidth: wide", "--bandwidth"),
    ("objective: mse", "--objective"),
    ("method: magic", "--method"),
    ("model: transformer", "--model"),
    ("size: huge", "--size"),
    ("dtype: float16", "--dtype"),
    ("num-probes: 0", "--num-probes"),
    ("storage_options: s3", "--storage-options"),
    ("workers: -1", "--workers"),          # 0 is valid: training in this process (train/in_process.py)
])
def test_invalid_values_name_the_flag(tmp_path, text, flag):
    f = tmp_path / "run.yaml"
    f.write_text(text + "\n")
    with pytest.raises(InputError, match=flag):
        _config(["--config", str(f)])


def test_missing_file_and_bad_extension(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_config_file(tmp_path / "nope.yaml")
    bad = tmp_path / "run.ini"
    bad.write_text("[x]\n")
    with pytest.raises(InputError, match="extension"):
        read_config_file(bad)


def test_invalid_flag_value_on_the_command_line():
    with pytest.raises(InputError, match="--epochs"):
        _config(["--epochs", "0"])
    with pytest.raises(InputError, match="--accumulation"):
        _config(["--accumulation", "0"])
