"""Apply a trained prior to any dataset's SNPs that carry its annotations, and write SNPVAR files.

    python launch/predict.py runs/my-run --data data/imputed --out predictions/my-run
    deepwas predict runs/my-run --data s3://bucket/imputed --out s3://bucket/predictions/my-run

Reads the run's model.pt (the network, its feature names and the training data's standardisation) and
writes <out>/snpvar/<trait>.<chr>.snpvar.gz (CHR SNP BP A1 A2 SNPVAR), one chromosome at a time. A
feature the prior needs but the dataset lacks is an error naming it; other annotation columns are ignored
and listed.
"""
from __future__ import annotations

import argparse

from ..cli import key_values, run_cli


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run directory holding model.pt (local path or s3://...)")
    ap.add_argument("--data", required=True, help="dataset whose SNPs get predictions (deepwas prepare ...)")
    ap.add_argument("--out", required=True, help="output directory (local path or s3://...)")
    ap.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                    help="fsspec option for the run, the dataset and --out, e.g. endpoint_url=...")
    return ap


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    a = parser(prog).parse_args(argv)

    def go():
        from deepwas_dist.evaluate.predict import predict_dataset
        so = key_values(a.storage_option) or None
        predict_dataset(a.run, a.data, a.out, storage_options=so, data_storage_options=so, out_storage_options=so)
    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
