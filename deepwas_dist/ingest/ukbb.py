"""The Broad UK Biobank LD format used by PolyFun and the DeepWAS paper.

Each window is a pair of files side by side (any fsspec URL: local, ``file://``, ``s3://``):

- ``chr{c}_{start}_{end}.npz``: a ``scipy.sparse`` matrix M saved with ``scipy.sparse.save_npz``,
  upper- or lower-triangular with 0.5 on the diagonal, so that R = M + M^T;
- ``chr{c}_{start}_{end}.gz``: gzipped whitespace-separated SNP list with header
  ``rsid chromosome position allele1 allele2`` (one row per row of M, same order).
"""
from __future__ import annotations

import io
import re

import fsspec
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.chroms import chrom_code, chrom_codes
from ..data.schema import A1, A2, BP, CHR, CM, MAF, SNP, SNP_COLUMNS
from ..errors import InputError
from ._common import header_and_sep, open_file, read_table, so

#: column names of the UKBB SNP list, mapped to the schema.
UKBB_COLUMNS = {"rsid": SNP, "chromosome": CHR, "position": BP, "allele1": A1, "allele2": A2}
_NAME = re.compile(r"chr(\w+?)_(\d+)_(\d+)\.npz$")
_DIAG_TOL = 1e-6


def _snp_list_url(npz_url: str) -> str:
    if not npz_url.endswith(".npz"):
        raise InputError(f"{npz_url}: a UKBB LD file name must end in .npz (chr{{c}}_{{start}}_{{end}}.npz).")
    return npz_url[:-4] + ".gz"


def read_ukbb_snps(gz_url: str, storage_options: dict | None = None) -> pd.DataFrame:
    """The SNP list of one UKBB LD window: columns ``SNP_COLUMNS`` with CM = MAF = NaN, file order."""
    names, sep = header_and_sep(gz_url, storage_options)
    missing = [c for c in UKBB_COLUMNS if c not in names]
    if missing:
        raise InputError(f"{gz_url} lacks column(s) {missing}; found {names}. A UKBB LD SNP list needs the "
                         f"header {' '.join(UKBB_COLUMNS)}.")
    df = read_table(gz_url, sep, storage_options, str_columns=["rsid", "allele1", "allele2"])
    df = df.rename(columns=UKBB_COLUMNS)
    df[CHR] = chrom_codes(df[CHR], gz_url)
    pos = pd.to_numeric(df[BP], errors="coerce")
    if pos.isna().any():
        i = int(np.flatnonzero(pos.isna().to_numpy())[0])
        raise InputError(f"{gz_url} line {i + 2} (SNP {df[SNP].iloc[i]}): position {df[BP].iloc[i]!r} is not "
                         "an integer; fix or remove that line (and the matching row/column of the .npz).")
    df[BP] = pos.astype(np.int64)
    df[CM] = np.nan
    df[MAF] = np.nan
    return df[list(SNP_COLUMNS)].reset_index(drop=True)


def _load_npz(npz_url: str, storage_options: dict | None) -> sp.spmatrix:
    with open_file(npz_url, "rb", storage_options) as f:
        data = f.read()  # np.load wants random access; read once, parse in memory
    try:
        return sp.load_npz(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 - any parse failure means a bad file
        raise InputError(f"{npz_url} is not a scipy.sparse .npz file ({e}). UKBB LD matrices must be saved "
                         "with scipy.sparse.save_npz.") from e


def read_ukbb_window(npz_url: str, storage_options: dict | None = None, expect_ids: np.ndarray | None = None
                     ) -> tuple[pd.DataFrame, sp.csr_matrix]:
    """Read and check one UKBB LD window, keeping its matrix sparse.

    Args:
        npz_url: URL of ``chr{c}_{start}_{end}.npz``; the SNP list ``.gz`` must sit beside it.
        storage_options: fsspec options (e.g. ``{"endpoint_url": ..., "anon": True}`` for s3).
        expect_ids: the SNP IDs the window listed when it was planned from (its rows must still be them).

    Returns:
        (snps, M): snps has columns ``SNP_COLUMNS`` (CM and MAF NaN), one row per SNP in matrix order; M is
        the stored (m, m) triangle as CSR, R = M + M^T (:func:`window_ld` makes any block of R dense).

    Raises:
        InputError: missing file, shape not matching the SNP list, M not triangular, diagonal not 0.5,
            non-finite entries.
    """
    gz_url = _snp_list_url(npz_url)
    snps = read_ukbb_snps(gz_url, storage_options)
    if expect_ids is not None and not np.array_equal(snps[SNP].to_numpy(dtype=object), expect_ids):
        raise InputError(f"{npz_url}: its SNP list changed while reading; fix: do not modify the files during "
                         "ingestion")
    M = sp.csr_matrix(_load_npz(npz_url, storage_options))
    M.eliminate_zeros()
    m = len(snps)
    if M.shape != (m, m):
        raise InputError(f"{npz_url} holds a {M.shape[0]}x{M.shape[1]} matrix but {gz_url} lists {m} SNPs. "
                         "The two files must come from the same window: re-download or rewrite both.")
    if sp.tril(M, k=-1).nnz and sp.triu(M, k=1).nnz:
        raise InputError(f"{npz_url} is not triangular (entries on both sides of the diagonal). The UKBB "
                         "format stores only the upper (or lower) triangle with 0.5 on the diagonal.")
    if not np.isfinite(M.data).all():
        raise InputError(f"{npz_url} has {int((~np.isfinite(M.data)).sum())} non-finite (NaN/inf) entries; "
                         "the LD matrix file is corrupt or was written from a matrix with missing values.")
    diag = M.diagonal()
    bad = np.abs(diag - 0.5) > _DIAG_TOL
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{npz_url}: diagonal entry {i} (SNP {snps[SNP].iloc[i]}) is {diag[i]}, not 0.5 "
                         f"({int(bad.sum())} such entries). The UKBB format stores M with R = M + M^T, so "
                         "the diagonal must be 0.5; a full matrix should be written with write_ukbb_ld.")
    return snps, M


def window_ld(M: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The dense float64 block R[rows][:, rows] of a window's R = M + M^T, with unit diagonal. Only the
    block is made dense: (M + M^T)[rows, rows] = M[rows, rows] + M[rows, rows]^T."""
    B = M[rows][:, rows].toarray().astype(np.float64)
    R = B + B.T
    np.fill_diagonal(R, 1.0)
    return R


def read_ukbb_ld(npz_url: str, storage_options: dict | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """One UKBB LD window as (snps, R): :func:`read_ukbb_window` with R the whole dense (m, m) float64
    M + M^T (exactly symmetric, unit diagonal)."""
    snps, M = read_ukbb_window(npz_url, storage_options)
    return snps, window_ld(M, np.arange(len(snps)))


def list_ukbb_files(dir_url: str, chrom: int | str | None = None,
                    storage_options: dict | None = None) -> list[tuple[int, int, int, str]]:
    """UKBB LD windows in a directory: sorted list of (chrom, start, end, npz_url).

    chrom is the int code (X = 23); start/end are the bp bounds from the file name; npz_url is
    ``dir_url`` joined with the file name (same scheme as given). ``chrom`` filters to one chromosome.
    """
    try:
        fs, path = fsspec.core.url_to_fs(dir_url, **so(storage_options))
        isdir = fs.isdir(path)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot access {dir_url}: {e}. Check the URL and --input-storage-option.") from e
    if not isdir:
        raise InputError(f"UKBB LD directory not found: {dir_url}. Give the folder holding chr*_*_*.npz files.")
    want = None if chrom is None else chrom_code(chrom, "--chroms")
    out = []
    for p in fs.ls(path, detail=False):
        name = p.rstrip("/").rsplit("/", 1)[-1]
        mt = _NAME.fullmatch(name)
        if not mt:
            continue
        c = chrom_code(mt.group(1), name)
        if want is not None and c != want:
            continue
        out.append((c, int(mt.group(2)), int(mt.group(3)), dir_url.rstrip("/") + "/" + name))
    return sorted(out)


def write_ukbb_ld(R: np.ndarray, snps: pd.DataFrame, npz_path: str, lower: bool = False,
                  storage_options: dict | None = None) -> None:
    """Write R (m, m) and its SNP table in the UKBB format: ``npz_path`` and the ``.gz`` SNP list beside it.

    Stores M = triu(R, 1) + 0.5 I (or the lower triangle when ``lower``) as a scipy.sparse CSR matrix,
    so that M + M^T reproduces R exactly. ``snps`` needs columns SNP CHR BP A1 A2 in matrix order.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise InputError(f"R must be a square matrix, got shape {R.shape}.")
    if R.shape[0] != len(snps):
        raise InputError(f"R is {R.shape[0]}x{R.shape[0]} but the SNP table has {len(snps)} rows.")
    if not np.allclose(R, R.T, rtol=0, atol=1e-12):
        raise InputError("R is not symmetric; the UKBB format stores a symmetric LD matrix.")
    missing = [c for c in (SNP, CHR, BP, A1, A2) if c not in snps.columns]
    if missing:
        raise InputError(f"the SNP table lacks column(s) {missing}; found {list(snps.columns)}.")
    gz_path = _snp_list_url(npz_path)
    tri = sp.tril(R, k=-1) if lower else sp.triu(R, k=1)
    M = sp.csr_matrix(tri + 0.5 * sp.identity(R.shape[0], format="csr"))
    with fsspec.open(npz_path, "wb", **so(storage_options)) as f:
        sp.save_npz(f, M)
    table = snps[[SNP, CHR, BP, A1, A2]].rename(columns={v: k for k, v in UKBB_COLUMNS.items()})
    with fsspec.open(gz_path, "wt", compression="gzip", **so(storage_options)) as f:
        table.to_csv(f, sep="\t", index=False)
