"""Summary-statistics parsers: the real fastGWA file and small hand-written files of every format."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data.schema import A1, A2, BP, CHR, SNP, SUMSTATS_COLUMNS, N, Z
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.sumstats import read_sumstats

FASTGWA = "ukb_height_chr22.fastGWA.gz"


def _write(path: Path, text: str) -> str:
    text = "\n".join(line.strip() for line in text.strip().splitlines()) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return str(path)


def _tsv(*rows: str) -> str:
    return "\n".join("\t".join(r.split()) for r in rows)


def test_real_fastgwa(shared_data):
    df = read_sumstats(str(shared_data / FASTGWA))
    raw = pd.read_csv(shared_data / FASTGWA, sep="\t")
    assert len(df) == 15935 and df.attrs["format"] == "fastgwa"
    assert list(df.columns) == list(SUMSTATS_COLUMNS) + [CHR, BP]
    np.testing.assert_allclose(df[Z].to_numpy(), raw["BETA"].to_numpy() / raw["SE"].to_numpy(), rtol=1e-15)
    assert df[SNP].tolist() == raw["SNP"].tolist()
    assert df[A1].tolist() == raw["A1"].tolist() and df[A2].tolist() == raw["A2"].tolist()
    np.testing.assert_array_equal(df[N].to_numpy(), raw["N"].to_numpy(dtype=float))
    np.testing.assert_array_equal(df[BP].to_numpy(), raw["POS"].to_numpy())
    assert (df[CHR] == 22).all() and df[N].between(4e5, 5e5).all()


def test_ldsc_gz_and_plain(tmp_path):
    text = _tsv("SNP A1 A2 Z N", "rs1 A G 1.5 1000", "rs2 c t -0.25 1000", "rs3 T C 0 999")
    for name in ("a.sumstats.gz", "a.sumstats"):
        df = read_sumstats(_write(tmp_path / name, text))
        assert df.attrs["format"] == "ldsc" and list(df.columns) == list(SUMSTATS_COLUMNS)
        assert df[Z].tolist() == [1.5, -0.25, 0.0] and df[N].tolist() == [1000, 1000, 999]
        assert df[A1].tolist() == ["A", "c", "T"] and df[SNP].tolist() == ["rs1", "rs2", "rs3"]


def test_fastgwa_small_space_separated(tmp_path):
    p = _write(tmp_path / "x.fastGWA", """CHR SNP POS A1 A2 N AF1 BETA SE P
        22 rs1 100 A G 5000 0.1 0.02 0.01 0.05
        X rs2 200 T C 5000 0.2 -0.09 0.03 0.01""")
    df = read_sumstats(p)
    assert df.attrs["format"] == "fastgwa"
    np.testing.assert_allclose(df[Z], [2.0, -3.0], rtol=1e-14)
    assert df[CHR].tolist() == [22, 23] and df[BP].tolist() == [100, 200]


PLINK_LINEAR = _tsv(
    "#CHROM POS ID REF ALT PROVISIONAL_REF? A1 OMITTED A1_FREQ TEST OBS_CT BETA SE T_STAT P ERRCODE",
    "22 100 rs1 G A Y A G 0.2 ADD 900 0.5 0.25 2.0 0.04 .",
    "22 100 rs1 G A Y A G 0.2 AGE 900 0.01 0.001 10 0.0 .",
    "22 200 rs2 C T Y C T 0.3 ADD 950 -0.3 0.1 -3.0 0.003 .",
)


def test_plink2_linear(tmp_path):
    df = read_sumstats(_write(tmp_path / "t.PHENO1.glm.linear", PLINK_LINEAR))
    assert df.attrs["format"] == "plink2_linear"
    assert df[SNP].tolist() == ["rs1", "rs2"]             # covariate (TEST=AGE) row skipped
    assert df[A1].tolist() == ["A", "C"] and df[A2].tolist() == ["G", "T"]  # other of REF/ALT
    np.testing.assert_allclose(df[Z], [2.0, -3.0], rtol=1e-14)
    assert df[N].tolist() == [900, 950] and df[BP].tolist() == [100, 200]


def test_plink2_logistic_or_and_zstat(tmp_path):
    p = _write(tmp_path / "t.glm.logistic.gz", _tsv(
        "#CHROM POS ID REF ALT A1 FIRTH? TEST OBS_CT OR LOG(OR)_SE Z_STAT P ERRCODE",
        "1 10 rs1 A C C N ADD 2000 2.0 0.5 1.386 0.16 .",
        "1 20 rs2 G T G N ADD 2000 0.5 0.25 -2.77 0.005 ."))
    df = read_sumstats(p)
    assert df.attrs["format"] == "plink2_logistic"
    np.testing.assert_allclose(df[Z], [np.log(2.0) / 0.5, np.log(0.5) / 0.25], rtol=1e-14)
    assert df[A2].tolist() == ["A", "T"]
    # only the test statistic: Z = Z_STAT
    p2 = _write(tmp_path / "u.glm.logistic", _tsv(
        "#CHROM POS ID REF ALT A1 OBS_CT Z_STAT P", "1 10 rs1 A C A 2000 1.25 0.2"))
    df2 = read_sumstats(p2)
    assert df2[Z].tolist() == [1.25] and df2[A2].tolist() == ["C"]
    assert df2.attrs["format"] == "plink2_logistic"


def test_plink2_ax_column_and_bad_a1(tmp_path):
    p = _write(tmp_path / "ax.glm.linear", _tsv(
        "#CHROM POS ID REF ALT A1 AX OBS_CT BETA SE P", "1 10 rs1 A C,G G A 100 1 0.5 0.1"))
    df = read_sumstats(p)
    assert df[A1].tolist() == ["G"] and df[A2].tolist() == ["A"]
    p = _write(tmp_path / "bad.glm.linear", _tsv(
        "#CHROM POS ID REF ALT A1 OBS_CT BETA SE P",
        "1 10 rs1 A C A 100 1 0.5 0.1", "1 20 rs2 A C,G G 100 1 0.5 0.1"))
    with pytest.raises(InputError, match=r"neither REF nor ALT at line 3 \(SNP rs2\)"):
        read_sumstats(p)


def test_generic_column_map(tmp_path):
    p = _write(tmp_path / "g.csv", """rsid,effect_allele,other_allele,zscore,n_total,chrom,pos
        rs1,A,G,1.5,100,22,5
        rs2,C,T,-2,200,22,9""")
    cmap = {SNP: "rsid", A1: "effect_allele", A2: "other_allele", Z: "zscore", N: "n_total",
            CHR: "chrom", BP: "pos"}
    df = read_sumstats(p, column_map=cmap)
    assert df.attrs["format"] == "generic"
    assert df[Z].tolist() == [1.5, -2.0] and df[N].tolist() == [100, 200] and df[BP].tolist() == [5, 9]


def test_generic_beta_se_and_constant_n(tmp_path):
    p = _write(tmp_path / "g.txt.gz", _tsv("MarkerName Allele1 Allele2 Effect StdErr",
                                           "rs1 a g 0.3 0.1", "rs2 c t 0.2 0.4"))
    cmap = {SNP: "MarkerName", A1: "Allele1", A2: "Allele2", "BETA": "Effect", "SE": "StdErr"}
    df = read_sumstats(p, fmt="generic", column_map=cmap, n=12345)
    np.testing.assert_allclose(df[Z], [3.0, 0.5], rtol=1e-14)
    assert (df[N] == 12345.0).all() and list(df.columns) == list(SUMSTATS_COLUMNS)
    with pytest.raises(InputError, match=r"no sample-size column .N..*MarkerName.*--n N"):
        read_sumstats(p, fmt="generic", column_map=cmap)


# ---- errors -----------------------------------------------------------------------------------------------

LDSC_HEAD = "SNP A1 A2 Z N"


@pytest.mark.parametrize("rows,match", [
    (["rs1 A G 1 10", "rs2 A G NA 10", "rs3 A G nan 10"],
     r"Z \(column 'Z'\) is NaN.*line 3 \(SNP rs2\); 2 such row"),
    (["rs1 A G 1 10", "rs2 A G inf 10"], r"line 3 \(SNP rs2\); 1 such row"),
    (["rs1 A G 1 10", "rs2 A G abc 10"], r"not a number at line 3 \(SNP rs2\)"),
    (["rs1 A G 1 10", "rs2 A G 2 10", "rs1 A G 3 10"], r"duplicate SNP ID 'rs1' at lines \[2, 4\]"),
    (["rs1 A G 1 10", "rs2 A G 2 NA"], r"sample size 'N' is missing or not positive at line 3 \(SNP rs2\)"),
    (["rs1 A G 1 0"], r"sample size .* at line 2 \(SNP rs1\)"),
])
def test_ldsc_row_errors(tmp_path, rows, match):
    p = _write(tmp_path / "e.sumstats", _tsv(LDSC_HEAD, *rows))
    with pytest.raises(InputError, match=match) as e:
        read_sumstats(p)
    assert p in str(e.value)


@pytest.mark.parametrize("rows,match", [
    (["22 rs1 1 A G 10 0.1 0.1 0.1 0.5", "22 rs2 2 A G 10 0.1 0.1 0 0.5", "22 rs3 3 A G 10 0.1 0.1 -1 0.5"],
     r"standard error SE <= 0 at line 3 \(SNP rs2\); 2 such row"),
    (["22 rs1 1 A G 10 0.1 NA 0.1 0.5"], r"BETA or SE is NaN.*line 2 \(SNP rs1\)"),
    (["22 rs1 1 A G 10 0.1 0.1 NA 0.5"], r"BETA or SE is NaN.*line 2 \(SNP rs1\)"),
])
def test_fastgwa_row_errors(tmp_path, rows, match):
    p = _write(tmp_path / "e.fastGWA", _tsv("CHR SNP POS A1 A2 N AF1 BETA SE P", *rows))
    with pytest.raises(InputError, match=match):
        read_sumstats(p)


def test_missing_columns_listed(tmp_path):
    p = _write(tmp_path / "m.sumstats", _tsv("SNP A1 Z N", "rs1 A 1 10"))
    with pytest.raises(InputError, match=r"lacks required column\(s\) 'A2'.*columns found: \['SNP', 'A1', 'Z', 'N'\]"):
        read_sumstats(p)
    p = _write(tmp_path / "u.txt", _tsv("foo bar", "1 2"))
    with pytest.raises(InputError, match=r"cannot tell the format.*\[.foo., .bar.\].*--format generic --columns SNP="):
        read_sumstats(p)
    with pytest.raises(InputError, match=r"lacks required column\(s\) 'rsid' \(SNP\)"):
        read_sumstats(p, column_map={SNP: "rsid", Z: "foo", N: "bar"})
    with pytest.raises(InputError, match=r"--columns has unknown role\(s\) \[.pvalue.\]"):
        read_sumstats(p, column_map={"pvalue": "bar"})
    with pytest.raises(InputError, match="unknown sumstats format"):
        read_sumstats(p, fmt="regenie")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found") as e:
        read_sumstats(str(tmp_path / "nope.sumstats.gz"))
    assert "nope.sumstats.gz" in str(e.value)


def test_fsspec_url():
    import fsspec
    text = _tsv("SNP A1 A2 Z N", "rs1 A G 1.5 1000")
    with fsspec.open("memory://sumstats_test/a.sumstats.gz", "wt", compression="gzip") as f:
        f.write(text + "\n")
    df = read_sumstats("memory://sumstats_test/a.sumstats.gz")
    assert df[Z].tolist() == [1.5] and df.attrs["format"] == "ldsc"
