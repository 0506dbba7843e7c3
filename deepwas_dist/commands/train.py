"""Train a functionally informed GWAS prior on Ray Train, evaluate it on held-out slices, write outputs.

With no arguments: simulate the embedded demo dataset (once, cached), train an MLP prior on local
Ray CPU workers, evaluate, and print a summary table.

    python launch/train.py                                    # embedded demo, 2 CPU workers
    python launch/train.py --data s3://bucket/ds --traits all --gpus 32 --storage s3://bucket/runs
    python launch/train.py --config run.yaml --resume --name my-run
"""
from __future__ import annotations

import argparse

# Only torch-free modules before parsing (--help answers at once); torch and Ray load in main's go().
from ..cli import add_config_flags, key_values, run_cli
from ..train.config import ALIASES, TrainConfig


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """--config, the TrainConfig flags (their help and defaults are written once, in train/config.py) and
    --storage-option."""
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML or TOML file whose keys are these flags (flags given here win)")
    add_config_flags(ap, TrainConfig, ALIASES)
    ap.add_argument("--storage-option", action="append", metavar="KEY=VALUE",
                    help="fsspec option of --data and --storage (repeatable), e.g. endpoint_url=http://127.0.0.1:9000, "
                         "anon=true; credentials (key=, secret=, token=) are never written to the run directory")
    return ap


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = vars(parser(prog).parse_args(argv))
    cfg_file = args.pop("config")
    options = args.pop("storage_option")

    def go():
        from deepwas_dist.train.config import make_config, read_config_file
        from deepwas_dist.train.run import run_training
        file_values = read_config_file(cfg_file) if cfg_file else {}
        if options:          # the flags' options over the file's
            args["storage_options"] = {**(file_values.get("storage_options") or {}), **key_values(options)}
        run_training(make_config(file_values, args))
    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
