"""The predict benchmark: a tiny end-to-end run (the predictions it times are valid SNPVAR files) and the
10M projection's arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.bench.predict import _measure, format_table, project, run


def test_predict_bench_runs_small():
    rows = run([3000], n_features=6, chunk_rows=[500, 100], log=lambda s: None)
    assert [r["kind"] for r in rows] == ["startup", "measured", "measured", "projected"]
    m = rows[1]
    assert m["snps"] == 3000 and m["wall_s"] > 0 and m["cpu_s"] > 0 and m["snpvar_mib"] > 0
    assert (m["chunk_rows"], m["largest_chunk"], rows[2]["largest_chunk"]) == (500, 270, 100)  # chr1: 270 rows
    assert rows[3]["chunk_rows"] == 500 and "10,000,000" in format_table(rows)


def test_projection_cpu_linear_wall_by_ratio_rss_by_chunk_rows():
    base = {"kind": "measured", "features": 5, "chunk_rows": 100, "annot_mib": 1.0, "snpvar_mib": 0.5}
    rows = [{"kind": "startup", "snps": 0, "wall_s": 5.0, "cpu_s": 4.0, "peak_rss_mib": 300.0},
            {**base, "snps": 1000, "largest_chunk": 50, "wall_s": 9.0, "cpu_s": 6.0, "peak_rss_mib": 400.0},
            {**base, "snps": 3000, "largest_chunk": 80, "wall_s": 20.0, "cpu_s": 10.0, "peak_rss_mib": 430.0},
            {**base, "snps": 3000, "chunk_rows": 10, "largest_chunk": 10, "wall_s": 25.0, "cpu_s": 11.0,
             "peak_rss_mib": 360.0}]
    p = project(rows, n=10_000)
    assert p["cpu_s"] == pytest.approx(10.0 + 2e-3 * 7000) and p["wall_s"] == pytest.approx(2 * p["cpu_s"])
    assert p["largest_chunk"] == 100 and p["peak_rss_mib"] == pytest.approx(430.0 + 1.0 * 20)
    assert p["from_snps"] == [1000, 3000] and p["annot_mib"] == pytest.approx(10 / 3)
    one = project(rows[:2], n=2000)                       # one size: the start-up row is the other point
    assert one["cpu_s"] == pytest.approx(6.0 + 2e-3 * 1000) and one["peak_rss_mib"] == 400.0


def test_child_peak_is_its_own_not_the_parents():
    """wait4's maxrss would read this process's 400 MiB as the child's peak; the child's own VmHWM does not."""
    held = np.ones(400 * 2**20 // 8)                       # touched: resident in this process
    idle = _measure(["-c", "pass"])
    big = _measure(["-c", "import numpy as np; a = np.ones(200 * 2**20 // 8)"])
    assert held.sum() > 0 and idle["peak_rss_mib"] < 100
    assert 200 < big["peak_rss_mib"] < 400


def test_child_failure_is_reported():
    with pytest.raises(RuntimeError, match="failed"):
        _measure(["-c", "import sys; sys.exit(3)"])
