"""Checking the tables a caller hands :class:`~deepwas_dist.data.writer.DatasetWriter`.

Each check raises :class:`~deepwas_dist.errors.InputError` naming the table (``where``), the first
offending SNPs and the fix, and returns the columns as numpy arrays. Chromosome labels are parsed by the
writer; the checks here receive the chromosome codes (``chr_codes``) it computed. Nothing here keeps
state across chromosomes: that (one annotation set, one track shape, genome-wide unique IDs) is the
writer's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from ..errors import InputError
from . import schema as S


def examples(values, k: int = 5) -> str:
    vals = list(values)
    more = f" (+{len(vals) - k} more)" if len(vals) > k else ""
    return ", ".join(map(str, vals[:k])) + more


def numeric(col: pd.Series, where: str, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError) as e:
        raise InputError(f"{where}: column {name} must be numeric ({e})") from e


def strings(col: pd.Series, where: str, name: str, upper: bool = False) -> np.ndarray:
    if col.isna().any():
        rows = np.nonzero(col.isna().to_numpy())[0]
        raise InputError(f"{where}: column {name} has missing values at rows {examples(rows)}")
    out = col.astype(str).str.strip()
    if upper:
        out = out.str.upper()
    if (out == "").any():
        rows = np.nonzero((out == "").to_numpy())[0]
        raise InputError(f"{where}: column {name} has empty strings at rows {examples(rows)}")
    return out.to_numpy(dtype=object)


def finite_or_raise(x: np.ndarray, ids: np.ndarray, where: str, name: str, fix: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.nonzero(bad.reshape(len(ids), -1).any(axis=1))[0]
        raise InputError(f"{where}: {name} is missing/non-finite for {len(rows)} SNP(s): "
                         f"{examples(ids[rows])}; fix: {fix}")


def unique_ids(ids: np.ndarray, where: str, fix: str) -> None:
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise InputError(f"{where}: duplicate SNP IDs {examples(pd.unique(ids[dup]))}; fix: {fix}")


# ------------------------------------------------------------------------------------------ SNP tables
@dataclass
class SnpColumns:
    """A checked SNP table: IDs, positions (CM None without a genetic map), alleles (upper case), MAF."""

    ids: np.ndarray
    bp: np.ndarray
    cm: np.ndarray | None
    a1: np.ndarray
    a2: np.ndarray
    maf: np.ndarray


def check_snp_table(snps: pd.DataFrame, c: int, where: str, chr_codes) -> SnpColumns:
    """Check chromosome ``c``'s SNP table (columns schema.SNP_REQUIRED_COLUMNS; CHR, CM, MAF optional).
    ``chr_codes(column)`` gives the integer chromosome codes of a CHR column."""
    if not isinstance(snps, pd.DataFrame):
        raise InputError(f"{where}: expected a pandas DataFrame, got {type(snps).__name__}")
    S.check_columns(snps.columns, S.SNP_REQUIRED_COLUMNS, where, stored=False,
                    fix=f"rename the columns to {list(S.SNP_REQUIRED_COLUMNS)} (CHR, CM, MAF optional)")
    df = snps.reset_index(drop=True)
    n = len(df)
    if n == 0:
        raise InputError(f"{where}: no SNPs")
    ids = strings(df[S.SNP], where, S.SNP)
    unique_ids(ids, where, "drop duplicates (e.g. keep the first; multi-allelic sites need distinct IDs)")
    if S.CHR in df.columns:
        bad = chr_codes(df[S.CHR]) != c
        if bad.any():
            raise InputError(f"{where}: CHR differs from {c} for SNPs {examples(ids[bad])}; "
                             "fix: split the table by chromosome")
    bp = numeric(df[S.BP], where, S.BP)
    finite_or_raise(bp, ids, where, "BP", "drop SNPs without a position")
    if np.any(bp < 0) or np.any(bp != np.round(bp)):
        raise InputError(f"{where}: BP must be non-negative integers")
    bp = bp.astype(np.int64)
    if np.any(np.diff(bp) < 0):
        i = int(np.nonzero(np.diff(bp) < 0)[0][0]) + 1
        raise InputError(f"{where}: positions out of order at row {i} (SNP {ids[i]}: BP {bp[i]} < {bp[i - 1]}); "
                         "fix: sort the SNP table (and its annotations) by BP")
    a1 = strings(df[S.A1], where, S.A1, upper=True)
    a2 = strings(df[S.A2], where, S.A2, upper=True)
    cm = None
    if S.CM in df.columns:
        cm = numeric(df[S.CM], where, S.CM)
        if np.isnan(cm).all():
            cm = None
        else:
            finite_or_raise(cm, ids, where, "CM", "fill every SNP's genetic position or drop the CM column")
            if np.any(np.diff(cm) < 0):
                i = int(np.nonzero(np.diff(cm) < 0)[0][0]) + 1
                raise InputError(f"{where}: CM decreases at row {i} (SNP {ids[i]}) while BP increases; "
                                 "fix: use a genetic map on the same build as BP")
    maf = numeric(df[S.MAF], where, S.MAF) if S.MAF in df.columns else np.full(n, np.nan)
    if np.any((maf < 0) | (maf > 1)):
        raise InputError(f"{where}: MAF outside [0, 1]")
    return SnpColumns(ids=ids, bp=bp, cm=cm, a1=a1, a2=a2, maf=maf)


def check_annotations(annotations, ids: np.ndarray, n: int, where: str) -> tuple[list[str], np.ndarray]:
    """(annotation names, (n, A) float64 values) of one chromosome's annotation table (None: no annotations).
    An SNP column, if present, must equal ``ids``; LDSC .annot metadata columns are dropped."""
    if annotations is None:
        return [], np.zeros((n, 0), dtype=np.float32)
    if not isinstance(annotations, pd.DataFrame):
        raise InputError(f"{where}: annotations must be a pandas DataFrame, got {type(annotations).__name__}")
    ann = annotations.reset_index(drop=True)
    if len(ann) != n:
        raise InputError(f"{where}: annotations have {len(ann)} rows for {n} SNPs; fix: one annotation row "
                         "per SNP, in the SNP table's order")
    if S.SNP in ann.columns:
        a_ids = ann[S.SNP].astype(str).str.strip().to_numpy(dtype=object)
        bad = a_ids != ids
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise InputError(f"{where}: annotation row {i} is SNP {a_ids[i]} but the SNP table has {ids[i]}; "
                             "fix: align (merge) the annotations to the SNP table before writing")
    feats = [str(col) for col in ann.columns if col not in S.ANNOT_METADATA_COLUMNS]
    if len(set(feats)) != len(feats):
        raise InputError(f"{where}: duplicate annotation names")
    clash = sorted(set(feats) & S.RESERVED_COLUMNS)
    if clash:
        raise InputError(f"{where}: annotation names {clash} are reserved; fix: rename them")
    X = np.empty((n, len(feats)), dtype=np.float64)
    for j, col in enumerate(feats):
        X[:, j] = numeric(ann[col], where, f"annotation {col!r}")
    finite_or_raise(X, ids, where, "an annotation", "fill missing annotation values (e.g. 0) before writing")
    return feats, X


def check_tracks(tracks, ids: np.ndarray, n: int, where: str, dtype: str = "float32") -> np.ndarray:
    """(n, K, w) float32 C-contiguous track windows (a numpy array or a torch tensor), all finite (and,
    stored as float16, all within its range)."""
    trk = np.asarray(tracks.detach().cpu().numpy() if isinstance(tracks, torch.Tensor) else tracks)
    if trk.ndim != 3 or trk.shape[0] != n:
        raise InputError(f"{where}: tracks must have shape (M={n}, K, w), got {trk.shape}")
    trk = np.ascontiguousarray(trk, dtype=np.float32)
    finite_or_raise(trk, ids, where, "a track value", "fill missing track coverage (e.g. 0)")
    if dtype == "float16" and trk.size and float(np.abs(trk).max()) > S.FLOAT16_MAX:
        raise InputError(f"{where}: a track value {float(np.abs(trk).max()):.4g} is beyond float16's range "
                         f"(+-{S.FLOAT16_MAX:g}); fix: normalise the tracks or store them as float32")
    return trk


def unique_genome_wide(ids: np.ndarray, chroms: dict, where: str) -> np.ndarray:
    """The 64-bit hashes of ``ids``, checked against the IDs of the chromosomes already written (chrom ->
    ChromRecord); a clash (confirmed on the strings) is an InputError."""
    hashes = pd.util.hash_array(ids.astype(object))
    for oc, st in chroms.items():
        common = np.intersect1d(hashes, st.hashes)
        if common.size:
            other = set(st.ids.to_pylist())
            clash = [s for s in ids[np.isin(hashes, common)] if s in other]
            if clash:
                raise InputError(f"{where}: SNP IDs {examples(clash)} also appear on chr{oc}; "
                                 "fix: SNP IDs must be unique genome-wide")
    return hashes


# ------------------------------------------------------------------------------------------ sumstats
@dataclass
class SumstatsColumns:
    """A checked sumstats table: IDs, Z, N, F_TRUE (None without truth), (A1, A2) (None without alleles),
    integer chromosome codes (None without a CHR column)."""

    ids: np.ndarray
    z: np.ndarray
    n: np.ndarray
    f_true: np.ndarray | None
    alleles: tuple[np.ndarray, np.ndarray] | None
    chrom: np.ndarray | None


def check_sumstats(df: pd.DataFrame, where: str, chr_codes) -> SumstatsColumns:
    """Check a trait's summary statistics (columns SNP Z N; A1 A2, CHR, F_TRUE optional)."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{where}: expected a pandas DataFrame, got {type(df).__name__}")
    S.check_columns(df.columns, S.SUMSTATS_REQUIRED_COLUMNS, where, stored=False,
                    fix="harmonise with deepwas_dist.ingest, which yields SNP A1 A2 Z N")
    d = df.reset_index(drop=True)
    if len(d) == 0:
        raise InputError(f"{where}: no rows")
    ids = strings(d[S.SNP], where, S.SNP)
    unique_ids(ids, where, "keep one row per SNP")
    z = numeric(d[S.Z], where, S.Z)
    finite_or_raise(z, ids, where, "Z", "drop SNPs without a z-score (absent SNPs are simply not scored)")
    nn = numeric(d[S.N], where, S.N)
    finite_or_raise(nn, ids, where, "N", "give every SNP its GWAS sample size")
    if np.any(nn <= 0):
        raise InputError(f"{where}: N must be > 0 (SNPs {examples(ids[nn <= 0])})")
    f_true = None
    if S.F_TRUE in d.columns:
        f_true = numeric(d[S.F_TRUE], where, S.F_TRUE)
        finite_or_raise(f_true, ids, where, "F_TRUE", "give the truth for every SNP or drop the column")
        if np.any(f_true < 0):
            raise InputError(f"{where}: F_TRUE (per-SNP heritability) must be >= 0")
    alleles = (strings(d[S.A1], where, S.A1, upper=True), strings(d[S.A2], where, S.A2, upper=True)) \
        if S.A1 in d.columns and S.A2 in d.columns else None
    chr_in = chr_codes(d[S.CHR]) if S.CHR in d.columns else None
    return SumstatsColumns(ids=ids, z=z, n=nn, f_true=f_true, alleles=alleles, chrom=chr_in)


def match_to_reference(ss: SumstatsColumns, chroms: dict, where: str) -> tuple[dict[int, np.ndarray], int]:
    """(chrom -> sumstats row of each reference SNP (-1: none), SNPs matched) against the written
    chromosomes (chrom -> ChromRecord); each match checked by :func:`check_harmonised`."""
    index = pd.Index(ss.ids)
    matches: dict[int, np.ndarray] = {}
    total = 0
    for c in sorted(chroms):
        st = chroms[c]
        pos = index.get_indexer(st.ids.to_numpy(zero_copy_only=False))
        hit = pos >= 0
        check_harmonised(ss, c, pos[hit], hit, st.a1, st.a2, where)
        matches[c] = pos
        total += int(hit.sum())
    if total == 0:
        raise InputError(f"{where}: none of its {len(ss.ids)} SNP IDs is in the SNP tables; fix: use the reference "
                         "panel's SNP IDs (e.g. rsIDs) or harmonise by position first")
    return matches, total


def check_harmonised(ss: SumstatsColumns, c: int, src: np.ndarray, hit: np.ndarray, ref_a1: pa.Array,
                     ref_a2: pa.Array, where: str) -> None:
    """The sumstats rows ``src`` matched to chromosome ``c``'s reference SNPs (``hit`` of them) must be on
    that chromosome and carry the reference alleles ``ref_a1``/``ref_a2`` (of every reference SNP)."""
    ids = ss.ids
    if ss.chrom is not None:
        bad = ss.chrom[src] != c
        if bad.any():
            raise InputError(f"{where}: SNPs {examples(ids[src[bad]])} are on chr{c} in the reference but "
                             "on another chromosome in the sumstats; fix: use the reference build")
    if ss.alleles is not None:
        ra1 = ref_a1.to_numpy(zero_copy_only=False)[hit]
        ra2 = ref_a2.to_numpy(zero_copy_only=False)[hit]
        bad = (ss.alleles[0][src] != ra1) | (ss.alleles[1][src] != ra2)
        if bad.any():
            k = int(np.nonzero(bad)[0][0])
            raise InputError(f"{where}: {int(bad.sum())} SNP(s) are not harmonised to the reference alleles "
                             f"(e.g. {ids[src[k]]}: {ss.alleles[0][src[k]]}/{ss.alleles[1][src[k]]} vs reference "
                             f"{ra1[k]}/{ra2[k]}); fix: harmonise with deepwas_dist.ingest (flip Z on "
                             "swapped alleles, drop mismatches)")
