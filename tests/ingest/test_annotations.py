"""Annotation readers: LDSC full/thin .annot and Parquet files written here from known arrays."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data.schema import BP, CHR, SNP
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.annotations import read_annotations, standardisation


def _values(rng, m: int) -> dict[str, np.ndarray]:
    return {"Coding_UCSC": (rng.random(m) < 0.3).astype(int), "GERP.NS": np.round(rng.normal(size=m), 6),
            "base": np.ones(m, dtype=int)}


def _text(path: Path, header: list[str], rows: list[list]) -> str:
    body = "\n".join(["\t".join(header)] + ["\t".join(str(v) for v in r) for r in rows]) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as f:
            f.write(body)
    else:
        path.write_text(body)
    return str(path)


def _full(path: Path, chrom: int, snps: list[str], vals: dict[str, np.ndarray]) -> str:
    header = ["CHR", "BP", "SNP", "CM"] + list(vals)
    rows = [[chrom, 100 * (i + 1), s, 0.01 * i] + [vals[k][i] for k in vals] for i, s in enumerate(snps)]
    return _text(path, header, rows)


def _thin(path: Path, vals: dict[str, np.ndarray]) -> str:
    m = len(next(iter(vals.values())))
    return _text(path, list(vals), [[vals[k][i] for k in vals] for i in range(m)])


def _ref(chroms: dict[int, int]) -> pd.DataFrame:
    rows = [(c, f"rs{c}_{i}", i) for c, m in chroms.items() for i in range(m)]
    return pd.DataFrame(rows, columns=[CHR, SNP, BP])


def test_full_annot(tmp_path, rng):
    v = _values(rng, 12)
    snps = [f"rs{i}" for i in range(12)]
    df, names = read_annotations(_full(tmp_path / "baseline.22.annot.gz", 22, snps, v))
    assert names == list(v) and list(df.columns) == [SNP] + list(v)
    assert df[SNP].tolist() == snps
    for k in v:
        assert df[k].dtype == np.float64
        np.testing.assert_array_equal(df[k].to_numpy(), v[k].astype(float))


def test_several_files_one_per_chromosome(tmp_path, rng):
    v21, v22 = _values(rng, 5), _values(rng, 7)
    p21 = _full(tmp_path / "b.21.annot.gz", 21, [f"a{i}" for i in range(5)], v21)
    p22 = _full(tmp_path / "b.22.annot", 22, [f"b{i}" for i in range(7)], v22)
    df, names = read_annotations([p21, p22])
    assert len(df) == 12 and df[SNP].tolist()[4:6] == ["a4", "b0"]
    np.testing.assert_array_equal(df["GERP.NS"].to_numpy(), np.r_[v21["GERP.NS"], v22["GERP.NS"]])


def test_thin_annot(tmp_path, rng):
    ref = _ref({21: 4, 22: 6})
    v = _values(rng, 10)
    df, names = read_annotations(_thin(tmp_path / "t.annot.gz", v), reference=ref)
    assert df[SNP].tolist() == ref[SNP].tolist() and names == list(v)
    np.testing.assert_array_equal(df["Coding_UCSC"].to_numpy(), v["Coding_UCSC"])
    # one thin file per chromosome, in the reference's order
    v21 = {k: a[:4] for k, a in v.items()}
    v22 = {k: a[4:] for k, a in v.items()}
    p21, p22 = _thin(tmp_path / "t.21.annot", v21), _thin(tmp_path / "t.22.annot", v22)
    df2, _ = read_annotations([p21, p22], reference=ref)
    pd.testing.assert_frame_equal(df2, df)
    with pytest.raises(InputError, match=r"t.22.annot: this thin annot maps to reference rows 0..5.*chromosome order"):
        read_annotations([p22, p21], reference=ref)


def test_thin_annot_errors(tmp_path, rng):
    ref = _ref({22: 10})
    p = _thin(tmp_path / "t.annot", _values(rng, 9))
    with pytest.raises(InputError, match="9 rows in total but the reference has 10 SNPs"):
        read_annotations(p, reference=ref)
    with pytest.raises(InputError, match=r"exceeds the reference's 5 SNPs"):
        read_annotations(p, reference=ref.iloc[:5])
    with pytest.raises(InputError, match=r"thin annot .*pass reference="):
        read_annotations(p)


def test_parquet(tmp_path, rng):
    v = _values(rng, 8)
    t = pd.DataFrame({SNP: [f"rs{i}" for i in range(8)], CHR: 1, **v})
    t["flag"] = t["Coding_UCSC"].astype(bool)
    t.to_parquet(tmp_path / "a.parquet")
    df, names = read_annotations(str(tmp_path / "a.parquet"))
    assert names == list(v) + ["flag"]
    np.testing.assert_array_equal(df["flag"].to_numpy(), v["Coding_UCSC"].astype(float))
    np.testing.assert_array_equal(df["GERP.NS"].to_numpy(), v["GERP.NS"])
    t.drop(columns=[SNP]).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(InputError, match=r"b.parquet has no 'SNP' column"):
        read_annotations(str(tmp_path / "b.parquet"))


@pytest.mark.parametrize("bad,match", [
    ("text", r"annotation 'GERP.NS' is not numeric: value 'high' at line 4 \(SNP rs2\)"),
    ("nan", r"annotation 'GERP.NS' is NaN/missing or infinite at line 5 \(SNP rs3\); 2 such"),
])
def test_bad_values(tmp_path, rng, bad, match):
    v = _values(rng, 6)
    g = v["GERP.NS"].astype(object)
    if bad == "text":
        g[2] = "high"
    else:
        g[3] = g[5] = "NA"
    v["GERP.NS"] = g
    p = _full(tmp_path / "x.annot", 22, [f"rs{i}" for i in range(6)], v)
    with pytest.raises(InputError, match=match) as e:
        read_annotations(p)
    assert p in str(e.value)


def test_structure_errors(tmp_path, rng):
    v = _values(rng, 3)
    p = _text(tmp_path / "nosnp.annot", ["CHR", "BP", "CM", "a"], [[1, 1, 0, 1], [1, 2, 0, 0]])
    with pytest.raises(InputError, match=r"no 'SNP' column"):
        read_annotations(p)
    p1 = _full(tmp_path / "a.annot", 1, ["x", "y", "z"], v)
    p2 = _full(tmp_path / "b.annot", 2, ["u", "v", "w"], {"other": np.zeros(3)})
    with pytest.raises(InputError, match="same annotations"):
        read_annotations([p1, p2])
    p3 = _full(tmp_path / "c.annot", 2, ["u", "y", "w"], v)
    with pytest.raises(InputError, match=r"duplicate SNP 'y'.*a.annot.*c.annot"):
        read_annotations([p1, p3])
    p4 = _full(tmp_path / "d.annot", 1, ["x", "y", "z"], {"Z": np.zeros(3)})
    with pytest.raises(InputError, match="reserved"):
        read_annotations(p4)
    with pytest.raises(InputError, match="not found"):
        read_annotations(str(tmp_path / "missing.annot.gz"))


def test_standardisation(rng):
    v = _values(rng, 50)
    df = pd.DataFrame({SNP: [str(i) for i in range(50)], **{k: a.astype(float) for k, a in v.items()}})
    st = standardisation(df, list(v))
    for k, a in v.items():
        assert st[k].mean == pytest.approx(float(np.mean(a)), abs=1e-14)
        assert st[k].std == pytest.approx(float(np.std(a)), abs=1e-14)
    assert st["Coding_UCSC"].binary and st["base"].binary and not st["GERP.NS"].binary
    assert st["base"].std == 0.0
