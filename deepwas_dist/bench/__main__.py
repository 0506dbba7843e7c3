"""Command line of the benchmarks.

    python -m deepwas_dist.bench likelihood [--sizes ...] [--kinds lowrank fullrank] [--json FILE]
    python -m deepwas_dist.bench training [--workers 1 2] [--epochs 4] [--json FILE]
    python -m deepwas_dist.bench mismatch-bias [--panels 500 1000 2000] [--truth chromosome|band] [--json FILE]
    python -m deepwas_dist.bench intercept-bias [--panels 500 1000 2000] [--gwas 20000] [--N 40000] [--json FILE]
    python -m deepwas_dist.bench ld-decay [--seeds 3] [--length-mb 12] [--json FILE]
    python -m deepwas_dist.bench checksum [--data URL] [--repeats 5] [--json FILE]
    python -m deepwas_dist.bench gpu [--device cuda|cpu] [--small] [--json docs/results/bench_gpu.json]
    python -m deepwas_dist.bench tracks [--snps 100000] [--tracks 100] [--window 256] [--bins 32]
        [--track-dtype float16|float32] [--json FILE]
    python -m deepwas_dist.bench predict [--snps 200000 1000000 2000000] [--features 50]
                                         [--chunk-rows 100000 10000] [--json docs/results/bench_predict.json]
    python -m deepwas_dist.bench scale [--sizes 100k,300k,1m] [--epochs 3] [--json docs/results/bench_scale.json]
                                       [--readme README.md]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys

from ..train.config import JACKKNIFE_CHOICES

# torch loads after the arguments are parsed (--help answers at once; `deepwas bench` forwards here).


def main(argv: list[str] | None = None, prog: str = "python -m deepwas_dist.bench") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="name", required=True)
    lk = sub.add_parser("likelihood", help="slice NLL + gradient: brute force vs exact vs iterative")
    lk.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 6000, 8000],
                    help="slice sizes m (SNPs; the core is the middle third)")
    lk.add_argument("--kinds", nargs="+", default=["lowrank", "fullrank"], choices=["lowrank", "fullrank"],
                    help="lowrank: 1000G chr22 panel LD; fullrank: msprime panel with 1.5 m people")
    lk.add_argument("--repeats", type=int, default=3, help="timed repeats per cell (median reported)")
    lk.add_argument("--probes", type=int, default=16, help="probe vectors of the iterative path")
    lk.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    lk.add_argument("--json", default=None, help="also write the rows and machine info to this JSON file")
    tr = sub.add_parser("training", help="training throughput with 1, 2, ... CPU workers, scaling efficiency")
    tr.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    tr.add_argument("--epochs", type=int, default=4, help="epochs per configuration (the first is not timed)")
    tr.add_argument("--data", default=None, help="dataset URL (default: the embedded demo dataset)")
    tr.add_argument("--model", default="mlp")
    tr.add_argument("--size", default="small")
    tr.add_argument("--json", default=None, help="also write the rows to this JSON file")
    mb = sub.add_parser("mismatch-bias", help="h2 each LD-mismatch model reaches on the true out-of-sample "
                                              "covariance (no sampling noise)")
    mb.add_argument("--panels", type=int, nargs="+", default=[500, 1000, 2000], help="reference panel sizes")
    mb.add_argument("--truth", choices=["chromosome", "band"], default="chromosome",
                    help="the truth's LD over the whole chromosome (as the simulator draws z) or the slice only")
    mb.add_argument("--enrichment", type=float, default=1.0,
                    help="thresholded truth: per-SNP variance ratio in one binary annotation (10%% of SNPs, in runs "
                         "of 20), and priors that fit it too (default 1: constant truth)")
    mb.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ib = sub.add_parser("intercept-bias", help="LDSC's intercept on the true out-of-sample E[chi2] (no sampling "
                                               "noise), regressed on each kind of LD score")
    ib.add_argument("--panels", type=int, nargs="+", default=[500, 1000, 2000], help="reference panel sizes")
    ib.add_argument("--gwas", type=int, default=20_000, help="GWAS cohort people (the z-scores' LD)")
    ib.add_argument("--N", type=float, default=40_000, help="the traits' nominal GWAS size (TraitSpec.N)")
    ib.add_argument("--h2", type=float, default=0.3, help="true h2 over the simulated chromosomes")
    ib.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ld = sub.add_parser("ld-decay", help="LD score by distance: the real 1000G panel against each simulated "
                                         "population history")
    ld.add_argument("--seeds", type=int, default=3, help="simulated chromosomes per history")
    ld.add_argument("--length-mb", type=float, default=12.0, help="length of each simulated chromosome")
    ld.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ck = sub.add_parser("checksum", help="first-pass read throughput with checksum verification on vs off")
    ck.add_argument("--data", default=None, help="dataset URL (default: the embedded demo dataset)")
    ck.add_argument("--repeats", type=int, default=5, help="timed passes per mode (median reported)")
    ck.add_argument("--json", default=None, help="also write the rows to this JSON file")
    gp = sub.add_parser("gpu", help="GPU readiness: likelihood in float64/float32/TF32 and a training epoch at "
                                    "UKB slice size (m 12,000, r 4,000) on CUDA, in under 5 minutes")
    gp.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                    help="cuda (without one: a one-line note, exit 0) or cpu (use with --small)")
    gp.add_argument("--small", action="store_true", help="small sizes: the same code paths in seconds")
    gp.add_argument("--json", default="docs/results/bench_gpu.json", help="where the rows go")
    tk = sub.add_parser("tracks", help="prepare tracks ingest throughput (SNPs x tracks / s), bytes per SNP")
    tk.add_argument("--snps", type=int, default=100_000)
    tk.add_argument("--tracks", type=int, default=100)
    tk.add_argument("--window", type=int, default=256)
    tk.add_argument("--bins", type=int, default=32)
    tk.add_argument("--files", type=int, default=4, help="distinct bigWig files the track names cycle over")
    tk.add_argument("--track-dtype", choices=("float16", "float32"), default="float16",
                    help="stored dtype of the windows (prepare tracks --track-dtype; default float16)")
    tk.add_argument("--json", default=None, help="also write the rows to this JSON file")
    pr = sub.add_parser("predict", help="deepwas predict --annot: wall, CPU, peak RSS at each size, projection to 10M")
    pr.add_argument("--snps", type=int, nargs="+", default=[200_000, 1_000_000, 2_000_000],
                    help="variant counts to measure")
    pr.add_argument("--features", type=int, default=50, help="annotations of the prior (80%% binary)")
    pr.add_argument("--chunk-rows", type=int, nargs="+", default=[100_000, 10_000],
                    help="deepwas predict --chunk-rows values (the first: the projection's)")
    pr.add_argument("--json", default="docs/results/bench_predict.json", help="where the rows go")
    sc = sub.add_parser("scale", help="genome datasets at HapMap3 density (cached): wall/CPU/peak memory per stage, "
                                      "a per-slice cost model, projected epoch time at 1.1M and 10M SNPs")
    sc.add_argument("--sizes", default="100k", help="comma list of sizes to measure: 100k,300k,1m or SNP counts")
    sc.add_argument("--chroms", type=int, default=22, help="chromosomes the SNPs are spread over")
    sc.add_argument("--panel", type=int, default=500, help="reference panel people (the LD)")
    sc.add_argument("--gwas", type=int, default=2000, help="GWAS cohort people (z; smaller than a real cohort: the "
                                                          "bench measures cost, not statistics)")
    sc.add_argument("--traits", type=int, default=1, help="simulated traits")
    sc.add_argument("--epochs", type=int, default=3, help="training epochs (the first is reported apart)")
    sc.add_argument("--jackknife", choices=JACKKNIFE_CHOICES, default="fixed",
                    help="evaluation's jackknife (default fixed: the bench times a stage, not its statistics)")
    sc.add_argument("--slice-sample", type=int, default=40, help="slices of each size timed for the cost model")
    sc.add_argument("--synthetic", default="1500,3000,6000", help="m of synthetic slices also timed (r = m / 3; "
                                                                  "'' for none)")
    sc.add_argument("--no-scaling", action="store_true", help="skip the Ray Train 1- vs 2-worker run")
    sc.add_argument("--scaling-size", default=None, help="size the 1- vs 2-worker run uses (default: the first of "
                                                         "--sizes)")
    sc.add_argument("--cache", default=None, help="dataset cache directory (default $DEEPWAS_CACHE/bench-scale)")
    sc.add_argument("--json", default=None, help="also write the result to this JSON file")
    sc.add_argument("--readme", default=None, help="replace the scale part of this README (between markers)")
    ee = sub.add_parser("e2e", help="the train command end to end on a scale genome (cached): wall, CPU, each "
                                    "process's peak memory")
    ee.add_argument("--size", default="1m", help="genome size (as bench scale's --sizes; default 1m)")
    ee.add_argument("--workers", type=int, default=2, help="Ray Train CPU workers (default 2)")
    ee.add_argument("--epochs", type=int, default=20, help="training epochs (default 20, the train default)")
    ee.add_argument("--jackknife", choices=JACKKNIFE_CHOICES, default="fixed", help="evaluation's jackknife "
                    "(default fixed: the refit jackknives are not yet affordable at 1M SNPs)")
    ee.add_argument("--chroms", type=int, default=22, help="chromosomes the SNPs are spread over")
    ee.add_argument("--cache", default=None, help="dataset cache directory (default $DEEPWAS_CACHE/bench-scale)")
    ee.add_argument("--json", default=None, help="also write the result to this JSON file")
    a = ap.parse_args(argv)
    if a.name == "e2e":
        from .e2e import format_report as fmt_e2e
        from .e2e import run as run_e2e
        from .scale_data import parse_size
        res = run_e2e(parse_size(a.size), a.workers, a.epochs, a.jackknife, root=a.cache,
                      data={"n_chroms": a.chroms})
        print(fmt_e2e(res))
        _write_json(a.json, "e2e", [res], extra={"command": " ".join(["python -m deepwas_dist.bench",
                                                                        *(sys.argv[1:] if argv is None else argv)])})
        return 0 if res["rc"] == 0 else 1
    if a.name == "predict":
        from .predict import format_table as fmt_pr
        from .predict import run as run_pr
        rows = run_pr(a.snps, a.features, a.chunk_rows)
        print(fmt_pr(rows))
        _write_json(a.json, "predict", rows)
        return 0
    if a.name == "scale":
        return _scale(a, list(sys.argv[1:] if argv is None else argv))
    if a.name == "gpu":
        from .gpu import format_report
        from .gpu import run as run_gpu
        res = run_gpu(a.device, a.small)
        if res is None:
            return 0
        print(format_report(res))
        _write_json(a.json, "gpu", res["likelihood"] + res["training"],
                    extra={k: res[k] for k in ("device", "small", "wall_s", "likelihood", "training")})
        return 0
    if a.name == "tracks":
        from .tracks_ingest import format_table as fmt_tk
        from .tracks_ingest import run as run_tk
        rows = run_tk(a.snps, a.tracks, a.window, a.bins, a.files, dtype=a.track_dtype)
        print(fmt_tk(rows))
        _write_json(a.json, "tracks", rows)
        return 0
    if a.name == "checksum":
        from .checksum import format_table as fmt_ck
        from .checksum import run as run_ck
        rows = run_ck(a.data, a.repeats)
        print(fmt_ck(rows))
        _write_json(a.json, "checksum", rows)
        return 0
    if a.name == "ld-decay":
        from .ld_decay import format_table as fmt_ld
        from .ld_decay import run as run_ld
        rows = run_ld(a.seeds, a.length_mb)
        print(fmt_ld(rows))
        _write_json(a.json, "ld-decay", rows)
        return 0
    if a.name == "intercept-bias":
        from .intercept_bias import run as run_ib
        run_ib(tuple(a.panels), a.gwas, a.N, a.h2, json_path=a.json)
        return 0
    if a.name == "mismatch-bias":
        from .mismatch_bias import run as run_bias
        if a.enrichment <= 0:
            ap.error(f"--enrichment must be > 0 (a variance ratio), got {a.enrichment:g}")
        run_bias(tuple(a.panels), json_path=a.json, truth=a.truth, enrichment=a.enrichment)
        return 0
    if a.name == "training":
        from .training import format_table as fmt
        from .training import run_benchmark as run
        rows = run(a.workers, a.epochs, a.data, a.model, a.size)
        print(fmt(rows))
        _write_json(a.json, "training", rows)
        return 0
    if a.threads:
        import torch
        torch.set_num_threads(a.threads)
    from ..realdata import panel_prefix
    from .likelihood import format_table, run_benchmark
    kinds = a.kinds
    if "lowrank" in kinds and panel_prefix() is None:
        print("note: 1000G panel not found in ../shared/data; skipping the lowrank kind", file=sys.stderr)
        kinds = [k for k in kinds if k != "lowrank"]
    rows = run_benchmark(a.sizes, kinds, a.repeats, a.probes)
    print(format_table(rows))
    _write_json(a.json, "likelihood", rows)
    return 0


def _scale(a: argparse.Namespace, argv: list[str]) -> int:
    from .scale import ScaleSettings
    from .scale import run as run_scale
    from .scale_data import parse_size
    from .scale_report import format_report, markdown, update_readme
    settings = ScaleSettings(epochs=a.epochs, jackknife=a.jackknife, slice_sample=a.slice_sample,
                             synthetic=tuple(int(x) for x in a.synthetic.split(",") if x.strip()),
                             scaling=not a.no_scaling,
                             scaling_size=None if a.scaling_size is None else parse_size(a.scaling_size),
                             data={"n_chroms": a.chroms, "n_panel": a.panel, "n_gwas": a.gwas, "n_traits": a.traits})
    res = run_scale([parse_size(x) for x in a.sizes.split(",") if x.strip()], settings, root=a.cache)
    print(format_report(res))
    command = " ".join(["python -m deepwas_dist.bench", *argv])
    _write_json(a.json, "scale", res["sizes"], extra={**{k: v for k, v in res.items() if k != "sizes"},
                                                      "command": command})
    if a.readme:
        update_readme(a.readme, markdown(res, command))
        print(f"updated {a.readme}")
    return 0


def _write_json(path: str | None, name: str, rows: list[dict], extra: dict | None = None) -> None:
    if not path:
        return
    import torch
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
            "processor": platform.processor(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "cuda": torch.version.cuda}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"benchmark": name, "machine": info, **(extra or {}), "rows": rows}, fh, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
