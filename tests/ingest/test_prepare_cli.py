"""launch/prepare.py as a user runs it (subprocesses): real chr22 data, S3 (moto), one-line errors.

The real-data test checks the stored LD against R computed here from the .bed with bed_reader + numpy,
and the harmonisation counts against a pandas merge of the fastGWA file with the .bim.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bed_reader import open_bed

from deepwas_dist.data import Dataset
from deepwas_dist.data import schema as S

ROOT = Path(__file__).resolve().parents[2]
PREPARE = ROOT / "launch" / "prepare.py"
PANEL, HEIGHT = "1000G_eur_chr22", "ukb_height_chr22.fastGWA.gz"


def prepare(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(PREPARE), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if check:
        assert p.returncode == 0, f"{cmd} failed ({p.returncode}):\n{p.stderr[-3000:]}"
    return p


def number(text: str, label: str) -> int:
    m = re.search(rf"^\s*{re.escape(label)}\s+([\d,]+)", text, re.M)
    assert m, f"{label!r} not in:\n{text}"
    return int(m.group(1).replace(",", ""))


# ------------------------------------------------------------------------------------ real chr22 data
@pytest.fixture(scope="module")
def chr22(shared_data, tmp_path_factory):
    """`prepare.py plink` then `prepare.py sumstats` on the real data, timed."""
    out = str(tmp_path_factory.mktemp("real") / "chr22")
    t0 = time.perf_counter()
    plink = prepare("plink", "--bfile", str(shared_data / PANEL), "--out", out, "--progress")
    t1 = time.perf_counter()
    ss = prepare("sumstats", "--trait", "height", "--file", str(shared_data / HEIGHT), "--out", out)
    t2 = time.perf_counter()
    return {"url": out, "plink": plink, "sumstats": ss, "t_plink": t1 - t0, "t_sumstats": t2 - t1}


@pytest.fixture(scope="module")
def raw(shared_data):
    """The panel read independently: genotypes (A1 counts, NaN missing), .bim, MAF filter at 0.01."""
    G = open_bed(str(shared_data / f"{PANEL}.bed"), count_A1=True).read(dtype="float64")
    bim = pd.read_csv(shared_data / f"{PANEL}.bim", sep=r"\s+", header=None,
                      names=["CHR", "SNP", "CM", "BP", "A1", "A2"], dtype={"SNP": str, "A1": str, "A2": str})
    f = np.nanmean(G, axis=0) / 2
    keep = (np.minimum(f, 1 - f) >= 0.01) & (np.nanvar(G, axis=0) > 0)
    return {"G": G, "bim": bim, "keep": keep}


@pytest.mark.slow
def test_real_chr22_plink_and_height(chr22, raw, shared_data, capsys):
    out, err = chr22["plink"].stdout, chr22["plink"].stderr
    assert "Traceback" not in err and "chr22 LD slices" in err                  # progress bars on stderr
    assert number(out, "SNPs read") == len(raw["bim"]) == 15_938
    assert number(out, "SNPs kept") == raw["keep"].sum() == 15_878
    assert number(out, "SNPs dropped") == 60
    ds = Dataset.open(chr22["url"])
    assert number(out, "slices written") == ds.manifest.ld.n_slices == len(ds.slice_index())
    files = ds.manifest.files
    assert number(out, "bytes written") == sum(b for f, b in files.items() if not f.startswith("sumstats/")) > 0
    assert number(chr22["sumstats"].stdout, "bytes written") == sum(
        b for f, b in files.items() if f.startswith("sumstats/height/")) > 0
    assert ds.ld_info["n_ref"] == 378 and ds.traits == ["height"]
    assert ds.snps(22)[S.SNP].tolist() == raw["bim"]["SNP"][raw["keep"]].tolist()

    # LD of a few slices == R computed here from the genotypes (bed_reader + numpy). The slice keeps the
    # eigenpairs of R_CC above eig_threshold * lambda_max (1e-6), so R[core, :] is reproduced exactly on
    # their range: P R[core, :] with P the projector on the kept eigenvectors (numpy's eigh here), and
    # R[core, :] itself wherever nothing but numerical zeros was dropped.
    col = {s: i for i, s in enumerate(raw["bim"]["SNP"])}
    idx = ds.slice_index()
    thr = ds.ld_info["eig_threshold"]
    exact = 0
    for sid in (int(idx[S.N_CORE].idxmax()), len(idx) // 2, len(idx) - 1):
        b = ds.read_slice(22, sid, traits=[])
        X = raw["G"][:, [col[s] for s in b.snp_ids]]
        X = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
        X = (X - X.mean(0)) / X.std(0)
        R = X.T @ X / X.shape[0]
        core = b.ld.core_mask.numpy()
        assert core.sum() > 50
        ev, U = np.linalg.eigh(R[np.ix_(core, core)])
        kept = ev > thr * ev[-1]
        assert b.ld.rank == kept.sum()
        got = b.ld.ld_core_rows().numpy()
        np.testing.assert_allclose(got, U[:, kept] @ (U[:, kept].T @ R[core]), rtol=0, atol=1e-5)
        if ev[~kept].max(initial=0) < 1e-10 * ev[-1]:
            np.testing.assert_allclose(got, R[core], rtol=0, atol=1e-5)
            exact += 1
    assert exact >= 1

    # harmonisation counts == a pandas merge of the fastGWA file with the kept .bim rows
    gwas = pd.read_csv(shared_data / HEIGHT, sep=r"\s+", dtype={"SNP": str, "A1": str, "A2": str})
    ref = raw["bim"][raw["keep"]]
    m = gwas.merge(ref, on="SNP", suffixes=("", "_ref"))
    same = (m.A1 == m.A1_ref) & (m.A2 == m.A2_ref)
    swap = (m.A1 == m.A2_ref) & (m.A2 == m.A1_ref)
    amb = (m.A1_ref + m.A2_ref).isin(["AT", "TA", "CG", "GC"])
    kept = (same | swap) & ~amb
    so = chr22["sumstats"].stdout
    assert number(so, "SNPs read") == len(gwas) == 15_935
    assert number(so, "SNPs kept") == kept.sum() == 14_899
    assert number(so, "SNPs flipped") == (swap & ~amb).sum() == 10_775
    assert re.search(r"^\s*976 strand-ambiguous", so, re.M) and amb.sum() == 976
    assert re.search(r"^\s*60 not in the reference", so, re.M) and len(gwas) - len(m) == 60
    z = ds.sumstats("height").set_index(S.SNP)[S.Z]
    want = (m.BETA / m.SE * np.where(swap, -1, 1))[kept.to_numpy()]
    np.testing.assert_allclose(z.loc[m.SNP[kept]].to_numpy(), want.to_numpy(), rtol=1e-12)

    info = prepare("info", chr22["url"]).stdout
    assert "height: 14,899 SNPs with z" in info and "SNPs          15,878" in info and "n_ref 378" in info
    with capsys.disabled():
        print(f"\n[chr22 ingestion] plink {chr22['t_plink']:.1f} s + sumstats {chr22['t_sumstats']:.1f} s "
              f"(wall time of the subprocesses, imports included); summaries:\n{out}\n{so}")


# ------------------------------------------------------------------------------------------- S3
@pytest.mark.slow
def test_simulate_to_s3_and_read_back(s3_server):  # noqa: F811
    url = f"s3://{s3_server['bucket']}/sim-{uuid.uuid4().hex[:8]}"
    opts = s3_server["storage_options"]
    p = prepare("simulate", "--chroms", "1-2", "--length-mb", "2", "--out", url,
                *[a for k, v in opts.items() for a in ("--storage-option", f"{k}={v}")])
    ds = Dataset.open(url, storage_options=opts)
    assert ds.chromosomes == [1, 2] and len(ds.traits) >= 1 and ds.manifest.build == "simulated"
    assert number(p.stdout, "SNPs kept") == ds.n_snps > 0
    assert number(p.stdout, "slices written") == len(ds.slice_index())
    b = ds.read_slice(2, 0)
    assert b.z.shape == (b.n, len(ds.traits)) and np.isfinite(b.z.numpy()).all()
    info = prepare("info", url, *[a for k, v in opts.items() for a in ("--storage-option", f"{k}={v}")]).stdout
    assert "chromosomes   1-2" in info


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.slow
def test_errors_are_one_line_with_exit_code_2(tmp_path):
    (tmp_path / "ss.txt").write_text("SNP A1 A2 Z N\nrs1 A G 1.0 100\n")
    (tmp_path / "p.bim").write_text("1 rs1 0 100 A G\n")
    (tmp_path / "p.fam").write_text("f i 0 0 0 -9\n")
    cases = {
        "no manifest.json": ["sumstats", "--trait", "t", "--file", str(tmp_path / "ss.txt"), "--out",
                             str(tmp_path / "missing")],
        "PLINK file not found": ["plink", "--bfile", str(tmp_path / "p"), "--out", str(tmp_path / "new")],
        "bad --columns": ["sumstats", "--trait", "t", "--file", str(tmp_path / "ss.txt"), "--columns",
                          "SNP:rsid", "--out", str(tmp_path / "missing")],
        "--gwas-individuals must be >= 2": ["simulate", "--gwas-individuals", "1", "--out", str(tmp_path / "new")],
        "--gwas-individuals is the out-of-sample GWAS cohort": ["simulate", "--design", "in-sample",
                                                                "--gwas-individuals", "500", "--out",
                                                                str(tmp_path / "new")],
        "--from-plink gives a reference panel but no GWAS cohort": ["simulate", "--from-plink", str(tmp_path / "p"),
                                                                    "--design", "out-of-sample", "--out",
                                                                    str(tmp_path / "new")],
        "argument --design: invalid choice": ["simulate", "--design", "both", "--out", str(tmp_path / "new")],
    }
    procs = {k: subprocess.Popen([sys.executable, str(PREPARE), *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, cwd=ROOT) for k, a in cases.items()}
    for what, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 2, (what, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and what in lines[0], (what, err)
        assert "Traceback" not in err and out == ""
    assert not (tmp_path / "new").exists() and not (tmp_path / "missing").exists()


def test_simulate_flags_parse():
    import importlib.util
    spec = importlib.util.spec_from_file_location("prepare_cli", PREPARE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    a = mod.parser().parse_args(["simulate", "--out", "x"])
    assert (a.individuals, a.gwas_individuals, a.design) == (1000, None, None)     # out-of-sample, 10x panel
    a = mod.parser().parse_args(["simulate", "--out", "x", "--individuals", "500", "--gwas-individuals", "20000",
                                 "--design", "in-sample"])
    assert (a.individuals, a.gwas_individuals, a.design) == (500, 20000, "in-sample")
