"""deepwas predict with a conv prior: --data feeds it the dataset's track windows, mapped onto the training
tracks' normalisation; --annot, other tracks and old model.pt files are refused with the fix. Train-free:
the model.pt is written from a randomly initialised conv prior."""
from __future__ import annotations

import gzip
import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from deepwas_dist.errors import InputError
from deepwas_dist.evaluate.predict import predict_annotations, predict_dataset, track_mapping
from deepwas_dist.models import build_prior
from deepwas_dist.models.registry import saved_prior


@pytest.fixture(scope="module")
def track_dataset(tmp_path_factory) -> str:
    from deepwas_dist.simulate.dataset import SimulationSpec, write_simulated_dataset
    from deepwas_dist.simulate.traits import TraitSpec
    url = str(tmp_path_factory.mktemp("conv-data") / "sim")
    spec = SimulationSpec(n_individuals=200, chroms=(1, 2), length_mb=1.0, seed=1, n_binary=2, n_continuous=1,
                          n_tracks=3, window=8, traits=(TraitSpec("t", h2=0.2, N=10_000),))
    write_simulated_dataset(url, spec, log=lambda s: None)
    return url


def _write_run(run_dir, ds, **record):
    torch.manual_seed(0)
    K, w = ds.tracks_shape
    net = build_prior("conv", "tiny", n_features=len(ds.feature_names), n_traits=1, n_tracks=K, window=w)
    with torch.no_grad():                   # a prior that varies across SNPs (the head starts near constant)
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    net.eval()
    extra = dict(traits=["t"], feature_names=list(ds.feature_names), feature_mean=list(ds.manifest.features.mean),
                 feature_std=list(ds.manifest.features.std), track_names=ds.manifest.tracks.names, tracks_ingest=None)
    extra.update(record)
    run_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(saved_prior(net, "conv", "tiny", len(ds.feature_names), ds.tracks_shape, **extra), buf)
    (run_dir / "model.pt").write_bytes(buf.getvalue())
    return net


def test_conv_prior_predicts_from_the_datasets_tracks(track_dataset, tmp_path):
    from deepwas_dist.data.reader import Dataset
    ds = Dataset.open(track_dataset)
    net = _write_run(tmp_path / "run", ds)
    out = tmp_path / "pred"
    predict_dataset(str(tmp_path / "run"), track_dataset, str(out), chunk_rows=64, log=lambda s: None)
    for c in ds.chromosomes:
        snps, X, trk = ds.features(c)
        with torch.no_grad():
            want = net(X, trk).double().exp().numpy()[:, 0]
        with gzip.open(out / "snpvar" / f"t.{c}.snpvar.gz", "rt") as fh:
            got = pd.read_csv(fh, sep="\t")
        assert got["SNP"].tolist() == snps["SNP"].tolist()
        np.testing.assert_allclose(got["SNPVAR"], want, rtol=1e-5)
        assert want.std() > 0.01 * want.mean()
    with pytest.raises(InputError, match="track windows \\(conv\\).*fix: prepare a dataset .* --data"):
        predict_annotations(str(tmp_path / "run"), ["x.annot.gz"], str(tmp_path / "o"), log=lambda s: None)


def test_old_model_pt_without_track_record_is_refused(track_dataset, tmp_path):
    from deepwas_dist.data.reader import Dataset
    ds = Dataset.open(track_dataset)
    _write_run(tmp_path / "run", ds)
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    del saved["track_names"], saved["tracks_ingest"]
    torch.save(saved, tmp_path / "run" / "model.pt")
    with pytest.raises(InputError, match="predates stored track names.*deepwas evaluate"):
        predict_dataset(str(tmp_path / "run"), track_dataset, str(tmp_path / "o"), log=lambda s: None)


def _fake_ds(K=2, w=4, names=("a", "b"), ingest=None):
    tracks = SimpleNamespace(names=list(names), ingest=ingest)
    return SimpleNamespace(url="data/new", tracks_shape=(K, w), manifest=SimpleNamespace(tracks=tracks))


def test_track_mapping_turns_the_datasets_normalisation_into_the_trainings():
    rng = np.random.default_rng(0)
    raw = rng.gamma(0.5, 2.0, size=(50, 2, 4))
    m0, s0, m1, s1 = np.array([1.0, 3.0]), np.array([2.0, 0.5]), np.array([0.7, 2.0]), np.array([1.5, 0.9])
    ing = lambda m, s, wbp=256: {"window_bp": wbp, "bins": 4, "fill": 0.0, "mean": m.tolist(), "std": s.tolist()}  # noqa: E731
    saved = {"tracks_shape": [2, 4], "track_names": ["a", "b"], "tracks_ingest": ing(m0, s0)}
    scale, shift = track_mapping(saved, _fake_ds(ingest=ing(m1, s1)), "run")
    stored = (raw - m1[None, :, None]) / s1[None, :, None]
    np.testing.assert_allclose(stored * scale[None, :, None] + shift[None, :, None],
                               (raw - m0[None, :, None]) / s0[None, :, None], rtol=1e-12)
    for ds, match in [(_fake_ds(names=("b", "a"), ingest=ing(m1, s1)), "trained on \\['a', 'b'\\]"),
                      (_fake_ds(K=3, ingest=ing(m1, s1)), "3 tracks|trained on 2 tracks x 4 bins"),
                      (_fake_ds(ingest=None), "simulated"),
                      (_fake_ds(ingest=ing(m1, s1, 128)), "128 bp.*--window 256")]:
        with pytest.raises(InputError, match=match):
            track_mapping(saved, ds, "run")
    assert track_mapping({"tracks_shape": None}, _fake_ds(), "run") is None


def test_evaluate_records_the_tracks_of_conv_priors_only(track_dataset):
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.report import _track_record
    ds = Dataset.open(track_dataset)
    assert _track_record(ds, None) == {}
    assert _track_record(ds, ds.tracks_shape) == {"track_names": ds.manifest.tracks.names, "tracks_ingest": None}
