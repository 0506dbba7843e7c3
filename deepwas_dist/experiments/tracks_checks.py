"""The tracks experiment's checks of the ingest (experiments/tracks.py): how the windows ingested from
bigWigs compare with the simulator's, and what float16 storage costs in precision and saves in bytes.

- :func:`ingest_check`: SNPs whose ingested window equals the simulator's, and over all values the
  correlation and mean difference in track standard deviations.
- :func:`float16_error`: the rounding of the stored (normalised) windows, relative above float16's
  smallest normal number and absolute below it, and the TRACKS column's bytes per SNP either way.
- :func:`f16_output_change`: how far a float32-trained conv prior's log f moves when fed float16 windows.
"""
from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq
import torch

from ..data import schema as S
from ..data.reader import Dataset


def stored_raw(url: str) -> np.ndarray:
    """(M, K, w) stored track windows of every chromosome, de-normalised with the manifest's statistics."""
    ds = Dataset.open(url)
    ing = ds.manifest.tracks.ingest
    trk = np.concatenate([ds.features(c, tracks=True)[2].numpy() for c in ds.chromosomes])
    return trk * np.asarray(ing["std"])[None, :, None] + np.asarray(ing["mean"])[None, :, None]


def ingest_check(sim_url: str, ingested_url: str) -> dict:
    """How the ingested windows compare with the simulator's: SNPs with every value equal (to 1e-4
    relative), and over all values the correlation and mean absolute difference in track sds."""
    ds = Dataset.open(sim_url)
    sim = np.concatenate([ds.features(c, tracks=True)[2].numpy() for c in ds.chromosomes]).astype(np.float64)
    ing = stored_raw(ingested_url)
    sd = sim.std(axis=(0, 2))[None, :, None]
    exact = np.all(np.abs(ing - sim) <= 1e-4 * (1 + np.abs(sim)), axis=(1, 2))
    return {"snps": int(len(sim)), "exact_snps": int(exact.sum()),
            "window_r": float(np.corrcoef(ing.ravel(), sim.ravel())[0, 1]),
            "mean_abs_diff_sd": float(np.mean(np.abs(ing - sim) / sd)),
            "mean_abs_diff_sd_cut": float((np.abs(ing - sim) / sd)[~exact].mean()) if (~exact).any() else 0.0}


def _tracks_bytes(url: str) -> float:
    """Stored (compressed) bytes of the TRACKS column per SNP, from the Parquet footers."""
    ds = Dataset.open(url)
    total = 0
    for c in ds.chromosomes:
        for f in ds.manifest.snps.files[c]:
            md = pq.ParquetFile(os.path.join(url, f["path"])).metadata
            for g in range(md.num_row_groups):
                rg = md.row_group(g)
                total += sum(rg.column(j).total_compressed_size for j in range(rg.num_columns)
                             if rg.column(j).path_in_schema.split(".")[0] == S.TRACKS)
    return total / ds.manifest.snps.n_total


#: float16's smallest normal number: below it values are subnormal, rounded to a fixed 2^-24 grid
#: (relative error unbounded, absolute error <= 2^-25), so relative errors are measured above it.
F16_MIN_NORMAL = 2.0 ** -14


def float16_error(url32: str, url16: str) -> dict:
    """The float16 rounding of the stored (normalised, so in track standard deviations) windows: ``url16``'s
    against ``url32``'s. Relative errors over values >= F16_MIN_NORMAL in magnitude (at most 2^-11 there);
    the share of values below it and their largest absolute error."""
    ds32, ds16 = Dataset.open(url32), Dataset.open(url16)
    x = np.concatenate([ds32.features(c)[2].numpy() for c in ds32.chromosomes]).astype(np.float64)
    y = np.concatenate([ds16.features(c)[2].numpy() for c in ds16.chromosomes]).astype(np.float64)
    err = np.abs(y - x)
    normal = np.abs(x) >= F16_MIN_NORMAL
    return {"f16_max_rel_err": float((err[normal] / np.abs(x[normal])).max()),
            "f16_mean_rel_err": float((err[normal] / np.abs(x[normal])).mean()),
            "f16_subnormal_share": float(1 - normal.mean()), "f16_max_abs_err_subnormal": float(err[~normal].max())
            if (~normal).any() else 0.0,
            "f16_max_abs_err_sd": float(err.max()), "f16_max_abs_value_sd": float(np.abs(x).max()),
            "f16_same_as_rounding": bool(np.array_equal(y, x.astype(np.float32).astype(np.float16).astype(np.float64))),
            "tracks_bytes_per_snp_f32": _tracks_bytes(url32), "tracks_bytes_per_snp_f16": _tracks_bytes(url16),
            "tracks_raw_bytes_per_snp_f32": 4 * x.shape[1] * x.shape[2]}


def f16_output_change(ds: Dataset, net: torch.nn.Module) -> float:
    """Largest |log f(float16-rounded windows) - log f(windows)| of ``net`` over the dataset's SNPs."""
    worst = 0.0
    with torch.no_grad():
        for c in ds.chromosomes:
            _, X, trk = ds.features(c)
            d = net(X, trk.half().float()).double() - net(X, trk).double()
            worst = max(worst, float(d.abs().max()))
    return worst



__all__ = ["F16_MIN_NORMAL", "stored_raw", "ingest_check", "float16_error", "f16_output_change"]
