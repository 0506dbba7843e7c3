"""Errors of the ingest and data layers name the command-line flags (``--format generic --columns ...``),
not Python keyword arguments (``fmt=``, ``column_map=``, ``overwrite=True``, ``add_ld_slices``)."""
from __future__ import annotations

import pytest

from deepwas_dist.data.slicing import plan_slices, resolve_bandwidth
from deepwas_dist.data.storage import access_error
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.sumstats import read_sumstats

PYTHON_NAMES = ("fmt=", "column_map", "overwrite=True", "add_ld_slices", "storage_options", "bandwidth_kb",
                "core_kb", "n=...")


def _message(fn, *a, **kw) -> str:
    with pytest.raises(InputError) as e:
        fn(*a, **kw)
    msg = str(e.value)
    assert not [w for w in PYTHON_NAMES if w in msg], msg
    return msg


def test_sumstats_errors_name_flags(tmp_path):
    unknown = tmp_path / "u.txt"
    unknown.write_text("foo\tbar\n1\t2\n")
    assert "--format generic --columns SNP=" in _message(read_sumstats, str(unknown))
    assert "--columns has unknown role" in _message(read_sumstats, str(unknown), column_map={"pvalue": "bar"})
    no_n = tmp_path / "n.sumstats"
    no_n.write_text("SNP\tA1\tA2\tZ\nrs1\tA\tG\t1.0\n")
    assert "--n N" in _message(read_sumstats, str(no_n)) and "--columns N=COLUMN" in _message(read_sumstats, str(no_n))
    assert "--format auto" in _message(read_sumstats, str(no_n), fmt="regenie")


def test_geometry_and_storage_errors_name_flags():
    import numpy as np

    assert "--bandwidth <= 500" in _message(resolve_bandwidth, 600.0, None, 500.0, None)
    assert "--core-kb" in _message(plan_slices, 1, np.array([1, 2, 3]), core_kb=0, bandwidth_kb=1)
    assert "--bandwidth-kb" in _message(plan_slices, 1, np.array([1, 2, 3]))
    msg = str(access_error("s3://b/ds", "read", PermissionError("denied")))
    assert "--storage-option key=... --storage-option secret=..." in msg and "storage_options" not in msg
