"""Streamed PolyFun-format SNPVAR files, one per chromosome and trait (``deepwas predict``).

    <out>/snpvar/<trait>.<chr>.snpvar.gz      CHR SNP BP A1 A2 SNPVAR      (tab-separated, gzipped)

Rows are appended chunk by chunk: a chromosome's files stay open while its rows arrive and are closed when
the next chromosome starts, so memory is one chunk whatever the number of variants. The input must
therefore give each chromosome's rows together (one file per chromosome, or a file sorted by CHR); a
chromosome that comes back after another is an InputError. Without A1/A2 in the input the files have
``CHR SNP BP SNPVAR`` (see :data:`SNPVAR_COLUMNS`). Formatting is that of
:func:`deepwas_dist.evaluate.report.gzip_tsv` (6 significant digits, NA for missing, gzip mtime 0), so a
file written in chunks has the bytes of one written at once.
"""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.storage import filesystem, join
from ..errors import InputError

#: PolyFun's columns of a prior file; A1 and A2 are left out when the input has no alleles.
SNPVAR_COLUMNS = (S.CHR, S.SNP, S.BP, S.A1, S.A2, "SNPVAR")


class SnpvarWriter:
    """``write(meta, f, where)`` appends rows (``meta``: CHR SNP BP [A1 A2]; ``f``: (rows, traits)) to
    ``<out>/snpvar/<trait>.<chr>.snpvar.gz``; ``close()`` (or leaving the ``with``) finishes the files."""

    def __init__(self, out: str, traits: list[str], storage_options: dict | None = None):
        self.fs, self.root = filesystem(out, storage_options)
        self.traits = list(traits)
        self.chrom: int | None = None
        self.columns: list[str] | None = None
        self.done: set[int] = set()
        self.rows: dict[int, int] = {}
        self._open: list = []

    def __enter__(self) -> SnpvarWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, meta: pd.DataFrame, f: np.ndarray, where: str) -> None:
        cols = [c for c in SNPVAR_COLUMNS[:-1] if c in meta.columns]
        chrom = meta[S.CHR].to_numpy()
        if len(chrom) == 0:
            return
        cuts = np.flatnonzero(chrom[1:] != chrom[:-1]) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(chrom)]):
            c = int(chrom[lo])
            if c != self.chrom:
                self._start(c, cols, where)
            elif cols != self.columns:
                raise InputError(f"{where}: columns {cols} but earlier rows of chromosome {c} had {self.columns}; "
                                 "fix: give every file of a chromosome the same CHR SNP BP (A1 A2) columns")
            part = meta.iloc[lo:hi]
            for t, fh in enumerate(self._open):
                df = pd.DataFrame({k: part[k].to_numpy() for k in cols})
                df["SNPVAR"] = f[lo:hi, t]
                fh.write(df.to_csv(sep="\t", index=False, header=False, na_rep="NA", float_format="%.6g").encode())
            self.rows[c] += hi - lo

    def _start(self, c: int, cols: list[str], where: str) -> None:
        if c in self.done:
            raise InputError(f"{where}: rows of chromosome {c} after those of another chromosome; SNPVAR files are "
                             "streamed one chromosome at a time; fix: sort the file by CHR or give one file per "
                             "chromosome (e.g. baseline.{1..22}.annot.gz)")
        self._finish()
        self.chrom, self.columns, self.rows[c] = c, cols, 0
        header = ("\t".join(cols + ["SNPVAR"]) + "\n").encode()
        for name in self.traits:
            path = join(self.root, f"snpvar/{name}.{c}.snpvar.gz")
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            raw = self.fs.open(path, "wb")
            gz = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)
            gz.write(header)
            self._open.append(_Pair(gz, raw))

    def _finish(self) -> None:
        for fh in self._open:
            fh.close()
        self._open = []
        if self.chrom is not None:
            self.done.add(self.chrom)
        self.chrom = None

    def close(self) -> None:
        self._finish()


class _Pair:
    """A GzipFile and the file object under it, closed in that order."""

    def __init__(self, gz: gzip.GzipFile, raw):
        self.gz, self.raw = gz, raw

    def write(self, data: bytes) -> None:
        self.gz.write(data)

    def close(self) -> None:
        self.gz.close()
        self.raw.close()
