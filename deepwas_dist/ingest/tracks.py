"""``prepare tracks``: bigWig signal windows as the dataset's track tensor, plus per-track summary
annotations, in one atomic update (:meth:`DatasetWriter.update`).

- tensor: (M, K, bins) per chromosome, K = the ``--bigwig`` files in order, windows by the rule of
  :mod:`deepwas_dist.ingest.bigwig`; stored normalised per track, ``(x - mean[k]) / std[k]`` with the mean
  and std (ddof 0; std 0 -> 1) of track k over every stored value of every SNP; they, the files, the
  window, bins and fill go to the manifest's ``tracks.ingest``. Existing track windows are replaced.
- annotations: ``track_mean_<NAME>``, the window mean of the raw (unnormalised, filled) signal, added to
  the dataset's annotations (replacing ``track_mean_*`` columns of an earlier run; the reader
  standardises them like every annotation), for the MLP and linear priors.

Two passes: windows are read a chromosome at a time (:func:`~deepwas_dist.ingest.bigwig.windows`) and
spilled to a temporary .npy per chromosome while the statistics accumulate; then each chromosome is
normalised and written. Memory: one chromosome's windows.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.builds import check_sizes
from ..data.chroms import chrom_label
from ..data.writer import DatasetWriter
from ..errors import InputError
from .bigwig import check_geometry, chrom_sizes, open_bigwig, windows
from .steps import progress_bar
from .summary import PrepareSummary, new_bytes

MEAN_PREFIX = "track_mean_"


def parse_bigwig_specs(specs: list[str]) -> list[tuple[str, str]]:
    """``NAME=FILE`` arguments of --bigwig -> [(name, file)]; errors name the flag."""
    out = []
    for text in specs:
        name, eq, path = str(text).partition("=")
        if not eq or not name.strip() or not path.strip():
            raise InputError(f"--bigwig {text!r}: expected NAME=FILE (e.g. dnase=ENCFF123.bw)")
        out.append((name.strip(), path.strip()))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"--bigwig: track name(s) {dup} given twice; fix: one name per file")
    if not out:
        raise InputError("prepare tracks: no --bigwig NAME=FILE given")
    return out


#: The stored dtype of ingested track windows (``--track-dtype``). float16: measured on the tracks
#: experiment (README, "Functional data"), rounding the normalised windows costs at most 2^-11 of a value,
#: changes a conv prior's log f by <= 0.0011 and held-out NLL by ~1e-5 nats/SNP, at half the bytes.
DEFAULT_TRACK_DTYPE = "float16"


def normalisation(s1: np.ndarray, s2: np.ndarray, n_val: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-track (mean, std) from the sums of values and of squares over ``n_val`` values each (ddof 0;
    a std of ~0 becomes 1)."""
    mean = s1 / max(n_val, 1)
    std = np.sqrt(np.maximum(s2 / max(n_val, 1) - mean ** 2, 0.0))
    return mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)


def write_track_windows(w: DatasetWriter, names: list[str], chroms: list[int], raw: Callable[[int], np.ndarray],
                        mean: np.ndarray, std: np.ndarray, ingest: dict, dtype: str = DEFAULT_TRACK_DTYPE,
                        progress: bool | None = None) -> None:
    """The second pass, in an open update ``w``: per chromosome, ``raw(c)`` ((M_c, K, bins) float32 windows
    of the stored SNPs in order) normalised by ``mean``/``std`` and stored as ``dtype``, with the
    ``track_mean_*`` annotations (replacing earlier ones); ``ingest`` (+ mean, std) to the manifest."""
    w.set_tracks_dtype(dtype)
    old = w.base_manifest
    keep = [n for n in old.features.names if not n.startswith(MEAN_PREFIX)]
    w.set_tracks_ingest({**ingest, "mean": np.asarray(mean).tolist(), "std": np.asarray(std).tolist()})
    ds = w.base_dataset
    for c in progress_bar(progress, iterable=chroms, desc="tracks: write", unit="chrom"):
        trk = raw(c)
        ann = ds.snps(c, columns=[S.SNP] + keep)
        means = pd.DataFrame(trk.mean(axis=2, dtype=np.float64), columns=[MEAN_PREFIX + n for n in names],
                             index=ann.index)
        ann = pd.concat([ann, means], axis=1)          # one concat: no frame fragmented column by column
        norm = ((trk - mean[None, :, None]) / std[None, :, None]).astype(np.float32)
        w.set_annotations(c, ann, tracks=norm, track_names=names)


def set_track_windows(out: str, tracks: dict[int, np.ndarray], names: list[str], *, source: str,
                      dtype: str = DEFAULT_TRACK_DTYPE, storage_options: dict | None = None) -> None:
    """Store given raw windows (chromosome -> (M_c, K, w) of the stored SNPs in order; e.g. a simulator's)
    exactly as ``prepare tracks`` stores bigWig windows: normalised per track, as ``dtype``, with the
    ``track_mean_*`` annotations; the manifest's ``tracks.ingest`` says ``source``."""
    s1, s2, n_val = 0.0, 0.0, 0
    for trk in tracks.values():
        s1 = s1 + trk.sum(axis=(0, 2), dtype=np.float64)
        s2 = s2 + np.square(trk, dtype=np.float64).sum(axis=(0, 2))
        n_val += trk.shape[0] * trk.shape[2]
    mean, std = normalisation(np.asarray(s1), np.asarray(s2), n_val)
    with DatasetWriter.update(out, storage_options) as w:
        write_track_windows(w, list(names), sorted(tracks), lambda c: np.asarray(tracks[c], np.float32), mean, std,
                            {"source": source}, dtype, progress=False)


def prepare_tracks(out: str, bigwigs: list[str], *, window: int = 256, bins: int | None = None, fill: float = 0.0,
                   dtype: str = DEFAULT_TRACK_DTYPE, storage_options: dict | None = None,
                   input_storage_options: dict | None = None, progress: bool | None = True) -> PrepareSummary:
    """Set the dataset's track windows and ``track_mean_*`` annotations from bigWig files, local or remote
    (``input_storage_options``: the fsspec options of remote ones) (module docstring)."""
    t0 = time.perf_counter()
    specs = parse_bigwig_specs(bigwigs)
    nb = check_geometry(int(window), bins)
    if dtype not in S.TRACK_DTYPES:
        raise InputError(f"--track-dtype {dtype!r}: choose one of {list(S.TRACK_DTYPES)}")
    names = [n for n, _ in specs]
    K = len(specs)
    notes: dict = {}
    with DatasetWriter.update(out, storage_options) as w, \
            tempfile.TemporaryDirectory(prefix="deepwas-tracks-") as tmp, contextlib.ExitStack() as readers:
        old = w.base_manifest
        ref = w.reference_snps()
        by_chrom = {int(c): df.reset_index(drop=True) for c, df in ref.groupby(S.CHR, sort=True)}
        max_bp = {c: (int(df[S.BP].max()), str(df[S.SNP].iloc[int(df[S.BP].to_numpy().argmax())]))
                  for c, df in by_chrom.items()}
        files = []
        for name, path in specs:
            bw = readers.enter_context(open_bigwig(path, input_storage_options))
            sizes, labels = chrom_sizes(bw, path)
            check_sizes(sizes, old.build, max_bp, path, "--bigwig")
            missing = [chrom_label(c) for c in by_chrom if c not in sizes]
            if len(missing) == len(by_chrom):
                raise InputError(f"{path}: no chromosome of the dataset ({', '.join(map(chrom_label, by_chrom))}) "
                                 f"in the bigWig (it has {', '.join(list(labels.values())[:8])}); fix: give the "
                                 "bigWig of this panel's genome and build")
            if missing:
                notes[f"{name}: chromosome(s) not in the bigWig (filled with {fill:g})"] = ", ".join(missing)
            files.append((bw, sizes, labels))
        s1, s2, n_val = np.zeros(K), np.zeros(K), 0
        for c in progress_bar(progress, iterable=sorted(by_chrom), desc="tracks: read", unit="chrom"):
            bp = by_chrom[c][S.BP].to_numpy()
            trk = np.empty((len(bp), K, nb), dtype=np.float32)
            for k, (bw, sizes, labels) in enumerate(files):
                trk[:, k] = windows(bw, labels.get(c), sizes.get(c, 0), bp, int(window), nb, fill)
            s1 += trk.sum(axis=(0, 2), dtype=np.float64)
            s2 += np.square(trk, dtype=np.float64).sum(axis=(0, 2))
            n_val += len(bp) * nb
            np.save(os.path.join(tmp, f"{c}.npy"), trk)
        readers.close()
        mean, std = normalisation(s1, s2, n_val)
        write_track_windows(w, names, sorted(by_chrom), lambda c: np.load(os.path.join(tmp, f"{c}.npy")), mean, std,
                            {"source": "bigwig", "files": dict(specs), "window_bp": int(window), "bins": nb,
                             "fill": float(fill)}, dtype, progress)
    man = w.manifest
    m = int(man.snps.n_total)
    sm = PrepareSummary("tracks", out, snps_read=m, snps_kept=m,
                        details={"tracks": ", ".join(names), "window": f"{window} bp in {nb} bins",
                                 "fill": float(fill), "track tensor": f"{K} x {nb} {dtype} per SNP",
                                 "annotations added": ", ".join(MEAN_PREFIX + n for n in names),
                                 "previous tracks": (", ".join(old.tracks.names or []) or f"{old.tracks.K} unnamed")
                                 if old.tracks else "-", **notes})
    sm.bytes_written = new_bytes(old, man)
    sm.elapsed_s = time.perf_counter() - t0
    sm.details["throughput (SNP x tracks / s)"] = float(m * K / max(sm.elapsed_s, 1e-9))
    return sm
