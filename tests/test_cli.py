"""deepwas_dist.cli: the KEY=VALUE parser types its values; errors name the flag."""
from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from deepwas_dist.cli import key_values
from deepwas_dist.errors import InputError


def test_storage_option_values_are_typed():
    got = key_values(["anon=false", "use_ssl=True", "max_concurrency=8", "timeout=2.5", "token=none",
                      "endpoint_url=http://127.0.0.1:9000/a=b", "region_name=eu-west-1", "version=127.0.0.1"])
    assert got == {"anon": False, "use_ssl": True, "max_concurrency": 8, "timeout": 2.5, "token": "none",
                   "endpoint_url": "http://127.0.0.1:9000/a=b", "region_name": "eu-west-1",
                   "version": "127.0.0.1"}
    assert got["anon"] is False and isinstance(got["max_concurrency"], int)
    assert key_values(["cache=null"]) == {"cache": None}
    assert key_values(["x=nan"]) == {"x": "nan"}


def test_credentials_stay_strings():
    assert key_values(["key=12345", "secret=true", "password=007"]) == {"key": "12345", "secret": "true",
                                                                       "password": "007"}


def test_an_item_without_equals_names_the_flag():
    with pytest.raises(InputError, match="--input-storage-option takes KEY=VALUE"):
        key_values(["anon"], "--input-storage-option")
    with pytest.raises(InputError, match="--storage-option"):
        key_values(["=x"])


LAUNCH = Path(__file__).resolve().parents[1] / "launch"


@pytest.mark.parametrize("script", ["train", "tune", "evaluate", "prepare", "experiment"])
def test_help_imports_neither_torch_nor_ray(script):
    """--help is answered before the heavy imports (it took 5 s when train.py imported torch and Ray)."""
    code = ("import runpy, sys\n"
            f"sys.argv = [{str(LAUNCH / (script + '.py'))!r}, '--help']\n"
            "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\n"
            "print('HEAVY', sorted(m for m in ('torch', 'ray', 'numpy', 'pandas') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout, out.stdout[-500:]


def test_train_takes_storage_options(monkeypatch, tmp_path):
    import deepwas_dist.train.run as run_mod

    got = {}
    monkeypatch.setattr(run_mod, "run_training", lambda cfg: got.setdefault("cfg", cfg))
    (tmp_path / "run.yaml").write_text("storage_options:\n  endpoint_url: http://127.0.0.1:9000\n  anon: true\n")
    main = runpy.run_path(str(LAUNCH / "train.py"))["main"]
    rc = main(["--config", str(tmp_path / "run.yaml"), "--storage-option", "anon=false",
               "--storage-option", "region_name=eu-west-1"])
    assert rc == 0
    assert got["cfg"].storage_options == {"endpoint_url": "http://127.0.0.1:9000", "anon": False,
                                          "region_name": "eu-west-1"}


def test_train_flags_are_generated_from_the_config_dataclass():
    """Each TrainConfig field with a help text is a flag of train.py, spelled from the field (or its
    alias), with the field's type, choices and default (named in the help, never restated elsewhere);
    absent flags parse to None so that a --config file's value wins over the default."""
    import dataclasses

    from deepwas_dist.cli import config_flags
    from deepwas_dist.commands.train import parser
    from deepwas_dist.train.config import ALIASES, FIELDS, TEST_ONLY, TrainConfig

    ap = parser()
    by_dest = {a.dest: a for a in ap._actions}
    flags = config_flags(TrainConfig)
    assert {f.name for f in flags} <= FIELDS - TEST_ONLY and len(flags) == 33
    spelling = {v: k for k, v in ALIASES.items()}
    for f in flags:
        action = by_dest[f.name]
        assert action.option_strings == ["--" + spelling.get(f.name, f.name).replace("_", "-")]
        assert action.default is None
        if f.metadata["choices"]:
            assert tuple(action.choices) == f.metadata["choices"] and f.default in action.choices
        if not isinstance(f.default, bool):
            assert action.help.endswith(f"(default: {f.metadata['shown'] or f.default})"), action.help
    args = vars(ap.parse_args(["--epochs", "3", "--bandwidth", "250", "--resume", "--model", "linear"]))
    assert (args["epochs"], args["bandwidth_kb"], args["resume"], args["model"], args["lr"]) == (3, 250.0, True,
                                                                                               "linear", None)
    assert tuple(by_dest["val_select"].choices) == ("nll", "objective")
    assert {f.name for f in dataclasses.fields(TrainConfig)} - {f.name for f in flags} - TEST_ONLY == {
        "grad_clip", "warmup_epochs", "storage_options", "eval_every", "log_every_epoch"}


def test_tune_flags_are_generated_from_the_scan_config():
    """tune.py's flags come from ScanConfig the same way (one default each: the field's)."""
    from deepwas_dist.cli import config_flags
    from deepwas_dist.commands.tune import parser
    from deepwas_dist.tune.config import ScanConfig

    ap = parser()
    by_dest = {a.dest: a for a in ap._actions}
    for f in config_flags(ScanConfig):
        assert by_dest[f.name].default is None and by_dest[f.name].option_strings == ["--" + f.name.replace("_", "-")]
    args = vars(ap.parse_args(["--num-samples", "3", "--sigma", "1.1"]))
    given = {k: v for k, v in args.items() if v is not None and k not in ("space", "storage_option")}
    sc = ScanConfig(**given)
    assert (sc.num_samples, sc.sigma, sc.epochs, sc.name) == (3, "1.1", ScanConfig.epochs, "tune")
