"""Allele harmonisation: the real fastGWA vs the real .bim, and one hand-made SNP per branch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data.schema import A1, A2, BP, CHR, CM, SNP, N, Z
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.sumstats import harmonise, read_sumstats

COMP = {"A": "T", "T": "A", "C": "G", "G": "C"}


def test_real_fastgwa_vs_bim(shared_data):
    bim = pd.read_csv(shared_data / "1000G_eur_chr22.bim", sep="\t", header=None,
                      names=[CHR, SNP, CM, BP, A1, A2])
    ss = read_sumstats(str(shared_data / "ukb_height_chr22.fastGWA.gz"))
    out, rep = harmonise(ss, bim)
    print("\n" + rep.summary())
    # independent expectation: merge and classify with plain pandas
    m = ss.merge(bim, on=SNP, suffixes=("_s", "_r"))
    same = (m[f"{A1}_s"] == m[f"{A1}_r"]) & (m[f"{A2}_s"] == m[f"{A2}_r"])
    swap = (m[f"{A1}_s"] == m[f"{A2}_r"]) & (m[f"{A2}_s"] == m[f"{A1}_r"])
    amb = m[f"{A1}_r"].map(COMP) == m[f"{A2}_r"]
    assert rep.read == 15935 and rep.dropped_not_in_reference == len(ss) - len(m)
    assert rep.dropped_ambiguous == int(amb.sum()) > 0
    assert rep.matched == int(((same | swap) & ~amb).sum())
    assert rep.flipped == int((swap & ~amb).sum())
    assert rep.dropped_allele_mismatch == int((~(same | swap)).sum())
    assert rep.read == rep.matched + rep.dropped_not_in_reference + rep.dropped_allele_mismatch + rep.dropped_ambiguous
    keep = m[(same | swap) & ~amb]
    expected_z = np.where(swap[keep.index], -keep[Z], keep[Z])
    exp = pd.DataFrame({SNP: keep[SNP], Z: expected_z}).set_index(SNP)
    assert out[SNP].is_unique
    np.testing.assert_array_equal(out[Z].to_numpy(), exp.loc[out[SNP], Z].to_numpy())
    # reference order, reference alleles, index = reference row
    pos = bim.reset_index().set_index(SNP).loc[out[SNP], "index"].to_numpy()
    assert np.all(np.diff(pos) > 0) and np.array_equal(out.index.to_numpy(), pos)
    assert out[A1].tolist() == bim[A1].to_numpy()[pos].tolist()
    assert out[BP].tolist() == bim[BP].to_numpy()[pos].tolist()

    out2, rep2 = harmonise(ss, bim, drop_ambiguous=False)
    assert rep2.dropped_ambiguous == 0 and rep2.matched == int((same | swap).sum())
    assert rep2.flipped == int(swap.sum())


REF = pd.DataFrame({
    SNP: ["r_same", "r_swap", "r_comp", "r_compswap", "r_amb_same", "r_amb_swap", "r_mismatch", "r_lower",
          "r_unused"],
    A1: ["A", "A", "A", "A", "A", "C", "A", "g", "A"],
    A2: ["G", "G", "G", "C", "T", "G", "G", "T", "C"],
    CHR: 1, BP: np.arange(9) * 100})
SS = pd.DataFrame({   # deliberately not in reference order
    SNP: ["r_lower", "r_mismatch", "r_amb_swap", "r_amb_same", "r_compswap", "r_comp", "r_swap", "r_same",
          "not_there"],
    A1: ["G", "A", "G", "A", "G", "T", "G", "A", "A"],
    A2: ["t", "C", "C", "T", "T", "C", "A", "G", "G"],
    Z: [8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 9.0], N: 1000.0})


def test_each_branch():
    out, rep = harmonise(SS, REF)
    assert out[SNP].tolist() == ["r_same", "r_swap", "r_comp", "r_compswap", "r_lower"]
    assert out[Z].tolist() == [1.0, -2.0, 3.0, -4.0, 8.0]
    assert out.index.tolist() == [0, 1, 2, 3, 7]
    assert out[A1].tolist() == ["A", "A", "A", "A", "g"] and out[A2].tolist() == ["G", "G", "G", "C", "T"]
    assert out[BP].tolist() == [0, 100, 200, 300, 700] and (out[N] == 1000.0).all()
    assert (rep.read, rep.matched, rep.flipped, rep.dropped_not_in_reference, rep.dropped_allele_mismatch,
            rep.dropped_ambiguous) == (9, 5, 2, 1, 1, 2)
    assert "5/9" in rep.summary() and "2 strand-ambiguous" in rep.summary()


def test_ambiguous_kept_as_written():
    out, rep = harmonise(SS, REF, drop_ambiguous=False)
    z = dict(zip(out[SNP], out[Z]))
    assert z["r_amb_same"] == 5.0 and z["r_amb_swap"] == -6.0   # no complement for A/T, C/G
    assert (rep.matched, rep.flipped, rep.dropped_ambiguous, rep.dropped_allele_mismatch) == (7, 3, 0, 1)


def test_nothing_matches_and_duplicates():
    ss = SS.assign(**{SNP: [f"22:{i}" for i in range(len(SS))]})
    with pytest.raises(InputError, match="no SNP .* matched.*build"):
        harmonise(ss, REF)
    ref = pd.concat([REF, REF.iloc[[1]]], ignore_index=True)
    with pytest.raises(InputError, match=r"reference: duplicate SNP ID 'r_swap' at rows \(1-based\) \[2, 10\]"):
        harmonise(SS, ref)
    with pytest.raises(InputError, match=r"sumstats lacks column\(s\) \['Z'\]"):
        harmonise(SS.drop(columns=[Z]), REF)
