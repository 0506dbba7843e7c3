"""Realistic LD matrices for the maths tests: 1000G chr22 panel LD (rank-deficient), and a simulated
full-rank panel (used when the real data is absent, and for the full-rank cases)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from deepwas_dist.bench.panels import fullrank_ld, lowrank_ld, middle_third_core
from deepwas_dist.realdata import panel_prefix


@lru_cache(maxsize=None)
def panel_ld(kind: str, m: int, start: int = 3000) -> np.ndarray:
    """(m, m) LD: kind 'lowrank' (1000G, skips without the data) or 'fullrank' (msprime)."""
    if kind == "lowrank":
        if panel_prefix() is None:
            pytest.skip("1000G panel not in ../shared/data")
        return lowrank_ld(m, start=start)
    return fullrank_ld(m, seed=3)


def assert_same_slices(a, b, atol: float = 1e-9) -> int:
    """Datasets ``a`` and ``b`` hold the same LD slices: same windows, ranks and sizes, and factors that
    represent the same matrices (Z Z^T and T T^T within ``atol`` x their largest entry, eigenvalues to
    1e-10, or to float32's precision when stored so). Bits may differ: LAPACK in a one-thread Ray task and
    in the threaded driver may rotate within an eigenspace and change the last bits. Returns how many slices
    are bit-identical."""
    cols = [c for c in a.slice_index().columns if c != "FILE"]
    assert a.slice_index()[cols].equals(b.slice_index()[cols])          # same windows, ranks and sizes
    bitwise = 0
    for c, s in zip(a.slice_index()["CHR"], a.slice_index()["SLICE_ID"]):
        x, y = (d.read_slice(c, s, traits=[], dtype="float64").ld for d in (a, b))
        bitwise += all(np.array_equal(u.numpy(), v.numpy()) for u, v in ((x.Z, y.Z), (x.T, y.T), (x.lam, y.lam)))
        np.testing.assert_allclose(y.lam.numpy(), x.lam.numpy(), rtol=max(1e-10, atol))
        for u, v in ((x.Z, y.Z), (x.T, y.T)):
            want = (u @ u.T).numpy()
            np.testing.assert_allclose((v @ v.T).numpy(), want, rtol=0, atol=atol * np.abs(want).max())
    return bitwise


__all__ = ["panel_ld", "middle_third_core", "assert_same_slices"]
