"""Apply a trained prior to the SNPs of any dataset that carries its features (``deepwas predict``).

A run's ``model.pt`` records the prior network, the names of the annotations it reads and the training
dataset's standardisation of each (mean and sd, from that dataset's manifest). Prediction reads the raw
annotation columns of another dataset (for example every imputed SNP, when training used HapMap3),
standardises them with the *training* statistics, so a SNP gets the f it would have had in training, and
writes PolyFun-format prior variances per chromosome and trait:

    <out>/snpvar/<trait>.<chr>.snpvar.gz      CHR SNP BP A1 A2 SNPVAR      (SNPVAR = f_j)

One chromosome's SNP table is in memory at a time. A feature the model needs but the dataset lacks is an
error naming it; the dataset's other annotation columns are listed and ignored. Priors on track windows
(conv) are not supported here yet.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..data import schema as S
from ..data.reader import Dataset
from ..data.storage import filesystem, join
from ..errors import InputError
from ..models import load_saved_prior
from .report import gzip_tsv

SNPVAR_COLUMNS = ("CHR", "SNP", "BP", "A1", "A2", "SNPVAR")


def read_saved_prior(run_url: str, storage_options: dict | None = None) -> dict:
    """The run's model.pt as a dict (tensors and plain values only: loaded with ``weights_only=True``)."""
    fs, root = filesystem(run_url, storage_options)
    path = join(root, "model.pt")
    if not fs.exists(path):
        raise InputError(f"{run_url}: no model.pt; pass the directory of a finished run (deepwas train), or "
                         f"write it with `deepwas evaluate {run_url}`")
    with fs.open(path, "rb") as fh:
        data = fh.read()
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:          # an unpickling error names the first object that is not plain data
        raise InputError(f"{path}: not a model.pt of deepwas_dist that loads safely ({type(e).__name__}); "
                         "re-evaluate the run to rewrite it") from None


def feature_columns(saved: dict, available: list[str], where: str) -> tuple[list[str], list[str]]:
    """(the model's features, in its order; the dataset's annotation columns it ignores). Missing ones:
    InputError naming them."""
    need = list(saved.get("feature_names") or [])
    if len(need) != int(saved["n_features"]):
        raise InputError(f"{where}: model.pt does not record its feature names; re-evaluate the run "
                         "(deepwas evaluate RUN) to rewrite model.pt")
    missing = [f for f in need if f not in available]
    if missing:
        raise InputError(f"{where} lacks the annotation(s) {', '.join(missing)} that the prior was trained on; "
                         "add them (deepwas prepare annotations ...) under the same names")
    return need, [f for f in available if f not in need]


def predict_dataset(run_url: str, data_url: str, out: str, *, storage_options: dict | None = None,
                    data_storage_options: dict | None = None, out_storage_options: dict | None = None,
                    log: Callable[[str], None] = print) -> dict:
    """Write ``out``/snpvar/ for every chromosome and trait of the run; returns a summary dict."""
    saved = read_saved_prior(run_url, storage_options)
    if saved.get("tracks_shape"):
        raise InputError(f"{run_url}: the prior reads track windows (conv); deepwas predict supports annotation-"
                         "only priors (constant, linear, mlp) so far")
    mean, std = saved.get("feature_mean"), saved.get("feature_std")
    if saved["n_features"] and (mean is None or std is None):
        raise InputError(f"{run_url}/model.pt predates stored feature standardisation; re-evaluate the run "
                         f"(deepwas evaluate {run_url}) to rewrite it")
    net = load_saved_prior(saved)
    net.eval()
    ds = Dataset.open(data_url, data_storage_options)
    names, ignored = feature_columns(saved, list(ds.feature_names), data_url)
    traits = list(saved.get("traits") or [f"trait{t}" for t in range(net.n_traits)])
    fs, root = filesystem(out, out_storage_options)
    n = 0
    for c in ds.chromosomes:
        snps = ds.snps(c, list(S.SNP_COLUMNS) + names)
        X = snps[names].to_numpy(np.float64)
        if names:
            X = (X - np.asarray(mean, dtype=np.float64)) / np.asarray(std, dtype=np.float64)
        with torch.no_grad():
            f = net(torch.from_numpy(X.astype(np.float32)), None).double().exp().numpy()
        for t, name in enumerate(traits):
            df = pd.DataFrame({k: snps[k].to_numpy() for k in SNPVAR_COLUMNS[:-1]})
            df["SNPVAR"] = f[:, t]
            path = join(root, f"snpvar/{name}.{c}.snpvar.gz")
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with fs.open(path, "wb") as fh:
                fh.write(gzip_tsv(df))
        n += len(snps)
        log(f"[predict] chr{c}: {len(snps):,} SNPs")
    summary = {"run": run_url, "data": data_url, "out": out, "snps": n, "chromosomes": list(ds.chromosomes),
               "traits": traits, "features": names, "ignored_columns": ignored}
    if ignored:
        log(f"[predict] annotation columns the prior does not use (ignored): {', '.join(ignored)}")
    log(f"[predict] wrote {out.rstrip('/')}/snpvar/ for {len(traits)} trait(s), {n:,} SNPs")
    return summary
