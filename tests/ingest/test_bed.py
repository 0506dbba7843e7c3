"""BED annotations (ingest/bed.py, `prepare annotations --bed/--bed-continuous`): 0-based half-open
intervals against 1-based BP, windows, overlaps, unsorted input, chr prefixes, missing chromosomes."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from deepwas_dist.commands.prepare import main as prepare_main
from deepwas_dist.data import Dataset
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.bed import parse_bed_spec, read_bed, snp_values
from deepwas_dist.ingest.updates import prepare_annotations

from .tiny_panel import write_panel

POS = {1: [100, 101, 200, 201, 5000], 2: [10, 20, 30]}


@pytest.fixture
def panel(tmp_path):
    return write_panel(str(tmp_path / "ds"), POS)


def _bed(path, lines, gz=False):
    text = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return str(path)


def _ann(url, chrom, name):
    ds = Dataset.open(url)
    return ds.snps(chrom, columns=["SNP", name])[name].to_numpy()


def test_boundary_0_based_half_open(tmp_path):
    # BED [100, 200) covers 1-based bases 101..200: BP 100 out, 101 in, 200 in, 201 out
    path = _bed(tmp_path / "a.bed", ["1\t100\t200"])
    bed = read_bed(parse_bed_spec(f"a={path}", False))
    v = snp_values(bed, 1, np.array([100, 101, 200, 201]), 0, True)
    assert v.tolist() == [0, 1, 1, 0]
    v = snp_values(bed, 1, np.array([99, 100, 201, 202]), 1, True)      # window 1 bp: 100..201
    assert v.tolist() == [0, 1, 1, 0]


def test_overlap_unsorted_empty_and_max(tmp_path):
    lines = ["1\t4990\t5010\tx\t7", "1\t95\t150\tx\t2", "1\t99\t101\tx\t5", "1\t150\t150\tx\t9"]
    bed = read_bed(parse_bed_spec(f"s={_bed(tmp_path / 'a.bed', lines)}:5", True))
    bp = np.array([100, 101, 200, 201, 5000, 150, 151])
    assert snp_values(bed, 1, bp, 0, False).tolist() == [5, 5, 0, 0, 7, 2, 0]   # max of overlaps; empty: none
    assert snp_values(bed, 1, bp, 0, True).tolist() == [1, 1, 0, 0, 1, 1, 0]
    assert snp_values(bed, 1, np.array([150, 151, 152]), 1, False).tolist() == [9, 9, 0]  # empty + window
    path = _bed(tmp_path / "n.bed", ["1\t0\t500\tx\t-3"])
    neg = read_bed(parse_bed_spec(f"s={path}:score", True))
    assert snp_values(neg, 1, np.array([100, 600]), 0, False).tolist() == [-3, 0]


def test_prepare_annotations_bed_cli(panel, tmp_path, capsys):
    b = _bed(tmp_path / "e.bed.gz", ["track name=enh", "chr1\t150\t200\tp\t3.5", "chr1\t99\t100\tq\t1",
                                      "chrX\t0\t10\tq\t1"], gz=True)
    rc = prepare_main(["annotations", "--bed", f"enh={b}", "--bed-continuous", f"sc={b}:5", "--out", panel,
                       "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert _ann(panel, 1, "enh").tolist() == [1, 0, 1, 0, 0]
    assert _ann(panel, 1, "sc").tolist() == [1, 0, 3.5, 0, 0]
    assert _ann(panel, 2, "enh").tolist() == [0, 0, 0]
    assert "no interval on chromosome(s) (all 0): 2" in out
    assert "intervals on chromosomes not in the panel (ignored): 1" in out
    assert Dataset.open(panel).feature_names == ["enh", "sc"]


def test_bed_with_file_and_window(panel, tmp_path):
    b = _bed(tmp_path / "e.bed", ["1 300 400"])       # whitespace separated
    annot = tmp_path / "a.annot"
    annot.write_text("SNP\tx\n" + "".join(f"s{c}_{i}\t{i}\n" for c, p in POS.items() for i in range(len(p))))
    sm = prepare_annotations(panel, [str(annot)], beds=[f"w={b}"], bed_window=100, progress=False)
    assert _ann(panel, 1, "w").tolist() == [0, 0, 0, 1, 0]
    assert Dataset.open(panel).feature_names == ["x", "w"]
    assert sm.details["BED window (bp)"] == 100


def test_bed_errors(panel, tmp_path):
    only_other = _bed(tmp_path / "o.bed", ["chr7\t1\t10", "chr8\t1\t10"])
    with pytest.raises(InputError, match=r"o\.bed: no interval on the dataset's chromosomes \(1, 2\).*7, 8"):
        prepare_annotations(panel, beds=[f"a={only_other}"], progress=False)
    empty = _bed(tmp_path / "empty.bed", ["track name=x"])
    with pytest.raises(InputError, match=r"empty\.bed: BED file has no intervals"):
        prepare_annotations(panel, beds=[f"a={empty}"], progress=False)
    back = _bed(tmp_path / "b.bed", ["1\t1\t10", "1\t20\t10"])
    with pytest.raises(InputError, match=r"b\.bed: BED line 2: end 10 < start 20"):
        prepare_annotations(panel, beds=[f"a={back}"], progress=False)
    with pytest.raises(InputError, match=r"b\.bed: BED line 1 has 3 field\(s\), needs value column 5"):
        prepare_annotations(panel, bed_continuous=[f"a={back}:5"], progress=False)
    with pytest.raises(InputError, match="--bed-continuous 'a=x.bed': no value column"):
        parse_bed_spec("a=x.bed", True)
    with pytest.raises(InputError, match="no annotation input"):
        prepare_annotations(panel, progress=False)
    assert Dataset.open(panel).feature_names == ["base"]          # nothing published by the failures
