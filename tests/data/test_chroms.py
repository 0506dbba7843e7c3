"""One chromosome parser (deepwas_dist/data/chroms.py) behind --chroms, --holdout-chroms and file columns."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data.chroms import chrom_code, chrom_codes, parse_chroms
from deepwas_dist.errors import InputError
from deepwas_dist.train.holdout import resolve_holdout_chroms, resolve_split


def test_lists_ranges_and_names():
    assert parse_chroms("1-3,5,X") == [1, 2, 3, 5, 23]
    assert parse_chroms("20-22,X") == [20, 21, 22, 23]
    assert parse_chroms("chr1-chr3, chrX") == [1, 2, 3, 23]
    assert parse_chroms(22) == [22] and parse_chroms(["1", 2, "x"]) == [1, 2, 23] and parse_chroms(None) is None
    assert [chrom_code(v) for v in (7, np.int64(7), 7.0, "7", "chr7", "MT", "m", "XY")] == [7, 7, 7, 7, 7, 26, 26, 25]
    assert chrom_codes(pd.Series(["1", "chr2", "X"]), "f").tolist() == [1, 2, 23]


@pytest.mark.parametrize("bad", ["3-1", "a", "0", ",", "1-"])
def test_bad_lists_name_the_flag(bad):
    with pytest.raises(InputError, match=r"^--holdout-chroms '"):
        parse_chroms(bad, "--holdout-chroms")


def test_holdout_chroms_takes_what_chroms_takes():
    chroms = list(range(1, 24))           # 1-22 and X
    assert resolve_holdout_chroms(chroms, "20-22") == [20, 21, 22]
    assert resolve_holdout_chroms(chroms, "X") == [23]
    assert resolve_holdout_chroms(chroms, "chr21,X") == [21, 23]
    keys = [(c, 0) for c in chroms]
    split = resolve_split(keys, "20-22,X")
    assert split.heldout_chroms == [20, 21, 22, 23] and (19, 0) in split.train_keys
    with pytest.raises(InputError, match=r"--holdout-chroms: \[24\] not in the dataset"):
        resolve_holdout_chroms(chroms, "Y")
    with pytest.raises(InputError, match="--holdout-chroms '6;7'"):
        resolve_holdout_chroms(chroms, "6;7")
