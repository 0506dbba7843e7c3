"""UKBB LD format: files checked with scipy/pandas directly, round trips, s3 through a local moto server."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from bed_reader import open_bed

from deepwas_dist.data.schema import A1, A2, BP, CHR, CM, MAF, SNP, SNP_COLUMNS
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.ukbb import list_ukbb_files, read_ukbb_ld, write_ukbb_ld

HEADER = ["rsid", "chromosome", "position", "allele1", "allele2"]


def _snps(m: int, chrom: int = 22) -> pd.DataFrame:
    return pd.DataFrame({SNP: [f"rs{100 + j}" for j in range(m)], CHR: chrom, BP: 1000 + 10 * np.arange(m),
                         A1: ["A"] * m, A2: ["G"] * m})


def _corr(m: int, rng) -> np.ndarray:
    X = rng.standard_normal((50, m))
    R = np.corrcoef(X, rowvar=False)
    R = 0.5 * (R + R.T)
    np.fill_diagonal(R, 1.0)
    return R


def _write_by_hand(npz: Path, M, snps: pd.DataFrame) -> None:
    """The format written without the module: scipy's save_npz + a gzipped tab table."""
    sp.save_npz(npz, sp.csr_matrix(M))
    with gzip.open(npz.with_suffix(".gz"), "wt") as f:
        f.write("\t".join(HEADER) + "\n")
        for r in snps.itertuples(index=False):
            f.write(f"{getattr(r, SNP)}\t{getattr(r, CHR)}\t{getattr(r, BP)}\t{getattr(r, A1)}\t{getattr(r, A2)}\n")


def test_read_hand_written_file(tmp_path, rng):
    R = _corr(7, rng)
    npz = tmp_path / "chr22_1000_4000.npz"
    _write_by_hand(npz, np.triu(R, 1) + 0.5 * np.eye(7), _snps(7))
    snps, R2 = read_ukbb_ld(str(npz))
    assert R2.dtype == np.float64 and np.array_equal(R2, R2.T) and np.all(np.diag(R2) == 1.0)
    np.testing.assert_allclose(R2, R, rtol=0, atol=1e-15)
    assert tuple(snps.columns) == SNP_COLUMNS
    assert snps[SNP].tolist() == _snps(7)[SNP].tolist() and snps[BP].tolist() == _snps(7)[BP].tolist()
    assert (snps[CHR] == 22).all() and snps[CM].isna().all() and snps[MAF].isna().all()


def test_round_trip_real_panel(shared_data, tmp_path):
    G = open_bed(shared_data / "1000G_eur_chr22.bed").read(index=np.s_[:, 1000:1300], dtype="float64")
    R = np.corrcoef(G, rowvar=False)
    R = 0.5 * (R + R.T)
    np.fill_diagonal(R, 1.0)
    bim = pd.read_csv(shared_data / "1000G_eur_chr22.bim", sep="\t", header=None,
                      names=[CHR, SNP, CM, BP, A1, A2]).iloc[1000:1300].reset_index(drop=True)
    npz = tmp_path / f"chr22_{bim[BP].iloc[0]}_{bim[BP].iloc[-1] + 1}.npz"
    write_ukbb_ld(R, bim, str(npz))
    # the files follow the format, read without the module
    M = sp.load_npz(npz)
    assert sp.tril(M, k=-1).nnz == 0 and np.all(M.diagonal() == 0.5)
    table = pd.read_csv(npz.with_suffix(".gz"), sep=r"\s+")
    assert list(table.columns) == HEADER and table["rsid"].tolist() == bim[SNP].tolist()
    snps, R2 = read_ukbb_ld(str(npz))
    assert np.abs(R2 - R).max() <= 1e-12
    pd.testing.assert_frame_equal(snps[[SNP, BP, A1, A2]], bim[[SNP, BP, A1, A2]], check_dtype=False)


def test_lower_triangular(tmp_path, rng):
    R = _corr(30, rng)
    npz = tmp_path / "chr1_1_3000001.npz"
    write_ukbb_ld(R, _snps(30, 1), str(npz), lower=True)
    M = sp.load_npz(npz)
    assert sp.triu(M, k=1).nnz == 0 and sp.tril(M, k=-1).nnz > 0
    _, R2 = read_ukbb_ld(str(npz))
    assert np.abs(R2 - R).max() <= 1e-12
    # a lower-triangular file written by hand reads the same
    npz2 = tmp_path / "chr1_2_3000002.npz"
    _write_by_hand(npz2, np.tril(R, -1) + 0.5 * np.eye(30), _snps(30, 1))
    np.testing.assert_allclose(read_ukbb_ld(str(npz2))[1], R, atol=1e-15)


@pytest.mark.parametrize("case,match", [
    ("diag", r"diagonal entry 0 \(SNP rs100\) is 1.0, not 0.5 \(5 such"),
    ("full", "not triangular"),
    ("shape", r"5x5 matrix but .* lists 4 SNPs"),
    ("nan", "non-finite"),
])
def test_bad_files(tmp_path, rng, case, match):
    R = _corr(5, rng)
    M = np.triu(R, 1) + 0.5 * np.eye(5)
    snps = _snps(5)
    if case == "diag":
        M = np.triu(R)  # diagonal 1: a full-R triangle
    elif case == "full":
        M = R - 0.5 * np.eye(5)
    elif case == "shape":
        snps = _snps(4)
    elif case == "nan":
        M[0, 3] = np.nan
    npz = tmp_path / "chr22_1_2.npz"
    _write_by_hand(npz, M, snps)
    with pytest.raises(InputError, match=match) as e:
        read_ukbb_ld(str(npz))
    assert str(npz) in str(e.value)


def test_missing_snp_list_and_bad_header(tmp_path, rng):
    npz = tmp_path / "chr22_1_2.npz"
    _write_by_hand(npz, np.triu(_corr(3, rng), 1) + 0.5 * np.eye(3), _snps(3))
    npz.with_suffix(".gz").unlink()
    with pytest.raises(InputError, match="not found") as e:
        read_ukbb_ld(str(npz))
    assert str(npz.with_suffix(".gz")) in str(e.value)
    with gzip.open(npz.with_suffix(".gz"), "wt") as f:
        f.write("SNP\tCHR\tBP\tA1\tA2\nrs1\t22\t5\tA\tG\n")
    with pytest.raises(InputError, match=r"lacks column\(s\) \['rsid'.*found \['SNP'"):
        read_ukbb_ld(str(npz))


def test_write_rejects_bad_input(tmp_path, rng):
    R = _corr(4, rng)
    with pytest.raises(InputError, match="4 rows|3 rows"):
        write_ukbb_ld(R, _snps(3), str(tmp_path / "chr1_1_2.npz"))
    R[0, 1] += 0.1
    with pytest.raises(InputError, match="symmetric"):
        write_ukbb_ld(R, _snps(4), str(tmp_path / "chr1_1_2.npz"))


def test_list_files(tmp_path):
    names = ["chr22_1000001_4000001", "chr22_1_3000001", "chr3_5_7", "chr21_1_3000001", "chrX_1_3000001"]
    for n in names:
        (tmp_path / f"{n}.npz").write_bytes(b"")
        (tmp_path / f"{n}.gz").write_bytes(b"")
    (tmp_path / "README.txt").write_text("not ld")
    got = list_ukbb_files(str(tmp_path))
    d = str(tmp_path)
    assert got == [(3, 5, 7, f"{d}/chr3_5_7.npz"), (21, 1, 3000001, f"{d}/chr21_1_3000001.npz"),
                   (22, 1, 3000001, f"{d}/chr22_1_3000001.npz"),
                   (22, 1000001, 4000001, f"{d}/chr22_1000001_4000001.npz"),
                   (23, 1, 3000001, f"{d}/chrX_1_3000001.npz")]
    assert [g[1] for g in list_ukbb_files(str(tmp_path), chrom=22)] == [1, 1000001]
    assert list_ukbb_files(str(tmp_path), chrom="chr21")[0][0] == 21
    with pytest.raises(InputError, match="not found"):
        list_ukbb_files(str(tmp_path / "nope"))


@pytest.fixture(scope="module")
def s3():
    """A local S3 (moto) bucket: (storage_options, bucket name)."""
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    opts = {"endpoint_url": f"http://{host}:{port}", "key": "testing", "secret": "testing"}
    import s3fs
    s3fs.S3FileSystem(**opts).mkdir("ld-bucket")
    yield opts, "ld-bucket"
    server.stop()


def test_s3_round_trip(s3, rng):
    opts, bucket = s3
    R = _corr(40, rng)
    write_ukbb_ld(R, _snps(40), f"s3://{bucket}/ukbb/chr22_1_3000001.npz", storage_options=opts)
    write_ukbb_ld(R[:10, :10], _snps(10), f"s3://{bucket}/ukbb/chr22_1000001_4000001.npz", storage_options=opts)
    files = list_ukbb_files(f"s3://{bucket}/ukbb", storage_options=opts)
    assert [f[3] for f in files] == [f"s3://{bucket}/ukbb/chr22_1_3000001.npz",
                                     f"s3://{bucket}/ukbb/chr22_1000001_4000001.npz"]
    snps, R2 = read_ukbb_ld(files[0][3], storage_options=opts)
    assert np.abs(R2 - R).max() <= 1e-12 and snps[SNP].tolist() == _snps(40)[SNP].tolist()
    with pytest.raises(InputError, match="not found"):
        read_ukbb_ld(f"s3://{bucket}/ukbb/chr22_9_10.npz", storage_options=opts)
