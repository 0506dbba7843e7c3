"""The README's real-data example, run verbatim as a user would: the lines of the bash block after the
``<!-- readme-example: real-data -->`` marker, from a repository root with ``../shared/data`` beside it."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- readme-example: real-data -->"


def readme_example() -> list[str]:
    """The command lines of the README block after MARKER (one command per line)."""
    text = (ROOT / "README.md").read_text()
    assert MARKER in text, f"README.md lost its {MARKER} block"
    m = re.search(re.escape(MARKER) + r"\s*```bash\n(.*?)```", text, re.S)
    assert m, "the marker must be followed by a ```bash block"
    return [line for line in m.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_example_is_the_real_data_quickstart():
    lines = readme_example()
    assert [x.split()[1] for x in lines] == ["launch/prepare.py", "launch/prepare.py", "launch/train.py"]
    # trained in-process: the run below is not in the Ray group (conftest.py), so it must not start a Ray
    # instance beside the group's on the suite's two cores (Ray Train has its own tests)
    assert "--workers 0" in lines[-1].split("#")[0], "the README's chr22 example trains with --workers 0"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_readme_real_data_example_runs_verbatim(shared_data, tmp_path):
    """Each line runs in a checkout-like directory (launch/ of this checkout, ../shared beside it) with
    ``python`` this interpreter, exits 0, and the run it trains writes its outputs."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "launch").symlink_to(ROOT / "launch")
    (tmp_path / "shared").symlink_to(shared_data.parent)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for line in readme_example():
        cmd = re.sub(r"^python ", f"{sys.executable} ", line)
        p = subprocess.run(cmd, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=800)
        assert p.returncode == 0, f"README line failed: {line}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
        assert "Traceback" not in p.stderr, p.stderr[-3000:]
        assert "Started a local Ray instance" not in p.stdout + p.stderr, "the example started Ray"
    runs = [d for d in (repo / "runs").iterdir() if d.is_dir()]
    assert len(runs) == 1
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["traits"]["height"]["h2"] > 0 and metrics["holdout"]["mode"] != "none"
    assert (runs[0] / "snpvar" / "height.22.snpvar.gz").exists()
