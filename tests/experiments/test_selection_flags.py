"""The experiments' subset flags (no fits): --seeds/--first-seed, realistic --treatments, tracks --cells and
--chroms/--holdout-chroms, and their one-line errors."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from deepwas_dist.commands.experiment import _seeds, main
from deepwas_dist.errors import InputError
from deepwas_dist.experiments.realistic import LEARN, TREATMENT_KEYS, RealisticSpec
from deepwas_dist.experiments.tracks import BASELINE, CELLS, TracksSpec


def test_seeds_run_from_the_first_seed():
    assert _seeds(SimpleNamespace(seeds=3, first_seed=0)) == (0, 1, 2)
    assert _seeds(SimpleNamespace(seeds=10, first_seed=100)) == tuple(range(100, 110))
    with pytest.raises(InputError, match="--seeds must be at least 2"):
        _seeds(SimpleNamespace(seeds=1, first_seed=0))
    with pytest.raises(InputError, match="--first-seed must be >= 0"):
        _seeds(SimpleNamespace(seeds=3, first_seed=-1))


def test_realistic_treatments_select_cells():
    full = RealisticSpec()
    assert len(TREATMENT_KEYS) == len(set(TREATMENT_KEYS)) == len(full.treatments) + 1
    spec = full.select(["default", "sigma-1"])
    cells = spec.cells()
    # the 2 x 3 objective x prior cells, plus sigma held at 1 for the constant and linear priors
    assert [c[0].key for c in cells] == ["default"] * 6 + ["sigma-1"] * 2
    assert {(o, m) for t, o, m, _ in cells if t is LEARN} == {(o, m) for o in ("likelihood", "ldsc")
                                                              for m in ("constant", "linear", "mlp")}
    only = full.select(["no-mismatch"]).cells()
    assert [(t.key, o, m) for t, o, m, _ in only] == [("no-mismatch", "likelihood", "constant"),
                                                      ("no-mismatch", "likelihood", "linear")]
    with pytest.raises(InputError, match="--treatments: unknown nope"):
        full.select(["default", "nope"])
    with pytest.raises(InputError, match="--treatments names no cells"):
        full.select([])


def test_tracks_cells_select_and_build_only_what_they_need():
    full = TracksSpec()
    assert full.datasets == ("sim", "ingested16", "ingested32", "simtracks")
    spec = full.select(["conv16", "mlp"])
    assert [c.key for c in spec.cells] == ["conv16", "mlp"]
    assert spec.datasets == ("sim", "ingested16", "ingested32")      # both ingested: the float16 checks need them
    assert full.select(["mlp", "convsim"]).datasets == ("sim", "simtracks")
    assert BASELINE == next(c.name for c in CELLS if c.key == "mlp")
    with pytest.raises(InputError, match="fix: add mlp"):
        full.select(["conv16"])
    with pytest.raises(InputError, match="--cells: unknown convx"):
        full.select(["mlp", "convx"])


@pytest.mark.parametrize("argv, message", [
    (["tracks", "--cells", "conv16"], "fix: add mlp"),
    (["tracks", "--seeds", "1"], "--seeds must be at least 2"),
    (["tracks", "--chroms", "1-q"], "--chroms"),
    (["realistic", "--treatments", "sigma-2"], "--treatments: unknown sigma-2"),
    (["realistic", "--panel", "5"], "--panel must be at least 10"),
    (["realistic", "--epochs", "0"], "--epochs must be at least 1"),
    (["realistic", "--val-chroms", "14"], "--val-chroms: [14] are not training chromosomes"),
    (["realistic", "--val-chroms", "1-12"], "--val-chroms 1-12 leaves no chromosome to train on"),
    (["tracks", "--val-chroms", "7"], "--val-chroms: [7] are not training chromosomes"),
    (["realistic", "--weight-decays", "1,10", "--val-chroms", "none"],
     "--weight-decays 1.0,10.0: choosing among them needs validation"),
    (["realistic", "--weight-decays", "1,x"], "--weight-decays: expected numbers"),
    (["tracks", "--weight-decays", "-1"], "--weight-decays: expected numbers >= 0"),
    (["realistic", "--patience", "5", "--val-chroms", "none"], "--patience 5 stops on the validation NLL"),
    (["realistic", "--patience", "-1", "--val-chroms", "12"], "--patience must be >= 0"),
])
def test_bad_flags_are_one_line_errors(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_realistic_validates_where_asked():
    spec = RealisticSpec()                                            # the default protocol validates
    assert spec.validates and spec.val_chroms == "11-12" and len(spec.weight_decays) > 1
    assert spec.reduced().val_chroms == "2" and len(spec.reduced().weight_decays) == 1   # chromosomes 1-3, 3 out
    off = RealisticSpec().unvalidated()
    assert off.val_chroms == "none" and off.patience == 0 and off.weight_decays == (1e-4,)
    assert off.reduced().val_chroms == "none"


def test_tracks_refuses_to_reuse_a_dataset_of_other_chromosomes(tmp_path):
    """A seed's dataset in --out built with other --chroms is an error naming it, not silently reused."""
    from dataclasses import replace

    from deepwas_dist.experiments.tracks import build_datasets
    spec = TracksSpec().reduced()
    sim = replace(spec.simulation, chroms=(1,))
    build_datasets(replace(spec, simulation=sim).select(["mlp"]), 0, tmp_path, log=lambda s: None)
    with pytest.raises(InputError, match=r"holds chromosomes \[1\].*--chroms"):
        build_datasets(spec.select(["mlp"]), 0, tmp_path, log=lambda s: None)


@pytest.mark.parametrize("argv, expected", [([], RealisticSpec.val_select),
                                            (["--val-select", "objective"], "objective")])
def test_realistic_val_select_reaches_the_spec(argv, expected, monkeypatch, tmp_path):
    """--val-select sets the spec the fits run from; without it the spec's own default stands."""
    import deepwas_dist.experiments.realistic as realistic
    seen = []
    monkeypatch.setattr(realistic, "run_realistic", lambda spec, out, processes=None: seen.append(spec))
    assert main(["realistic", *argv, "--out", str(tmp_path / "out")]) == 0
    assert [s.val_select for s in seen] == [expected]
