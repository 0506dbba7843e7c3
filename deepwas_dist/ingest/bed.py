"""Annotations from BED files of regions (``prepare annotations --bed / --bed-continuous``).

The rule. BED intervals are 0-based, half-open: ``start end`` covers bases ``start+1 .. end`` in the
1-based coordinates of the panel's BP column. A SNP at BP lies in an interval when
``start - window < BP <= end + window``, i.e. its 0-based position ``BP - 1`` is in
``[start - window, end + window)``: ``--bed-window`` extends each interval by ``window`` bp on both
sides, as LDSC's ``make_annot.py --windowsize`` does (bedtools slop, then intersect). An empty interval
(``start == end``) covers no base; with a window it covers the window around its position.

- binary (``NAME=FILE``): 1 for a SNP in any interval, else 0; overlapping and unsorted intervals are
  fine (they are merged).
- continuous (``NAME=FILE:COLUMN``): the interval's value in COLUMN (1-based, as ``cut -f``; ``score`` is
  column 5); SNPs in no interval get 0; a SNP in several intervals gets their **maximum**.

Chromosome labels go through :mod:`deepwas_dist.data.chroms` (``chr22`` == ``22``). Header lines
(``track``, ``browser``, ``#``) at the top are skipped; columns beyond the third are ignored unless named
by COLUMN. A BED with no interval on one of the panel's chromosomes is fine (its SNPs there get 0; the
summary names it); one with no interval on any panel chromosome is an error naming the file.
"""
from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..data.chroms import chrom_label, lenient_chrom_codes
from ..errors import InputError
from ._common import gzip_errors, open_file

BED_FIELDS = {"chrom": 1, "start": 2, "end": 3, "name": 4, "score": 5}
_HEADER_WORDS = ("track", "browser", "#")


class BedSpec(NamedTuple):
    """One ``--bed`` / ``--bed-continuous`` argument: annotation name, file and value column (None: binary)."""

    name: str
    path: str
    column: int | None


def parse_bed_spec(text: str, continuous: bool) -> BedSpec:
    """``NAME=FILE`` (binary) or ``NAME=FILE:COLUMN`` (continuous) -> BedSpec; errors name the flag."""
    flag = "--bed-continuous" if continuous else "--bed"
    form = "NAME=FILE:COLUMN (e.g. enh=enhancers.bed.gz:5)" if continuous else "NAME=FILE (e.g. enh=enhancers.bed)"
    name, eq, rest = str(text).partition("=")
    if not eq or not name.strip() or not rest.strip():
        raise InputError(f"{flag} {text!r}: expected {form}")
    if not continuous:
        return BedSpec(name.strip(), rest.strip(), None)
    path, colon, col = rest.rpartition(":")
    if not colon or not path:
        raise InputError(f"{flag} {text!r}: no value column; expected {form}")
    col = col.strip().lower()
    if col in BED_FIELDS:
        num = BED_FIELDS[col]
    elif col.isdigit():
        num = int(col)
    else:
        raise InputError(f"{flag} {text!r}: column {col!r} is neither a 1-based number nor one of {list(BED_FIELDS)}")
    if num < 4:
        raise InputError(f"{flag} {text!r}: column {num} is chrom/start/end; give the value column (4 or more, "
                         "e.g. 5 for the score)")
    return BedSpec(name.strip(), path.strip(), num)


def read_bed(spec: BedSpec, storage_options: dict | None = None) -> pd.DataFrame:
    """The intervals of one BED file: columns CHR (int code, -1 unrecognised), START, END (int64), VALUE
    (float64, 1.0 for a binary spec), LINE (1-based file line). InputError naming file and line on a bad
    row, a start > end, a missing or non-numeric value column, or a file without intervals."""
    path = spec.path
    with gzip_errors(path), open_file(path, "rt", storage_options, compression="infer") as f:
        text = f.read()
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and (not lines[skip].strip() or lines[skip].lstrip().startswith(_HEADER_WORDS)):
        skip += 1
    if skip == len(lines):
        raise InputError(f"{path}: BED file has no intervals; fix: give a BED with chrom start end lines")
    body = "\n".join(lines[skip:])
    sep = "\t" if "\t" in lines[skip] else r"\s+"
    try:
        raw = pd.read_csv(io.StringIO(body), sep=sep, header=None, dtype={0: str}, comment="#",
                          skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as e:
        raise InputError(f"{path}: cannot parse as BED ({' '.join(str(e).split())}); fix: tab-separated "
                         "chrom start end [name score ...] lines with the same number of fields") from None
    line = np.arange(len(raw)) + skip + 1
    need = max(3, spec.column or 0)
    if raw.shape[1] < need:
        what = f"value column {spec.column}" if spec.column else "3 columns (chrom start end)"
        raise InputError(f"{path}: BED line {line[0]} has {raw.shape[1]} field(s), needs {what}")
    out = pd.DataFrame({"CHR": lenient_chrom_codes(raw[0].astype(str))})
    for i, key in ((1, "START"), (2, "END")):
        v = pd.to_numeric(raw[i], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v) | (v < 0) | (v != np.round(v))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InputError(f"{path}: BED line {line[j]}: {key.lower()} {raw[i].iloc[j]!r} is not a non-negative "
                             f"integer ({int(bad.sum())} such lines); fix the file")
        out[key] = v.astype(np.int64)
    back = (out["END"] < out["START"]).to_numpy()
    if back.any():
        j = int(np.flatnonzero(back)[0])
        raise InputError(f"{path}: BED line {line[j]}: end {out['END'].iloc[j]} < start {out['START'].iloc[j]} "
                         f"({int(back.sum())} such lines); fix: BED intervals are start < end, 0-based half-open")
    if spec.column is None:
        out["VALUE"] = 1.0
    else:
        col = raw[spec.column - 1]
        v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise InputError(f"{path}: BED line {line[j]}: column {spec.column} value {col.iloc[j]!r} is not a "
                             f"finite number ({int(bad.sum())} such lines); fix: --bed-continuous "
                             f"{spec.name}=FILE:COLUMN must name a numeric column")
        out["VALUE"] = v
    out["LINE"] = line
    return out


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of half-open intervals as sorted disjoint (starts, ends); empty intervals are dropped."""
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if not len(starts):
        return starts, ends
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], np.maximum.accumulate(ends[o])
    first = np.flatnonzero(np.r_[True, s[1:] > e[:-1]])     # a run starts past every end so far
    return s[first], e[np.r_[first[1:] - 1, len(s) - 1]]


def snp_values(bed: pd.DataFrame, chrom: int, bp: np.ndarray, window: int, binary: bool) -> np.ndarray:
    """The annotation of SNPs at 1-based ``bp`` on ``chrom`` (the module's rule), float64."""
    iv = bed[bed["CHR"].to_numpy() == chrom]
    pos = np.asarray(bp, dtype=np.int64) - 1                       # 0-based base of each SNP
    out = np.zeros(len(pos), dtype=np.float64)
    if not len(iv) or not len(pos):
        return out
    lo = iv["START"].to_numpy() - window
    hi = iv["END"].to_numpy() + window
    if binary:
        s, e = _merged(lo, hi)
        if len(s):
            k = np.searchsorted(s, pos, side="right") - 1
            out[(k >= 0) & (pos < e[np.maximum(k, 0)])] = 1.0
        return out
    order = np.argsort(pos, kind="stable")
    sp = pos[order]
    a, b = np.searchsorted(sp, lo, side="left"), np.searchsorted(sp, hi, side="left")
    vals = iv["VALUE"].to_numpy()
    hit = b > a
    res = np.full(len(pos), -np.inf)
    for i in np.flatnonzero(hit)[np.argsort(vals[hit], kind="stable")]:   # ascending: the maximum is painted last
        res[a[i]:b[i]] = vals[i]
    res[~np.isfinite(res)] = 0.0
    out[order] = res
    return out


def bed_annotations(specs: list[BedSpec], ref_by_chrom: dict[int, pd.DataFrame], window: int = 0,
                    storage_options: dict | None = None) -> tuple[dict[int, pd.DataFrame], dict]:
    """Per chromosome of ``ref_by_chrom`` (SNP tables with SNP, BP, in stored order): a DataFrame with
    column SNP + one column per spec; and notes for the summary (per file: panel chromosomes without an
    interval, intervals on chromosomes the panel lacks, SNPs set)."""
    if window < 0:
        raise InputError(f"--bed-window must be >= 0 bp, got {window}")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"--bed/--bed-continuous: annotation name(s) {dup} given twice; fix: one name per file")
    panel = sorted(ref_by_chrom)
    out = {c: pd.DataFrame({"SNP": df["SNP"].to_numpy()}) for c, df in ref_by_chrom.items()}
    notes: dict = {}
    for spec in specs:
        bed = read_bed(spec, storage_options)
        codes = set(bed["CHR"].tolist())
        on_panel = [c for c in panel if c in codes]
        if not on_panel:
            seen = sorted({chrom_label(c) for c in codes if c > 0}) or ["none recognised"]
            raise InputError(f"{spec.path}: no interval on the dataset's chromosomes "
                             f"({', '.join(map(chrom_label, panel))}); the BED names {', '.join(seen[:8])}; fix: "
                             "give the BED of this panel's chromosomes (a different genome build or species?)")
        n_set = 0
        for c in panel:
            v = snp_values(bed, c, ref_by_chrom[c]["BP"].to_numpy(), window, spec.column is None)
            out[c][spec.name] = v
            n_set += int((v != 0).sum())
        missing = [chrom_label(c) for c in panel if c not in codes]
        notes[f"{spec.name}: SNPs nonzero"] = n_set
        if missing:
            notes[f"{spec.name}: no interval on chromosome(s) (all 0)"] = ", ".join(missing)
        other = int((~bed["CHR"].isin(panel)).sum())
        if other:
            notes[f"{spec.name}: intervals on chromosomes not in the panel (ignored)"] = other
    return out, notes
