"""simulate_panel / ChromPanel / panel_from_genotypes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data.schema import A1, A2, BP, CHR, CM, MAF, SNP, SNP_COLUMNS
from deepwas_dist.errors import InputError
from deepwas_dist.simulate import panel_from_genotypes, simulate_panel
from deepwas_dist.simulate.genotypes import chunk_lengths, simulate_panel_and_cohort


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


# ------------------------------------------------------------------------------ panel + GWAS cohort
def test_panel_and_cohort_are_disjoint_draws_of_one_population(panel_and_cohort):
    panel, cohort = panel_and_cohort
    assert panel.genotypes.shape[0] == 150 and cohort.genotypes.shape == (600, panel.n_snps)
    assert cohort.genotypes.dtype == np.int8 and cohort.genotypes.flags.c_contiguous
    pd.testing.assert_frame_equal(panel.snps.drop(columns=[MAF]), cohort.snps.drop(columns=[MAF]))
    # the SNP filter is on the panel; SNPs monomorphic in the cohort are dropped too
    assert panel.snps[MAF].min() >= 0.01 and cohort.snps[MAF].min() > 0
    for p in (panel, cohort):
        freq = p.genotypes.mean(axis=0) / 2
        np.testing.assert_allclose(p.snps[MAF], np.minimum(freq, 1 - freq))
    # same population: allele frequencies agree within binomial sampling error (HWE: var p_hat = p q / 2n)
    p_panel, p_cohort = panel.genotypes.mean(axis=0) / 2, cohort.genotypes.mean(axis=0) / 2
    p_bar = (150 * p_panel + 600 * p_cohort) / 750
    se = np.sqrt(p_bar * (1 - p_bar) / 2 * (1 / 150 + 1 / 600))
    t = (p_panel - p_cohort) / se
    assert abs(t.mean()) < 0.2 and 0.7 < t.std() < 1.5          # ~N(0, 1) (LD makes SNPs correlated)
    assert np.mean(np.abs(t) > 4) < 0.01
    # different people: no cohort member's genotype vector equals a panel member's
    rows_panel = {r.tobytes() for r in panel.genotypes}
    assert not any(r.tobytes() in rows_panel for r in cohort.genotypes)
    # their LD estimates the same population LD but differs by sampling error ~ 1/sqrt(150)
    Rp = np.corrcoef(panel.genotypes[:, :200].T.astype(float))
    Rc = np.corrcoef(cohort.genotypes[:, :200].T.astype(float))
    off = ~np.eye(200, dtype=bool)
    assert np.corrcoef(Rp[off], Rc[off])[0, 1] > 0.7
    assert 0.03 < np.sqrt(np.mean((Rp - Rc)[off] ** 2)) < 0.2


def test_panel_and_cohort_do_not_depend_on_workers(panel_and_cohort):
    one = simulate_panel_and_cohort(150, 600, chroms=(1, 2), length_mb=1.0, seed=4, workers=1)
    two = simulate_panel_and_cohort(150, 600, chroms=(1, 2), length_mb=1.0, seed=4, workers=2)
    for (p1, c1), (p2, c2) in zip(one, two):
        pd.testing.assert_frame_equal(p1.snps, p2.snps)
        pd.testing.assert_frame_equal(c1.snps, c2.snps)
        np.testing.assert_array_equal(p1.genotypes, p2.genotypes)
        np.testing.assert_array_equal(c1.genotypes, c2.genotypes)
    np.testing.assert_array_equal(one[0][1].genotypes, panel_and_cohort[1].genotypes)   # chr1 alone: same
    panels = simulate_panel(150, chroms=(1, 2), length_mb=1.0, seed=4, workers=2)
    for p, q in zip(panels, simulate_panel(150, chroms=(1, 2), length_mb=1.0, seed=4)):
        np.testing.assert_array_equal(p.genotypes, q.genotypes)


def test_column_scale_matches_standardized(panel_and_cohort):
    _, cohort = panel_and_cohort
    mean, sd = cohort.column_scale()
    G = cohort.genotypes.astype(np.float64)
    np.testing.assert_allclose((G - mean) / sd, cohort.standardized(), rtol=0, atol=1e-12)


def test_panel_and_cohort_errors():
    with pytest.raises(InputError, match="n_cohort"):
        simulate_panel_and_cohort(100, 1, chroms=(1,), length_mb=0.5)
    with pytest.raises(InputError, match="n_individuals"):
        simulate_panel_and_cohort(1, 100, chroms=(1,), length_mb=0.5)


def test_chunk_lengths():
    assert chunk_lengths(5e6, None) == chunk_lengths(5e6, 0) == chunk_lengths(5e6, 5e6) == [5_000_000]
    pieces = chunk_lengths(12_345_678, 5e6)
    assert len(pieces) == 3 and sum(pieces) == 12_345_678 and max(pieces) <= 5e6 and max(pieces) - min(pieces) <= 1


def _brute_force_sites(ts, offset: int, n: int, n_cohort: int, maf_min: float) -> tuple[list, list]:
    """The kept sites one variant at a time, as the rule says: the first site at a bp, panel MAF > 0 and
    >= maf_min, polymorphic in the cohort."""
    rows, bps, last = [], [], None
    for v in ts.variants():
        bp = int(v.site.position) + 1 + offset
        if bp == last:
            continue
        last = bp
        g = v.genotypes[0::2] + v.genotypes[1::2]
        c = int(g[:n].sum())
        cc = int(g[n:n + n_cohort].sum())
        if 0 < min(c, 2 * n - c) / (2 * n) and min(c, 2 * n - c) / (2 * n) >= maf_min and (
                not n_cohort or 0 < cc < 2 * n_cohort):
            rows.append(g.astype(np.int8))
            bps.append(bp)
    return rows, bps


@pytest.mark.parametrize("block", [7, 4096])
def test_site_blocks_equal_one_variant_at_a_time(monkeypatch, block):
    import msprime

    from deepwas_dist.simulate import genotypes as gt
    monkeypatch.setattr(gt, "SITE_BLOCK", block)
    ts = msprime.sim_mutations(msprime.sim_ancestry(60, sequence_length=3e5, recombination_rate=1e-8,
                                                    population_size=1e4, random_seed=3),
                               rate=2e-8, model=msprime.BinaryMutationModel(), random_seed=4, discrete_genome=True)
    assert np.any(np.diff(ts.tables.sites.position.astype(np.int64)) == 0) or ts.num_sites > 50
    got = list(gt._kept_sites(ts, 1000, 20, 40, 0.05))
    rows, bps = _brute_force_sites(ts, 1000, 20, 40, 0.05)
    assert len(rows) > 20
    np.testing.assert_array_equal(np.concatenate([g for g, _ in got]), np.stack(rows))
    np.testing.assert_array_equal(np.concatenate([b for _, b in got]), bps)


def test_chunked_chromosome_is_independent_pieces_end_to_end():
    whole = simulate_panel(300, chroms=(3,), length_mb=3.0, seed=2, chunk_mb=0)[0]
    assert whole.snps.equals(simulate_panel(300, chroms=(3,), length_mb=3.0, seed=2, chunk_mb=3.0)[0].snps)
    p = simulate_panel(300, chroms=(3,), length_mb=3.0, seed=2, chunk_mb=1.0)[0]
    bp = p.snps[BP].to_numpy()
    assert np.all(np.diff(bp) > 0) and bp[-1] <= 3_000_000
    assert 0.7 < p.n_snps / whole.n_snps < 1.3                          # the same density
    per_piece = np.histogram(bp, bins=[0, 1e6, 2e6, 3e6 + 1])[0]
    assert per_piece.min() > 0.2 * p.n_snps
    # no LD across a piece boundary: 30 SNPs either side of it have the r^2 of unlinked SNPs (1/n), and
    # 30 with the 30 before them, in one piece, more
    X, n = p.standardized(), p.n_individuals
    for boundary in (1_000_000, 2_000_000):
        e = int(np.searchsorted(bp, boundary, side="right"))
        across = ((X[:, e - 30:e].T @ X[:, e:e + 30] / n) ** 2).mean()
        within = ((X[:, e - 60:e - 30].T @ X[:, e - 30:e] / n) ** 2).mean()
        assert across < 2.0 / n and within > 3 * across, (boundary, across, within)
