"""bench e2e (bench/e2e.py): the sampled process tree of a command."""
from __future__ import annotations

import os
import sys

import pytest

from deepwas_dist.bench.e2e import format_report, run_sampled
from tests.bench.test_bench_scale import _GRANDCHILD


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_run_sampled_sees_every_process_of_the_tree():
    """The child and the grandchild it does not wait for (200 MiB, 0.8 s of CPU) are both sampled."""
    res = run_sampled([sys.executable, "-c", _GRANDCHILD], interval=0.2)
    assert res["rc"] == 0 and 1.5 < res["wall_s"] < 10
    assert len(res["processes"]) >= 2
    top = res["processes"][0]
    assert top["peak_rss_bytes"] > 200 * 2 ** 20 and "bytearray" in top["cmd"] and top["cpu_s"] > 0.6
    assert 0.7 < res["cpu_s"] < 3.0


def test_report_names_the_budget_figures():
    r = {"size": "1m", "snps": 1_000_000, "slices": 2700, "dataset_bytes": 3 * 2 ** 30, "cached": True,
         "simulate": {"wall_s": 640.0}, "workers": 2, "epochs": 20, "jackknife": "fixed", "rc": 0, "wall_s": 900.0,
         "cpu_s": 1700.0, "peak_rss_bytes": 4 * 2 ** 30, "epoch_s": [60.0, 20.0, 22.0], "traits": {
             "scale0": {"h2": 0.4, "sigma": 1.0}}, "processes": [{"peak_rss_bytes": 2 ** 30, "cpu_s": 5.0,
                                                                   "cmd": "python -m deepwas_dist.commands train"}]}
    text = format_report(r)
    assert "wall 900 s (15.0 min)" in text and "largest process peak 4.00 GiB" in text
    assert "first 60.0 s, later median 22.0 s" in text and "deepwas_dist.commands train" in text
