"""Apply a trained prior to any variants that carry its features (``deepwas predict``).

A run's ``model.pt`` records the prior network, the names of the annotations it reads, the training
dataset's standardisation of each (mean and sd, from that dataset's manifest) and, for a conv prior, the
training tracks' names and normalisation. Prediction reads the raw annotation columns of the new variants,
standardises them with the *training* statistics, so a SNP gets the f it would have had in training, and
writes PolyFun-format prior variances per chromosome and trait (:mod:`.snpvar_writer`):

    <out>/snpvar/<trait>.<chr>.snpvar.gz      CHR SNP BP A1 A2 SNPVAR      (SNPVAR = f_j)

The variants come from a prepared dataset (:func:`predict_dataset`, ``--data``) or from LDSC-style
``.annot[.gz]`` / Parquet annotation files (:func:`predict_annotations`, ``--annot``; without A1/A2 columns
the files have ``CHR SNP BP SNPVAR``). Both stream ``chunk_rows`` rows at a time (read, predict, append,
drop): memory is one chunk, whatever the number of variants. A feature the model needs but the input lacks
is an error naming it; the input's other annotation columns are listed and ignored. A conv prior (track
windows) needs ``--data`` with the same tracks; their stored normalisation is mapped onto the training's.
Duplicate SNP IDs are not checked (that would need memory growing with the variant count).
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..data import schema as S
from ..data.reader import Dataset
from ..data.storage import filesystem, join
from ..data.tables import RowReader, f64, tracks_array
from ..errors import InputError
from ..ingest.annotations import annotation_columns, iter_annotation_chunks
from ..models import load_saved_prior
from ..models.base import PriorNet
from .snpvar_writer import SNPVAR_COLUMNS, SnpvarWriter

__all__ = ["SNPVAR_COLUMNS", "DEFAULT_CHUNK_ROWS", "Prior", "load_prior", "read_saved_prior", "feature_columns",
           "predict_dataset", "predict_annotations"]

#: Rows read, predicted and written at a time: ~2.8 KiB each with 50 annotations, so a peak RSS of ~0.63 GiB
#: with the ~310 MiB of the interpreter and torch (measured: python -m deepwas_dist.bench predict).
DEFAULT_CHUNK_ROWS = 100_000
META = (S.CHR, S.SNP, S.BP, S.A1, S.A2)


def read_saved_prior(run_url: str, storage_options: dict | None = None) -> dict:
    """The run's model.pt as a dict (tensors and plain values only: loaded with ``weights_only=True``)."""
    fs, root = filesystem(run_url, storage_options)
    path = join(root, "model.pt")
    if not fs.exists(path):
        raise InputError(f"{run_url}: no model.pt; pass the directory of a finished run (deepwas train), or "
                         f"write it with `deepwas evaluate {run_url}`")
    with fs.open(path, "rb") as fh:
        data = fh.read()
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:          # an unpickling error names the first object that is not plain data
        raise InputError(f"{path}: not a model.pt of deepwas_dist that loads safely ({type(e).__name__}); "
                         "re-evaluate the run to rewrite it") from None


def feature_columns(saved: dict, available: list[str], where: str,
                    fix: str = "add them (deepwas prepare annotations ...) under the same names"
                    ) -> tuple[list[str], list[str]]:
    """(the model's features, in its order; the input's annotation columns it ignores). Missing ones:
    InputError naming them, ``where`` and the ``fix``."""
    need = list(saved.get("feature_names") or [])
    if len(need) != int(saved["n_features"]):
        raise InputError(f"{where}: model.pt does not record its feature names; re-evaluate the run "
                         "(deepwas evaluate RUN) to rewrite model.pt")
    missing = [f for f in need if f not in available]
    if missing:
        raise InputError(f"{where} lacks the annotation(s) {', '.join(missing)} that the prior was trained on; "
                         f"{fix}")
    return need, [f for f in available if f not in need]


@dataclass
class Prior:
    """A saved prior ready to apply: ``prior(X_raw, tracks)`` -> f (rows, traits) float64, X_raw the raw
    annotations in ``names`` order, standardised here with the training statistics."""

    run: str
    saved: dict
    net: PriorNet
    names: list[str]
    mean: np.ndarray
    std: np.ndarray
    traits: list[str]

    def __call__(self, X: np.ndarray, tracks: np.ndarray | None = None) -> np.ndarray:
        Z = (X - self.mean) / self.std if self.names else X
        with torch.no_grad():
            log_f = self.net(torch.from_numpy(Z.astype(np.float32)),
                             None if tracks is None else torch.from_numpy(tracks))
        return log_f.double().exp().numpy()


def load_prior(run_url: str, storage_options: dict | None = None) -> Prior:
    """The run's prior (:class:`Prior`); InputError when its model.pt predates stored standardisation."""
    saved = read_saved_prior(run_url, storage_options)
    mean, std = saved.get("feature_mean"), saved.get("feature_std")
    if saved["n_features"] and (mean is None or std is None):
        raise InputError(f"{run_url}/model.pt predates stored feature standardisation; re-evaluate the run "
                         f"(deepwas evaluate {run_url}) to rewrite it")
    net = load_saved_prior(saved)
    net.eval()
    traits = list(saved.get("traits") or [f"trait{t}" for t in range(net.n_traits)])
    return Prior(run_url, saved, net, list(saved.get("feature_names") or []),
                 np.asarray(mean or [], dtype=np.float64), np.asarray(std or [], dtype=np.float64), traits)


def track_mapping(saved: dict, ds: Dataset, run_url: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) per track that turn the dataset's stored (normalised) windows into the training's
    normalisation: training = stored * scale + shift; None for an annotation-only prior. InputError when the
    dataset's tracks are not the training's (shape, names, window) or the normalisations cannot be related."""
    if not saved.get("tracks_shape"):
        return None
    want, where = tuple(saved["tracks_shape"]), f"{ds.url} (--data)"
    if "track_names" not in saved:
        raise InputError(f"{run_url}/model.pt predates stored track names and normalisation (conv prior); "
                         f"re-evaluate the run (deepwas evaluate {run_url}) to rewrite it")
    if ds.tracks_shape is None or tuple(ds.tracks_shape) != want:
        raise InputError(f"{where}: track windows {ds.tracks_shape or 'none'}, but the conv prior was trained on "
                         f"{want[0]} tracks x {want[1]} bins; fix: prepare the dataset's tracks as the training "
                         "data's (deepwas prepare tracks, same names, --window and --bins)")
    ours, theirs = saved["track_names"], ds.manifest.tracks.names
    if ours and theirs and list(ours) != list(theirs):
        raise InputError(f"{where}: tracks {list(theirs)}, but the prior was trained on {list(ours)} (in this "
                         "order); fix: prepare the same tracks under the same names, in the same order")
    tr, dn = saved.get("tracks_ingest"), ds.manifest.tracks.ingest
    if (tr is None) != (dn is None):
        which = ("the dataset's", "the training data's") if dn is None else ("the training data's", "the dataset's")
        raise InputError(f"{where}: {which[0]} tracks were simulated, {which[1]} made by deepwas prepare tracks, so "
                         "their normalisations cannot be related; fix: prepare both with deepwas prepare tracks")
    if tr is None:
        return np.ones(want[0]), np.zeros(want[0])
    if int(tr["window_bp"]) != int(dn["window_bp"]):
        raise InputError(f"{where}: track windows of {dn['window_bp']} bp, the training data's were "
                         f"{tr['window_bp']} bp; fix: deepwas prepare tracks --window {tr['window_bp']}")
    m0, s0 = np.asarray(tr["mean"], np.float64), np.asarray(tr["std"], np.float64)
    m1, s1 = np.asarray(dn["mean"], np.float64), np.asarray(dn["std"], np.float64)
    return s1 / s0, (m1 - m0) / s0


def predict_dataset(run_url: str, data_url: str, out: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    storage_options: dict | None = None, data_storage_options: dict | None = None,
                    out_storage_options: dict | None = None, log: Callable[[str], None] = print) -> dict:
    """Write ``out``/snpvar/ for every chromosome of a prepared dataset and trait of the run; returns a
    summary dict."""
    prior = load_prior(run_url, storage_options)
    ds = Dataset.open(data_url, data_storage_options)
    names, ignored = feature_columns(prior.saved, list(ds.feature_names), data_url)
    mapping = track_mapping(prior.saved, ds, run_url)
    cols = list(META) + names + ([S.TRACKS] if mapping is not None else [])
    n = 0
    with SnpvarWriter(out, prior.traits, out_storage_options) as w:
        for c in ds.chromosomes:
            m = int(ds.manifest.snps.per_chrom[c])
            r = RowReader(ds, ds.manifest.snps.files[c], tuple(cols))
            try:
                for lo in range(0, m, chunk_rows):
                    tb = r.read(lo, min(m, lo + chunk_rows), cols)
                    X = np.stack([f64(tb.column(f)) for f in names], axis=1) if names else np.zeros((tb.num_rows, 0))
                    trk = None
                    if mapping is not None:
                        scale, shift = mapping
                        trk = (tracks_array(tb) * scale[None, :, None].astype(np.float32)
                               + shift[None, :, None].astype(np.float32))
                    w.write(tb.select(list(META)).to_pandas(), prior(X, trk), f"{data_url} chromosome {c}")
                    del tb, X, trk
            finally:
                r.close()
            n += m
            log(f"[predict] chr{c}: {m:,} SNPs")
    return _summary(prior, {"data": data_url}, out, n, sorted(w.rows), names, ignored, log)


def predict_annotations(run_url: str, paths: list[str], out: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                        storage_options: dict | None = None, annot_storage_options: dict | None = None,
                        out_storage_options: dict | None = None, log: Callable[[str], None] = print) -> dict:
    """Write ``out``/snpvar/ for the SNPs of full annotation files (``.annot[.gz]`` with CHR BP SNP CM +
    annotations, or Parquet with CHR SNP BP + annotations; A1/A2 used when present), one file and
    ``chunk_rows`` rows at a time. Every file is checked for the prior's features before any is read."""
    if not paths:
        raise InputError("deepwas predict --annot: no files given; fix: --annot baseline.{1..22}.annot.gz")
    prior = load_prior(run_url, storage_options)
    if prior.saved.get("tracks_shape"):
        raise InputError(f"{run_url}: the prior reads track windows (conv), which annotation files do not carry; "
                         "fix: prepare a dataset with the training tracks (deepwas prepare tracks) and pass --data")
    names, ignored = prior.names, []
    for path in paths:
        cols, annots = annotation_columns(path, annot_storage_options)
        _, extra = feature_columns(prior.saved, annots, f"{path} (--annot)",
                                   "fix: give --annot files with the training annotation columns under the same "
                                   "names (model.pt feature_names)")
        lack = [c for c in (S.CHR, S.SNP, S.BP) if c not in cols]
        if lack:
            raise InputError(f"{path} (--annot): no {', '.join(lack)} column (columns: {cols[:8]}"
                             f"{' ...' if len(cols) > 8 else ''}); the SNPVAR files need CHR SNP BP; fix: give the "
                             "full annot (CHR BP SNP CM + annotations), not the thin one")
        ignored += [c for c in extra if c not in ignored]
    n = 0
    with SnpvarWriter(out, prior.traits, out_storage_options) as w:
        for path in paths:
            k = 0
            for chunk in iter_annotation_chunks(path, names, chunk_rows, META, annot_storage_options):
                w.write(chunk.meta, prior(chunk.values), f"{path} ({chunk.unit} {chunk.first})")
                k += len(chunk.meta)
                del chunk                         # (not held while the reader parses the next one)
            n += k
            log(f"[predict] {path}: {k:,} SNPs")
    return _summary(prior, {"annot": list(paths)}, out, n, sorted(w.rows), names, ignored, log)


def _summary(prior: Prior, source: dict, out: str, n: int, chroms: list[int], names: list[str],
             ignored: list[str], log: Callable[[str], None]) -> dict:
    if ignored:
        log(f"[predict] annotation columns the prior does not use (ignored): {', '.join(ignored)}")
    log(f"[predict] wrote {out.rstrip('/')}/snpvar/ for {len(prior.traits)} trait(s), {n:,} SNPs")
    return {"run": prior.run, **source, "out": out, "snps": n, "chromosomes": chroms, "traits": prior.traits,
            "features": names, "ignored_columns": ignored}
