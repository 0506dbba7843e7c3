"""Per-SNP features of a trait's whole genome: the annotation matrix and optional track windows.

Ground truths are functions of :class:`Features`; they take all chromosomes of a trait at once so
that h2 can be split across chromosomes jointly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..data.schema import SNP
from ..errors import InputError
from .annotations import simulate_annotations, simulate_tracks
from .genotypes import ChromPanel


@dataclass(frozen=True)
class Features:
    """Features of M SNPs (rows in panel order, chromosome after chromosome).

    Attributes:
        snp: (M,) SNP identifiers.
        annotations: (M, P) float64 annotation values, columns named by ``names``.
        names: the P annotation names.
        tracks: optional (M, K tracks, W window positions) float32 track windows.
    """

    snp: np.ndarray
    annotations: np.ndarray
    names: tuple[str, ...]
    tracks: np.ndarray | None = None

    def __post_init__(self) -> None:
        M = len(self.snp)
        if self.annotations.shape != (M, len(self.names)):
            raise InputError(f"annotations must be (M={M}, P={len(self.names)}), got {self.annotations.shape}")
        if len(set(self.names)) != len(self.names):
            raise InputError(f"annotation names must be unique, got {list(self.names)}")
        if self.tracks is not None and (self.tracks.ndim != 3 or self.tracks.shape[0] != M):
            raise InputError(f"tracks must be (M={M}, K, W), got {self.tracks.shape}")

    @property
    def n_snps(self) -> int:
        return len(self.snp)

    def columns(self, names: Sequence[str]) -> np.ndarray:
        """(M, len(names)) float64 values of the named annotations."""
        index = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise InputError(f"annotations {missing} are missing from the features (have {list(self.names)})")
        return self.annotations[:, [index[n] for n in names]]

    def take(self, rows: np.ndarray | slice) -> "Features":
        """The features of a subset of SNPs."""
        return Features(self.snp[rows], self.annotations[rows], self.names,
                        None if self.tracks is None else self.tracks[rows])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, names: Sequence[str], tracks: np.ndarray | None = None) -> "Features":
        """From a DataFrame with a SNP column and the named annotation columns (as simulate_annotations returns)."""
        if SNP not in frame.columns:
            raise InputError("annotation table lacks the SNP column")
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise InputError(f"annotation table lacks columns {missing}")
        return cls(frame[SNP].to_numpy(), frame[list(names)].to_numpy(dtype=np.float64), tuple(names), tracks)

    @classmethod
    def concat(cls, parts: Sequence["Features"]) -> "Features":
        """Row-wise concatenation of features with the same annotation names (e.g. one per chromosome)."""
        if not parts:
            raise InputError("no features to concatenate")
        names = parts[0].names
        if any(p.names != names for p in parts):
            raise InputError("features to concatenate have different annotation names")
        with_tracks = [p.tracks is not None for p in parts]
        if any(with_tracks) and not all(with_tracks):
            raise InputError("either all or none of the features to concatenate must have tracks")
        return cls(np.concatenate([p.snp for p in parts]), np.concatenate([p.annotations for p in parts]),
                   names, np.concatenate([p.tracks for p in parts]) if all(with_tracks) else None)


def simulate_features(
    panels: Sequence[ChromPanel | pd.DataFrame],
    seed: int = 0,
    n_binary: int = 8,
    n_continuous: int = 4,
    n_tracks: int = 4,
    window: int = 32,
) -> Features:
    """Simulated annotations (and, if ``n_tracks`` > 0, track windows) for all SNPs of ``panels`` (panels or
    just their SNP tables: the features depend on the SNPs' positions only)."""
    snps = pd.concat([p.snps if isinstance(p, ChromPanel) else p for p in panels], ignore_index=True)
    frame, names = simulate_annotations(snps, n_binary=n_binary, n_continuous=n_continuous, seed=seed)
    tracks = simulate_tracks(snps, n_tracks=n_tracks, window=window, seed=seed) if n_tracks > 0 else None
    return Features.from_frame(frame, names, tracks)
