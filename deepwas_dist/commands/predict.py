"""Apply a trained prior to any variants that carry its annotations, and write PolyFun SNPVAR files.

    python launch/predict.py runs/my-run --data data/imputed --out predictions/my-run
    deepwas predict runs/my-run --annot baseline.{1..22}.annot.gz --out predictions/my-run
    deepwas predict runs/my-run --data s3://bucket/imputed --out s3://bucket/predictions/my-run

Reads the run's model.pt (the network, its feature names and the training data's standardisation) and
writes <out>/snpvar/<trait>.<chr>.snpvar.gz (CHR SNP BP A1 A2 SNPVAR; CHR SNP BP SNPVAR when --annot files
have no A1/A2), streamed --chunk-rows variants at a time. --annot takes full LDSC .annot[.gz] files (CHR BP
SNP CM + annotations) or Parquet (CHR SNP BP + annotations), e.g. one per chromosome; each chromosome's rows
must come together. A feature the prior needs but the input lacks is an error naming it; other annotation
columns are ignored and listed. Conv priors (track windows) need --data with the training tracks.
"""
from __future__ import annotations

import argparse

from ..cli import key_values, run_cli

CHUNK_ROWS = 100_000        # = deepwas_dist.evaluate.predict.DEFAULT_CHUNK_ROWS (torch loads after parsing)


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run directory holding model.pt (local path or s3://...)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="dataset whose SNPs get predictions (deepwas prepare ...)")
    src.add_argument("--annot", nargs="+", metavar="FILE",
                     help="annotation files whose SNPs get predictions (.annot[.gz] with CHR BP SNP CM, or .parquet)")
    ap.add_argument("--out", required=True, help="output directory (local path or s3://...)")
    ap.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                    help=f"variants read, predicted and written at a time (memory; default {CHUNK_ROWS:,})")
    ap.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                    help="fsspec option for the run, the input and --out, e.g. endpoint_url=...")
    return ap


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    ap = parser(prog)
    a = ap.parse_args(argv)
    if a.chunk_rows < 1:
        ap.error(f"--chunk-rows must be at least 1, got {a.chunk_rows}")

    def go():
        from deepwas_dist.evaluate.predict import predict_annotations, predict_dataset
        so = key_values(a.storage_option) or None
        if a.annot:
            predict_annotations(a.run, a.annot, a.out, chunk_rows=a.chunk_rows, storage_options=so,
                                annot_storage_options=so, out_storage_options=so)
        else:
            predict_dataset(a.run, a.data, a.out, chunk_rows=a.chunk_rows, storage_options=so,
                            data_storage_options=so, out_storage_options=so)
    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
