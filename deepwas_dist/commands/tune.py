"""Scan model size, LD bandwidth, learning rate and weight decay with Ray Tune, across traits.

    python launch/tune.py                                          # the embedded demo dataset, local CPUs
    python launch/tune.py --data s3://bucket/ds --traits all --storage s3://bucket/tune \\
        --num-samples 32 --gpus-per-trial 1
    python launch/tune.py --name my-scan --resume                  # continue an interrupted scan

Each trial trains one multi-trait model in its own process (no nested TorchTrainer: see
deepwas_dist/tune/scan.py), validates on held-out validation chromosomes every epoch (ASHA stops the
weak ones), and reports its test-chromosome NLL at the end. Writes <storage>/<name>/results.csv (every
trial) and best_per_trait.csv (the best configuration per trait with its validation and test NLL).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import add_config_flags, key_values, run_cli
from ..tune.config import ScanConfig


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ScanConfig flags (help and defaults written once, in tune/config.py), --space and --storage-option."""
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_flags(ap, ScanConfig)
    ap.add_argument("--space", help="YAML file: {size: {choice: [tiny, small]}, lr: {loguniform: [1e-4, 1e-2]}, ...}")
    ap.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                    help="fsspec/S3 option (repeatable); credentials are never written to the scan directory")
    return ap


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = vars(parser(prog).parse_args(argv))
    space_file, options = args.pop("space"), args.pop("storage_option")

    def go():
        from deepwas_dist.tune.scan import run_scan
        space = {}
        if space_file:
            import yaml
            space = yaml.safe_load(Path(space_file).read_text()) or {}
        given = {k: v for k, v in args.items() if v is not None}
        run_scan(ScanConfig(**given, space=space, storage_options=key_values(options)))
    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
