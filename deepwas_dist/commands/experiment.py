"""The project's experiments.

    python launch/experiment.py scaling [--reduced] [--out results/scaling]
        LDSC objective vs full likelihood x priors of growing size, on semi-synthetic data (3 seeds)
    python launch/experiment.py realistic [--reduced] [--out results/realistic] [--val-chroms 11-12] [--epochs 100]
        out-of-sample semi-synthetic data (small LD panel, separate GWAS cohort): h2 bias, enrichment,
        r(log f), held-out NLL for both objectives x three priors, and the LD-mismatch treatments (3 seeds)
    python launch/experiment.py real [--reduced] [--out results/real]
        constant / linear / MLP priors on 1000G chr22 LD + UK Biobank height chr22, both objectives,
        held-out contiguous blocks, h2 with block-jackknife SE, LD shrinkage swept
    python launch/experiment.py prs [--quick] [--out docs/results] [--data results/prs-data]
        polygenic scores on a simulated test cohort (held-out people): r^2 with the true genetic value
        and the phenotype, held-out chromosomes and genome-wide, for likelihood-trained MLP / linear /
        constant priors, LDSC-trained priors and the true prior (3 seeds); writes prs_*.csv/.md/.png
    python launch/experiment.py tracks [--reduced] [--out results/tracks] [--val-chroms 6 [--weight-decays 1e-4,1,10]]
        the conv prior on bigWig tracks ingested with `prepare tracks` (float16 and float32) and on the
        simulator's own tracks, against the MLP on annotations (sim_network trait, demo-sized data, 3 seeds)

``--reduced`` runs a small version (a few minutes) used in CI; ``--quick`` the PRS experiment's (a minute).
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from ..cli import run_cli
from ..errors import InputError
from ..train.selection import VAL_SELECT


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="which", required=True)
    for name in ("scaling", "realistic", "real", "tracks"):
        p = sub.add_parser(name)
        p.add_argument("--reduced", action="store_true", help="small, fast version (CI)")
        p.add_argument("--out", default=f"results/{name}", help=f"output directory (default results/{name})")
        p.add_argument("--processes", type=int, default=None, help="parallel fits (default: one per core)")
        if name == "tracks":
            p.add_argument("--chroms", default=None,
                           help="simulated chromosomes of 5 Mb (default 1-8, the demo's); e.g. 1-16 with "
                                "--holdout-chroms 13-16")
            p.add_argument("--holdout-chroms", default="7-8",
                           help="chromosomes every fit is scored on, never trained or validated on (default 7-8)")
            p.add_argument("--cells", default=None, metavar="KEY,...",
                           help="only these cells: conv16, conv32, convsim, mlp (the baseline, required), mlp-means "
                                "(default: all)")
            p.add_argument("--calibrate", action="store_true",
                           help="score each fit after an affine calibration of its log f on the validation "
                                "chromosomes (needs --val-chroms)")
        if name in ("realistic", "tracks"):
            p.add_argument("--val-chroms", default=None,
                           help="training chromosomes every fit validates on, keeping its epoch of lowest "
                                "validation NLL; none: the last epoch (default: realistic 11-12, tracks none; "
                                "--reduced: any value but none validates on its chromosome 2)")
            p.add_argument("--weight-decays", default=None, metavar="WD,WD,...",
                           help="AdamW weight decays to fit each cell with (realistic: the linear and MLP cells); "
                                "with several, each cell and seed keeps the one of lowest validation NLL (needs "
                                "--val-chroms; default: realistic 1e-4,1,10, tracks 1e-4)")
            p.add_argument("--seeds", type=int, default=3, metavar="N",
                           help="number of simulation and training seeds (default 3; datasets in --out are reused)")
            p.add_argument("--first-seed", type=int, default=0, metavar="S",
                           help="seeds S..S+N-1 (default 0; e.g. a replication on seeds never looked at)")
        if name == "realistic":
            p.add_argument("--panel", type=int, default=None, metavar="N",
                           help="reference panel people, the LD source (default 500; the GWAS cohort stays 10,000)")
            p.add_argument("--epochs", type=int, default=None, help="training epochs of every fit (default 100)")
            p.add_argument("--val-select", default=None, choices=VAL_SELECT,
                           help="what picks an LDSC-trained fit's epoch and weight decay on validation: nll (the "
                                "likelihood's, as for every fit; default) or objective (its own LDSC loss)")
            p.add_argument("--patience", type=int, default=None,
                           help="with --val-chroms: stop a fit after this many epochs without a lower validation "
                                "NLL (0: train every epoch; default 25)")
            p.add_argument("--treatments", default=None, metavar="KEY,...",
                           help="only these cells: default (objective x prior) and the LD / sigma treatments "
                                "sigma-ldsc, sigma-learn, sigma-1, lambda-all, no-mismatch, shrinkage, in-sample "
                                "(default: all)")
        if name == "real":
            p.add_argument("--seed", type=int, default=0,
                           help="training seed: network initialisation and baseline subsample (default 0)")
    p = sub.add_parser("prs")
    p.add_argument("--quick", action="store_true", help="tiny version, about a minute (tests)")
    p.add_argument("--out", default="docs/results",
                   help="directory of prs_table.md, prs_results.csv, prs_cells.csv, prs_r2.png, prs_regions.png "
                        "(default docs/results)")
    p.add_argument("--data", default="results/prs-data",
                   help="simulated datasets and test cohorts, reused when present (default results/prs-data)")
    p.add_argument("--processes", type=int, default=None, help="parallel fits (default: one per core)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="simulation and training seeds 0..N-1 (default 3; a dataset already in --data is reused)")
    return ap


def _keys(text: str) -> list[str]:
    """A comma-separated flag value as its non-empty items."""
    return [k.strip() for k in text.split(",") if k.strip()]


def _seeds(a: argparse.Namespace) -> tuple[int, ...]:
    """--seeds N from --first-seed S: S..S+N-1 (two at least: a standard error over seeds needs two)."""
    if a.seeds < 2:
        raise InputError(f"--seeds must be at least 2 (a standard error over seeds needs two), got {a.seeds}")
    if a.first_seed < 0:
        raise InputError(f"--first-seed must be >= 0, got {a.first_seed}")
    return tuple(range(a.first_seed, a.first_seed + a.seeds))


def _validation(a: argparse.Namespace) -> dict:
    """The spec fields --val-chroms and --weight-decays set (those left out keep the experiment's default)."""
    out = {} if a.val_chroms is None else {"val_chroms": a.val_chroms}
    if a.weight_decays is not None:
        out["weight_decays"] = _decays(a)
    return out


def _decays(a: argparse.Namespace) -> tuple[float, ...]:
    """--weight-decays as numbers (each >= 0)."""
    try:
        wds = tuple(float(x) for x in _keys(a.weight_decays))
    except ValueError:
        raise InputError(f"--weight-decays: expected numbers separated by commas, got {a.weight_decays!r}") from None
    if not wds or any(not w >= 0 for w in wds):
        raise InputError(f"--weight-decays: expected numbers >= 0 separated by commas, got {a.weight_decays!r}")
    return wds


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    a = parser(prog).parse_args(argv)

    def go():
        if a.which == "scaling":
            from deepwas_dist.experiments.scaling import ScalingSpec, run_scaling
            spec = ScalingSpec()
            run_scaling(spec.reduced() if a.reduced else spec, a.out, processes=a.processes)
        elif a.which == "realistic":
            from deepwas_dist.experiments.realistic import RealisticSpec, run_realistic
            spec = RealisticSpec(seeds=_seeds(a))
            if a.val_chroms in ("none", ""):
                spec = spec.unvalidated()            # then the default decays and patience have nothing to read
            spec = replace(spec, **_validation(a))
            if a.patience is not None:
                spec = replace(spec, patience=a.patience)
            if a.val_select is not None:
                spec = replace(spec, val_select=a.val_select)
            if a.epochs is not None:
                if a.epochs < 1:
                    raise InputError(f"--epochs must be at least 1, got {a.epochs}")
                spec = replace(spec, epochs=a.epochs)
            if a.panel is not None:
                if a.panel < 10:
                    raise InputError(f"--panel must be at least 10 people, got {a.panel}")
                spec = replace(spec, simulation=replace(spec.simulation, n_individuals=a.panel))
            spec = spec.reduced() if a.reduced else spec
            if a.treatments is not None:
                spec = spec.select(_keys(a.treatments))
            run_realistic(spec, a.out, processes=a.processes)
        elif a.which == "prs":
            from deepwas_dist.experiments.prs import PRSSpec, run_prs
            if a.seeds is not None and a.seeds < 2:
                raise InputError(f"--seeds must be at least 2 (a standard error over seeds needs two), got {a.seeds}")
            spec = PRSSpec() if a.seeds is None else PRSSpec(seeds=tuple(range(a.seeds)))
            run_prs(spec.quick() if a.quick else spec, a.out, data_dir=a.data, processes=a.processes)
        elif a.which == "tracks":
            from deepwas_dist.data.chroms import parse_chroms
            from deepwas_dist.experiments.tracks import TracksSpec, run_tracks
            spec = replace(TracksSpec(seeds=_seeds(a), calibrated=a.calibrate, holdout=a.holdout_chroms),
                           **_validation(a))
            if a.chroms is not None:
                spec = replace(spec, simulation=replace(spec.simulation, chroms=tuple(parse_chroms(a.chroms))))
            if a.cells is not None:
                spec = spec.select(_keys(a.cells))
            run_tracks(spec.reduced() if a.reduced else spec, a.out, processes=a.processes)
        else:
            from deepwas_dist.experiments.real import RealSpec, run_real
            spec = RealSpec(seed=a.seed)
            run_real(spec.reduced() if a.reduced else spec, a.out, processes=a.processes)
    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
