"""GWAS summary statistics: parse the common formats to (SNP A1 A2 Z N [CHR BP]), harmonise to a reference.

Formats (``fmt``), each read gzipped or plain through fsspec:

- ``"ldsc"``: LDSC ``.sumstats(.gz)``, columns ``SNP A1 A2 Z N``.
- ``"fastgwa"``: GCTA fastGWA, ``CHR SNP POS A1 A2 N AF1 BETA SE P``; Z = BETA / SE.
- ``"plink2"``: PLINK 2 ``.glm.linear`` / ``.glm.logistic`` (``#CHROM POS ID REF ALT A1 ... OBS_CT
  BETA|OR SE|LOG(OR)_SE T_STAT|Z_STAT P``). A1 is the tested allele; A2 is AX when present, else whichever
  of REF/ALT is not A1. Z = BETA / SE (linear), log(OR) / LOG(OR)_SE (logistic), or T_STAT / Z_STAT when
  the effect or its SE is absent. Rows with TEST other than ADD (covariates) are skipped.
- ``"generic"``: any delimited file; ``column_map`` maps roles (SNP A1 A2 Z N CHR BP BETA SE) to the
  file's column names; unmapped roles default to a column of the same name. Z, or BETA and SE.

In every format Z is the signed statistic for A1 (the effect allele).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.chroms import chrom_codes
from ..data.schema import A1, A2, BP, CHR, SNP, SUMSTATS_COLUMNS, N, Z
from ..errors import InputError
from ._common import check_unique, first_bad, header_and_sep, read_table
from .positions import position_mismatch

#: roles besides the schema columns that a column_map may name
BETA, SE, OR, STAT, REF, ALT = "BETA", "SE", "OR", "STAT", "REF", "ALT"
GENERIC_ROLES = (SNP, A1, A2, Z, N, CHR, BP, BETA, SE)
FORMATS = ("ldsc", "fastgwa", "plink2", "generic")

_FASTGWA = {CHR: "CHR", SNP: "SNP", BP: "POS", A1: "A1", A2: "A2", N: "N", BETA: "BETA", SE: "SE"}
_LDSC = {SNP: "SNP", A1: "A1", A2: "A2", Z: "Z", N: "N"}


def detect_format(names: list[str]) -> str:
    """Format of a sumstats file from its header names: one of FORMATS except "generic".

    Raises InputError when the header matches none of them.
    """
    s = set(names)
    if "ID" in s and ("#CHROM" in s or "OBS_CT" in s):
        return "plink2"
    if set(_FASTGWA.values()) <= s:
        return "fastgwa"
    if {"SNP", "Z"} <= s:
        return "ldsc"
    raise InputError(f"cannot tell the format of a sumstats file with columns {names}. Known formats: LDSC "
                     "(SNP A1 A2 Z N), fastGWA (CHR SNP POS A1 A2 N AF1 BETA SE P), PLINK 2 .glm "
                     "(#CHROM POS ID REF ALT A1 ... OBS_CT BETA/OR SE T_STAT/Z_STAT P); fix: pass --format generic "
                     "--columns SNP=...,A1=...,A2=...,Z=...,N=... (or BETA=...,SE=... instead of Z) naming "
                     "this file's columns")


def _plink2_roles(names: list[str]) -> dict[str, str]:
    s = set(names)
    roles = {CHR: "CHROM" if "CHROM" in s and "#CHROM" not in s else "#CHROM", BP: "POS", SNP: "ID",
             A1: "A1", REF: "REF", ALT: "ALT", N: "OBS_CT"}
    if "AX" in s:
        roles[A2] = "AX"
    effect = BETA if BETA in s else OR if OR in s else None
    se = "SE" if "SE" in s else "LOG(OR)_SE" if "LOG(OR)_SE" in s else None
    stat = next((c for c in ("T_STAT", "Z_STAT") if c in s), None)
    if effect and se:
        roles[effect], roles[SE] = effect, se
    elif stat:
        roles[STAT] = stat
    else:
        roles[BETA], roles[SE] = "BETA", "SE"  # reported as missing
    return roles


def _is_logistic(names: list[str]) -> bool:
    return bool({"OR", "LOG(OR)_SE", "Z_STAT"} & set(names))


def _generic_roles(names: list[str], cmap: dict[str, str]) -> dict[str, str]:
    roles = {r: r for r in GENERIC_ROLES if r in names}
    roles.update(cmap)
    if Z in roles and (BETA in cmap or SE in cmap) and Z not in cmap:
        del roles[Z]  # an explicit BETA/SE mapping wins over a column that happens to be called Z
    for r in (BETA, SE):
        if Z in roles:
            roles.pop(r, None)
        else:
            roles.setdefault(r, r)
    for r in (SNP, A1, A2):
        roles.setdefault(r, r)
    return roles


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)


def read_sumstats(path: str, fmt: str = "auto", column_map: dict[str, str] | None = None,
                  storage_options: dict | None = None, n: float | None = None) -> pd.DataFrame:
    """Read GWAS summary statistics (see the module docstring for the formats).

    Args:
        path: file path or fsspec URL, plain or gzipped (by extension).
        fmt: "auto" (detect from the header; "generic" whenever column_map is given), or one of FORMATS.
        column_map: role -> file column (roles: SNP A1 A2 Z N CHR BP BETA SE); defines a "generic" file,
            or overrides single columns of a named format.
        storage_options: fsspec options for remote URLs.
        n: constant sample size; used for every SNP instead of any N column.

    Returns:
        DataFrame with columns SNP A1 A2 Z N (str, str, str, float64, float64), plus CHR (int32) and/or BP
        (int64) when the file has them (:func:`harmonise` checks them against the panel), in file order
        with a RangeIndex. ``df.attrs["format"]`` is the format used ("ldsc", "fastgwa", "plink2_linear",
        "plink2_logistic" or "generic").

    Raises:
        InputError naming the file, line and SNP, and the fix: missing columns (lists those found),
        NaN/inf Z, BETA or SE, SE <= 0, duplicate SNP IDs, missing or non-positive N.
    """
    path = str(path)
    cmap = dict(column_map or {})
    unknown = [k for k in cmap if k not in GENERIC_ROLES]
    if unknown:
        raise InputError(f"--columns has unknown role(s) {unknown}; the roles are {' '.join(GENERIC_ROLES)} "
                         "(ROLE=COLUMN, e.g. --columns SNP=rsid,A1=ea,A2=oa,Z=zscore,N=n)")
    if fmt in ("plink2_linear", "plink2_logistic"):
        fmt = "plink2"
    if fmt not in FORMATS + ("auto",):
        raise InputError(f"unknown sumstats format {fmt!r}; fix: --format auto or one of {', '.join(FORMATS)}")
    names, sep = header_and_sep(path, storage_options)
    if fmt == "auto":
        fmt = "generic" if cmap else detect_format(names)
    if fmt == "generic":
        roles = _generic_roles(names, cmap)
    else:
        roles = _plink2_roles(names) if fmt == "plink2" else dict(_LDSC if fmt == "ldsc" else _FASTGWA)
        if fmt == "ldsc":           # optional in LDSC files; checked against the panel where present
            roles.update({r: r for r in (CHR, BP) if r in names})
        roles.update(cmap)
    if n is not None:
        roles.pop(N, None)
    elif N not in roles:
        roles[N] = N
    missing = {r: c for r, c in roles.items() if c not in names}
    if N in missing:
        raise InputError(f"{path}: no sample-size column {missing[N]!r} (columns found: {names}). Pass the "
                         "sample size with --n N, or map the column with --columns N=COLUMN")
    if missing:
        raise InputError(f"{path} ({fmt} format) lacks required column(s) "
                         f"{', '.join(f'{c!r} ({r})' for r, c in missing.items())}; columns found: {names}. "
                         "Fix the header, or pass --format generic --columns ROLE=COLUMN,... "
                         "(e.g. SNP=rsid,A1=ea,A2=oa,Z=z,N=n)")

    str_cols = [roles[r] for r in (SNP, A1, A2, REF, ALT) if r in roles]
    raw = read_table(path, sep, storage_options, str_columns=str_cols)
    if fmt == "plink2" and "TEST" in raw.columns:
        raw = raw[raw["TEST"].astype(str) == "ADD"]
    if raw.empty:
        raise InputError(f"{path} has no data rows.")
    lines = raw.index.to_numpy() + 2  # header is line 1
    out = pd.DataFrame(index=raw.index)
    out[SNP] = raw[roles[SNP]].astype(str).str.strip()
    out[A1] = raw[roles[A1]].astype(str).str.strip()
    if fmt == "plink2" and A2 not in roles:
        a1, ref, alt = (raw[roles[r]].astype(str).str.upper().to_numpy() for r in (A1, REF, ALT))
        other = np.where(a1 == alt, raw[roles[REF]].to_numpy(dtype=object),
                         np.where(a1 == ref, raw[roles[ALT]].to_numpy(dtype=object), None))
        bad = pd.isna(other)
        if bad.any():
            raise InputError(f"{path}: A1 is neither REF nor ALT at {first_bad(bad, out[SNP], lines)}. Split "
                             "multi-allelic variants (e.g. `plink2 ... --glm cols=+ax` or bcftools norm -m-) "
                             "or remove those rows.")
        out[A2] = pd.Series(other, index=raw.index).astype(str)
    else:
        out[A2] = raw[roles[A2]].astype(str).str.strip()
    for col in (SNP, A1, A2):
        bad = (out[col].isna() | (out[col] == "")).to_numpy(dtype=bool)
        if bad.any():
            raise InputError(f"{path}: missing {col} at {first_bad(bad, out[SNP], lines)}. "
                             "Remove rows without an ID or alleles.")
    check_unique(out[SNP], lines, path, "Keep one row per SNP (e.g. drop multi-allelic duplicates) "
                                        "before ingestion.")

    def finite(col: str, what: str, fix: str) -> np.ndarray:
        x = _numeric(raw, col)
        bad = ~np.isfinite(x)
        if bad.any():
            raise InputError(f"{path}: {what} is NaN, infinite or not a number at "
                             f"{first_bad(bad, out[SNP], lines)}. {fix}")
        return x

    if Z in roles:
        z = finite(roles[Z], f"Z (column {roles[Z]!r})", "Remove or fix those rows.")
    elif STAT in roles:
        z = finite(roles[STAT], roles[STAT], "Remove those rows (e.g. ERRCODE != '.').")
    else:
        if OR in roles:
            odds = _numeric(raw, roles[OR])
            bad = ~(np.isfinite(odds) & (odds > 0))
            if bad.any():
                raise InputError(f"{path}: OR (column {roles[OR]!r}) is not a positive finite number at "
                                 f"{first_bad(bad, out[SNP], lines)}. Remove those rows.")
            beta = np.log(odds)
            beta_name = f"log({roles[OR]})"
        else:
            beta, beta_name = _numeric(raw, roles[BETA]), roles[BETA]
        se = _numeric(raw, roles[SE])
        bad = ~(np.isfinite(beta) & np.isfinite(se))
        if bad.any():
            raise InputError(f"{path}: {beta_name} or {roles[SE]} is NaN, infinite or not a number at "
                             f"{first_bad(bad, out[SNP], lines)}, so Z = BETA / SE is undefined. "
                             "Remove those rows.")
        bad = se <= 0
        if bad.any():
            raise InputError(f"{path}: standard error {roles[SE]} <= 0 at {first_bad(bad, out[SNP], lines)}. "
                             "Remove those rows; a standard error must be positive.")
        z = beta / se
    out[Z] = z

    if n is not None:
        if not (np.isfinite(n) and n > 0):
            raise InputError(f"n must be a positive number, got {n}.")
        out[N] = float(n)
    else:
        nn = _numeric(raw, roles[N])
        bad = ~(np.isfinite(nn) & (nn > 0))
        if bad.any():
            raise InputError(f"{path}: sample size {roles[N]!r} is missing or not positive at "
                             f"{first_bad(bad, out[SNP], lines)}. Fix those rows or pass a constant n=...")
        out[N] = nn

    cols = list(SUMSTATS_COLUMNS)
    if CHR in roles:
        out[CHR] = chrom_codes(raw[roles[CHR]], path)
        cols.append(CHR)
    if BP in roles:
        bp = _numeric(raw, roles[BP])
        bad = ~np.isfinite(bp)
        if bad.any():
            raise InputError(f"{path}: position {roles[BP]!r} is not a number at "
                             f"{first_bad(bad, out[SNP], lines)}. Fix or remove those rows.")
        out[BP] = bp.astype(np.int64)
        cols.append(BP)
    out = out[cols].reset_index(drop=True)
    if fmt == "plink2":
        fmt = "plink2_logistic" if _is_logistic(names) else "plink2_linear"
    out.attrs["format"] = fmt
    return out


# ---- allele harmonisation --------------------------------------------------------------------------
_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}


@dataclass
class HarmoniseReport:
    """Counts of a harmonisation; read == matched + the four dropped counts."""

    read: int
    matched: int
    flipped: int
    dropped_not_in_reference: int
    dropped_allele_mismatch: int
    dropped_ambiguous: int
    dropped_position_mismatch: int = 0

    def summary(self) -> str:
        """One line for logs."""
        return (f"harmonised {self.matched}/{self.read} SNPs ({self.flipped} sign-flipped); dropped "
                f"{self.dropped_not_in_reference} not in reference, {self.dropped_position_mismatch} with another "
                f"CHR/BP than the reference, {self.dropped_allele_mismatch} allele mismatch, "
                f"{self.dropped_ambiguous} strand-ambiguous")


def _complement(alleles: np.ndarray) -> np.ndarray:
    """Base-wise complement of single-base alleles; anything else maps to '' (never matches)."""
    return np.array([_COMPLEMENT.get(a, "") for a in alleles], dtype=object)


def harmonise(sumstats: pd.DataFrame, reference: pd.DataFrame, drop_ambiguous: bool = True,
              where: str = "the summary statistics", build: str | None = None
              ) -> tuple[pd.DataFrame, HarmoniseReport]:
    """Align summary statistics to the reference alleles, matching SNPs by ID.

    Where ``sumstats`` has CHR and/or BP and the reference has CHR (and BP), matched SNPs must agree with
    it: disagreeing ones are dropped (counted), and past a small fraction the file (``where``) is refused
    as another genome build (``build``: the reference's, if known); see :mod:`deepwas_dist.ingest.positions`.

    Per SNP (alleles compared case-insensitively): (A1, A2) equal to the reference's -> kept; swapped ->
    Z sign-flipped; strand complement -> kept; complement and swapped -> flipped. Strand-ambiguous SNPs
    (A/T, C/G pairs) are dropped when ``drop_ambiguous``, else matched as written (no complement).
    Anything else is dropped as an allele mismatch.

    Args:
        sumstats: table with SNP A1 A2 Z N (e.g. from read_sumstats).
        reference: SNP table with SNP A1 A2 (e.g. Panel.snps); IDs must be unique.

    Returns:
        (harmonised, report): harmonised has columns SNP A1 A2 Z N (alleles = the reference's), plus CHR
        and BP from the reference when it has them, only matched SNPs, in reference order; its index is
        each SNP's 0-based row position in ``reference``.

    Raises:
        InputError: missing columns, duplicate IDs, no SNP matched at all, or CHR/BP of too many SNPs
        not the reference's.
    """
    for name, df in (("sumstats", sumstats), ("reference", reference)):
        need = SUMSTATS_COLUMNS if name == "sumstats" else (SNP, A1, A2)
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise InputError(f"harmonise: {name} lacks column(s) {missing}; it has {list(df.columns)}.")
        check_unique(df[SNP], np.arange(len(df)) + 1, f"harmonise: {name}",
                     "SNP IDs must be unique to match by ID; remove the duplicates.", unit="rows (1-based)")
    ref = pd.DataFrame({"_pos": np.arange(len(reference)), SNP: reference[SNP].to_numpy(dtype=object),
                        "_r1": reference[A1].astype(str).str.upper().to_numpy(dtype=object),
                        "_r2": reference[A2].astype(str).str.upper().to_numpy(dtype=object)})
    ss = pd.DataFrame({SNP: sumstats[SNP].to_numpy(dtype=object),
                       "_s1": sumstats[A1].astype(str).str.upper().to_numpy(dtype=object),
                       "_s2": sumstats[A2].astype(str).str.upper().to_numpy(dtype=object),
                       Z: sumstats[Z].to_numpy(dtype=np.float64), N: sumstats[N].to_numpy(dtype=np.float64)})
    check_chr = CHR in sumstats.columns and CHR in reference.columns
    check_bp = BP in sumstats.columns and BP in reference.columns and CHR in reference.columns
    if check_chr or check_bp:
        ref["_pchr"] = reference[CHR].to_numpy()
        ref["_pbp"] = reference[BP].to_numpy() if BP in reference.columns else 0
        for col, key in ((CHR, "_chr"), (BP, "_bp")):
            if col in sumstats.columns:
                ss[key] = sumstats[col].to_numpy()
    m = ss.merge(ref, on=SNP, how="inner")
    if check_chr or check_bp:
        posbad = position_mismatch(m[SNP].to_numpy(dtype=object), m["_pchr"].to_numpy(),
                                   m["_pbp"].to_numpy() if check_bp else None,
                                   m["_chr"].to_numpy() if check_chr else None,
                                   m["_bp"].to_numpy() if check_bp else None, where, build,
                                   fix=", or, if the file's CHR/BP columns hold something else, map the right "
                                       "ones with --columns CHR=...,BP=...")
    else:
        posbad = np.zeros(len(m), dtype=bool)
    s1, s2, r1, r2 = (m[c].to_numpy(dtype=object) for c in ("_s1", "_s2", "_r1", "_r2"))
    same = (s1 == r1) & (s2 == r2)
    swap = (s1 == r2) & (s2 == r1)
    c1, c2 = _complement(s1), _complement(s2)
    comp = (c1 == r1) & (c2 == r2) & (c1 != "")
    comp_swap = (c1 == r2) & (c2 == r1) & (c1 != "")
    ambiguous = (_complement(r1) == r2) & (_complement(r1) != "") & (same | swap)
    if drop_ambiguous:
        keep_same = (same | comp) & ~ambiguous
        keep_flip = (swap | comp_swap) & ~ambiguous
    else:  # matched as written: an ambiguous pair never takes the complement branches
        keep_same = same | (comp & ~ambiguous)
        keep_flip = swap | (comp_swap & ~ambiguous)
        keep_flip &= ~keep_same
    keep_same &= ~posbad
    keep_flip &= ~posbad
    matched = keep_same | keep_flip
    n_amb = int((ambiguous & ~matched & ~posbad).sum())
    n_pos = int(posbad.sum())
    report = HarmoniseReport(read=len(sumstats), matched=int(matched.sum()), flipped=int(keep_flip.sum()),
                             dropped_not_in_reference=len(sumstats) - len(m),
                             dropped_allele_mismatch=int((~matched).sum()) - n_amb - n_pos, dropped_ambiguous=n_amb,
                             dropped_position_mismatch=n_pos)
    if report.matched == 0:
        raise InputError(f"harmonise: no SNP of the summary statistics matched the reference ({report.summary()}). "
                         "Check that both use the same SNP ID scheme (rsIDs vs chr:pos IDs) and the same genome "
                         "build, and that the alleles are nucleotides.")
    z = np.where(keep_flip, -m[Z].to_numpy(), m[Z].to_numpy())
    pos = m["_pos"].to_numpy()[matched]
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    out = pd.DataFrame({SNP: reference[SNP].to_numpy()[pos], A1: reference[A1].to_numpy()[pos],
                        A2: reference[A2].to_numpy()[pos], Z: z[matched][order],
                        N: m[N].to_numpy()[matched][order]}, index=pd.Index(pos, name=None))
    for col in (CHR, BP):
        if col in reference.columns:
            out[col] = reference[col].to_numpy()[pos]
    return out, report
