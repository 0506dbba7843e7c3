"""Annotation ingest refuses files whose SNP IDs match none of the panel's (``--fill 0`` used to write
all-zero annotations), and names the metadata columns (e.g. MAF) it does not use as annotations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data import Dataset
from deepwas_dist.data import schema as S
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.align import align_annotations
from deepwas_dist.ingest.annotations import read_annotations
from deepwas_dist.ingest.updates import prepare_annotations

from .test_pipeline import _listing, base, ds_url  # noqa: F401 - fixtures


def _chrpos_annot(path, snps: pd.DataFrame) -> str:
    """A full annot of the panel's SNPs named chr:pos instead of the panel's IDs."""
    df = pd.DataFrame({"CHR": snps[S.CHR], "BP": snps[S.BP],
                       "SNP": [f"{c}:{b}" for c, b in zip(snps[S.CHR], snps[S.BP])],
                       "CM": 0.0, "coding": np.arange(len(snps)) % 2})
    df.to_csv(path, sep="\t", index=False)
    return str(path)


@pytest.mark.parametrize("fill", [None, 0.0])
def test_no_matching_snp_is_refused_even_with_fill(base, ds_url, tmp_path, fill):  # noqa: F811
    f = _chrpos_annot(tmp_path / "chrpos.annot", base["snps"])
    before = _listing(ds_url)
    with pytest.raises(InputError) as e:
        prepare_annotations(ds_url, [f], fill=fill, progress=False)
    msg = str(e.value)
    assert f"no SNP of {f} is in the dataset" in msg and "do not match the panel's" in msg
    assert "rsIDs against chr:pos" in msg and "\n" not in msg
    assert "--fill 0 to set" not in msg                 # no advice that would write constant annotations
    assert _listing(ds_url) == before


def test_align_refuses_no_match_unit():
    table = pd.DataFrame({"SNP": ["1:100", "1:200"], "x": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"no SNP of a\.annot is in the dataset: its SNP IDs \(e\.g\. 1:100, 1:200\) "
                                         r"do not match the panel's \(e\.g\. rs1, rs2\)"):
        align_annotations(table, ["x"], {1: pd.DataFrame({"SNP": ["rs1", "rs2"]})}, fill=0, where="a.annot")


def test_metadata_columns_are_named(base, ds_url, tmp_path):  # noqa: F811
    snps = base["snps"]
    df = pd.DataFrame({"CHR": snps[S.CHR], "BP": snps[S.BP], "SNP": snps[S.SNP], "CM": 0.0, "MAF": 0.2,
                       "coding": np.arange(len(snps)) % 2})
    df.to_csv(tmp_path / "with_maf.annot", sep="\t", index=False)
    table, names = read_annotations(str(tmp_path / "with_maf.annot"))
    assert names == ["coding"] and table.attrs["metadata_columns"] == ["MAF"]
    sm = prepare_annotations(ds_url, [str(tmp_path / "with_maf.annot")], progress=False)
    assert sm.details["metadata columns not used as annotations"] == "MAF"
    assert "metadata columns not used as annotations: MAF" in sm.format()
    assert Dataset.open(ds_url).feature_names == ["coding"]
