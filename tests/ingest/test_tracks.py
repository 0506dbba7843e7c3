"""bigWig tracks (ingest/bigwig.py, ingest/tracks.py, `prepare tracks`) and the simulator's bigWig export
(simulate/bigwig.py): window geometry at the 0/1-based boundary, NaN and missing signal, chr-prefix
harmonisation, missing chromosomes, build checks, normalisation stats in the manifest, and the round trip."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pybigtools
import pytest
import torch

from deepwas_dist.commands.prepare import main as prepare_main
from deepwas_dist.data import Dataset
from deepwas_dist.data.builds import CHROM_SIZES
from deepwas_dist.data.writer import DatasetWriter
from deepwas_dist.errors import InputError
from deepwas_dist.ingest.tracks import prepare_tracks
from deepwas_dist.simulate import simulate_tracks
from deepwas_dist.simulate.bigwig import export_tracks_bigwig

from .tiny_panel import write_panel

HG19, HG38 = CHROM_SIZES["hg19"], CHROM_SIZES["hg38"]


def _bw(path, sizes: dict[str, int], entries: dict[str, list[tuple[int, int, float]]]) -> str:
    rows = [(ch, a, b, float(v)) for ch, ivs in entries.items() for a, b, v in ivs]
    pybigtools.open(str(path), "w").write(dict(sizes), iter(rows))
    return str(path)


def _stored(url, chrom):
    """(raw windows (m, K, w) de-normalised with the manifest's stats, annotations table)."""
    ds = Dataset.open(url)
    ing = ds.manifest.tracks.ingest
    _, _, trk = ds.features(chrom, tracks=True)
    raw = trk.numpy() * np.asarray(ing["std"])[None, :, None] + np.asarray(ing["mean"])[None, :, None]
    return raw, ds.snps(chrom, columns=["SNP"] + ds.feature_names), ds


def test_window_geometry_nan_fill_and_prefix(tmp_path, capsys):
    url = write_panel(str(tmp_path / "ds"), {1: [101, 1000], 2: [50]}, tracks=True)
    # chr1 base 100 (0-based) = BP 101: a one-base spike exactly at the SNP; NaN over [990, 1000)
    a = _bw(tmp_path / "a.bw", {"chr1": HG19[1], "chr2": HG19[2]},
            {"chr1": [(100, 101, 5.0), (990, 1000, float("nan"))], "chr2": [(0, 10, 2.0)]})
    b = _bw(tmp_path / "b.bw", {"1": HG19[1]}, {"1": [(0, 2000, 1.0)]})      # no chr prefix, no chr2
    rc = prepare_main(["tracks", "--bigwig", f"spike={a}", "--bigwig", f"flat={b}", "--window", "8",
                       "--fill", "-1", "--track-dtype", "float32", "--out", url, "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    raw, ann, ds = _stored(url, 1)
    assert ds.manifest.tracks.K == 2 and ds.manifest.tracks.w == 8 and ds.manifest.tracks.names == ["spike", "flat"]
    # SNP BP 101 -> window 0-based [96, 104): the spike (base 100) is at offset 4 = window // 2
    np.testing.assert_allclose(raw[0, 0], [-1, -1, -1, -1, 5, -1, -1, -1], atol=1e-5)
    np.testing.assert_allclose(raw[1, 0], -1, atol=1e-5)            # NaN signal and no data: fill
    np.testing.assert_allclose(raw[:, 1], 1, atol=1e-5)
    np.testing.assert_allclose(ann["track_mean_spike"], [(5 - 7) / 8, -1], atol=1e-6)
    assert list(ann.columns) == ["SNP", "base", "track_mean_spike", "track_mean_flat"]
    raw2, _, _ = _stored(url, 2)
    # SNP BP 50 -> [45, 53): no data there -> fill; 'flat' lacks chr2 -> fill, named in the summary
    np.testing.assert_allclose(raw2[0], -1, atol=1e-5)
    assert "flat: chromosome(s) not in the bigWig (filled with -1): 2" in out
    # bins average; a second run replaces tracks and track_mean_* columns
    prepare_tracks(url, [f"spike={a}"], window=8, bins=2, fill=0, dtype="float32", progress=False)
    raw, ann, ds = _stored(url, 1)
    np.testing.assert_allclose(raw[0, 0], [0, 5 / 4], atol=1e-5)
    assert ds.feature_names == ["base", "track_mean_spike"] and ds.manifest.tracks.ingest["bins"] == 2


def test_build_and_chromosome_errors(tmp_path):
    url = write_panel(str(tmp_path / "ds"), {22: [1000, 2000]}, build="hg19")
    hg38 = _bw(tmp_path / "hg38.bw", {"chr22": HG38[22]}, {"chr22": [(0, 10, 1.0)]})
    with pytest.raises(InputError, match=r"hg38\.bw: chr22 is 50,818,468 bp in its header, the hg38 build, but "
                                         r"the dataset's build is hg19 \(51,304,566 bp\)"):
        prepare_tracks(url, [f"x={hg38}"], window=8, progress=False)
    other = _bw(tmp_path / "other.bw", {"chr1": HG19[1]}, {"chr1": [(0, 10, 1.0)]})
    with pytest.raises(InputError, match=r"other\.bw: no chromosome of the dataset \(22\) in the bigWig"):
        prepare_tracks(url, [f"x={other}"], window=8, progress=False)
    with pytest.raises(InputError, match=r"--window 8 --bins 3"):
        prepare_tracks(url, [f"x={other}"], window=8, bins=3, progress=False)
    with pytest.raises(InputError, match=r"nope\.bw: cannot open as a bigWig"):
        (tmp_path / "nope.bw").write_text("not a bigwig")
        prepare_tracks(url, [f"x={tmp_path / 'nope.bw'}"], window=8, progress=False)
    short = write_panel(str(tmp_path / "sim"), {22: [1000, 90_000]}, build="simulated")
    tiny = _bw(tmp_path / "tiny.bw", {"22": 50_000}, {"22": [(0, 10, 1.0)]})
    with pytest.raises(InputError, match=r"tiny\.bw: SNP s22_1 at chr22:90,000 lies beyond the file's chromosome"):
        prepare_tracks(short, [f"x={tiny}"], window=8, progress=False)
    assert Dataset.open(url).manifest.tracks is None                # nothing published


def test_simulated_tracks_round_trip(tmp_path):
    bp = np.arange(1, 41) * 3_000 + np.arange(40) % 7                # windows of 256 bp never overlap
    snps = pd.DataFrame({"CHR": np.repeat([1, 2], 20), "SNP": [f"s{i}" for i in range(40)], "BP": bp})
    sim = simulate_tracks(snps, n_tracks=3, window=32, seed=4, step_bp=8)
    paths, cut = export_tracks_bigwig(snps, sim, str(tmp_path / "bw"), step_bp=8, names=["a", "b", "c"])
    assert cut == 0
    url = write_panel(str(tmp_path / "ds"), {1: bp[:20].tolist(), 2: bp[20:].tolist()}, build="simulated")
    prepare_tracks(url, [f"{n}={p}" for n, p in paths.items()], window=256, bins=32, dtype="float32",
                   progress=False)
    for c, rows in ((1, slice(0, 20)), (2, slice(20, 40))):
        raw, ann, _ = _stored(url, c)
        np.testing.assert_allclose(raw, sim[rows], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ann["track_mean_b"], sim[rows, 1].mean(axis=1), rtol=1e-5, atol=1e-6)
    close = pd.DataFrame({"CHR": [1, 1], "BP": [1000, 1100]})        # overlapping windows: the later is cut
    _, cut = export_tracks_bigwig(close, np.ones((2, 1, 32), np.float32), str(tmp_path / "bw2"), step_bp=8)
    assert cut == 1


def test_float16_storage_default_and_float32_reads(tmp_path):
    """The default --track-dtype float16 stores half the track bytes, rounds each normalised value by at
    most 2^-11 of it, reads back as float32; a float32 dataset (manifest without "dtype", as before)
    reads as before, and an annotation update keeps the stored dtype."""
    bp = np.arange(1, 41) * 3_000
    snps = pd.DataFrame({"CHR": 1, "SNP": [f"s{i}" for i in range(40)], "BP": bp})
    sim = simulate_tracks(snps, n_tracks=2, window=32, seed=1, step_bp=8)
    paths, _ = export_tracks_bigwig(snps, sim, str(tmp_path / "bw"), step_bp=8, names=["a", "b"])
    spec = [f"{n}={p}" for n, p in paths.items()]
    stored = {}
    for dtype in ("float32", "float16"):
        url = write_panel(str(tmp_path / dtype), {1: bp.tolist()}, build="simulated")
        prepare_tracks(url, spec, window=256, bins=32, **({} if dtype == "float16" else {"dtype": "float32"}),
                       progress=False)
        ds = Dataset.open(url)
        assert ds.manifest.tracks.dtype == dtype
        assert ("dtype" in ds.manifest.to_json()["tracks"]) == (dtype == "float16")
        f = ds.manifest.snps.files[1][0]["path"]
        field = pq.read_schema(f"{url}/{f}").field("TRACKS").type.storage_type.value_type
        assert field == (pa.float16() if dtype == "float16" else pa.float32())
        _, _, trk = ds.features(1, tracks=True)
        assert trk.dtype == torch.float32
        stored[dtype] = (trk.numpy(), sum(e["bytes"] for e in ds.manifest.snps.files[1]), url)
    x32, x16 = stored["float32"][0], stored["float16"][0]
    assert np.array_equal(x16, x32.astype(np.float16).astype(np.float32))
    assert np.all(np.abs(x16 - x32) <= 2.0 ** -11 * np.abs(x32) + 1e-7) and not np.array_equal(x16, x32)
    assert stored["float16"][1] < stored["float32"][1]
    url16 = stored["float16"][2]
    with DatasetWriter.update(url16) as w:                 # re-writes the SNP tables; keeps float16
        ds = w.base_dataset
        w.set_annotations(1, ds.snps(1, columns=["SNP"] + ds.feature_names))
    ds = Dataset.open(url16)
    assert ds.manifest.tracks.dtype == "float16" and np.array_equal(ds.features(1)[2].numpy(), x16)
    w = DatasetWriter.update(url16)
    w.set_tracks_dtype("float32")
    with pytest.raises(InputError, match="no SNP table was re-written"):
        w.close()                                          # (aborts: nothing published)
    assert Dataset.open(url16).manifest.tracks.dtype == "float16"


def test_remote_bigwigs_stream_to_the_same_windows_as_local_files(tmp_path, s3_server, capsys):
    """A bigWig at an s3:// URL (moto's server, its options given as --input-storage-option) ingests to the
    very windows of the same file read locally, through the CLI; a missing object is one line naming the
    URL, --bigwig and --input-storage-option."""
    import s3fs

    bp = np.arange(1, 31) * 4_000 + np.arange(30) % 5
    snps = pd.DataFrame({"CHR": np.repeat([1, 2], 15), "SNP": [f"s{i}" for i in range(30)], "BP": bp})
    sim = simulate_tracks(snps, n_tracks=2, window=32, seed=7, step_bp=8)
    paths, _ = export_tracks_bigwig(snps, sim, str(tmp_path / "bw"), step_bp=8, names=["a", "b"])
    opts = s3_server["storage_options"]
    prefix = f"{s3_server['bucket']}/bw-{tmp_path.name}"
    fs = s3fs.S3FileSystem(**opts, skip_instance_cache=True)
    for name, p in paths.items():
        fs.put_file(p, f"{prefix}/{name}.bw")
    iso = [x for k, v in opts.items() for x in ("--input-storage-option", f"{k}={v}")]
    urls = {}
    for where in ("local", "s3"):
        urls[where] = write_panel(str(tmp_path / where), {1: bp[:15].tolist(), 2: bp[15:].tolist()},
                                  build="simulated")
        specs = [x for n, p in paths.items()
                 for x in ("--bigwig", f"{n}={p}" if where == "local" else f"{n}=s3://{prefix}/{n}.bw")]
        rc = prepare_main(["tracks", *specs, "--window", "256", "--bins", "32", "--track-dtype", "float32",
                           "--out", urls[where], "--no-progress", *(iso if where == "s3" else [])])
        assert rc == 0, capsys.readouterr().out
    for c in (1, 2):
        local, ann_local, _ = _stored(urls["local"], c)
        remote, ann_remote, _ = _stored(urls["s3"], c)
        np.testing.assert_array_equal(remote, local)
        pd.testing.assert_frame_equal(ann_remote, ann_local)
    np.testing.assert_allclose(_stored(urls["s3"], 1)[0], sim[:15], rtol=1e-5, atol=1e-5)

    capsys.readouterr()
    rc = prepare_main(["tracks", "--bigwig", f"a=s3://{prefix}/missing.bw", "--out", urls["s3"], "--no-progress",
                       *iso])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert f"s3://{prefix}/missing.bw" in err[0] and "--bigwig" in err[0] and "--input-storage-option" in err[0]
    rc = prepare_main(["tracks", "--bigwig", f"a=s3://{prefix}/a.bw", "--out", urls["s3"], "--no-progress",
                       "--input-storage-option", "no_such_key=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--input-storage-option" in err[0], err
