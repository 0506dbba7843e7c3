"""deepwas predict: a run's prior applied to a dataset reproduces the run's own SNPVAR, and refuses data
that lacks one of its features."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.evaluate.predict import feature_columns, predict_annotations, predict_dataset, read_saved_prior

from .conftest import TRAIT, base_config, train_in_process


@pytest.fixture(scope="module")
def finished_run(sim_dataset, tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    cfg = base_config(sim_dataset, str(storage), "pred", epochs=1, workers=1, model="linear",
                      jackknife="fixed", method="exact", accumulation=3)
    ds, *_ = train_in_process(cfg)
    return storage / "pred", ds


def _assert_same_snpvar(a, b) -> None:
    """The same rows and columns, and SNPVAR equal up to float32 rounding: the prior runs in float32, whose
    matrix products can round differently with the batch size (a chunk), and SNPVAR is written to 6
    significant digits, so the last digit may differ (seen once in CI with byte comparisons)."""
    x, y = _read(a), _read(b)
    pd.testing.assert_frame_equal(x.drop(columns="SNPVAR"), y.drop(columns="SNPVAR"))
    np.testing.assert_allclose(x["SNPVAR"].to_numpy(), y["SNPVAR"].to_numpy(), rtol=2e-5, atol=0)


def _read(path) -> pd.DataFrame:
    with gzip.open(path, "rt") as fh:
        return pd.read_csv(fh, sep="\t")


def test_predict_reproduces_the_runs_snpvar(finished_run, sim_dataset, tmp_path):
    run_dir, ds = finished_run
    out = tmp_path / "pred"
    summary = predict_dataset(str(run_dir), sim_dataset, str(out), log=lambda s: None)
    assert summary["snps"] == ds.n_snps and summary["features"] == list(ds.feature_names)
    for c in ds.chromosomes:
        got = _read(out / "snpvar" / f"{TRAIT}.{c}.snpvar.gz")
        want = _read(run_dir / "snpvar" / f"{TRAIT}.{c}.snpvar.gz")
        assert got["SNP"].tolist() == want["SNP"].tolist()
        np.testing.assert_allclose(got["SNPVAR"], want["SNPVAR"], rtol=1e-5)


def test_missing_feature_is_named_and_extra_ones_listed(finished_run):
    run_dir, ds = finished_run
    saved = read_saved_prior(str(run_dir))
    names = list(ds.feature_names)
    with pytest.raises(InputError, match=f"lacks the annotation\\(s\\) {names[0]}"):
        feature_columns(saved, names[1:], "data/x")
    need, ignored = feature_columns(saved, names + ["extra_col"], "data/x")
    assert need == names and ignored == ["extra_col"]
    assert saved["feature_mean"] == pytest.approx(ds.manifest.features.mean)


def test_a_run_without_model_pt_is_refused(tmp_path, sim_dataset):
    with pytest.raises(InputError, match="no model.pt"):
        predict_dataset(str(tmp_path), sim_dataset, str(tmp_path / "out"), log=lambda s: None)


# ------------------------------------------------------------------------------------------ --annot files
def _annot_files(ds, tmp_path, *, extra=True, new_per_chrom=50, drop=None, alleles=False, seed=0) -> list[str]:
    """One LDSC-style .annot.gz per chromosome: the dataset's SNPs (raw annotation values) interleaved with
    ``new_per_chrom`` SNPs the run never saw (random values, IDs new_<chr>_<i>), plus an ``extra`` column."""
    rng = np.random.default_rng(seed)
    names = list(ds.feature_names)
    paths = []
    for c in ds.chromosomes:
        snps = ds.snps(c, ["CHR", "SNP", "BP", "CM", "A1", "A2"] + names)
        new = snps.sample(new_per_chrom, random_state=int(seed + c)).reset_index(drop=True)
        new["SNP"] = [f"new_{c}_{i}" for i in range(len(new))]
        new["BP"] = new["BP"] + 1
        for n in names:
            new[n] = rng.permutation(snps[n].to_numpy())[:len(new)]
        tab = pd.concat([snps, new]).sort_values("BP", kind="stable").reset_index(drop=True)
        if extra:
            tab["extra_col"] = rng.normal(size=len(tab))
        cols = ["CHR", "BP", "SNP", "CM"] + (["A1", "A2"] if alleles else []) + \
            [n for n in names if n != drop] + (["extra_col"] if extra else [])
        path = tmp_path / f"baseline.{c}.annot.gz"
        tab[cols].to_csv(path, sep="\t", index=False)
        paths.append(str(path))
    return paths


def test_annot_superset_matches_the_runs_snpvar_on_shared_snps(finished_run, tmp_path):
    run_dir, ds = finished_run
    paths = _annot_files(ds, tmp_path)
    out = tmp_path / "pred"
    lines = []
    summary = predict_annotations(str(run_dir), paths, str(out), chunk_rows=500, log=lines.append)
    assert summary["snps"] == ds.n_snps + 50 * len(ds.chromosomes)
    assert summary["ignored_columns"] == ["extra_col"]
    assert any("ignored" in s and "extra_col" in s for s in lines)
    assert summary["chromosomes"] == list(ds.chromosomes)
    for c in ds.chromosomes:
        got = _read(out / "snpvar" / f"{TRAIT}.{c}.snpvar.gz")
        assert list(got.columns) == ["CHR", "SNP", "BP", "SNPVAR"]       # no A1/A2 in the annot: none written
        assert got["SNP"].str.startswith("new_").sum() == 50 and (got["CHR"] == c).all()
        want = _read(run_dir / "snpvar" / f"{TRAIT}.{c}.snpvar.gz").set_index("SNP")
        shared = got[got["SNP"].isin(want.index)]
        assert len(shared) == len(want)
        np.testing.assert_allclose(shared["SNPVAR"], want.loc[shared["SNP"], "SNPVAR"], rtol=1e-5)
        np.testing.assert_array_equal(shared["BP"], want.loc[shared["SNP"], "BP"])
        assert (got["SNPVAR"] > 0).all()


def test_annot_missing_feature_names_the_file_column_and_fix(finished_run, tmp_path):
    run_dir, ds = finished_run
    gone = ds.feature_names[1]
    paths = _annot_files(ds, tmp_path, drop=gone)
    with pytest.raises(InputError) as e:
        predict_annotations(str(run_dir), paths, str(tmp_path / "out"), log=lambda s: None)
    msg = str(e.value)
    assert paths[0] in msg and gone in msg and "--annot" in msg and "fix:" in msg
    assert not (tmp_path / "out").exists()                 # every file is checked before anything is written


def test_annot_non_numeric_value_names_file_line_snp_and_column(finished_run, tmp_path):
    run_dir, ds = finished_run
    paths = _annot_files(ds, tmp_path, extra=False)
    name = ds.feature_names[0]
    tab = pd.read_csv(paths[1], sep="\t", dtype={name: object})
    tab.loc[7, name] = "high"
    tab.to_csv(paths[1], sep="\t", index=False)
    with pytest.raises(InputError, match=f"{paths[1]}: annotation '{name}' is not numeric: value 'high' at line 9 "
                                         f"\\(SNP {tab.loc[7, 'SNP']}\\)"):
        predict_annotations(str(run_dir), paths, str(tmp_path / "out"), chunk_rows=5, log=lambda s: None)


def test_annot_chunked_equals_one_shot_and_reads_per_chunk(finished_run, tmp_path, monkeypatch):
    import deepwas_dist.evaluate.predict as P
    run_dir, ds = finished_run
    paths = _annot_files(ds, tmp_path, alleles=True)
    predict_annotations(str(run_dir), paths, str(tmp_path / "whole"), chunk_rows=10**9, log=lambda s: None)
    seen, calls = [], []
    real_iter, real_call = P.iter_annotation_chunks, P.Prior.__call__

    def counting_iter(*a, **k):
        for chunk in real_iter(*a, **k):
            seen.append(len(chunk.meta))
            yield chunk

    def counting_call(self, X, tracks=None):
        calls.append(len(X))
        return real_call(self, X, tracks)
    monkeypatch.setattr(P, "iter_annotation_chunks", counting_iter)
    monkeypatch.setattr(P.Prior, "__call__", counting_call)
    predict_annotations(str(run_dir), paths, str(tmp_path / "chunked"), chunk_rows=97, log=lambda s: None)
    rows = [len(pd.read_csv(p, sep="\t", usecols=["SNP"])) for p in paths]
    assert seen == calls and max(seen) == 97
    assert len(seen) == sum(-(-r // 97) for r in rows)       # ceil(rows / chunk) reads per file, each predicted
    for c in ds.chromosomes:
        name = f"snpvar/{TRAIT}.{c}.snpvar.gz"
        _assert_same_snpvar(tmp_path / "chunked" / name, tmp_path / "whole" / name)
    got = _read(tmp_path / "chunked" / f"snpvar/{TRAIT}.{ds.chromosomes[0]}.snpvar.gz")
    assert list(got.columns) == ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR"]


def test_annot_parquet_and_one_genome_wide_file(finished_run, tmp_path):
    run_dir, ds = finished_run
    paths = _annot_files(ds, tmp_path, alleles=True)
    whole = pd.concat([pd.read_csv(p, sep="\t", dtype={"SNP": str}) for p in paths], ignore_index=True)
    whole.to_parquet(tmp_path / "all.parquet")
    predict_annotations(str(run_dir), paths, str(tmp_path / "txt"), log=lambda s: None)
    predict_annotations(str(run_dir), [str(tmp_path / "all.parquet")], str(tmp_path / "pq"), chunk_rows=333,
                        log=lambda s: None)
    for c in ds.chromosomes:
        name = f"snpvar/{TRAIT}.{c}.snpvar.gz"
        _assert_same_snpvar(tmp_path / "pq" / name, tmp_path / "txt" / name)
    shuffled = whole.sample(frac=1.0, random_state=0)
    shuffled.to_parquet(tmp_path / "shuffled.parquet")
    with pytest.raises(InputError, match="after those of another chromosome; .* fix: sort the file by CHR"):
        predict_annotations(str(run_dir), [str(tmp_path / "shuffled.parquet")], str(tmp_path / "sh"),
                            log=lambda s: None)


def test_annot_thin_file_is_refused_with_the_fix(finished_run, tmp_path):
    run_dir, ds = finished_run
    thin = tmp_path / "thin.1.annot.gz"
    ds.snps(ds.chromosomes[0], list(ds.feature_names)).to_csv(thin, sep="\t", index=False)
    with pytest.raises(InputError, match="no CHR, SNP, BP column.*fix: give the full annot"):
        predict_annotations(str(run_dir), [str(thin)], str(tmp_path / "out"), log=lambda s: None)


def test_dataset_chunked_equals_whole_chromosome(finished_run, sim_dataset, tmp_path):
    run_dir, ds = finished_run
    predict_dataset(str(run_dir), sim_dataset, str(tmp_path / "a"), log=lambda s: None)
    predict_dataset(str(run_dir), sim_dataset, str(tmp_path / "b"), chunk_rows=101, log=lambda s: None)
    for c in ds.chromosomes:
        name = f"snpvar/{TRAIT}.{c}.snpvar.gz"
        _assert_same_snpvar(tmp_path / "a" / name, tmp_path / "b" / name)


def test_cli_annot_or_data_one_required_and_errors_in_one_line(finished_run, sim_dataset, tmp_path, capsys):
    from deepwas_dist.commands.predict import main
    run_dir, ds = finished_run
    for argv in (["r", "--out", "o"], ["r", "--data", "d", "--annot", "a", "--out", "o"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    err = capsys.readouterr().err
    assert "one of the arguments --data --annot is required" in err and "not allowed with argument" in err
    paths = _annot_files(ds, tmp_path, drop=ds.feature_names[0])
    assert main([str(run_dir), "--annot", *paths, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {paths[0]} (--annot) lacks the annotation(s) {ds.feature_names[0]}") and \
        "\n" not in err
    paths = _annot_files(ds, tmp_path)
    assert main([str(run_dir), "--annot", *paths, "--out", str(tmp_path / "o"), "--chunk-rows", "300"]) == 0
    assert sorted(p.name for p in (tmp_path / "o" / "snpvar").iterdir()) == \
        sorted(f"{TRAIT}.{c}.snpvar.gz" for c in ds.chromosomes)
