"""Inputs checked against the reference panel: CHR/BP of sumstats and annotation rows matched by ID must be
the panel's (a few disagreeing rows are dropped and counted, many refuse the file as another build), and a
truncated or corrupt .gz is one InputError naming the file."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data import Dataset
from deepwas_dist.data import schema as S
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.annotations import read_annotations
from deepwas_dist.ingest.positions import MAX_POSITION_MISMATCH
from deepwas_dist.ingest.sumstats import harmonise, read_sumstats
from deepwas_dist.ingest.updates import prepare_annotations, prepare_sumstats

from .test_pipeline import _listing, base, ds_url  # noqa: F401 - fixtures

M = 300


def _panel() -> pd.DataFrame:
    return pd.DataFrame({S.CHR: np.full(M, 22, dtype=np.int32), S.SNP: [f"rs{i}" for i in range(M)],
                         S.BP: 16_000_000 + 1000 * np.arange(M), S.A1: "A", S.A2: "G"})


def _fastgwa(path, snps: pd.DataFrame, chrom=None, shift=0, gz=False) -> str:
    """A fastGWA file of ``snps`` (CHR SNP BP A1 A2), with CHR replaced by ``chrom`` and BP shifted."""
    df = pd.DataFrame({"CHR": snps[S.CHR] if chrom is None else chrom, "SNP": snps[S.SNP],
                       "POS": snps[S.BP] + shift, "A1": snps[S.A1], "A2": snps[S.A2], "N": 5000, "AF1": 0.3,
                       "BETA": np.linspace(-0.02, 0.02, len(snps)), "SE": 0.01, "P": 0.5})
    df.to_csv(path, sep="\t", index=False, compression="gzip" if gz else None)
    return str(path)


def test_chr_x_rows_for_chr22_snps_are_refused_naming_examples(tmp_path):
    f = _fastgwa(tmp_path / "x.fastGWA", _panel(), chrom="X")
    with pytest.raises(InputError) as e:
        harmonise(read_sumstats(f), _panel(), where=f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: 300 of the 300 SNPs") and "\n" not in msg
    assert "rs0 panel 22:16000000 vs file X:16000000" in msg
    assert "another genome build?" in msg and "GRCh37" in msg and "--columns CHR=" in msg


def test_positions_shifted_by_5_mb_are_refused_as_another_build(tmp_path):
    f = _fastgwa(tmp_path / "shift.fastGWA.gz", _panel(), shift=5_000_000, gz=True)
    with pytest.raises(InputError, match=r"another genome build\? fix: lift the file over to the panel's build "
                                         r"\(GRCh38\)") as e:
        harmonise(read_sumstats(f), _panel(), where=f, build="GRCh38")
    assert "differ by +5,000,000 bp in 100%" in str(e.value) and "rs0 panel 22:16000000 vs file 22:21000000" \
        in str(e.value)


def test_a_small_fraction_of_mismatches_is_dropped_and_counted(tmp_path):
    ss = _panel()
    chrom = np.array(["chr22"] * M, dtype=object)      # 'chr22' is chromosome 22 (data/chroms.py)
    chrom[7] = "chrX"
    f = _fastgwa(tmp_path / "few.fastGWA", ss, chrom=chrom)
    assert 1 <= MAX_POSITION_MISMATCH * M
    out, rep = harmonise(read_sumstats(f), _panel(), where=f)
    assert rep.dropped_position_mismatch == 1 and rep.matched == M - 1 and "rs7" not in set(out[S.SNP])
    assert rep.read == (rep.matched + rep.dropped_not_in_reference + rep.dropped_allele_mismatch
                        + rep.dropped_ambiguous + rep.dropped_position_mismatch)
    assert "1 with another CHR/BP" in rep.summary()


def test_prepare_sumstats_counts_the_dropped_rows_and_refuses_another_build(base, ds_url, tmp_path):  # noqa: F811
    snps = base["snps"]
    bp = snps[S.BP].to_numpy().copy()
    bp[:2] += 1
    few = _fastgwa(tmp_path / "few.fastGWA", snps.assign(**{S.BP: bp}))
    sm = prepare_sumstats(ds_url, "t1", few, progress=False)
    assert sm.dropped["CHR/BP not the reference's"] == 2 and sm.snps_kept == len(snps) - 2
    assert "CHR/BP not the reference's" in sm.format()
    before = _listing(ds_url)
    shifted = _fastgwa(tmp_path / "b38.fastGWA", snps, shift=5_000_000)
    with pytest.raises(InputError, match=rf"^{shifted}: .*another genome build"):
        prepare_sumstats(ds_url, "t2", shifted, progress=False)
    assert _listing(ds_url) == before and Dataset.open(ds_url).traits == ["t1"]


def _annot(path, snps: pd.DataFrame, chrom=None) -> str:
    df = pd.DataFrame({"CHR": snps[S.CHR] if chrom is None else chrom, "BP": snps[S.BP], "SNP": snps[S.SNP],
                       "CM": 0.0, "coding": np.arange(len(snps)) % 2})
    df.to_csv(path, sep="\t", index=False)
    return str(path)


def test_an_annotation_file_on_another_chromosome_is_refused(base, ds_url, tmp_path):  # noqa: F811
    snps = base["snps"]
    f = _annot(tmp_path / "wrong.annot", snps, chrom=np.where(snps[S.CHR] == 1, 2, 1))
    before = _listing(ds_url)
    with pytest.raises(InputError) as e:
        prepare_annotations(ds_url, [f], fill=0.0, progress=False)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ") and "another chromosome or position than the panel" in msg and "\n" not in msg
    assert _listing(ds_url) == before


def test_a_few_annotation_rows_on_another_chromosome_are_dropped(base, ds_url, tmp_path):  # noqa: F811
    snps = base["snps"]
    chrom = snps[S.CHR].astype(str).radd("chr").to_numpy(dtype=object)
    chrom[3] = "chr9"
    f = _annot(tmp_path / "few.annot", snps, chrom=chrom)
    with pytest.raises(InputError, match="1 of them dropped as their CHR/BP are not the panel's"):
        prepare_annotations(ds_url, [f], progress=False)
    sm = prepare_annotations(ds_url, [f], fill=0.0, progress=False)
    assert sm.dropped["CHR/BP not the reference's"] == 1 and sm.details["dataset SNPs filled with 0"] == 1


def _damaged_gz(path, text: str, how: str) -> str:
    raw = gzip.compress(text.encode())
    path.write_bytes(raw[: len(raw) // 2] if how == "truncated" else b"XX" + raw[2:])
    return str(path)


@pytest.mark.parametrize("how", ["truncated", "not gzip"])
def test_a_damaged_gzip_is_one_input_error_naming_the_file(tmp_path, how):
    rng = np.random.default_rng(0)
    ss = "SNP\tA1\tA2\tZ\tN\n" + "".join(f"rs{i}\tA\tG\t{rng.normal():.6f}\t1000\n" for i in range(20_000))
    f = _damaged_gz(tmp_path / "t.sumstats.gz", ss, how)
    with pytest.raises(InputError, match="truncated or corrupt gzip") as e:
        read_sumstats(f)
    assert str(e.value).startswith(f) and "\n" not in str(e.value) and "gzip -t" in str(e.value)
    annot = "CHR\tBP\tSNP\tCM\tx\n" + "".join(f"1\t{i}\trs{i}\t0\t{i % 2}\n" for i in range(20_000))
    f = _damaged_gz(tmp_path / "t.annot.gz", annot, how)
    with pytest.raises(InputError, match="truncated or corrupt gzip") as e:
        read_annotations(f)
    assert str(e.value).startswith(f) and "\n" not in str(e.value)
