"""Row-range reads of a dataset's row-indexed tables (SNP tables, dense sumstats) from their part files.

A table is stored as part files of row groups, each listed in the manifest with its [row_lo, row_hi);
:class:`RowReader` serves any row range from them through a small LRU of row groups, with at most
``open_files`` part files open at once (a file opened for the first time is held in memory while open,
:class:`~.storage.ParquetHandle`; a row range spans one or two part files), and
:class:`ChromReaders` holds the readers one chromosome's slices need (its SNP table and the requested
traits). The ``ds`` they take is a :class:`~deepwas_dist.data.reader.Dataset` (its ``url``,
``manifest``, ``feature_names`` and ``_parquet``).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from ..errors import SchemaError
from . import schema as S
from .storage import ParquetHandle

if TYPE_CHECKING:   # annotation only: the reader imports this module
    from .reader import Dataset


class RowReader:
    """Row ranges [lo, hi) of a row-indexed table stored as part files of row groups (small LRU)."""

    def __init__(self, ds: Dataset, files: list[dict], required: tuple[str, ...], cache_groups: int = 6,
                 open_files: int = 2):
        self.ds, self.files, self.required = ds, sorted(files, key=lambda e: e["row_lo"]), required
        self.handles: OrderedDict[str, tuple[ParquetHandle, np.ndarray]] = OrderedDict()
        self.open_files = open_files
        self.cache: OrderedDict = OrderedDict()
        self.cache_groups = cache_groups

    def _handle(self, e: dict) -> tuple[ParquetHandle, np.ndarray]:
        if e["path"] in self.handles:
            self.handles.move_to_end(e["path"])
        else:
            while len(self.handles) >= self.open_files:
                self.handles.popitem(last=False)[1][0].close()
            h = self.ds._parquet(e["path"], self.required)
            rows = np.asarray(h.row_group_rows, dtype=np.int64)
            if int(rows.sum()) != e["row_hi"] - e["row_lo"]:
                h.close()
                raise SchemaError(f"{h.where}: has {int(rows.sum())} rows, the manifest says "
                                  f"{e['row_hi'] - e['row_lo']}; fix: re-write the dataset")
            self.handles[e["path"]] = (h, np.concatenate([[0], np.cumsum(rows)]))
        return self.handles[e["path"]]

    def read(self, lo: int, hi: int, columns: list[str]) -> pa.Table:
        pieces = []
        for e in self.files:
            if e["row_hi"] <= lo or e["row_lo"] >= hi:
                continue
            h, starts = self._handle(e)
            a, b = max(lo, e["row_lo"]) - e["row_lo"], min(hi, e["row_hi"]) - e["row_lo"]
            g0 = int(np.searchsorted(starts, a, side="right")) - 1
            g1 = int(np.searchsorted(starts, b - 1, side="right")) - 1
            for g in range(g0, g1 + 1):
                key = (e["path"], g, tuple(columns))
                if key in self.cache:
                    self.cache.move_to_end(key)
                    t = self.cache[key]
                else:
                    t = h.read_row_group(g, columns=columns)
                    self.cache[key] = t
                    if len(self.cache) > self.cache_groups:
                        self.cache.popitem(last=False)
                s0, s1 = max(a, starts[g]) - starts[g], min(b, starts[g + 1]) - starts[g]
                pieces.append(t.slice(int(s0), int(s1 - s0)))
        out = pa.concat_tables(pieces) if pieces else None
        if out is None or out.num_rows != hi - lo:
            raise SchemaError(f"{self.ds.url}: rows [{lo}, {hi}) not covered by the table's files; fix: re-write "
                              "the dataset")
        return out

    def close(self) -> None:
        for h, _ in self.handles.values():
            h.close()
        self.handles.clear()
        self.cache.clear()


class ChromReaders:
    """The SNP table and the requested traits' sumstats of one chromosome."""

    def __init__(self, ds: Dataset, chrom: int, traits: list[str], tracks: bool):
        m = ds.manifest
        self.snps = RowReader(ds, m.snps.files[chrom], (S.SNP, S.BP) + tuple(ds.feature_names))
        self.snp_cols = [S.SNP, S.BP, S.CM] + list(ds.feature_names) + ([S.TRACKS] if tracks else [])
        self.traits = []
        for t in traits:
            info = m.traits[t]
            cols = [S.Z, S.N] + ([S.F_TRUE] if info.has_f_true else [])
            self.traits.append((RowReader(ds, info.files[chrom], tuple(cols)), cols))

    def close(self) -> None:
        self.snps.close()
        for r, _ in self.traits:
            r.close()


def tracks_array(tb: pa.Table) -> np.ndarray:
    """(rows, K, w) float32 track windows of a SNP-table read."""
    return np.array(tb.column(S.TRACKS).combine_chunks().to_numpy_ndarray(), dtype=np.float32)


def f64(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Float column to float64 numpy, nulls as NaN."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
