"""A dataset without summary statistics is refused before any work, with the command that adds them."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from deepwas_dist.errors import InputError

from .conftest import base_config


def test_no_traits_is_refused_naming_the_fix():
    from deepwas_dist.train.plan import resolve_traits

    ds = SimpleNamespace(url="/data/chr22", traits=[])
    for spec in ("all", "height"):
        with pytest.raises(InputError, match=r"dataset /data/chr22 has no traits; add them with `prepare.py "
                                             r"sumstats --out /data/chr22"):
            resolve_traits(ds, spec)
    assert resolve_traits(SimpleNamespace(url="u", traits=["a", "b"]), "all") == ["a", "b"]


def test_run_training_refuses_before_starting_ray(fake_trainer, sim_dataset, tmp_path, monkeypatch):
    import deepwas_dist.train.run as run_mod

    real_open = run_mod.Dataset.open

    def without_traits(url, storage_options=None):
        ds = real_open(url, storage_options)
        monkeypatch.setattr(type(ds), "traits", property(lambda self: []))
        return ds

    monkeypatch.setattr(run_mod.Dataset, "open", staticmethod(without_traits))
    with pytest.raises(InputError, match="has no traits"):
        run_mod.run_training(base_config(sim_dataset, str(tmp_path), "no-traits"), log=lambda s: None)
    assert "config" not in fake_trainer and not (tmp_path / "no-traits").exists()
