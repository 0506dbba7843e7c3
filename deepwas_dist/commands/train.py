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
from ..cli import key_values, run_cli
from ..models.names import MODELS, SIZES

#: --sigma's help, shared by train and tune.
SIGMA_HELP = ("null variance of z (the LDSC intercept): sldsc (default: held at the S-LDSC intercept of the training "
              "slices, stratified by the dataset's annotations), ldsc (the same, unstratified), learn (trained with "
              "the prior), or a value to hold it at, e.g. a genome-wide S-LDSC intercept for these z-scores")

def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = ap.add_argument
    a("--config", help="YAML or TOML file whose keys are these flags (flags given here win)")
    a("--data", help="dataset URL (local path, s3://...); default: the embedded demo dataset")
    a("--traits", help="'all' (default) or a comma list of trait names")
    a("--gpus", type=int, help="number of GPU workers (one per GPU)")
    a("--workers", type=int, help="number of CPU workers when --gpus is 0 (default 2)")
    a("--model", choices=MODELS, help="prior network (default mlp)")
    a("--size", choices=SIZES, help="size preset of mlp/conv (default small)")
    a("--objective", choices=["likelihood", "ldsc"], help="training objective (default likelihood)")
    a("--method", choices=["auto", "exact", "iterative"], help="slice linear algebra (default auto)")
    a("--mismatch", help="LD reference-panel mismatch lambda per trait: learn (default), off, or a fixed value "
                         "(z ~ N(0, R S R + sigma R + lambda I))")
    a("--sigma", help=SIGMA_HELP)
    a("--num-probes", type=int, help="probe vectors of the iterative path (default 16)")
    a("--ld-keep-variance", type=float, help="keep only R_CC's leading eigenpairs explaining this share of its "
                                               "variance (SBayesRC-style truncation; default 0.995, 1: all)")
    a("--bandwidth", type=float, dest="bandwidth_kb", help="LD flank width in kb (<= stored; default stored)")
    a("--epochs", type=int, help="training epochs (default 20)")
    a("--lr", type=float, help="peak learning rate of AdamW (default 3e-3)")
    a("--weight-decay", type=float, help="AdamW weight decay (default 1e-4)")
    a("--accumulation", type=int, help="slices per worker per optimiser step (default 2)")
    a("--holdout-chroms", help="held-out chromosomes, e.g. 6,7,8 (default auto: the last quarter; with fewer "
                               "than 4 chromosomes, blocks of slices as --holdout-blocks)")
    a("--holdout-blocks", type=int, help="hold out K contiguous runs of slices within chromosomes (a quarter of "
                                         "the slices; one buffer slice each side excluded from training and scoring)")
    a("--storage", help="where run directories go: local path or s3://bucket/prefix (default ./runs)")
    a("--storage-option", action="append", metavar="KEY=VALUE",
      help="fsspec option of --data and --storage (repeatable), e.g. endpoint_url=http://127.0.0.1:9000, "
           "anon=true; credentials (key=, secret=, token=) are never written to the run directory")
    a("--name", help="run name (default: generated)")
    a("--resume", action="store_true", default=None, help="continue the run --name from its latest checkpoint")
    a("--seed", type=int, help="random seed (default 0)")
    a("--checkpoint-every-steps", type=int, help="also checkpoint every K optimiser steps (default: per epoch)")
    a("--max-failures", type=int, help="worker failures Ray Train may recover from (default 1)")
    a("--placement-strategy", choices=["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"],
      help="how Ray places workers on nodes (default PACK)")
    a("--dtype", choices=["float64", "float32"], help="linear-algebra precision (default float64)")
    a("--jackknife", choices=["refit", "fixed"],
      help="standard errors of h2 and enrichment: refit the prior without each block (default) or hold it fixed")
    a("--jackknife-blocks", type=int, help="jackknife blocks of contiguous training slices (default 20)")
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
