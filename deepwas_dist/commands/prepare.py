"""Build a deepwas_dist dataset (LD slices, SNP annotations, summary statistics) on any fsspec URL.

    python launch/prepare.py plink --bfile ../shared/data/1000G_eur_chr22 --out data/chr22
    python launch/prepare.py sumstats --trait height --file ../shared/data/ukb_height_chr22.fastGWA.gz --out data/chr22
    python launch/prepare.py annotations --file baseline.22.annot.gz --out data/chr22
    python launch/prepare.py annotations --bed enh=enhancers.bed.gz --bed-window 500 --out data/chr22
    python launch/prepare.py tracks --bigwig dnase=dnase.bw --bigwig cons=phylop.bw --window 256 --bins 32 \\
        --out data/chr22
    python launch/prepare.py ukbb-ld --dir s3://my-ld-bucket/UKBB_LD --chroms 22 --bandwidth-kb 500 \\
        --out s3://bucket/ukbb22
    python launch/prepare.py simulate --chroms 1-2 --length-mb 2 --out s3://bucket/sim \\
        --storage-option endpoint_url=http://127.0.0.1:9000
    python launch/prepare.py info data/chr22            # --verify: also check every file's checksum
    python launch/prepare.py gc data/chr22              # list unreferenced files; --yes deletes them

Progress bars go to stderr, the summary to stdout. Errors: one line `error: ...` on stderr, exit code 2.
See docs/prepare.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys


# The numerical modules (torch, numpy) are imported after the arguments are parsed: --help is instant and
# --threads can set the BLAS/OpenMP thread counts before those libraries start. Idle OpenMP threads
# sleep instead of spinning: with spinning, the per-slice eigendecompositions ran 10x slower whenever
# other processes kept the cores busy (chr22: 78 s instead of 6 s on a loaded 2-core machine).
def _passive_openmp() -> None:
    """OMP_WAIT_POLICY=PASSIVE unless the user chose a policy, and without the short spin that
    ``import deepwas_dist`` sets for the other commands (GOMP_SPINCOUNT would override PASSIVE)."""
    import deepwas_dist
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        for var in deepwas_dist._OMP_DEFAULTS_SET:
            os.environ.pop(var, None)


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line `error: ...` (exit 2), like every other error here."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"error: {self.prog}: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = _Parser(prog=prog or "prepare.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    common = _Parser(add_help=False)
    common.add_argument("--storage-option", action="append", default=[], metavar="KEY=VALUE",
                        help="fsspec option of --out (repeatable), e.g. endpoint_url=http://127.0.0.1:9000, key=..., "
                             "secret=..., anon=true")
    bars = common.add_mutually_exclusive_group()
    bars.add_argument("--progress", action="store_true", dest="progress", default=None,
                      help="progress bars on stderr even when it is not a terminal (default: only on a terminal)")
    bars.add_argument("--no-progress", action="store_false", dest="progress", default=None,
                      help="no progress bars")
    common.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads of the LD eigendecompositions and BLAS (default: one per core)")
    common.add_argument("--json", action="store_true", help="print the summary as JSON")

    out = _Parser(add_help=False)
    out.add_argument("--out", required=True, metavar="URL", help="dataset URL: a local path, s3://bucket/prefix, ...")
    out.add_argument("--input-storage-option", action="append", default=[], metavar="KEY=VALUE",
                     help="fsspec option of remote input files (UKBB directory, sumstats, annotations)")

    new = _Parser(add_help=False)
    new.add_argument("--chroms", help="chromosomes, e.g. 22, 1-22, 1,3,5-7 (default: all in the input)")
    # Slice-geometry flags default to None: the prepare_* functions then use the SliceGeometry of their
    # dataset kind (deepwas_dist.data.slicing, the one home of these defaults; not imported here, so that
    # --help stays instant). The numbers in the help texts are checked against it by
    # tests/ingest/test_geometry_defaults.py.
    new.add_argument("--core-kb", type=float, help="core width of a slice in kb (default 1000)")
    new.add_argument("--shrinkage", type=float, help="shrink LD towards the identity: R = (1 - a) R + a I (default 0)")
    new.add_argument("--dtype", choices=["float32", "float64", "float16"],
                     help="storage type of the whitened LD factors (default float32)")
    new.add_argument("--annot", nargs="+", metavar="FILE", help="annotation files (LDSC .annot(.gz) or Parquet)")
    new.add_argument("--fill", type=float, help="annotation value of SNPs missing from --annot (default: error)")
    new.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")

    tasks = _Parser(add_help=False)
    tasks.add_argument("--executor", choices=["ray", "local"],
                       help="ray: Ray tasks (simulate: msprime and z per chromosome, LD per slice; plink and "
                            "ukbb-ld: LD per slice) on a local Ray, or on RAY_ADDRESS's cluster; local: here "
                            "(simulate: a process pool). Default: ray for simulate on a Ray cluster (RAY_ADDRESS) or "
                            "from 500 Mb of genome, else local; local for plink and ukbb-ld. The dataset is the same")
    tasks.add_argument("--workers", type=int, metavar="N",
                       help="tasks at a time (default: one per core; on a Ray cluster: its CPUs)")

    p = sub.add_parser("plink", parents=[common, out, new, tasks],
                       help="LD slices from a PLINK 1 .bed/.bim/.fam panel")
    p.add_argument("--bfile", required=True, metavar="PREFIX", help="PLINK 1 prefix (PREFIX.bed/.bim/.fam)")
    p.add_argument("--maf", type=float, default=0.01, help="minimum minor-allele frequency (default 0.01)")
    bw = p.add_mutually_exclusive_group()
    bw.add_argument("--bandwidth-kb", type=float, help="flank width in kb (default 1000)")
    bw.add_argument("--bandwidth-cm", type=float, help="flank width in cM (the .bim's genetic map)")
    p.add_argument("--build", help="genome build of the positions, recorded in the manifest (e.g. hg19)")

    p = sub.add_parser("ukbb-ld", parents=[common, out, new, tasks], help="LD slices from the Broad UKBB LD windows")
    p.add_argument("--dir", required=True, metavar="URL", help="folder of chr{c}_{start}_{end}.npz + .gz files")
    p.add_argument("--bandwidth-kb", type=float,
                   help="flank width in kb (default 1000; core + 2 flanks must fit in a 3 Mb window)")
    p.add_argument("--build", default="hg19", help="genome build (default hg19, the UKBB LD build)")

    p = sub.add_parser("sumstats", parents=[common, out], help="add a trait's summary statistics to a dataset")
    p.add_argument("--trait", required=True, help="trait name (letters, digits, _ . -)")
    p.add_argument("--file", required=True, metavar="PATH", help="summary statistics file (plain or .gz)")
    p.add_argument("--format", default="auto", choices=["auto", "ldsc", "fastgwa", "plink2", "generic"],
                   help="file format (default: detected from the header)")
    p.add_argument("--columns", metavar="ROLE=COL,...",
                   help="column map, e.g. SNP=rsid,A1=ea,A2=oa,Z=zscore,N=n (roles: SNP A1 A2 Z N CHR BP BETA SE)")
    p.add_argument("--n", type=float, help="GWAS sample size for every SNP (instead of an N column)")
    p.add_argument("--keep-ambiguous", action="store_true",
                   help="keep strand-ambiguous SNPs (A/T, C/G), matched as written (default: dropped)")
    p.add_argument("--overwrite", action="store_true", help="replace the trait if the dataset already has it")

    p = sub.add_parser("annotations", parents=[common, out], help="set the annotation columns of a dataset")
    p.add_argument("--file", nargs="+", metavar="PATH",
                   help="LDSC .annot(.gz) (full or thin; e.g. one per chromosome) or Parquet files")
    p.add_argument("--fill", type=float, help="value for dataset SNPs missing from the files (default: error)")
    p.add_argument("--bed", action="append", default=[], metavar="NAME=FILE",
                   help="binary annotation NAME: 1 for SNPs in an interval of the BED(.gz) FILE (repeatable; "
                        "0-based half-open intervals, any order, overlaps fine)")
    p.add_argument("--bed-continuous", action="append", default=[], metavar="NAME=FILE:COLUMN",
                   help="annotation NAME: the value in COLUMN (1-based, or 'score') of the interval a SNP lies "
                        "in; 0 outside intervals; the maximum where intervals overlap (repeatable)")
    p.add_argument("--bed-window", type=int, default=0, metavar="BP",
                   help="extend every BED interval by BP on both sides, like make_annot's --windowsize (default 0)")

    p = sub.add_parser("tracks", parents=[common, out],
                       help="set the track windows (and track_mean_* annotations) of a dataset from bigWig files")
    p.add_argument("--bigwig", action="append", required=True, metavar="NAME=FILE",
                   help="one track: a bigWig file, local or a URL (s3://, gs://, https://: streamed, with "
                        "--input-storage-option; repeatable; the tracks' order is the flags' order)")
    p.add_argument("--window", type=int, default=256, metavar="BP",
                   help="window width in bp, centred on each SNP (default 256)")
    p.add_argument("--bins", type=int, metavar="N",
                   help="average the window into N bins (must divide --window; default: one per base)")
    p.add_argument("--fill", type=float, default=0.0,
                   help="value of bases without signal (no data, NaN, beyond the chromosome) (default 0)")
    p.add_argument("--track-dtype", choices=("float16", "float32"), default="float16",
                   help="stored dtype of the normalised windows, read back as float32 (default float16: half the "
                        "bytes, rounding <= 2^-11 of a value; README 'Functional data')")

    p = sub.add_parser("simulate", parents=[common, tasks], help="write a semi-synthetic dataset")
    p.add_argument("--out", required=True, metavar="URL", help="dataset URL")
    p.add_argument("--individuals", type=int, default=1000,
                   help="reference-panel individuals, the LD source (default 1000)")
    p.add_argument("--gwas-individuals", type=int, metavar="N",
                   help="GWAS-cohort individuals whose genotypes give z its LD, simulated with the panel but "
                        "never used for LD (default 10 x --individuals; out-of-sample design only)")
    p.add_argument("--test-individuals", type=int, default=0, metavar="N",
                   help="also keep a test cohort of N people from the same simulation (genotypes, true genetic "
                        "values, phenotypes) at URL.testcohort, for scoring polygenic scores (default 0: none)")
    p.add_argument("--design", choices=["out-of-sample", "in-sample"],
                   help="out-of-sample: z from a GWAS cohort distinct from the LD panel, as with real data "
                        "(default); in-sample: z from the panel's own LD (the default with --from-plink, which "
                        "has no cohort)")
    p.add_argument("--chroms", help="chromosomes (default 1-8; with --from-plink: the panel's)")
    p.add_argument("--length-mb", type=float, default=5.0, help="length of each chromosome in Mb (default 5)")
    p.add_argument("--chunk-mb", type=float, metavar="MB",
                   help="simulate a longer chromosome in independent msprime pieces of at most MB (no LD between "
                        "pieces; msprime's cost grows faster than the length; default 5; 0: whole chromosomes)")
    p.add_argument("--demography", metavar="NAME",
                   help="msprime population history: european (default; bottleneck and recent growth, so LD decays "
                        "like 1000 Genomes EUR) or constant (Ne 10,000: weaker short-range, longer-range LD)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--core-kb", type=float, help="core width of a slice in kb (default 1000)")
    p.add_argument("--bandwidth-kb", type=float, help="flank width in kb (default 500)")
    p.add_argument("--from-plink", metavar="PREFIX", help="take genotypes from this PLINK 1 panel instead of msprime")
    p.add_argument("--maf", type=float, default=0.01, help="MAF filter of --from-plink (default 0.01)")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("info", parents=[common], help="print a dataset's manifest summary and check its files",
                       description="Print the manifest summary and check that every listed file exists with its "
                                   "recorded size (exit code 1 if not).")
    p.add_argument("url", metavar="URL")
    p.add_argument("--verify", action="store_true",
                   help="also read every file and check its checksum (reads the whole dataset once)")

    p = sub.add_parser("gc", parents=[common], help="list (and with --yes delete) files no manifest references",
                       description="List the files under a dataset that no manifest version references (parts of "
                                   "killed or failed writers, *.tmp files) and that are older than the grace period; "
                                   "--yes deletes them. Files of a running writer are never touched: they are "
                                   "younger than the grace period or carry the id of a live writer's lease.")
    p.add_argument("url", metavar="URL")
    p.add_argument("--grace-hours", type=float, default=1.0,
                   help="only files older than this are garbage (default 1; at least 0.1)")
    p.add_argument("--yes", action="store_true", help="delete the listed files (default: only list them)")
    return ap


def run(args: argparse.Namespace):
    """Dispatch to the ingestion steps (deepwas_dist.ingest.pipeline lists them); returns a PrepareSummary,
    or the info dict."""
    from deepwas_dist.cli import key_values
    from deepwas_dist.data.gc import MIN_GRACE_S, collect
    from deepwas_dist.errors import InputError
    from deepwas_dist.ingest.from_plink import prepare_plink
    from deepwas_dist.ingest.from_ukbb import prepare_ukbb_ld
    from deepwas_dist.ingest.info import dataset_info
    from deepwas_dist.ingest.pipeline import parse_columns
    from deepwas_dist.ingest.tracks import prepare_tracks
    from deepwas_dist.ingest.updates import prepare_annotations, prepare_sumstats
    from deepwas_dist.simulate.prepare import prepare_simulate

    # geometry flags left unset (None) are not passed: each step's default is its SliceGeometry's
    geometry = {k: getattr(args, k) for k in ("core_kb", "bandwidth_kb", "shrinkage", "dtype")
                if getattr(args, k, None) is not None}
    so = key_values(args.storage_option)
    common = dict(storage_options=so, progress=args.progress)
    iso = key_values(getattr(args, "input_storage_option", []), "--input-storage-option") or None
    if args.command == "plink":
        return prepare_plink(args.out, args.bfile, chroms=args.chroms, maf=args.maf, bandwidth_cm=args.bandwidth_cm,
                             annot=args.annot, fill=args.fill, build=args.build, overwrite=args.overwrite,
                             input_storage_options=iso, executor=args.executor or "local", workers=args.workers,
                             **geometry, **common)
    if args.command == "ukbb-ld":
        return prepare_ukbb_ld(args.out, args.dir, chroms=args.chroms, annot=args.annot, fill=args.fill,
                               build=args.build, overwrite=args.overwrite, input_storage_options=iso,
                               executor=args.executor or "local", workers=args.workers, **geometry, **common)
    if args.command == "sumstats":
        return prepare_sumstats(args.out, args.trait, args.file, fmt=args.format,
                                columns=parse_columns(args.columns), n=args.n,
                                keep_ambiguous=args.keep_ambiguous, overwrite=args.overwrite,
                                input_storage_options=iso, **common)
    if args.command == "annotations":
        return prepare_annotations(args.out, args.file, fill=args.fill, beds=args.bed,
                                   bed_continuous=args.bed_continuous, bed_window=args.bed_window,
                                   input_storage_options=iso, **common)
    if args.command == "tracks":
        return prepare_tracks(args.out, args.bigwig, window=args.window, bins=args.bins, fill=args.fill,
                              dtype=args.track_dtype, input_storage_options=iso, **common)
    if args.command == "simulate":
        return prepare_simulate(args.out, individuals=args.individuals, gwas_individuals=args.gwas_individuals,
                                design=args.design, chroms=args.chroms,
                                length_mb=args.length_mb, chunk_mb=args.chunk_mb, seed=args.seed,
                                from_plink=args.from_plink, maf=args.maf,
                                demography=args.demography, executor=args.executor, workers=args.workers,
                                overwrite=args.overwrite, test_individuals=args.test_individuals, **geometry,
                                **common)
    if args.command == "info":
        return dataset_info(args.url, so, verify=args.verify)
    if args.command == "gc":
        if not args.grace_hours * 3600 >= MIN_GRACE_S:
            raise InputError(f"--grace-hours must be at least {MIN_GRACE_S / 3600:g} (a running writer refreshes its "
                             f"lease every minute), got {args.grace_hours}")
        return collect(args.url, so, grace_s=args.grace_hours * 3600, delete=args.yes)
    raise AssertionError(args.command)


def _set_threads(n: int | None) -> None:
    if n is None:
        return
    if n < 1:
        raise SystemExit(f"error: --threads must be >= 1, got {n}")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch
    torch.set_num_threads(n)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    _passive_openmp()                    # before torch loads (it reads the OpenMP variables then)
    args = parser(prog).parse_args(argv)
    _set_threads(args.threads)
    from deepwas_dist.errors import InputError
    try:
        result = run(args)
    except InputError as e:
        from deepwas_dist.ingest.pipeline import one_line
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (the dataset at --out is unchanged: nothing is published before the manifest)",
              file=sys.stderr)
        return 130
    from deepwas_dist.ingest.info import format_info
    if args.json:
        print(json.dumps(result if isinstance(result, dict) else result.to_dict(), indent=1, default=str))
    else:
        print(format_info(result) if isinstance(result, dict) else result.format())
    if isinstance(result, dict) and (result.get("integrity") or {}).get("problems"):
        return 1                         # info found missing, resized or corrupt files
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
