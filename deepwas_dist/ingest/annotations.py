"""Functional annotations per SNP: LDSC ``.annot(.gz)`` (full or thin) and Parquet tables.

- full annot: ``CHR BP SNP CM`` + one column per annotation (whitespace or tab separated);
- thin annot: annotation columns only, row i belonging to row i of the reference SNP list;
- Parquet: a ``SNP`` column + annotation columns.

:func:`read_annotations` reads whole files into one table (``prepare``); :func:`iter_annotation_chunks`
streams one file in chunks of rows (``predict --annot``: memory bounded by the chunk, not the file), with the
same numeric checks.

Metadata columns (``ANNOT_METADATA_COLUMNS``: CHR BP SNP CM A1 A2 MAF) are not annotations; those beyond
LDSC's CHR BP SNP CM (e.g. an ``MAF`` column) are named in ``table.attrs["metadata_columns"]`` of
:func:`read_annotations`, for the ingest summary. A file's CHR and BP, where present, are checked against
the reference's for the SNPs matched by ID (:mod:`deepwas_dist.ingest.positions`): rows that disagree are
dropped (their count is ``table.attrs["position_mismatch"]``), too many refuse the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..data.chroms import chrom_codes
from ..data.schema import A1, A2, ANNOT_METADATA_COLUMNS, BP, CHR, CM, RESERVED_COLUMNS, SNP
from ..errors import InputError
from ._common import ensure_sequence, gzip_errors, header_and_sep, one_line, open_file, read_table
from .positions import position_mismatch


class AnnotStats(NamedTuple):
    """Mean and standard deviation (ddof 0) of one annotation, and whether it only takes values 0/1."""

    mean: float
    std: float
    binary: bool


@dataclass(frozen=True)
class AnnotChunk:
    """Consecutive rows of one annotation file: the metadata columns it has (of those asked for; CHR as
    integer codes, SNP and alleles as strings), the annotations as float64 (rows, len(names)) in the order
    asked for, and where the rows are (``first``: the file line, or Parquet row, of the first)."""

    meta: pd.DataFrame
    values: np.ndarray
    first: int
    unit: str


def _is_parquet(path: str) -> bool:
    return path.endswith((".parquet", ".pq"))


def _numeric_columns(df: pd.DataFrame, names: list[str], snps: pd.Series, path: str,
                     row_offset: int, unit: str) -> pd.DataFrame:
    """Annotation columns as float64; InputError on a non-numeric or NaN/inf value (naming column, SNP)."""
    out = pd.DataFrame(index=df.index)
    for name in names:
        col = df[name]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
            bad = np.isnan(vals) & col.notna().to_numpy()
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(f"{path}: annotation {name!r} is not numeric: value {col.iloc[i]!r} at {unit} "
                                 f"{i + row_offset} (SNP {snps.iloc[i]}); {int(bad.sum())} such values. "
                                 "Annotations must be numbers (0/1 for binary ones).")
        bad = ~np.isfinite(vals)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{path}: annotation {name!r} is NaN/missing or infinite at {unit} {i + row_offset} "
                             f"(SNP {snps.iloc[i]}); {int(bad.sum())} such values. Fill them (e.g. 0 for a "
                             "binary annotation) or drop the SNPs.")
        out[name] = vals
    return out


def _read_one(path: str, storage_options: dict | None) -> tuple[pd.DataFrame | None, pd.DataFrame, list[str], str]:
    """(SNP column or None when thin, raw table, annotation names, row unit) of one file."""
    if _is_parquet(path):
        with open_file(path, "rb", storage_options) as f:
            raw = pd.read_parquet(f)
        raw = raw.reset_index(drop=True)
        if SNP not in raw.columns:
            raise InputError(f"{path} has no {SNP!r} column (columns: {list(raw.columns)}). A Parquet "
                             f"annotation table needs a {SNP} column with the SNP IDs.")
        names = [c for c in raw.columns if c not in ANNOT_METADATA_COLUMNS]
        return raw[SNP].astype(str), raw, names, "row"
    header, sep = header_and_sep(path, storage_options)
    meta = [c for c in header if c in ANNOT_METADATA_COLUMNS]
    if SNP not in header and meta:
        raise InputError(f"{path} has metadata column(s) {meta} but no {SNP!r} column (columns: {header}). "
                         f"A full .annot needs CHR BP SNP CM; a thin .annot has annotation columns only.")
    raw = read_table(path, sep, storage_options, str_columns=[SNP] if SNP in header else [])
    names = [c for c in raw.columns if c not in ANNOT_METADATA_COLUMNS]
    snps = raw[SNP].astype(str) if SNP in header else None
    return snps, raw, names, "line"


def annotation_columns(path: str, storage_options: dict | None = None) -> tuple[list[str], list[str]]:
    """(every column, the annotation columns: those not in ANNOT_METADATA_COLUMNS) of one file, from its
    header line or Parquet schema (nothing else is read)."""
    if _is_parquet(path):
        with open_file(path, "rb", storage_options) as f:
            cols = list(pq.ParquetFile(f).schema_arrow.names)
    else:
        cols = header_and_sep(path, storage_options)[0]
    return cols, [c for c in cols if c not in ANNOT_METADATA_COLUMNS]


def iter_annotation_chunks(path: str, names: list[str], chunk_rows: int,
                           metadata: tuple[str, ...] = (CHR, SNP, BP, A1, A2),
                           storage_options: dict | None = None) -> Iterator[AnnotChunk]:
    """One full annotation file (text or Parquet; it needs a SNP column) in chunks of ``chunk_rows`` rows:
    only the ``metadata`` columns it has and the annotations ``names`` are parsed. A non-numeric, NaN or
    infinite annotation value is an InputError naming the file, line (or row), SNP and column, as in
    :func:`read_annotations`; the caller checks that ``names`` are all in the file (:func:`annotation_columns`)."""
    cols, _ = annotation_columns(path, storage_options)
    meta = [c for c in metadata if c in cols]
    if SNP not in meta:
        raise InputError(f"{path}: no {SNP!r} column (columns: {cols}); a thin annot (annotation columns only) "
                         "cannot be streamed on its own; fix: give the full annot (CHR BP SNP CM + annotations)")
    use = meta + [n for n in names if n not in meta]
    strs = {c: str for c in (SNP, A1, A2) if c in meta}
    parquet, pos = _is_parquet(path), 0
    unit, offset = ("row", 1) if parquet else ("line", 2)
    with gzip_errors(path), open_file(path, "rb" if parquet else "rt", storage_options,
                                      compression=None if parquet else "infer") as f:
        if parquet:
            parts = (b.to_pandas() for b in pq.ParquetFile(f).iter_batches(batch_size=chunk_rows, columns=use))
        else:
            parts = pd.read_csv(f, sep=header_and_sep(path, storage_options)[1], usecols=use, dtype=strs,
                                chunksize=chunk_rows)
        try:
            for raw in parts:
                raw = raw.reset_index(drop=True)
                snps = raw[SNP].astype(str)
                vals = _numeric_columns(raw, list(names), snps, path, pos + offset, unit)
                out = raw[meta].copy()
                out[SNP] = snps
                for c in strs:
                    out[c] = out[c].astype(str)
                if CHR in meta:
                    out[CHR] = chrom_codes(raw[CHR], f"{path} ({unit}s {pos + offset}-{pos + offset + len(raw) - 1})")
                if BP in meta:
                    out[BP] = _positions(raw[BP], snps, path, pos + offset, unit)
                chunk = AnnotChunk(out, vals.to_numpy(np.float64).reshape(len(raw), len(names)), pos + offset, unit)
                pos += len(raw)
                del raw, snps, vals, out          # not alive while the next chunk is parsed: one chunk in memory
                yield chunk
                del chunk
        except (pd.errors.ParserError, ValueError) as e:
            if isinstance(e, InputError):
                raise
            raise InputError(f"cannot parse {path} as a delimited table near {unit} {pos + offset}: {one_line(e)}; "
                             "fix: every line needs as many fields as the header") from None


def _positions(col: pd.Series, snps: pd.Series, path: str, offset: int, unit: str) -> np.ndarray:
    """A BP column as int64; InputError naming the first value that is not a whole number."""
    vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(vals) | (vals != np.round(vals))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: {BP} {col.iloc[i]!r} at {unit} {i + offset} (SNP {snps.iloc[i]}) is not a whole "
                         f"number; {int(bad.sum())} such values; fix: give base-pair positions as integers")
    return vals.astype(np.int64)


def _position_drops(raw: pd.DataFrame, snps: pd.Series, reference: pd.DataFrame | None, path: str,
                    build: str | None) -> np.ndarray:
    """Rows of a file with SNP IDs whose CHR/BP disagree with the reference's (see the module docstring)."""
    has = [c for c in (CHR, BP) if c in raw.columns]
    if not has or reference is None or SNP not in reference.columns or CHR not in reference.columns \
            or (has == [BP] and BP not in reference.columns):
        return np.zeros(len(raw), dtype=bool)
    pos = pd.Index(reference[SNP].astype(str).to_numpy(dtype=object)).get_indexer(snps.to_numpy(dtype=object))
    hit = np.flatnonzero(pos >= 0)
    ref = reference.iloc[pos[hit]]
    check_bp = BP in raw.columns and BP in reference.columns
    bad = position_mismatch(snps.to_numpy(dtype=object)[hit], ref[CHR].to_numpy(),
                            ref[BP].to_numpy() if check_bp else None,
                            chrom_codes(raw[CHR], path)[hit] if CHR in raw.columns else None,
                            pd.to_numeric(raw[BP].iloc[hit], errors="coerce").to_numpy(dtype=np.float64)
                            if check_bp else None, path, build)
    out = np.zeros(len(raw), dtype=bool)
    out[hit[bad]] = True
    return out


def read_annotations(paths: str | list[str], reference: pd.DataFrame | None = None,
                     storage_options: dict | None = None, build: str | None = None
                     ) -> tuple[pd.DataFrame, list[str]]:
    """Read annotation files (e.g. one per chromosome) into one table.

    Args:
        paths: one path/URL or a list; all files must have the same annotation columns. Thin annots are
            aligned to consecutive blocks of ``reference`` rows in the order given (one file: all rows;
            files per chromosome: give them in the reference's chromosome order).
        reference: SNP table (column SNP, optionally CHR and BP) that thin annots are aligned to, and that
            the CHR/BP of files that have them are checked against.
        storage_options: fsspec options for remote URLs.
        build: the reference's genome build, if known (named in a position-mismatch error).

    Returns:
        (table, names): table has column SNP then one float64 column per annotation, rows in file
        order (files concatenated), RangeIndex; names lists the annotation columns in file order.
        ``table.attrs["metadata_columns"]`` names the columns read as metadata, not annotations,
        beyond CHR BP SNP CM (A1, A2, MAF), so that the caller can say they were not used;
        ``table.attrs["position_mismatch"]`` counts the rows dropped for a CHR/BP not the reference's.

    Raises:
        InputError: missing SNP column, non-numeric or NaN values (naming column and SNP), thin annot
            whose rows do not match the reference, different annotation columns across files,
            duplicate SNPs, annotation names that clash with reserved columns.
    """
    paths = ensure_sequence(paths)
    if not paths:
        raise InputError("read_annotations: no annotation files given.")
    parts, names0, first, thin_rows, n_thin, metadata, n_pos = [], None, None, 0, 0, [], 0
    for path in paths:
        snps, raw, names, unit = _read_one(path, storage_options)
        metadata += [c for c in raw.columns if c in ANNOT_METADATA_COLUMNS and c not in (CHR, BP, SNP, CM)
                     and c not in metadata]
        if not names:
            raise InputError(f"{path} has no annotation columns (columns: {list(raw.columns)}).")
        clash = [c for c in names if c in RESERVED_COLUMNS]
        if clash:
            raise InputError(f"{path}: annotation name(s) {clash} are reserved; rename those columns.")
        if names0 is None:
            names0, first = names, path
        elif set(names) != set(names0):
            raise InputError(f"{path} has annotation columns {names}, but {first} has {names0}. Files read "
                             "together must have the same annotations (e.g. one file per chromosome); read "
                             "different annotation sets separately and join them on SNP.")
        offset = 2 if unit == "line" else 1
        thin = snps is None
        if thin:
            if reference is None or SNP not in reference.columns:
                raise InputError(f"{path} is a thin annot (no SNP column; columns {list(raw.columns)}): pass "
                                 "reference=<SNP table of the panel it was made for> to align its rows, or "
                                 "use a full annot with CHR BP SNP CM columns.")
            lo, hi = thin_rows, thin_rows + len(raw)
            if hi > len(reference):
                raise InputError(f"{path}: thin annot has {len(raw)} rows; with the {thin_rows} rows of the "
                                 f"thin files before it that exceeds the reference's {len(reference)} SNPs. A thin "
                                 "annot must have exactly one row per reference SNP, in reference order.")
            snps = reference[SNP].iloc[lo:hi].astype(str).reset_index(drop=True)
            if len(paths) > 1 and CHR in reference.columns:
                _check_chrom_block(reference[CHR].to_numpy(), lo, hi, path)
            thin_rows, n_thin = hi, n_thin + 1
        vals = _numeric_columns(raw, names0, snps, path, offset, unit)
        vals.insert(0, SNP, snps.to_numpy())
        vals["_file"] = path
        if not thin:
            drop = _position_drops(raw, snps, reference, path, build)
            vals, n_pos = vals[~drop], n_pos + int(drop.sum())
        parts.append(vals)
    if n_thin and n_thin != len(paths):
        raise InputError("read_annotations: thin and full annot files are mixed; use one kind for all files.")
    if n_thin and thin_rows != len(reference):
        raise InputError(f"thin annot file(s) {paths} have {thin_rows} rows in total but the reference has "
                         f"{len(reference)} SNPs. A thin annot needs exactly one row per reference SNP, in "
                         "reference order; check it was made for this reference.")
    table = pd.concat(parts, ignore_index=True)
    dup = table[SNP].duplicated(keep=False).to_numpy()
    if dup.any():
        name = table[SNP].iloc[int(np.flatnonzero(dup)[0])]
        files = sorted(set(table.loc[table[SNP] == name, "_file"]))
        raise InputError(f"duplicate SNP {name!r} in annotation file(s) {files} "
                         f"({int(table[SNP].duplicated().sum())} duplicated rows in total). Each SNP needs one row.")
    out = table[[SNP] + list(names0)]
    out.attrs["metadata_columns"] = metadata
    out.attrs["position_mismatch"] = n_pos
    return out, list(names0)


def ids_match_nothing(table_ids: pd.Series, dataset_ids: pd.Series, where: str) -> InputError:
    """The error for annotation files none of whose SNP IDs is in the dataset (--fill would write
    constant annotations)."""
    ours, theirs = ", ".join(map(str, table_ids.iloc[:3])), ", ".join(map(str, dataset_ids.iloc[:3]))
    return InputError(f"no SNP of {where} is in the dataset: its SNP IDs (e.g. {ours}) do not match the panel's "
                      f"(e.g. {theirs}), e.g. rsIDs against chr:pos, or it covers other chromosomes; --fill would "
                      "only write constant annotations; fix: give the annotation file the panel's SNP IDs in its "
                      "SNP column")


def _check_chrom_block(chrom: np.ndarray, lo: int, hi: int, path: str) -> None:
    """A thin file among several must cover exactly one whole chromosome of the reference."""
    ok = hi > lo and (chrom[lo:hi] == chrom[lo]).all()
    ok = ok and (lo == 0 or chrom[lo - 1] != chrom[lo]) and (hi == len(chrom) or chrom[hi] != chrom[hi - 1])
    if not ok:
        raise InputError(f"{path}: this thin annot maps to reference rows {lo}..{hi - 1}, which is not exactly one "
                         f"chromosome of the reference (chromosomes {sorted(set(chrom[lo:hi].tolist()))} there). "
                         "Give per-chromosome thin annots in the reference's chromosome order "
                         "(1, 2, ..., 22, not sorted as text), one file per chromosome.")


def standardisation(df: pd.DataFrame, names: list[str]) -> dict[str, AnnotStats]:
    """Per annotation: AnnotStats(mean, std (ddof 0), binary = only values 0 and 1).

    A constant annotation has std 0: the caller decides whether to drop it or skip scaling it.
    """
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise InputError(f"standardisation: annotation(s) {missing} not in the table (columns: {list(df.columns)}).")
    out = {}
    for name in names:
        v = df[name].to_numpy(dtype=np.float64)
        out[name] = AnnotStats(mean=float(v.mean()), std=float(v.std()), binary=bool(np.isin(v, (0.0, 1.0)).all()))
    return out
