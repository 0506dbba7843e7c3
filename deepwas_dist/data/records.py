"""What the dataset writer keeps in memory of each chromosome's SNP table (:class:`ChromRecord`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass
class ChromRecord:
    """One chromosome's SNPs as written (or as read back for an update): count, positions, IDs, alleles,
    64-bit ID hashes (for the genome-wide uniqueness check) and the manifest entries of its part files."""

    n: int
    bp: np.ndarray
    cm: np.ndarray | None
    ids: pa.Array
    a1: pa.Array
    a2: pa.Array
    hashes: np.ndarray
    files: list
