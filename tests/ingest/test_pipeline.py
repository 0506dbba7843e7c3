"""The ingestion pipeline (deepwas_dist.ingest.pipeline): UKBB windows against PLINK-style LD, atomic updates.

Inputs are written by the tests in the real formats (PLINK .bed via bed_reader, UKBB .npz/.gz, LDSC
.sumstats/.annot) from small msprime panels; expected values are computed here with numpy/pandas.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from bed_reader import to_bed

from deepwas_dist.cli import key_values as parse_key_values
from deepwas_dist.data import Dataset, DatasetWriter
from deepwas_dist.data import schema as S
from deepwas_dist.data.chroms import parse_chroms
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.align import align_annotations
from deepwas_dist.ingest.from_plink import prepare_plink
from deepwas_dist.ingest.from_ukbb import prepare_ukbb_ld
from deepwas_dist.ingest.pipeline import parse_columns
from deepwas_dist.ingest.plink import ld_matrix, standardize
from deepwas_dist.ingest.ukbb import write_ukbb_ld
from deepwas_dist.ingest.updates import prepare_annotations, prepare_sumstats
from deepwas_dist.likelihood import marginal_nll
from deepwas_dist.simulate import simulate_panel


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Many small eigendecompositions: one thread is fastest, and robust on a busy (oversubscribed) machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------------------ inputs
def write_bed(prefix: Path, panels) -> pd.DataFrame:
    """PLINK 1 files of msprime ChromPanels (A1 counted); returns the SNP table written."""
    G = np.concatenate([p.genotypes for p in panels], axis=1)
    snps = pd.concat([p.snps for p in panels], ignore_index=True)
    to_bed(str(prefix) + ".bed", G.astype(np.int8), count_A1=True, properties={
        "iid": [f"i{i}" for i in range(G.shape[0])], "chromosome": snps[S.CHR].astype(str).tolist(),
        "sid": snps[S.SNP].tolist(), "cm_position": snps[S.CM].to_numpy(), "bp_position": snps[S.BP].to_numpy(),
        "allele_1": snps[S.A1].tolist(), "allele_2": snps[S.A2].tolist()})
    return snps


WINDOWS = [(j * 1_000_000 + 1, j * 1_000_000 + 3_000_001) for j in range(3)]   # 3 Mb at 1 Mb steps


def write_windows(d: Path, snps: pd.DataFrame, Rs: list[np.ndarray]) -> None:
    """UKBB windows chr1_{start}_{end}.npz/.gz holding the SNPs with start <= BP < end, R from Rs[j]."""
    d.mkdir(parents=True, exist_ok=True)
    bp = snps[S.BP].to_numpy()
    for (start, end), R in zip(WINDOWS, Rs):
        rows = np.flatnonzero((bp >= start) & (bp < end))
        write_ukbb_ld(R[np.ix_(rows, rows)], snps.iloc[rows], str(d / f"chr1_{start}_{end}.npz"))


def assert_ld(b, R: np.ndarray, thr: float = 1e-6, atol: float = 2e-6) -> None:
    """The slice's R[core, :] (LDSlice.ld_core_rows) equals the chromosome LD matrix ``R``'s rows on the range
    of the kept eigenvectors of R_CC (eigenvalues > thr * max; numpy's eigh here)."""
    core = b.snp_index[b.ld.core_mask.numpy()]
    rows = R[np.ix_(core, b.snp_index)]
    ev, U = np.linalg.eigh(R[np.ix_(core, core)])
    U = U[:, ev > thr * ev[-1]]
    assert b.ld.rank == U.shape[1]
    np.testing.assert_allclose(b.ld.ld_core_rows().numpy(), U @ (U.T @ rows), rtol=0, atol=atol)


def _nll(sl, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(sl.n, generator=g, dtype=torch.float64) * 2
    log_s = torch.randn(sl.m, generator=g, dtype=torch.float64) * 0.5 - 1.0
    return float(marginal_nll(sl, z, log_s, torch.tensor(0.1, dtype=torch.float64), method="exact").nll)


# ------------------------------------------------------------------------------------------ UKBB
def test_ukbb_windows_ingest_to_the_same_slices_as_plink(chr1, tmp_path):
    write_windows(tmp_path / "ukbb", chr1["snps"], [chr1["R"]] * 3)
    a = prepare_ukbb_ld(str(tmp_path / "u"), str(tmp_path / "ukbb"), core_kb=1000, bandwidth_kb=500, progress=False)
    b = prepare_plink(str(tmp_path / "p"), chr1["prefix"], maf=0.0, core_kb=1000, bandwidth_kb=500, progress=False)
    M = len(chr1["snps"])
    assert (a.snps_read, a.snps_kept, a.dropped) == (M, M, {})          # union of overlapping lists, deduplicated
    assert a.slices_written == b.slices_written == 5 and a.details["windows"] == "3 found, 3 used"
    du, dp = Dataset.open(str(tmp_path / "u")), Dataset.open(str(tmp_path / "p"))
    assert du.ld_info["n_ref"] is None and dp.ld_info["n_ref"] == 200
    su, sp_ = du.snps(1), dp.snps(1)
    for col in (S.SNP, S.BP, S.A1, S.A2):
        assert su[col].tolist() == sp_[col].tolist() == chr1["snps"][col].tolist()
    geom = [S.SNP_LO, S.SNP_HI, S.CORE_LO, S.CORE_HI, S.RANK]
    assert du.slice_index()[geom].equals(dp.slice_index()[geom])
    R = chr1["R"]
    for sid in range(a.slices_written):
        x, y = du.read_slice(1, sid, traits=[]), dp.read_slice(1, sid, traits=[])
        assert (x.snp_index == y.snp_index).all() and x.ld.rank == y.ld.rank
        assert_ld(x, R)
        np.testing.assert_allclose(x.ld.ld_core_rows().numpy(), y.ld.ld_core_rows().numpy(), atol=2e-6)
        assert x.ld.logdet_R == pytest.approx(y.ld.logdet_R, rel=1e-6)
        nx, ny = _nll(x.ld, sid), _nll(y.ld, sid)
        assert abs(nx - ny) <= 1e-6 * abs(ny), (sid, nx, ny)


def test_ukbb_prefers_the_window_centred_nearest_the_core(chr1, tmp_path):
    """Each window holds a different shrinkage of R, so the slice's LD tells which window it came from."""
    alphas = [0.1, 0.2, 0.3]
    Rs = [(1 - a) * chr1["R"] + a * np.eye(len(chr1["R"])) for a in alphas]
    write_windows(tmp_path / "ukbb", chr1["snps"], Rs)
    prepare_ukbb_ld(str(tmp_path / "u"), str(tmp_path / "ukbb"), core_kb=500, bandwidth_kb=200, progress=False)
    ds = Dataset.open(str(tmp_path / "u"))
    bp, idx = chr1["bp"], ds.slice_index()
    not_first = 0
    for r in idx.itertuples():
        lo, hi, c0, c1 = r.SNP_LO, r.SNP_HI, r.CORE_LO, r.CORE_HI
        holding = [j for j, (s, e) in enumerate(WINDOWS) if s <= bp[lo] and bp[hi - 1] < e]
        centre = 0.5 * (bp[c0] + bp[c1 - 1])
        j = min(holding, key=lambda k: abs(0.5 * (WINDOWS[k][0] + WINDOWS[k][1]) - centre))
        not_first += j != holding[0]
        assert_ld(ds.read_slice(1, r.SLICE_ID, traits=[]), Rs[j])
    assert not_first >= 2          # the rule matters on this geometry (first-fit would pick other windows)


def test_ukbb_slice_wider_than_a_window_suggests_a_smaller_bandwidth(chr1, tmp_path):
    write_windows(tmp_path / "ukbb", chr1["snps"], [chr1["R"]] * 3)
    with pytest.raises(InputError, match=r"no UKBB LD window holds all .*--bandwidth-kb") as e:
        prepare_ukbb_ld(str(tmp_path / "u"), str(tmp_path / "ukbb"), bandwidth_kb=1500, progress=False)
    assert "slice 1" in str(e.value)
    assert not (tmp_path / "u").exists() or not any((tmp_path / "u").rglob("*.parquet"))


# ------------------------------------------------------------------------------------------ updates
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A two-chromosome dataset from a PLINK panel with one annotation ("old"), no traits."""
    d = tmp_path_factory.mktemp("base")
    panels = [simulate_panel(200, (1,), 2.0, seed=5)[0], simulate_panel(200, (2,), 1.5, seed=5)[0]]
    snps = write_bed(d / "panel", panels)
    rng = np.random.default_rng(0)
    pd.DataFrame({"SNP": snps[S.SNP], "old": rng.random(len(snps))}).to_parquet(d / "old.parquet")
    sm = prepare_plink(str(d / "ds"), str(d / "panel"), maf=0.0, core_kb=500, bandwidth_kb=250,
                       annot=[str(d / "old.parquet")], progress=False)
    return {"url": str(d / "ds"), "snps": snps, "prefix": str(d / "panel"), "panels": panels, "summary": sm}


@pytest.fixture
def ds_url(base, tmp_path) -> str:
    url = str(tmp_path / "ds")
    shutil.copytree(base["url"], url)
    return url


def _listing(url: str) -> dict:
    root = Path(url)
    return {str(p.relative_to(root)): p.read_bytes() if p.name == S.MANIFEST_FILE else p.stat().st_size
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_ldsc(path: Path, snps: pd.DataFrame, seed: int, nan_at: int | None = None) -> dict:
    """An LDSC .sumstats.gz for 90% of ``snps`` (30% with swapped alleles and negated Z), 4 SNPs with
    alleles matching nothing and 3 SNPs not in the reference. Returns the expected harmonised Z and counts."""
    rng = np.random.default_rng(seed)
    sub = snps.sample(frac=0.9, random_state=seed).reset_index(drop=True)
    z = rng.standard_normal(len(sub))
    swap = rng.random(len(sub)) < 0.3
    bad = np.zeros(len(sub), bool)
    bad[:4] = True
    swap &= ~bad
    df = pd.DataFrame({"SNP": sub[S.SNP], "A1": np.where(swap, sub[S.A2], sub[S.A1]),
                       "A2": np.where(swap, sub[S.A1], sub[S.A2]), "Z": np.where(swap, -z, z),
                       "N": rng.integers(50_000, 100_000, len(sub)).astype(float)})
    df.loc[bad, "A1"] = "AC"
    if nan_at is not None:
        df.loc[nan_at, "Z"] = np.nan
    extra = pd.DataFrame({"SNP": ["rsX1", "rsX2", "rsX3"], "A1": "A", "A2": "G", "Z": 1.0, "N": 1e5})
    pd.concat([df, extra]).to_csv(path, sep="\t", index=False, compression="gzip")
    keep = ~bad
    return {"Z": dict(zip(sub[S.SNP][keep], z[keep])), "N": dict(zip(sub[S.SNP][keep], df["N"][keep])),
            "read": len(df) + 3, "flipped": int(swap.sum()), "mismatch": 4, "absent": 3}


def test_sumstats_added_harmonised_then_a_second_trait(base, ds_url, tmp_path):
    exp = write_ldsc(tmp_path / "t1.sumstats.gz", base["snps"], seed=1)
    sm = prepare_sumstats(ds_url, "t1", str(tmp_path / "t1.sumstats.gz"), progress=False)
    assert (sm.snps_read, sm.snps_kept, sm.snps_flipped) == (exp["read"], len(exp["Z"]), exp["flipped"])
    assert sm.dropped == {"not in the reference": 3, "allele mismatch": 4, "strand-ambiguous (A/T, C/G)": 0}
    assert sm.details["format"] == "ldsc" and sm.bytes_written > 0 and sm.slices_written == 0
    ds = Dataset.open(ds_url)
    got = ds.sumstats("t1")
    assert len(got) == len(exp["Z"])
    np.testing.assert_allclose(got[S.Z].to_numpy(), [exp["Z"][s] for s in got[S.SNP]], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got[S.N].to_numpy(), [exp["N"][s] for s in got[S.SNP]])
    # a second trait, generic format with a column map and a constant N; t1 stays as it was
    rng = np.random.default_rng(2)
    s2 = base["snps"].iloc[::2]
    beta, se = rng.standard_normal(len(s2)), rng.uniform(0.5, 2, len(s2))
    pd.DataFrame({"rsid": s2[S.SNP], "ea": s2[S.A1], "oa": s2[S.A2], "b": beta, "s": se}).to_csv(
        tmp_path / "t2.csv", index=False)
    prepare_sumstats(ds_url, "t2", str(tmp_path / "t2.csv"), fmt="generic",
                     columns=parse_columns("SNP=rsid,A1=ea,A2=oa,BETA=b,SE=s"), n=1e5, progress=False)
    ds2 = Dataset.open(ds_url)
    assert ds2.traits == ["t1", "t2"]
    assert ds2.sumstats("t1").equals(got)
    t2 = ds2.sumstats("t2")
    np.testing.assert_allclose(t2[S.Z].to_numpy(), beta / se) and (t2[S.N] == 1e5).all()
    b = ds2.read_slice(1, 0, traits=["t1", "t2"])          # slices see both traits
    assert b.z.shape[1] == 2 and torch.isfinite(b.z).all()
    # the trait is there: refuse unless overwrite; overwrite replaces it and deletes the old files
    with pytest.raises(InputError, match="already in the dataset.*--overwrite"):
        prepare_sumstats(ds_url, "t1", str(tmp_path / "t1.sumstats.gz"), progress=False)
    old_files = [e["path"] for fs in ds2.manifest.traits["t1"].files.values() for e in fs]
    exp3 = write_ldsc(tmp_path / "t1b.sumstats.gz", base["snps"], seed=3)
    prepare_sumstats(ds_url, "t1", str(tmp_path / "t1b.sumstats.gz"), overwrite=True, progress=False)
    ds3 = Dataset.open(ds_url)
    assert ds3.traits == ["t2", "t1"] and ds3.sumstats("t2").equals(t2)
    got3 = ds3.sumstats("t1")
    np.testing.assert_allclose(got3[S.Z].to_numpy(), [exp3["Z"][s] for s in got3[S.SNP]], atol=1e-12)
    assert not any((Path(ds_url) / f).exists() for f in old_files)


def test_failed_updates_leave_the_dataset_unchanged(base, ds_url, tmp_path, monkeypatch):
    write_ldsc(tmp_path / "t1.sumstats.gz", base["snps"], seed=1)
    prepare_sumstats(ds_url, "t1", str(tmp_path / "t1.sumstats.gz"), progress=False)
    before = _listing(ds_url)
    z_before = Dataset.open(ds_url).sumstats("t1")

    def unchanged():
        assert _listing(ds_url) == before        # same manifest bytes, same files, nothing left behind
        ds = Dataset.open(ds_url)
        assert ds.traits == ["t1"] and ds.sumstats("t1").equals(z_before)
        assert ds.read_slice(2, 1).z.shape[1] == 1

    # 1. bad input (a NaN Z): the parser refuses before anything is written
    write_ldsc(tmp_path / "nan.sumstats.gz", base["snps"], seed=4, nan_at=7)
    with pytest.raises(InputError, match="NaN"):
        prepare_sumstats(ds_url, "t2", str(tmp_path / "nan.sumstats.gz"), progress=False)
    unchanged()
    # 2. the writer's own validation (one place for each check): NaN Z through the update API
    with pytest.raises(InputError, match="Z is missing/non-finite"):
        with DatasetWriter.update(ds_url) as w:
            w.add_sumstats("t2", pd.DataFrame({"SNP": base["snps"][S.SNP], "Z": np.nan, "N": 1e5}))
    unchanged()
    # 3. storage failure midway: chr1's sumstats file is written, chr2's write fails
    write_ldsc(tmp_path / "t2.sumstats.gz", base["snps"], seed=5)
    real = DatasetWriter._write_rows
    calls = []

    def flaky(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real(self, *a, **k)

    monkeypatch.setattr(DatasetWriter, "_write_rows", flaky)
    with pytest.raises(OSError, match="simulated"):
        prepare_sumstats(ds_url, "t2", str(tmp_path / "t2.sumstats.gz"), progress=False)
    assert len(calls) == 2
    monkeypatch.undo()
    unchanged()
    # 4. the manifest swap itself fails: the new files are removed, the old manifest stays
    import deepwas_dist.data.commit as C

    def no_manifest(*a, **k):
        raise OSError("connection reset (simulated)")

    monkeypatch.setattr(C, "claim", no_manifest)
    with pytest.raises(OSError, match="simulated"):
        prepare_sumstats(ds_url, "t2", str(tmp_path / "t2.sumstats.gz"), progress=False)
    monkeypatch.undo()
    unchanged()
    # 5. a concurrent update of the same trait published first: this one refuses to overwrite it
    w = DatasetWriter.update(ds_url)
    prepare_sumstats(ds_url, "t3", str(tmp_path / "t2.sumstats.gz"), progress=False)
    w.add_sumstats("t3", pd.DataFrame({"SNP": base["snps"][S.SNP], "Z": 1.0, "N": 1e5}))
    with pytest.raises(InputError, match=r"another writer published version .*both writers changed trait\(s\) "
                                         r"\['t3'\].*retrying is safe"):
        w.close()
    assert Dataset.open(ds_url).traits == ["t1", "t3"]
    assert Dataset.open(ds_url).sumstats("t3")[S.Z].ne(1.0).any()
    assert len(list(Path(ds_url).rglob("sumstats/t3/**/*.parquet"))) == len(Dataset.open(ds_url).chromosomes)
    # 6. a concurrent update of another trait: rebased, both are kept
    w = DatasetWriter.update(ds_url)
    prepare_sumstats(ds_url, "t5", str(tmp_path / "t2.sumstats.gz"), progress=False)
    w.add_sumstats("t4", pd.DataFrame({"SNP": base["snps"][S.SNP], "Z": 1.0, "N": 1e5}))
    w.close()
    assert Dataset.open(ds_url).traits == ["t1", "t3", "t5", "t4"]


def _annot_files(d: Path, snps: pd.DataFrame, seed: int, drop: int = 0) -> tuple[list[str], pd.DataFrame]:
    """Full LDSC .annot.gz, one per chromosome, rows shuffled, the first ``drop`` SNPs left out."""
    rng = np.random.default_rng(seed)
    ann = pd.DataFrame({"CHR": snps[S.CHR], "BP": snps[S.BP], "SNP": snps[S.SNP], "CM": snps[S.CM],
                        "coding": rng.integers(0, 2, len(snps)).astype(float),
                        "cons": rng.standard_normal(len(snps)) * 3 + 1})
    files = []
    for c, sub in ann.iloc[drop:].groupby("CHR"):
        f = d / f"baseline.{c}.annot.gz"
        sub.sample(frac=1.0, random_state=seed).to_csv(f, sep="\t", index=False, compression="gzip")
        files.append(str(f))
    return files, ann


def test_annotations_replace_the_old_set_and_round_trip(base, ds_url, tmp_path):
    write_ldsc(tmp_path / "t1.sumstats.gz", base["snps"], seed=1)
    prepare_sumstats(ds_url, "t1", str(tmp_path / "t1.sumstats.gz"), progress=False)
    old = Dataset.open(ds_url)
    assert old.feature_names == ["old"]
    old_snp_files = [e["path"] for fs in old.manifest.snps.files.values() for e in fs]
    files, ann = _annot_files(tmp_path, base["snps"], seed=8)
    sm = prepare_annotations(ds_url, files, progress=False)
    assert (sm.snps_read, sm.snps_kept, sm.dropped) == (len(ann), len(ann), {})
    ds = Dataset.open(ds_url)
    assert ds.feature_names == ["coding", "cons"] and ds.binary_features == ["coding"]
    assert ds.traits == ["t1"] and ds.sumstats("t1").equals(old.sumstats("t1"))
    assert ds.manifest.ld == old.manifest.ld                      # LD untouched, slices shared
    assert not any((Path(ds_url) / f).exists() for f in old_snp_files)
    for c in (1, 2):
        got = ds.snps(c)
        want = ann[ann.CHR == c].reset_index(drop=True)
        assert "old" not in got.columns and got[S.SNP].tolist() == want.SNP.tolist()
        for col in ("coding", "cons"):
            np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy(np.float32))
    X = ann[["coding", "cons"]].to_numpy(np.float64)          # statistics of the values given (stored float32)
    np.testing.assert_allclose(ds.manifest.features.mean, X.mean(0), rtol=1e-12)
    np.testing.assert_allclose(ds.manifest.features.std, X.std(0), rtol=1e-12)
    b = ds.read_slice(2, 1, traits=[])
    want = (X[len(ann[ann.CHR == 1]) + b.snp_index] - X.mean(0)) / X.std(0)
    np.testing.assert_allclose(b.features.numpy(), want, atol=1e-5)


def test_annotations_thin_missing_and_fill(base, ds_url, tmp_path):
    snps = base["snps"]
    rng = np.random.default_rng(3)
    thin = pd.DataFrame({"a": rng.standard_normal(len(snps))})
    thin.to_csv(tmp_path / "thin.annot.gz", sep="\t", index=False, compression="gzip")
    prepare_annotations(ds_url, str(tmp_path / "thin.annot.gz"), progress=False)
    ds = Dataset.open(ds_url)
    got = np.concatenate([ds.snps(c)["a"].to_numpy() for c in (1, 2)])
    np.testing.assert_array_equal(got, thin["a"].to_numpy(np.float32))
    before = _listing(ds_url)
    files, ann = _annot_files(tmp_path, snps, seed=9, drop=7)
    with pytest.raises(InputError) as e:
        prepare_annotations(ds_url, files, progress=False)
    msg = str(e.value)
    assert msg.startswith(f"7 of the dataset's {len(snps):,} SNPs are missing") and "--fill 0" in msg
    assert ", ".join(snps[S.SNP].iloc[:5]) in msg and snps[S.SNP].iloc[5] not in msg
    assert _listing(ds_url) == before
    sm = prepare_annotations(ds_url, files, fill=0, progress=False)
    assert sm.details["dataset SNPs filled with 0"] == 7
    got = Dataset.open(ds_url).snps(1)
    assert (got["coding"].iloc[:7] == 0).all() and (got["cons"].iloc[:7] == 0).all()
    np.testing.assert_array_equal(got["cons"].iloc[7:].to_numpy(), ann["cons"].iloc[7:len(got)].to_numpy(np.float32))


def test_plink_two_chromosomes_ld_and_annotations(base):
    sm, ds = base["summary"], Dataset.open(base["url"])
    assert (sm.snps_read, sm.snps_kept, sm.dropped) == (len(base["snps"]), len(base["snps"]), {})
    assert ds.chromosomes == [1, 2] and ds.feature_names == ["old"] and ds.ld_info["n_ref"] == 200
    assert sm.slices_written == len(ds.slice_index()) and sm.bytes_written == ds.manifest.bytes_written
    old = pd.read_parquet(Path(base["prefix"]).with_name("old.parquet")).set_index("SNP")["old"]
    for p in base["panels"]:
        c = p.chrom
        got = ds.snps(c)
        np.testing.assert_array_equal(got["old"].to_numpy(), old.loc[got[S.SNP]].to_numpy(np.float32))
        R = ld_matrix(standardize(p.genotypes.astype(np.float64)))
        for sid in (0, len(ds.slice_index(c)) - 1):
            assert_ld(ds.read_slice(c, sid, traits=[]), R)


def test_plink_refuses_an_existing_dataset_unless_overwrite(base, ds_url):
    with pytest.raises(InputError, match="already exists.*--overwrite"):
        prepare_plink(ds_url, base["prefix"], progress=False)
    old = json.loads((Path(ds_url) / S.MANIFEST_FILE).read_text())
    sm = prepare_plink(ds_url, base["prefix"], chroms="2", maf=0.05, bandwidth_kb=100, overwrite=True, progress=False)
    ds = Dataset.open(ds_url)
    assert ds.chromosomes == [2] and ds.feature_names == [] and ds.ld_info["bandwidth_kb"] == 100
    assert sm.snps_read == (base["snps"][S.CHR] == 2).sum() and sm.snps_kept == ds.n_snps
    assert sm.snps_read - sm.snps_kept == sum(sm.dropped.values()) > 0
    assert not any((Path(ds_url) / f).exists() for f in old["files"])


def test_parsers_of_command_line_values():
    assert parse_chroms("1-3,5,X") == [1, 2, 3, 5, 23] and parse_chroms(22) == [22] and parse_chroms(None) is None
    assert parse_key_values(["endpoint_url=http://h:1/x=y", "anon=true"]) == {"endpoint_url": "http://h:1/x=y",
                                                                            "anon": True}
    assert parse_columns("snp=rsid, Z=zscore") == {"SNP": "rsid", "Z": "zscore"}
    for bad, f in (("3-1", parse_chroms), ("a", parse_chroms), ("SNP:rsid", parse_columns),
                   ("SNP=", parse_columns)):
        with pytest.raises(InputError):
            f(bad)
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_key_values(["endpoint_url"])
    table = pd.DataFrame({"SNP": ["a", "b", "z"], "x": [1.0, 2.0, 3.0]})
    out, counts = align_annotations(table, ["x"], {1: pd.DataFrame({"SNP": ["b", "a", "c"]})}, fill=-1)
    assert out[1]["x"].tolist() == [2.0, 1.0, -1.0] and counts == {"rows": 3, "matched": 2, "filled": 1,
                                                                   "not_in_dataset": 1}
