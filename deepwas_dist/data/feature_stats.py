"""Standardisation statistics of a dataset's annotations, accumulated one chromosome at a time.

The writer adds each chromosome's (M, A) annotation matrix; the result is the manifest's "features"
section: names, binary columns (only 0/1 values), mean and std over every SNP of the dataset (float64,
Chan et al.'s pairwise merge), and the constant columns (std 0, stored as 1 so that they are not scaled).
The reader standardises with these (``Dataset.features``, ``SliceBatch.features``).
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .manifest import FeatureInfo


class FeatureStats:
    """Annotation names (fixed by the first chromosome) and their running mean / sum of squares."""

    def __init__(self, names: list[str] | None = None):
        self.names = names
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.binary: np.ndarray | None = None

    def expect(self, names: list[str], where: str) -> None:
        """The first chromosome fixes the annotation names; every later one must have the same, in order."""
        if self.names is None:
            self.names = names
        elif names != self.names:
            raise InputError(f"{where}: annotation columns {names} differ from the first chromosome's "
                             f"{self.names}; fix: use the same annotations, in the same order, everywhere")

    def add(self, X: np.ndarray) -> None:
        """Chan et al. merge of per-chromosome mean / sum of squares (float64, numerically stable)."""
        nb = X.shape[0]
        mb = X.mean(axis=0)
        m2b = ((X - mb) ** 2).sum(axis=0)
        binb = np.all((X == 0) | (X == 1), axis=0)
        if self.mean is None:
            self.n, self.mean, self.m2, self.binary = nb, mb, m2b, binb
            return
        na = self.n
        delta = mb - self.mean
        tot = na + nb
        self.mean = self.mean + delta * nb / tot
        self.m2 = self.m2 + m2b + delta ** 2 * na * nb / tot
        self.n = tot
        self.binary = self.binary & binb

    def section(self) -> FeatureInfo:
        """The manifest's "features" section."""
        feats = self.names or []
        std = np.sqrt(self.m2 / max(self.n, 1)) if feats else np.zeros(0)
        constant = [f for f, s in zip(feats, std) if not s > 0]
        std = np.where(std > 0, std, 1.0)
        return FeatureInfo(names=list(feats), binary=[f for f, b in zip(feats, self.binary if feats else []) if b],
                           mean=[float(v) for v in (self.mean if feats else [])], std=[float(v) for v in std],
                           constant=constant)
