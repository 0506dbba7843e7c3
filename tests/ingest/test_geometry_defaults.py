"""Slice-geometry defaults have one home (data.slicing.SliceGeometry): every ingestion path uses it, and
launch/prepare.py's help texts state its numbers (the flags themselves default to None = "the geometry's")."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from deepwas_dist.data.slicing import (
    PANEL_GEOMETRY,
    SIMULATED_GEOMETRY,
    SliceGeometry,
    plan_slices,
)
from deepwas_dist.data.writer import DatasetWriter
from deepwas_dist.ingest.from_plink import prepare_plink
from deepwas_dist.ingest.from_ukbb import prepare_ukbb_ld
from deepwas_dist.simulate.dataset import SimulationSpec
from deepwas_dist.simulate.prepare import prepare_simulate
from deepwas_dist.slice import EIG_THRESHOLD, LDSlice

ROOT = Path(__file__).resolve().parents[2]


def _defaults(fn) -> dict:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def test_functions_take_their_defaults_from_the_geometry():
    g = SliceGeometry()
    w = _defaults(DatasetWriter.add_ld_slices)
    assert (w["core_kb"], w["shrinkage"], w["eig_threshold"], w["dtype"]) == (g.core_kb, g.shrinkage,
                                                                            g.eig_threshold, g.dtype)
    assert w["bandwidth_kb"] is None and w["bandwidth_cm"] is None          # the writer takes no default flank
    assert _defaults(plan_slices)["core_kb"] == g.core_kb
    assert g.eig_threshold == EIG_THRESHOLD == _defaults(LDSlice.from_ld)["eig_threshold"]
    for fn in (prepare_plink, prepare_ukbb_ld):
        d = _defaults(fn)
        assert (d["core_kb"], d["shrinkage"], d["dtype"]) == (PANEL_GEOMETRY.core_kb, PANEL_GEOMETRY.shrinkage,
                                                             PANEL_GEOMETRY.dtype)
    assert _defaults(prepare_ukbb_ld)["bandwidth_kb"] == PANEL_GEOMETRY.bandwidth_kb
    d = _defaults(prepare_simulate)
    assert (d["core_kb"], d["bandwidth_kb"]) == (SIMULATED_GEOMETRY.core_kb, SIMULATED_GEOMETRY.bandwidth_kb)
    spec = SimulationSpec()
    assert (spec.core_kb, spec.bandwidth_kb, spec.shrinkage, spec.storage_dtype) == (
        SIMULATED_GEOMETRY.core_kb, SIMULATED_GEOMETRY.bandwidth_kb, SIMULATED_GEOMETRY.shrinkage,
        SIMULATED_GEOMETRY.dtype)
    # the two kinds differ only in the flank width (see SIMULATED_GEOMETRY's comment)
    assert SIMULATED_GEOMETRY == SliceGeometry(bandwidth_kb=500.0) and PANEL_GEOMETRY == SliceGeometry()


@pytest.fixture(scope="module")
def prepare_cli():
    from deepwas_dist.commands import prepare  # launch/prepare.py and `deepwas prepare` both run it
    return prepare


def _flags(parser, command: str) -> dict:
    sub = next(a for a in parser._actions if a.dest == "command")
    return {a.option_strings[0]: a for a in sub.choices[command]._actions if a.option_strings}


@pytest.mark.parametrize("command,geometry", [("plink", PANEL_GEOMETRY), ("ukbb-ld", PANEL_GEOMETRY),
                                              ("simulate", SIMULATED_GEOMETRY)])
def test_prepare_help_states_the_geometry_defaults(prepare_cli, command, geometry):
    flags = _flags(prepare_cli.parser(), command)
    expect = {"--core-kb": geometry.core_kb, "--bandwidth-kb": geometry.bandwidth_kb,
              "--shrinkage": geometry.shrinkage, "--dtype": geometry.dtype}
    for flag, value in expect.items():
        if flag not in flags:
            continue
        a = flags[flag]
        assert a.default is None, f"{command} {flag}: default must come from the SliceGeometry, not argparse"
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        assert f"default {shown}" in a.help, f"{command} {flag}: help {a.help!r} does not state {shown}"


def test_unset_geometry_flags_are_not_passed(prepare_cli, monkeypatch):
    seen = {}
    monkeypatch.setattr("deepwas_dist.simulate.prepare.prepare_simulate", lambda out, **kw: seen.update(kw))
    prepare_cli.run(prepare_cli.parser().parse_args(["simulate", "--out", "x"]))
    assert not {"core_kb", "bandwidth_kb", "shrinkage", "dtype"} & set(seen)
    prepare_cli.run(prepare_cli.parser().parse_args(["simulate", "--out", "x", "--bandwidth-kb", "250"]))
    assert seen["bandwidth_kb"] == 250.0
