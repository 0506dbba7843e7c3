"""prepare_plink with LD and eigendecomposition per slice as Ray tasks (ingest/ld_tasks.py): the same
dataset as the serial path on a small msprime panel written as PLINK."""
from __future__ import annotations

import numpy as np

from deepwas_dist.data import Dataset
from deepwas_dist.ingest.from_plink import prepare_plink
from deepwas_dist.ingest.from_ukbb import prepare_ukbb_ld
from deepwas_dist.simulate.genotypes import simulate_panel
from tests.ingest.test_pipeline import write_bed, write_windows
from tests.ld_fixtures import assert_same_slices


def test_ray_slices_equal_the_serial_ones(ray_session, tmp_path):
    panels = [simulate_panel(150, (1,), 1.5, seed=8)[0], simulate_panel(150, (2,), 1.0, seed=8)[0]]
    write_bed(tmp_path / "panel", panels)
    kw = dict(maf=0.0, core_kb=250, bandwidth_kb=125, progress=False, dtype="float64")
    serial = prepare_plink(str(tmp_path / "serial"), str(tmp_path / "panel"), **kw)
    tasks = prepare_plink(str(tmp_path / "ray"), str(tmp_path / "panel"), executor="ray", workers=2, **kw)
    a, b = Dataset.open(str(tmp_path / "serial")), Dataset.open(str(tmp_path / "ray"))
    assert serial.slices_written == tasks.slices_written == len(a.slice_index()) > 6
    for c in a.chromosomes:
        assert a.snps(c).equals(b.snps(c))
    print(f"{assert_same_slices(a, b)}/{len(a.slice_index())} slices bit-identical")


def test_executor_flags_parse():
    from deepwas_dist.commands.prepare import parser
    a = parser().parse_args(["plink", "--bfile", "p", "--out", "o", "--executor", "ray", "--workers", "3"])
    assert (a.executor, a.workers) == ("ray", 3)
    a = parser().parse_args(["simulate", "--out", "o"])
    assert (a.executor, a.workers) == (None, None)         # simulate: ray when installed; plink: local


def test_ukbb_windows_as_ray_tasks_equal_the_serial_slices(ray_session, chr1, tmp_path):
    """A UKBB-format fixture of three overlapping 3 Mb windows (each its own LD matrix, so the window a
    slice takes matters) ingests through one Ray task per slice to the serial path's slices."""
    rng = np.random.default_rng(4)
    Rs = [chr1["R"] * (1 - a) + a * np.eye(len(chr1["R"])) for a in rng.uniform(0.0, 0.2, size=3)]
    write_windows(tmp_path / "ukbb", chr1["snps"], Rs)
    kw = dict(core_kb=1000, bandwidth_kb=500, progress=False, dtype="float64")
    serial = prepare_ukbb_ld(str(tmp_path / "serial"), str(tmp_path / "ukbb"), **kw)
    tasks = prepare_ukbb_ld(str(tmp_path / "ray"), str(tmp_path / "ukbb"), executor="ray", workers=2, **kw)
    a, b = Dataset.open(str(tmp_path / "serial")), Dataset.open(str(tmp_path / "ray"))
    assert serial.slices_written == tasks.slices_written == len(a.slice_index()) >= 4
    assert a.snps(1).equals(b.snps(1))
    print(f"{assert_same_slices(a, b)}/{len(a.slice_index())} slices bit-identical")
