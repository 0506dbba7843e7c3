"""Evaluate a training run on its held-out slices (the split recorded in config.json) and (re)write its outputs.

    python launch/evaluate.py runs/my-run
    python launch/evaluate.py s3://bucket/runs/my-run --storage-option endpoint_url=http://127.0.0.1:9000

Uses the run's latest checkpoint and the configuration it was trained with. Writes metrics.json,
snpvar/, enrichment/, plots/ and model.pt into the run directory and prints the summary table.
"""
from __future__ import annotations

import argparse

from ..cli import key_values, run_cli
from ..train.config import JACKKNIFE_CHOICES


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run directory (local path or s3://...)")
    ap.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                    help="fsspec option for remote storage, e.g. endpoint_url=..., key=..., secret=...")
    ap.add_argument("--jackknife", choices=JACKKNIFE_CHOICES,
                    help="standard errors: refit the prior without each block (a network: its scale and last layer), "
                         "refit only its scale, or hold it fixed (default: the run's)")
    ap.add_argument("--jackknife-blocks", type=int, help="jackknife blocks of training slices (default: the run's)")
    return ap


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    a = parser(prog).parse_args(argv)

    def go():
        from deepwas_dist.train.evaluation import evaluate_run_dir
        evaluate_run_dir(a.run, key_values(a.storage_option) or None, jackknife=a.jackknife,
                         jackknife_blocks=a.jackknife_blocks)
    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
