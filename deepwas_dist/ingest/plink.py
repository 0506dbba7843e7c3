"""PLINK 1 binary reference panels (.bed/.bim/.fam): SNP table, MAF, standardised genotypes, LD.

Genotypes are read with ``bed_reader`` counting copies of the .bim A1 allele (column 5), so a
standardised genotype column, and the LD computed from it, is oriented to A1 like the SNP table.
Local files only (bed_reader's own cloud support is not used here).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from bed_reader import open_bed

from ..data.chroms import chrom_codes, parse_chroms
from ..data.schema import A1, A2, BP, CHR, CM, MAF, SNP, SNP_COLUMNS
from ..errors import InputError
from ._common import check_unique, gzip_errors

#: SNPs per block when scanning the whole .bed for allele frequencies.
_SCAN_BLOCK = 4096


@dataclass
class Panel:
    """A PLINK 1 reference panel after the MAF filter.

    Attributes:
        prefix: path prefix of the .bed/.bim/.fam trio.
        snps: kept SNPs in file order, columns ``SNP_COLUMNS`` (CHR int32, SNP, BP int64, CM float64 cM,
            A1, A2, MAF float64 in [0, 0.5] computed from the genotypes); RangeIndex 0..n_snps-1.
        n_ref: number of individuals (rows of the .fam).
        n_dropped_maf: SNPs dropped because MAF < maf_min, monomorphic (MAF == 0), all genotypes missing,
            or constant genotypes (e.g. every individual heterozygous: MAF 0.5 but no variance).
        n_snps_file: SNPs in the .bim on the selected chromosomes, before the MAF filter.
        bed_index: for each kept SNP, its 0-based column in the .bed file.
    """

    prefix: str
    snps: pd.DataFrame = field(repr=False)
    n_ref: int
    n_dropped_maf: int
    n_snps_file: int
    bed_index: np.ndarray = field(repr=False)
    _bed: open_bed | None = field(repr=False, default=None)

    @property
    def n_snps(self) -> int:
        """Number of kept SNPs."""
        return len(self.snps)

    def __getstate__(self) -> dict:
        """Picklable (e.g. to ship to workers): the .bed reader is reopened on first use."""
        return {**self.__dict__, "_bed": None}

    def _reader(self) -> open_bed:
        if self._bed is None:
            self._bed = open_bed(self.prefix + ".bed", iid_count=self.n_ref, count_A1=True)
        return self._bed

    def genotypes(self, start: int, stop: int) -> np.ndarray:
        """Raw A1 allele counts of kept SNPs ``start:stop``: (n_ref, k) float64, NaN where missing."""
        if not (0 <= start <= stop <= self.n_snps):
            raise InputError(f"SNP range {start}:{stop} is outside 0:{self.n_snps} of panel {self.prefix}.")
        cols = self.bed_index[start:stop]
        if len(cols) and cols[-1] - cols[0] == len(cols) - 1:  # contiguous: a plain slice
            index = np.s_[:, int(cols[0]):int(cols[-1]) + 1]
        else:
            index = np.s_[:, cols]
        return self._reader().read(index=index, dtype="float64", order="F")

    def standardized(self, start: int, stop: int) -> np.ndarray:
        """Standardised genotypes of kept SNPs ``start:stop``: (n_ref, k) float64.

        Missing genotypes are replaced by the SNP's mean, then each column is centred and scaled to
        unit variance (population variance, divisor n_ref), so ``X.T @ X / n_ref`` has unit diagonal.
        """
        return standardize(self.genotypes(start, stop))


def standardize(G: np.ndarray) -> np.ndarray:
    """Mean-impute NaN, centre and scale each column of G (n, k) to variance 1 (ddof 0); float64 (n, k).

    Constant columns raise InputError (they carry no LD information).
    """
    X = np.array(G, dtype=np.float64, copy=True)
    mean = np.nanmean(X, axis=0) if np.isnan(X).any() else X.mean(axis=0)
    miss = np.isnan(X)
    if miss.any():
        X[miss] = np.take(mean, np.nonzero(miss)[1])
    X -= mean
    sd = np.sqrt((X * X).mean(axis=0))
    if (sd == 0).any():
        j = int(np.flatnonzero(sd == 0)[0])
        raise InputError(f"genotype column {j} is constant; drop monomorphic SNPs before standardising.")
    X /= sd
    return X


def ld_matrix(X_std: np.ndarray, shrinkage: float = 0.0) -> np.ndarray:
    """LD (correlation) matrix from standardised genotypes X_std (n, k): (k, k) float64.

    R = X^T X / n, made exactly symmetric with diagonal exactly 1, then shrunk towards the identity:
    R = (1 - shrinkage) R + shrinkage I, with 0 <= shrinkage <= 1.
    """
    X = np.asarray(X_std, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"X_std must be a 2-D (individuals x SNPs) array, got shape {X.shape}.")
    if not 0.0 <= shrinkage <= 1.0:
        raise InputError(f"shrinkage must be in [0, 1], got {shrinkage}.")
    R = X.T @ X / X.shape[0]
    R = 0.5 * (R + R.T)
    if shrinkage:
        R *= 1.0 - shrinkage
    np.fill_diagonal(R, 1.0)
    return R


def _paths(prefix: str) -> tuple[str, str, str]:
    prefix = os.fspath(prefix)
    if prefix.endswith((".bed", ".bim", ".fam")):
        prefix = prefix[:-4]
    paths = tuple(prefix + ext for ext in (".bed", ".bim", ".fam"))
    for p in paths:
        if not os.path.exists(p):
            raise InputError(f"PLINK file not found: {p}. A reference panel needs {prefix}.bed, .bim and .fam "
                             "side by side; give the common prefix (with or without '.bed').")
    return paths  # type: ignore[return-value]


def read_bim(path: str) -> pd.DataFrame:
    """Parse a .bim: columns CHR (int32) SNP BP (int64) CM (float64) A1 A2, in file order, RangeIndex."""
    try:
        with gzip_errors(path):
            bim = pd.read_csv(path, sep=r"\s+", header=None, dtype={1: str, 4: str, 5: str})
    except (pd.errors.ParserError, ValueError) as e:
        raise InputError(f"cannot parse {path} as a .bim file: {e}. Each line needs 6 whitespace-separated "
                         "fields: chromosome, SNP ID, cM, bp position, A1, A2.") from e
    if bim.shape[1] != 6:
        raise InputError(f"{path} has {bim.shape[1]} columns; a .bim needs 6 (chromosome, SNP ID, cM, "
                         "bp position, A1, A2).")
    bim.columns = [CHR, SNP, CM, BP, A1, A2]
    bim[CHR] = chrom_codes(bim[CHR], path)
    for col, kind in ((BP, "int64"), (CM, "float64")):
        vals = pd.to_numeric(bim[col], errors="coerce")
        if vals.isna().any():
            i = int(np.flatnonzero(vals.isna().to_numpy())[0])
            raise InputError(f"{path} line {i + 1} (SNP {bim[SNP].iloc[i]}): {col} {bim[col].iloc[i]!r} "
                             "is not a number; fix or remove that line.")
        bim[col] = vals.astype(kind)
    return bim[[CHR, SNP, BP, CM, A1, A2]]


def _check_order(bim: pd.DataFrame, lines: np.ndarray, path: str) -> None:
    """Each chromosome one contiguous block, positions non-decreasing within it."""
    chrom = bim[CHR].to_numpy()
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    seen = chrom[starts]
    if len(np.unique(seen)) != len(seen):
        vals, counts = np.unique(seen, return_counts=True)
        c = vals[counts > 1][0]
        again = starts[seen == c][1]
        raise InputError(f"{path}: chromosome {c} is split into several blocks (it reappears at line "
                         f"{lines[again]}, SNP {bim[SNP].iloc[again]}). Sort the panel by chromosome and "
                         "position, e.g. `plink --bfile IN --make-bed --out OUT`.")
    bp = bim[BP].to_numpy()
    down = np.r_[False, (bp[1:] < bp[:-1]) & (chrom[1:] == chrom[:-1])]
    if down.any():
        i = int(np.flatnonzero(down)[0])
        raise InputError(f"{path} line {lines[i]} (SNP {bim[SNP].iloc[i]}): position {bp[i]} is before the "
                         f"previous SNP's {bp[i - 1]} on chromosome {chrom[i]} ({int(down.sum())} such lines). "
                         "Sort the panel by position, e.g. `plink --bfile IN --make-bed --out OUT`.")


def _allele_stats(bed: open_bed, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A1 frequency, genotype variance) over non-missing genotypes per column in `cols` (NaN if all missing)."""
    freq = np.empty(len(cols), dtype=np.float64)
    var = np.empty(len(cols), dtype=np.float64)
    for b in range(0, len(cols), _SCAN_BLOCK):
        c = cols[b:b + _SCAN_BLOCK]
        if len(c) and c[-1] - c[0] == len(c) - 1:
            index = np.s_[:, int(c[0]):int(c[-1]) + 1]
        else:
            index = np.s_[:, c]
        g = bed.read(index=index, dtype="int8")  # missing = -127
        ok = g >= 0
        cnt = ok.sum(axis=0)
        g = np.where(ok, g, 0).astype(np.int64)
        s1, s2 = g.sum(axis=0), (g * g).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / cnt
            freq[b:b + len(c)] = mean / 2.0
            var[b:b + len(c)] = s2 / cnt - mean * mean
    return freq, var


def read_panel(prefix: str, maf_min: float = 0.0, chroms: int | str | list | None = None) -> Panel:
    """Read a PLINK 1 panel: SNP table with MAF, dropping SNPs without genotype variance or with MAF < maf_min.

    Args:
        prefix: path of the trio without extension (``.bed`` suffix accepted).
        maf_min: minimum minor allele frequency kept (MAF computed from the genotypes).
        chroms: chromosome(s) to keep (e.g. 22, "22", [21, 22], "X"); None keeps all.

    Returns:
        Panel; ``panel.standardized(start, stop)`` gives (n_ref, stop - start) float64 for kept SNPs.

    Raises:
        InputError: a file is missing, duplicate SNP IDs, unsorted positions, .bed size not matching.
    """
    if not 0.0 <= maf_min < 0.5:
        raise InputError(f"maf_min must be in [0, 0.5), got {maf_min}.")
    bed_path, bim_path, fam_path = _paths(prefix)
    bim = read_bim(bim_path)
    with open(fam_path) as f:
        n_ref = sum(1 for line in f if line.strip())
    n_file = len(bim)
    expected = 3 + n_file * ((n_ref + 3) // 4)
    if os.path.getsize(bed_path) != expected:
        raise InputError(f"{bed_path} has {os.path.getsize(bed_path)} bytes but {n_ref} individuals (.fam) "
                         f"x {n_file} SNPs (.bim) need {expected} bytes in SNP-major mode. The .bed, .bim and "
                         ".fam do not belong together; regenerate them with `plink --make-bed`.")
    if chroms is not None:
        wanted = parse_chroms(chroms)
        present = sorted(set(bim[CHR].tolist()))
        bim = bim[bim[CHR].isin(wanted)]
        if bim.empty:
            raise InputError(f"{bim_path} has no SNPs on chromosome(s) {list(np.atleast_1d(chroms))}; "
                             f"it has chromosomes {present}; fix --chroms")
    cols = bim.index.to_numpy()
    bim = bim.reset_index(drop=True)
    lines = cols + 1  # .bim line of each selected row
    check_unique(bim[SNP], lines, bim_path,
                 "Give every variant a unique ID (e.g. `plink2 --bfile IN --set-all-var-ids @:#:$r:$a "
                 "--make-bed --out OUT`) or remove the duplicates.")
    _check_order(bim, lines, bim_path)

    bed = open_bed(bed_path, iid_count=n_ref, sid_count=n_file, count_A1=True)
    freq, var = _allele_stats(bed, cols)
    maf = np.minimum(freq, 1.0 - freq)
    keep = (np.nan_to_num(maf, nan=0.0) > 0.0) & (np.nan_to_num(var, nan=0.0) > 1e-12)
    keep &= ~(maf < maf_min)
    snps = bim.loc[keep].copy()
    snps[MAF] = maf[keep]
    snps = snps[list(SNP_COLUMNS)].reset_index(drop=True)
    return Panel(prefix=bed_path[:-4], snps=snps, n_ref=n_ref, n_dropped_maf=int((~keep).sum()),
                 n_snps_file=len(bim), bed_index=cols[keep].astype(np.int64), _bed=bed)
