"""`python -m deepwas_dist.bench gpu`: the same code paths at small sizes on the CPU, and the no-CUDA exit."""
from __future__ import annotations

import json

import pytest
import torch

from deepwas_dist.bench.__main__ import main
from deepwas_dist.bench.gpu import NO_CUDA


def test_bench_gpu_small_on_cpu(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert main(["gpu", "--device", "cpu", "--small", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for col in ("precision", "method", "seconds", "nll_rel_err", "grad_cos", "snps_per_s", "peak_gpu_mib"):
        assert col in text, col
    data = json.loads(out.read_text())
    assert data["benchmark"] == "gpu" and data["device"] == "cpu" and data["small"] is True
    lk, tr = data["likelihood"], data["training"]
    assert {(r["precision"], r["method"]) for r in lk} == {(p, m) for p in ("float64", "float32", "tf32")
                                                           for m in ("brute", "exact", "iterative")}
    for r in lk:
        assert "error" not in r, r
        assert r["seconds"] > 0 and r["rank"] == r["n"]                  # synthetic LD: full-rank core
        assert r["grad_cos"] > 0.99 and r["nll_rel_err"] < 1e-2
    by = {(r["precision"], r["method"]): r for r in lk}
    assert by["float64", "exact"]["nll_rel_err"] == 0.0                   # the reference itself
    assert by["float64", "brute"]["nll_rel_err"] < 1e-8
    assert by["float32", "exact"]["nll_rel_err"] < 1e-4
    assert by["float64", "iterative"]["cg_iters"] >= 1
    (row,) = tr                                                            # one epoch
    assert row["epoch"] == 1 and row["snps_per_s"] > 0 and row["slices"] == 4
    assert row["slice_reads"] == 0                                         # resident: nothing read
    assert row["peak_gpu_mib"] is None and row["slices_mib"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_bench_gpu_without_cuda_says_so_and_exits_0(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert main(["gpu", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [NO_CUDA] and not out.exists()
