"""simulate_panel / ChromPanel / panel_from_genotypes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data.schema import A1, A2, BP, CHR, CM, MAF, SNP, SNP_COLUMNS
from deepwas_dist.errors import InputError
from deepwas_dist.simulate import panel_from_genotypes, simulate_panel


def test_shapes_dtypes_and_snp_table(small_panels):
    for chrom, p in zip((1, 2), small_panels):
        assert p.genotypes.dtype == np.int8 and p.genotypes.shape == (200, len(p.snps))
        assert set(np.unique(p.genotypes)) <= {0, 1, 2}
        assert list(p.snps.columns) == list(SNP_COLUMNS)
        assert (p.snps[CHR] == chrom).all() and p.chrom == chrom
        assert list(p.snps[SNP]) == [f"sim{chrom}_{b}" for b in p.snps[BP]]
        assert 200 < p.n_snps < 2000
        bp = p.snps[BP].to_numpy()
        assert np.all(np.diff(bp) > 0) and bp[0] >= 1 and bp[-1] <= 2_000_000
        np.testing.assert_allclose(p.snps[CM], bp * 1e-6)           # 1e-8 per bp = 1 cM per Mb


def test_alleles_distinct_and_not_strand_ambiguous(small_panels):
    snps = pd.concat([p.snps for p in small_panels])
    pairs = set(zip(snps[A1], snps[A2]))
    assert all(a != b and {a, b} <= set("ACGT") for a, b in pairs)
    assert not pairs & {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}
    assert len(pairs) == 8                                           # all allowed pairs are used


def test_maf_matches_genotypes_and_filter(small_panels):
    p = small_panels[0]
    freq = p.genotypes.mean(axis=0) / 2
    np.testing.assert_allclose(p.snps[MAF], np.minimum(freq, 1 - freq))
    assert p.snps[MAF].min() >= 0.01
    strict = simulate_panel(n_individuals=200, chroms=(1,), length_mb=2.0, seed=7, maf_min=0.1)[0]
    assert strict.snps[MAF].min() >= 0.1 and strict.n_snps < p.n_snps
    # the same simulation, filtered harder: exactly the SNPs of the lenient panel with MAF >= 0.1
    assert list(strict.snps[SNP]) == list(p.snps.loc[p.snps[MAF] >= 0.1, SNP])


def test_determinism_by_seed_and_chromosome_independence(small_panels):
    again = simulate_panel(n_individuals=200, chroms=(2,), length_mb=2.0, seed=7)[0]
    pd.testing.assert_frame_equal(again.snps, small_panels[1].snps)
    np.testing.assert_array_equal(again.genotypes, small_panels[1].genotypes)
    other = simulate_panel(n_individuals=200, chroms=(2,), length_mb=2.0, seed=8)[0]
    assert other.n_snps != again.n_snps or not np.array_equal(other.snps[BP], again.snps[BP])
    assert small_panels[0].n_snps != small_panels[1].n_snps       # chromosomes are independent draws


def test_standardized_is_correlation_scale(small_panels):
    X = small_panels[0].standardized()
    assert X.dtype == np.float64 and X.shape == small_panels[0].genotypes.shape
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose((X ** 2).mean(axis=0), 1, atol=1e-12)


def test_default_density():
    """Defaults (1,000 diploids, 5 Mb) give 1,000-3,000 SNPs with MAF >= 1%."""
    p = simulate_panel(chroms=(4,), seed=0)[0]
    assert 1000 <= p.n_snps <= 3000


def test_panel_from_genotypes_round_trip_and_errors(small_panels):
    p = small_panels[0]
    wrapped = panel_from_genotypes(p.genotypes.astype(np.float32), p.snps.drop(columns=[MAF]))
    pd.testing.assert_frame_equal(wrapped.snps, p.snps)
    np.testing.assert_array_equal(wrapped.genotypes, p.genotypes)
    G = p.genotypes.astype(np.float64)
    G[3, 5] = np.nan
    with pytest.raises(InputError, match=p.snps[SNP].iloc[5]):
        panel_from_genotypes(G, p.snps)
    G = p.genotypes.copy()
    G[:, 2] = 0
    with pytest.raises(InputError, match="monomorphic"):
        panel_from_genotypes(G, p.snps)
    with pytest.raises(InputError, match="strictly increasing"):
        panel_from_genotypes(p.genotypes[:, ::-1], p.snps.iloc[::-1])
    with pytest.raises(InputError, match="shape"):
        panel_from_genotypes(p.genotypes[:, :-1], p.snps)


@pytest.mark.realdata
def test_wraps_real_plink_panel(shared_data):
    bed_reader = pytest.importorskip("bed_reader")
    bed = bed_reader.open_bed(shared_data / "1000G_eur_chr22.bed")
    cols = np.s_[:500]
    G = bed.read(dtype="int8", index=np.s_[:, cols])              # copies of allele_1, -127 = missing
    snps = pd.DataFrame({CHR: bed.chromosome[cols].astype(int), SNP: bed.sid[cols], BP: bed.bp_position[cols],
                         CM: bed.cm_position[cols], A1: bed.allele_1[cols], A2: bed.allele_2[cols]})
    keep = np.all(G >= 0, axis=0) & (G.std(axis=0) > 0) & np.r_[True, np.diff(snps[BP]) > 0]
    p = panel_from_genotypes(G[:, keep], snps[keep].reset_index(drop=True))
    assert p.n_individuals == 378 and p.n_snps == keep.sum() and p.chrom == 22
    X = p.standardized()
    np.testing.assert_allclose((X ** 2).mean(axis=0), 1, atol=1e-12)
