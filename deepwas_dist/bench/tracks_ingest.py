"""Ingest throughput of ``prepare tracks`` (issue #15): SNPs x tracks per second and bytes stored per SNP.

    python -m deepwas_dist.bench tracks [--snps 100000] [--tracks 100] [--window 256] [--bins 32] [--json FILE]

A synthetic panel (one chromosome, a SNP every ``spacing_bp``, 3 kb by default: 1M SNPs over a 3 Gb
genome; identity LD) and ``files`` distinct bigWigs with full coverage (a value per 50-bp interval, as
fold-change tracks are stored) are written untimed; ``tracks`` names cycle over the files (each read is
a separate read of a file, so the timing is that of ``tracks`` distinct files of that size, read from the
OS page cache). Timed: the whole ``prepare_tracks`` (both passes, the normalisation, the SNP-table
rewrite and the manifest). Bytes per SNP: the new SNP-table files over the SNP count (tracks stored as
``dtype``, float16 by default as in ``prepare tracks``, + the ``track_mean_*`` annotations,
Parquet-compressed). The float16 column: the largest absolute error of the stored, normalised windows
from float16 rounding (stored float32: if they were rounded; stored float16: against a float32 read of
the same windows, which this then makes as well, untimed).
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pandas as pd
import pybigtools

from ..data.reader import Dataset
from ..data.writer import DatasetWriter
from ..ingest.summary import new_bytes
from ..ingest.tracks import DEFAULT_TRACK_DTYPE, prepare_tracks

STEP_BP = 50


def _panel(url: str, n: int, spacing: int) -> None:
    bp = (np.arange(n, dtype=np.int64) + 1) * spacing
    with DatasetWriter(url, build="synthetic", overwrite=True) as w:
        snps = pd.DataFrame({"SNP": [f"s{i}" for i in range(n)], "BP": bp, "A1": "A", "A2": "G"})
        w.add_snps(1, snps, pd.DataFrame({"SNP": snps["SNP"], "base": 1.0}))
        w.add_ld_slices(1, lambda lo, hi: np.eye(hi - lo), core_kb=300, bandwidth_kb=spacing / 1000, n_ref=100)


def _bigwig(path: str, length: int, seed: int) -> None:
    starts = np.arange(0, length - STEP_BP, STEP_BP, dtype=np.int64)     # (an interval past the end corrupts
    vals = np.random.default_rng(seed).gamma(0.5, 2.0, len(starts))       # pybigtools' output silently)
    pybigtools.open(path, "w").write({"chr1": length},
                                     zip(["chr1"] * len(starts), starts.tolist(), (starts + STEP_BP).tolist(),
                                         vals.tolist()))


def run(snps: int = 100_000, tracks: int = 100, window: int = 256, bins: int | None = 32, files: int = 4,
        spacing_bp: int = 3000, dtype: str = DEFAULT_TRACK_DTYPE) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench-tracks-") as tmp:
        url = os.path.join(tmp, "ds")
        _panel(url, snps, spacing_bp)
        length = (snps + 1) * spacing_bp + window
        paths = [os.path.join(tmp, f"f{i}.bw") for i in range(files)]
        for i, p in enumerate(paths):
            _bigwig(p, length, i)
        specs = [f"t{k}={paths[k % files]}" for k in range(tracks)]
        old = Dataset.open(url).manifest
        t0 = time.perf_counter()
        prepare_tracks(url, specs, window=window, bins=bins, dtype=dtype, progress=False)
        dt = time.perf_counter() - t0
        ds = Dataset.open(url)
        stored = new_bytes(old, ds.manifest)
        t = ds.features(1, tracks=True)[2].numpy()
        if dtype == "float32":
            f16 = float(np.abs(t.astype(np.float16).astype(np.float32) - t).max())
        else:
            prepare_tracks(url, specs, window=window, bins=bins, dtype="float32", progress=False)
            f16 = float(np.abs(t - Dataset.open(url).features(1, tracks=True)[2].numpy()).max())
    return [{"snps": snps, "tracks": tracks, "window_bp": window, "bins": bins or window, "seconds": dt,
             "snp_tracks_per_s": snps * tracks / dt, "bytes_per_snp": stored / snps, "track_dtype": dtype,
             "float16_max_abs_error": f16, "distinct_files": files, "spacing_bp": spacing_bp}]


def format_table(rows: list[dict]) -> str:
    out = ["  SNPs  tracks  window/bins   seconds  SNPxtracks/s  bytes/SNP  stored   f16 max err"]
    for r in rows:
        out.append(f"{r['snps']:>7,} {r['tracks']:>6}  {r['window_bp']:>5}/{r['bins']:<5} {r['seconds']:>9.1f} "
                   f"{r['snp_tracks_per_s']:>13,.0f} {r['bytes_per_snp']:>10,.0f}  {r.get('track_dtype', 'float32'):<8}"
                   f"{r['float16_max_abs_error']:.2g}")
    return "\n".join(out)
