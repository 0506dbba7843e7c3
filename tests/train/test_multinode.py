"""Two Ray nodes on one machine (one CPU each, so the two workers must span both): removing the second
node mid-run (a replacement joins, as an autoscaler would provide) is survived through checkpoints, and
the run ends with the same held-out metrics as an uninterrupted run.

Runs in its own process (tests/train/multinode_run.py): a ray.cluster_utils.Cluster cannot share a
process with the session's Ray instance."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(900)
def test_two_nodes_survive_node_removal(sim_dataset, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "train" / "multinode_run.py"), sim_dataset,
                           str(tmp_path / "runs")], capture_output=True, text=True, timeout=850, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["nodes"] == 2 and out["nodes_used"] == 2       # the workers ran on both nodes
    assert out["node_removed"] and out["alive_nodes_after"] == 2    # head + the replacement node
    assert out["nodes_used_after"] == 2
    for trait, nll in out["uninterrupted"].items():
        assert out["interrupted"][trait] == pytest.approx(nll, rel=1e-6)
