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

from ..cli import key_values, run_cli
from ..train.config import SIGMA_HELP


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--data", help="dataset URL (default: the embedded demo dataset)")
    a("--traits", default="all", help="'all' or a comma list")
    a("--space", help="YAML file: {size: {choice: [tiny, small]}, lr: {loguniform: [1e-4, 1e-2]}, ...}")
    a("--num-samples", type=int, default=8, help="configurations to sample (default 8)")
    a("--epochs", type=int, default=12, help="maximum epochs per trial (default 12)")
    a("--grace-period", type=int, default=2, help="ASHA: epochs before a trial can be stopped (default 2)")
    a("--reduction-factor", type=int, default=2, help="ASHA reduction factor (default 2)")
    a("--gpus-per-trial", type=float, default=0.0, help="GPUs per trial (fractions pack trials on a GPU)")
    a("--workers-per-trial", type=int, default=1, help="CPU cores (threads) per trial (default 1)")
    a("--max-concurrent", type=int, default=None, help="cap on simultaneously running trials")
    a("--val-chroms", default="auto", help="validation chromosomes (default: before the test ones)")
    a("--test-chroms", default="auto", help="test chromosomes (default: the last quarter)")
    a("--objective", default="likelihood", choices=["likelihood", "ldsc"])
    a("--sigma", default="sldsc", help=SIGMA_HELP)
    a("--storage", default="runs", help="local path or s3:// URL for the scan directory")
    a("--storage-option", action="append", default=[], metavar="KEY=VALUE", help="fsspec/S3 option")
    a("--name", default="tune", help="scan name (default 'tune')")
    a("--resume", action="store_true", help="continue the scan --name: finished trials are not redone")
    a("--seed", type=int, default=0)
    return ap


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = parser(prog).parse_args(argv)

    def go():
        from deepwas_dist.tune.scan import ScanConfig, run_scan
        space = {}
        if args.space:
            import yaml
            space = yaml.safe_load(Path(args.space).read_text()) or {}
        sc = ScanConfig(data=args.data, traits=args.traits, storage=args.storage, name=args.name,
                        num_samples=args.num_samples, epochs=args.epochs, grace_period=args.grace_period,
                        reduction_factor=args.reduction_factor, gpus_per_trial=args.gpus_per_trial,
                        workers_per_trial=args.workers_per_trial, val_chroms=args.val_chroms,
                        test_chroms=args.test_chroms, space=space, seed=args.seed, resume=args.resume,
                        objective=args.objective, sigma=args.sigma, storage_options=key_values(args.storage_option),
                        max_concurrent=args.max_concurrent)
        run_scan(sc)
    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
