"""Input rows checked against the reference panel's chromosome and position, for SNPs matched by ID.

Summary statistics and annotation files are matched to the panel by SNP ID. Where a file also gives a
chromosome (CHR) and/or a position (BP), those must agree with the panel's for every matched SNP:
chromosomes compared as codes (:mod:`deepwas_dist.data.chroms`: ``chr22``, ``22`` and 22 are one
chromosome), positions as integers. A row that disagrees is dropped and counted in the summary. When
more than :data:`MAX_POSITION_MISMATCH` of the matched rows disagree, that is not a few bad rows but a
file of another genome build (or a CHR/BP column that means something else), and the file is refused
with an InputError naming it, example SNPs (panel vs file) and the fix.
"""
from __future__ import annotations

import numpy as np

from ..data.chroms import chrom_label
from ..errors import InputError

#: The largest fraction of a file's ID-matched rows whose CHR or BP may disagree with the panel's (those
#: rows are dropped); above it the file is refused.
MAX_POSITION_MISMATCH = 0.01


def _label(chrom, bp) -> str:
    c = "?" if chrom is None else chrom_label(chrom)
    return c if bp is None else f"{c}:{'?' if not np.isfinite(bp) else int(bp)}"


def position_mismatch(ids: np.ndarray, panel_chr: np.ndarray, panel_bp: np.ndarray | None,
                      file_chr: np.ndarray | None, file_bp: np.ndarray | None, where: str,
                      build: str | None = None, fix: str = "") -> np.ndarray:
    """Boolean mask of the rows (SNPs matched by ID, arrays aligned) whose file CHR or BP differs from the
    panel's; ``file_chr`` / ``file_bp`` None where the file has no such column (``file_bp`` may hold NaN:
    an unreadable position counts as a mismatch). InputError past MAX_POSITION_MISMATCH (see the module
    docstring); ``build`` is the panel's genome build if recorded, ``fix`` more advice for the message."""
    n = len(ids)
    bad = np.zeros(n, dtype=bool)
    if file_chr is not None:
        bad |= np.asarray(file_chr, dtype=np.int64) != np.asarray(panel_chr, dtype=np.int64)
    if file_bp is not None and panel_bp is not None:
        fb = np.asarray(file_bp, dtype=np.float64)
        bad |= ~(fb == np.asarray(panel_bp, dtype=np.float64))
    n_bad = int(bad.sum())
    if n == 0 or n_bad <= MAX_POSITION_MISMATCH * n:
        return bad
    idx = np.flatnonzero(bad)[:3]
    pb = None if panel_bp is None or file_bp is None else np.asarray(panel_bp, dtype=np.float64)
    fb = None if file_bp is None else np.asarray(file_bp, dtype=np.float64)
    eg = "; ".join(f"{ids[i]} panel {_label(panel_chr[i], None if pb is None else pb[i])} vs file "
                   f"{_label(None if file_chr is None else file_chr[i], None if fb is None else fb[i])}"
                   for i in idx)
    shift = ""
    if pb is not None:
        same_chr = bad if file_chr is None else bad & (np.asarray(file_chr) == np.asarray(panel_chr))
        d = (fb - pb)[same_chr & np.isfinite(fb)]
        if len(d) and (d != 0).all():
            med = float(np.median(d))
            share = float(np.mean(d == med))
            shift = f"; positions differ by {med:+,.0f} bp in {share:.0%} of those on the same chromosome"
    raise InputError(f"{where}: {n_bad:,} of the {n:,} SNPs matched to the panel by ID ({n_bad / n:.1%}, more "
                     f"than {MAX_POSITION_MISMATCH:.0%}) have another chromosome or position than the panel, "
                     f"e.g. {eg}{shift}; another genome build? fix: lift the file over to the panel's build "
                     f"({build or 'e.g. GRCh37'}){fix}")


__all__ = ["MAX_POSITION_MISMATCH", "position_mismatch"]
