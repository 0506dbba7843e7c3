"""Export of simulated track windows as bigWig files, one per track (the input of ``prepare tracks``).

The rule. The simulator's window position j of a SNP at 1-based BP is the base
``BP + (j - w // 2) * step_bp`` (:func:`~deepwas_dist.simulate.annotations.simulate_tracks`); it is written
as the constant value of the 0-based interval ``[BP - 1 + (j - w // 2) * step_bp, ... + step_bp)``. Ingesting
the files with ``--window w*step_bp --bins w`` (w even) then gives back every window exactly (up to
float32 rounding of the bin mean and the stored normalisation), for SNPs whose windows do not overlap.
Where windows of nearby SNPs overlap, the earlier SNP's values are kept (a bigWig has one value per
base) and the later SNP's window is exported only beyond them: :func:`export_tracks_bigwig` returns how
many SNPs that cut.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pandas as pd

from ..data.chroms import chrom_label
from ..data.reader import Dataset
from ..data.schema import BP, CHR
from ..errors import InputError


def _pybigtools():
    try:
        import pybigtools
    except ImportError as e:
        raise InputError("bigWig export needs pybigtools; fix: pip install pybigtools (see requirements.lock)") from e
    return pybigtools


def export_tracks_bigwig(snps: pd.DataFrame, tracks: np.ndarray, out_dir: str, step_bp: int,
                         names: list[str] | None = None, chrom_sizes: dict[int, int] | None = None,
                         prefix: str = "chr") -> tuple[dict[str, str], int]:
    """Write ``tracks`` ((M, K, w) windows of the SNPs in ``snps``, columns CHR and BP) as K bigWigs in
    ``out_dir`` (``<name>.bw``; chromosome labels ``prefix`` + label). ``chrom_sizes`` (code -> bp)
    defaults to the last window end of each chromosome. Returns ({name: path}, SNPs whose window was cut
    by an earlier SNP's or by a chromosome end)."""
    tracks = np.asarray(tracks, dtype=np.float32)
    if tracks.ndim != 3 or tracks.shape[0] != len(snps):
        raise InputError(f"tracks must be (M={len(snps)}, K, w), got {tracks.shape}")
    M, K, w = tracks.shape
    names = list(names) if names is not None else [f"track{k}" for k in range(K)]
    if len(names) != K:
        raise InputError(f"{len(names)} names for K={K} tracks")
    step = int(step_bp)
    chrom = snps[CHR].to_numpy().astype(np.int64)
    bp = snps[BP].to_numpy().astype(np.int64)
    starts = (bp - 1)[:, None] + (np.arange(w) - w // 2)[None, :] * step           # (M, w) 0-based
    os.makedirs(out_dir, exist_ok=True)
    sizes = dict(chrom_sizes or {})
    for c in np.unique(chrom):
        sizes.setdefault(int(c), int(starts[chrom == c].max()) + step)
    plan, cut = {}, 0
    for c in sorted(set(chrom.tolist())):
        rows = np.flatnonzero(chrom == c)
        rows = rows[np.argsort(bp[rows], kind="stable")]
        keep_r, keep_j, end = [], [], 0
        for r in rows:
            ok = (starts[r] >= end) & (starts[r] >= 0) & (starts[r] + step <= sizes[c])
            j = np.flatnonzero(ok)
            cut += int(len(j) < w)
            if len(j):
                keep_r.append(np.full(len(j), r))
                keep_j.append(j)
                end = int(starts[r, j[-1]]) + step
        plan[c] = (np.concatenate(keep_r), np.concatenate(keep_j)) if keep_r else (np.zeros(0, int), np.zeros(0, int))
    out = {}
    for k, name in enumerate(names):
        path = os.path.join(out_dir, f"{name}.bw")
        _pybigtools().open(path, "w").write({prefix + chrom_label(c): int(sizes[c]) for c in sorted(plan)},
                                            _entries(plan, starts, tracks[:, k], step, prefix))
        out[name] = path
    return out, cut


def _entries(plan: dict, starts: np.ndarray, values: np.ndarray, step: int, prefix: str):
    """(chrom, start, end, value) of one track, sorted, for pybigtools' writer."""
    for c in sorted(plan):
        r, j = plan[c]
        label, s = prefix + chrom_label(c), starts[r, j]
        yield from zip([label] * len(s), s.tolist(), (s + step).tolist(), values[r, j].astype(np.float64).tolist())


def export_dataset_tracks(url: str, out_dir: str, step_bp: int = 50, storage_options: dict | None = None
                          ) -> tuple[dict[str, str], int]:
    """The track windows of a (simulated) dataset as bigWigs (:func:`export_tracks_bigwig`); ``step_bp``
    is the simulator's spacing of window positions (simulate_tracks' default 50)."""
    ds = Dataset.open(url, storage_options)
    if ds.manifest.tracks is None:
        raise InputError(f"{url}: the dataset has no track windows to export")
    parts, trks = [], []
    for c in ds.chromosomes:
        snp, _, trk = ds.features(c, tracks=True)
        parts.append(pd.DataFrame({CHR: c, BP: snp[BP].to_numpy()}))
        trks.append(trk.numpy())
    return export_tracks_bigwig(pd.concat(parts, ignore_index=True), np.concatenate(trks), out_dir, step_bp,
                                names=ds.manifest.tracks.names)


def main(argv: list[str] | None = None) -> int:
    """``python -m deepwas_dist.simulate.bigwig DATASET OUT_DIR [--step-bp 50]``: one bigWig per track."""
    ap = argparse.ArgumentParser(prog="python -m deepwas_dist.simulate.bigwig", description=main.__doc__)
    ap.add_argument("dataset")
    ap.add_argument("out_dir")
    ap.add_argument("--step-bp", type=int, default=50, help="spacing of the simulated window positions (50)")
    a = ap.parse_args(argv)
    try:
        paths, cut = export_dataset_tracks(a.dataset, a.out_dir, a.step_bp)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, p in paths.items():
        print(f"{name}={p}")
    print(f"# {cut:,} SNP windows cut where they overlap an earlier SNP's (exact elsewhere)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
