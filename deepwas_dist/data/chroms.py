"""Chromosome labels and lists: the one parser behind every flag and file column that names chromosomes.

Codes are integers: 1-22 as written, X = 23, Y = 24, XY = 25, MT (or M) = 26; labels may carry a
``chr`` prefix, in any case. Lists (``--chroms``, ``--holdout-chroms``, ``--val-chroms``, ...) are comma
separated and take ranges: ``22``, ``1-22``, ``1,3,5-7``, ``20-22,X``, ``chr1-chr3``.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import InputError

CHROM_CODES = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}
_HINT = "use e.g. 22, 1-22, 1,3,5-7, 20-22,X (X=23, Y=24, XY=25, MT=26; 'chr' prefix optional)"


def chrom_code(label, where: str = "chromosome") -> int:
    """One chromosome label (22, "22", "chr22", "X", ...) -> its integer code; InputError naming ``where``."""
    if isinstance(label, numbers.Real) and not isinstance(label, bool) and float(label).is_integer():
        c = int(label)                                   # 22, np.int64(22), 22.0 (a CHR column with NaNs)
    else:
        t = str(label).strip().upper().removeprefix("CHR")
        if t in CHROM_CODES:
            return CHROM_CODES[t]
        if not t.isdigit():
            raise InputError(f"{where}: bad chromosome {label!r}; {_HINT}")
        c = int(t)
    if c < 1:
        raise InputError(f"{where}: chromosome must be >= 1, got {label!r}")
    return c


def chrom_label(code: int) -> str:
    """The label of a chromosome code: "22", "X" (23), "Y", "XY", "MT" (26)."""
    names = {v: k for k, v in CHROM_CODES.items() if k != "M"}
    return names.get(int(code), str(int(code)))


def parse_chroms(text: str | int | Iterable | None, flag: str = "--chroms") -> list[int] | None:
    """'1-8', '1,3,5-7', '22', '20-22,X' (or ints / a list of labels) -> sorted distinct codes; None -> None.
    Errors name ``flag``."""
    if text is None:
        return None
    items = [str(t) for t in text] if isinstance(text, (list, tuple, set, np.ndarray)) else [str(text)]
    where = f"{flag} {','.join(items)!r}"
    out: set[int] = set()
    for item in items:
        for tok in item.split(","):
            if not tok.strip():
                continue
            a, dash, b = tok.partition("-")
            if dash:
                lo, hi = chrom_code(a, where), chrom_code(b, where)
                if hi < lo:
                    raise InputError(f"{where}: bad chromosome range {tok.strip()!r} ({hi} < {lo}); {_HINT}")
                out.update(range(lo, hi + 1))
            else:
                out.add(chrom_code(tok, where))
    if not out:
        raise InputError(f"{where} names no chromosome; {_HINT}")
    return sorted(out)


def chrom_codes(values: pd.Series, where: str) -> np.ndarray:
    """A column of chromosome labels -> int32 codes; InputError naming ``where``, the first bad row and
    the count."""
    s = values.astype(str).str.strip().str.upper().str.replace(r"^CHR", "", regex=True)
    out = pd.to_numeric(s.replace(CHROM_CODES), errors="coerce")
    bad = (out.isna() | (out < 1)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: unrecognised chromosome {values.iloc[i]!r} at data row {i + 1} "
                         f"({int(bad.sum())} such rows). Use 1-22, X, Y, XY or MT (optionally prefixed 'chr').")
    return out.to_numpy().astype(np.int32)


def lenient_chrom_codes(col: pd.Series) -> np.ndarray:
    """Integer chromosome codes of a CHR column, -1 where missing or unreadable (for checks that count the
    rows whose chromosome disagrees, instead of refusing at the first)."""
    codes = {}
    for v in pd.unique(col):
        try:
            codes[v] = -1 if pd.isna(v) else chrom_code(v)
        except InputError:
            codes[v] = -1
    return col.map(codes).fillna(-1).to_numpy(dtype=np.int64)


__all__ = ["CHROM_CODES", "chrom_code", "chrom_label", "parse_chroms", "chrom_codes", "lenient_chrom_codes"]
