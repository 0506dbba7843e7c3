"""PLINK 1 panels: checked against genotypes read directly with bed_reader and numpy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import open_bed, to_bed

from deepwas_dist.data.schema import A1, A2, BP, CHR, CM, MAF, SNP, SNP_COLUMNS
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.plink import ld_matrix, read_panel

PANEL = "1000G_eur_chr22"


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> dict:
    """The real panel read independently: genotypes (A1 counts) and the .bim as text."""
    G = open_bed(shared_data / f"{PANEL}.bed", count_A1=True).read(dtype="float64")
    bim = [line.split() for line in (shared_data / f"{PANEL}.bim").read_text().splitlines()]
    f = G.mean(axis=0) / 2
    return {"G": G, "bim": bim, "maf": np.minimum(f, 1 - f)}


@pytest.fixture(scope="module")
def panel(shared_data: Path):
    return read_panel(str(shared_data / PANEL))


def test_real_panel_table(panel, raw):
    assert panel.n_ref == 378
    assert panel.n_snps == 15938 == len(raw["bim"])
    assert panel.n_dropped_maf == 0 and panel.n_snps_file == 15938
    assert tuple(panel.snps.columns) == SNP_COLUMNS
    bim = raw["bim"]
    assert panel.snps[SNP].tolist() == [r[1] for r in bim]
    assert panel.snps[A1].tolist() == [r[4] for r in bim]
    assert panel.snps[A2].tolist() == [r[5] for r in bim]
    assert panel.snps[BP].tolist() == [int(r[3]) for r in bim]
    np.testing.assert_allclose(panel.snps[CM].to_numpy(), [float(r[2]) for r in bim], rtol=0, atol=0)
    assert (panel.snps[CHR] == 22).all()
    np.testing.assert_allclose(panel.snps[MAF].to_numpy(), raw["maf"], rtol=0, atol=1e-15)


@pytest.mark.parametrize("start,stop", [(0, 500), (9000, 9250)])
def test_ld_matches_corrcoef(panel, raw, start, stop):
    R = ld_matrix(panel.standardized(start, stop))
    expected = np.corrcoef(raw["G"][:, start:stop], rowvar=False)
    assert R.shape == (stop - start, stop - start) and R.dtype == np.float64
    np.testing.assert_allclose(R, expected, rtol=0, atol=1e-10)
    assert np.array_equal(R, R.T)
    assert np.all(np.diag(R) == 1.0)


def test_standardized_columns(panel, raw):
    X = panel.standardized(100, 140)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1, atol=1e-12)
    # oriented to A1: positively correlated with the raw A1 counts
    G = raw["G"][:, 100:140]
    expected = (G - G.mean(0)) / G.std(0)
    np.testing.assert_allclose(X, expected, atol=1e-12)


def test_shrinkage_formula(panel, raw):
    G = raw["G"][:, 2000:2100]
    C = np.corrcoef(G, rowvar=False)
    a = 0.3
    R = ld_matrix(panel.standardized(2000, 2100), shrinkage=a)
    np.testing.assert_allclose(R, (1 - a) * C + a * np.eye(100), rtol=0, atol=1e-10)
    assert np.all(np.diag(R) == 1.0) and np.array_equal(R, R.T)
    np.testing.assert_allclose(ld_matrix(panel.standardized(0, 5), 1.0), np.eye(5), atol=0)
    for bad in (-0.1, 1.5):
        with pytest.raises(InputError, match="shrinkage"):
            ld_matrix(panel.standardized(0, 5), bad)


@pytest.mark.parametrize("maf_min,n_dropped", [(0.01, 60), (0.05, 1473)])
def test_maf_filter(shared_data, raw, maf_min, n_dropped):
    p = read_panel(str(shared_data / PANEL), maf_min=maf_min)
    keep = raw["maf"] >= maf_min
    assert p.n_dropped_maf == int((~keep).sum()) == n_dropped
    assert p.n_snps == int(keep.sum())
    assert p.snps[SNP].tolist() == [r[1] for r, k in zip(raw["bim"], keep) if k]
    assert p.snps[MAF].min() >= maf_min
    # kept-SNP ranges map to the right .bed columns even across dropped SNPs
    G = raw["G"][:, keep][:, :300]
    np.testing.assert_allclose(ld_matrix(p.standardized(0, 300)), np.corrcoef(G, rowvar=False), atol=1e-10)


# ---- small hand-made panels ----------------------------------------------------------------------------

def _write(prefix: Path, G: np.ndarray, chrom, bp, sid=None, a1=None, a2=None) -> str:
    m = G.shape[1]
    to_bed(str(prefix) + ".bed", G.astype(np.float32), properties={
        "chromosome": [str(c) for c in chrom], "bp_position": list(bp),
        "sid": sid if sid is not None else [f"rs{j}" for j in range(m)],
        "cm_position": np.linspace(0, 1, m), "allele_1": a1 or ["A"] * m, "allele_2": a2 or ["G"] * m})
    return str(prefix)


def test_missing_genotypes_and_monomorphic(tmp_path):
    rng = np.random.default_rng(0)
    G = rng.integers(0, 3, size=(40, 6)).astype(float)
    G[:, 2] = 1.0                          # all heterozygous: MAF 0.5 but no variance -> dropped
    G[:, 4] = 0.0                          # monomorphic -> dropped
    G[[3, 7, 11], 1] = np.nan              # missing genotypes
    G[5, 0] = np.nan
    prefix = _write(tmp_path / "p", G, [22] * 6, [10, 20, 30, 40, 50, 60])
    p = read_panel(prefix)
    assert p.n_ref == 40 and p.n_dropped_maf == 2
    assert p.snps[SNP].tolist() == ["rs0", "rs1", "rs3", "rs5"]
    f = np.nanmean(G, axis=0) / 2
    np.testing.assert_allclose(p.snps[MAF], np.minimum(f, 1 - f)[[0, 1, 3, 5]], atol=1e-15)
    X = p.standardized(0, 4)
    Gk = G[:, [0, 1, 3, 5]].copy()
    for j in range(4):
        col = Gk[:, j]
        col[np.isnan(col)] = np.nanmean(col)
    expected = (Gk - Gk.mean(0)) / Gk.std(0)
    np.testing.assert_allclose(X, expected, atol=1e-12)
    # raw genotypes of kept SNPs 2 and 3 (file columns 3 and 5)
    np.testing.assert_array_equal(p.genotypes(2, 4), G[:, [3, 5]])


def test_chroms_selection(tmp_path):
    rng = np.random.default_rng(1)
    G = rng.integers(0, 3, size=(30, 6)).astype(float)
    prefix = _write(tmp_path / "p", G, [21, 21, 21, 22, 22, 22], [5, 6, 7, 1, 2, 3])
    p = read_panel(prefix + ".bed", chroms=22)
    assert p.snps[SNP].tolist() == ["rs3", "rs4", "rs5"] and (p.snps[CHR] == 22).all()
    np.testing.assert_array_equal(p.genotypes(0, 3), G[:, 3:])
    assert read_panel(prefix, chroms=["21", 22]).n_snps == 6
    with pytest.raises(InputError, match=r"no SNPs on chromosome.*\[21, 22\]"):
        read_panel(prefix, chroms=5)


@pytest.fixture
def small(tmp_path) -> str:
    G = np.random.default_rng(2).integers(0, 3, size=(20, 5)).astype(float)
    return _write(tmp_path / "s", G, [22] * 5, [100, 200, 300, 400, 500])


def _edit_bim(prefix: str, row: int, col: int, value: str) -> None:
    bim = pd.read_csv(prefix + ".bim", sep="\t", header=None, dtype=str)
    bim.iloc[row, col] = value
    bim.to_csv(prefix + ".bim", sep="\t", header=False, index=False)


@pytest.mark.parametrize("ext", [".bed", ".bim", ".fam"])
def test_missing_file(small, ext):
    Path(small + ext).unlink()
    with pytest.raises(InputError, match="not found") as e:
        read_panel(small)
    assert small + ext in str(e.value)


def test_duplicate_snp_id(small):
    _edit_bim(small, 3, 1, "rs1")
    with pytest.raises(InputError, match=r"duplicate SNP ID 'rs1' at lines \[2, 4\]") as e:
        read_panel(small)
    assert small + ".bim" in str(e.value)


def test_unsorted_positions(small):
    _edit_bim(small, 2, 3, "150")
    with pytest.raises(InputError,
                       match=r"line 3 \(SNP rs2\): position 150 is before the previous SNP's 200.*Sort") as e:
        read_panel(small)
    assert small + ".bim" in str(e.value)


def test_split_chromosome(small):
    _edit_bim(small, 2, 0, "21")
    with pytest.raises(InputError, match=r"chromosome 22 is split.*line 4, SNP rs3"):
        read_panel(small)


def test_bed_not_matching_bim(small):
    with open(small + ".fam", "a") as f:
        f.write("extra extra 0 0 0 -9\n" * 4)  # 24 people -> 6 bytes per SNP instead of 5
    with pytest.raises(InputError, match="bytes"):
        read_panel(small)


def test_panel_pickles(small):
    import pickle
    p = read_panel(small)
    q = pickle.loads(pickle.dumps(p))
    np.testing.assert_array_equal(q.standardized(0, 5), p.standardized(0, 5))
    assert q.snps.equals(p.snps)
