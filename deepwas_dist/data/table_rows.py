"""Encoding the checked SNP and sumstats tables as the Arrow tables stored in a dataset.

The schemas are :func:`schema.snp_table_schema` and :func:`schema.sumstats_table_schema`; the inputs are
the columns :mod:`.validate` returns. Sumstats are stored dense: one row per reference SNP of the
chromosome, null Z/N (and F_TRUE) where the trait has no z-score.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import schema as S
from .validate import SnpColumns


def encode_snp_table(c: int, sc: SnpColumns, feats: list[str], X: np.ndarray, trk: np.ndarray | None,
                     tracks_shape: tuple[int, int] | None, tracks_dtype: str = "float32") -> tuple[pa.Table, float]:
    """Chromosome ``c``'s SNP table (annotations ``X`` as float32, tracks ``trk`` or None, stored as
    ``tracks_dtype``: float32 or float16, rounded to nearest) and its estimated stored bytes per row (for
    sizing part files)."""
    n, cm, maf = len(sc.ids), sc.cm, sc.maf
    cols = {
        S.CHR: pa.array(np.full(n, c, dtype=np.int32)),
        S.SNP: pa.array(sc.ids, type=pa.string()),
        S.BP: pa.array(sc.bp, type=pa.int64()),
        S.CM: pa.array(cm if cm is not None else np.full(n, np.nan), mask=None if cm is not None else np.ones(n, bool),
                       type=pa.float64()),
        S.A1: pa.array(sc.a1, type=pa.string()),
        S.A2: pa.array(sc.a2, type=pa.string()),
        S.MAF: pa.array(maf, mask=np.isnan(maf), type=pa.float64()),
    }
    for j, name in enumerate(feats):
        cols[name] = pa.array(X[:, j], type=pa.float32())
    if trk is not None:
        cols[S.TRACKS] = pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(trk, dtype=tracks_dtype))
    table = pa.Table.from_pydict(cols, schema=S.snp_table_schema(feats, tracks_shape, tracks_dtype))
    width = np.dtype(tracks_dtype).itemsize
    bytes_per_row = 48 + 4 * len(feats) + (width * trk.shape[1] * trk.shape[2] if trk is not None else 0)
    return table, bytes_per_row


def encode_sumstats_table(snp_ids: pa.Array, pos: np.ndarray, z: np.ndarray, nn: np.ndarray,
                          f_true: np.ndarray | None) -> pa.Table:
    """A trait's dense table on one chromosome: ``pos[i]`` is the sumstats row of reference SNP i (-1: none)."""
    miss = pos < 0
    safe = np.where(miss, 0, pos)
    cols = {S.SNP: snp_ids,
            S.Z: pa.array(z[safe], mask=miss, type=pa.float64()),
            S.N: pa.array(nn[safe], mask=miss, type=pa.float64())}
    if f_true is not None:
        cols[S.F_TRUE] = pa.array(f_true[safe], mask=miss, type=pa.float64())
    return pa.Table.from_pydict(cols, schema=S.sumstats_table_schema(f_true is not None))
