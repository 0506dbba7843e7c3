"""The test cohort of a simulation: people to score polygenic scores on, with their true genetic values.

``SimulationSpec.n_test`` > 0 (``prepare simulate --test-individuals N``) adds N people to each
chromosome's msprime run (:func:`~deepwas_dist.simulate.genotypes.simulate_with_test`): same population
and genealogy as the reference panel and the GWAS cohort, disjoint from both. Their genotypes never
enter LD, z or the SNP filter.

Storage: beside the dataset, not inside it, at ``<dataset URL>.testcohort/`` (a dataset directory holds
only the files its manifest lists; ``prepare gc`` deletes the rest), any fsspec URL:

    chr<c>.npz       genotypes (n, M_c) int8 copies of A1, in the dataset's SNP order of chromosome c;
                     snp (M_c,) ids; per trait beta_<trait> (M_c,) true per-allele effects and g_<trait>
                     (n,) the chromosome's part of the true genetic value
    phenotypes.tsv   IID, then per trait g_<trait> (genome-wide true genetic value) and y_<trait>
    meta.json        n, traits {name: h2}, seed, chromosomes, dataset_write_id (the dataset's manifest
                     write id: a re-simulated dataset with a stale test cohort is refused on open)

About n x M bytes of genotypes before compression (2,000 people x 15,000 SNPs: 30 MB raw, less zipped).

Maths. The simulated GWAS trait is y = X beta + e on the genotypes X of the sample that gave z its LD
(the GWAS cohort out-of-sample, the panel in-sample), standardised by that sample's allele frequencies
(:mod:`~deepwas_dist.simulate.traits`: b = sqrt(N) beta, beta ~ N(0, diag f), drawn from the seed of
(seed, trait, chromosome), :func:`~deepwas_dist.simulate.traits.chrom_beta`). Per copy of A1 the effect is
beta_j / sd_j, sd_j that sample's genotype sd. A test person's true genetic value is

    g_i = sum_j (G_ij - mean_j) beta_j / sd_j          (mean_j the test cohort's own: g is centred)

summed over every chromosome, and the phenotype y_i = g_i + e_i with e_i ~ N(0, 1 - h2), drawn from
the stream (seed, trait, TEST_STREAM): E[Var g] = sum_j f_j R_jj = h2 over the draw of beta, so Var(y)
is 1 on average, the scale the GWAS was simulated on.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..data.schema import SNP
from ..data.storage import filesystem, join, read_json, storage_errors, write_bytes
from ..errors import InputError
from .genotypes import ChromPanel
from .seeds import key, rng
from .traits import TraitSpec, chrom_beta

#: Seed stream of the test cohort's environmental noise (after the trait's key).
TEST_STREAM = 7_001
SUFFIX = ".testcohort"
META, PHENOTYPES = "meta.json", "phenotypes.tsv"


def cohort_location(dataset_url: str) -> str:
    """Where the test cohort of the dataset at ``dataset_url`` lives: ``<dataset_url>.testcohort``."""
    return dataset_url.rstrip("/") + SUFFIX


class TestCohortWriter:
    """Writes a test cohort chromosome by chromosome (:meth:`add`), then its phenotypes (:meth:`close`)."""

    __test__ = False                                   # not a pytest class

    def __init__(self, dataset_url: str, specs: Sequence[TraitSpec], seed: int, n: int,
                 storage_options: dict | None = None):
        self.url = cohort_location(dataset_url)
        self.fs, self.root = filesystem(self.url, storage_options)
        self.specs, self.seed, self.n = tuple(specs), int(seed), int(n)
        self.g = {s.name: np.zeros(self.n) for s in self.specs}
        self.chroms: list[int] = []
        with storage_errors(self.url, "write"):
            if self.fs.exists(join(self.root, META)):
                self.fs.rm(join(self.root, META))      # the old cohort is invalid from here on

    def add(self, test: ChromPanel, z_sd: np.ndarray, fs: Sequence[np.ndarray]) -> None:
        """One chromosome: the test people's genotypes ``test``, the genotype sd (M_c,) of the sample z was
        drawn from, and each trait's f there (``fs``, in ``specs`` order)."""
        if test.n_individuals != self.n:
            raise InputError(f"test cohort has {test.n_individuals} people, expected {self.n}")
        arrays: dict[str, np.ndarray] = {"genotypes": test.genotypes.astype(np.int8),
                                         "snp": test.snps[SNP].to_numpy().astype(str)}
        G = test.genotypes.astype(np.float64)
        G -= G.mean(axis=0)
        for spec, beta in zip(self.specs, chrom_beta(test.chrom, fs, self.specs, self.seed)):
            per_allele = beta / np.asarray(z_sd, dtype=np.float64)
            g_c = G @ per_allele
            arrays[f"beta_{spec.name}"], arrays[f"g_{spec.name}"] = per_allele, g_c
            self.g[spec.name] += g_c
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        write_bytes(self.fs, join(self.root, f"chr{test.chrom}.npz"), buf.getvalue(), self.url)
        self.chroms.append(test.chrom)

    def close(self, dataset_write_id: str) -> None:
        """Draw the phenotypes and write them and the metadata (last: an incomplete cohort has none)."""
        ph = pd.DataFrame({"IID": [f"test{i}" for i in range(self.n)]})
        for spec in self.specs:
            e = rng(self.seed, key(spec.name), TEST_STREAM).standard_normal(self.n) * np.sqrt(1.0 - spec.h2)
            ph[f"g_{spec.name}"] = self.g[spec.name]
            ph[f"y_{spec.name}"] = self.g[spec.name] + e
        write_bytes(self.fs, join(self.root, PHENOTYPES), ph.to_csv(sep="\t", index=False).encode(), self.url)
        meta = {"n": self.n, "traits": {s.name: s.h2 for s in self.specs}, "seed": self.seed,
                "chromosomes": self.chroms, "dataset_write_id": dataset_write_id}
        write_bytes(self.fs, join(self.root, META), json.dumps(meta, indent=1).encode(), self.url)


@dataclass
class TestCohort:
    """A written test cohort (:func:`open_test_cohort`): ``phenotypes`` has IID, g_<trait>, y_<trait>."""

    __test__ = False

    url: str
    n: int
    traits: dict[str, float]
    chromosomes: list[int]
    phenotypes: pd.DataFrame
    storage_options: dict | None = None

    def chromosome(self, chrom: int) -> dict[str, np.ndarray]:
        """Chromosome ``chrom``'s arrays: genotypes (n, M_c) int8, snp, beta_<trait>, g_<trait>."""
        if chrom not in self.chromosomes:
            raise InputError(f"{self.url}: no chromosome {chrom} in the test cohort (has {self.chromosomes})")
        fs, root = filesystem(self.url, self.storage_options)
        with storage_errors(self.url, "read"):
            raw = fs.cat_file(join(root, f"chr{chrom}.npz"))
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def open_test_cohort(dataset_url: str, write_id: str | None = None,
                     storage_options: dict | None = None) -> TestCohort:
    """The test cohort of the dataset at ``dataset_url``; ``write_id`` (the dataset manifest's) guards
    against a cohort left from an earlier simulation at that URL."""
    url = cohort_location(dataset_url)
    fs, root = filesystem(url, storage_options)
    if not fs.exists(join(root, META)):
        raise InputError(f"{url}: no test cohort; fix: simulate the dataset with a test cohort "
                         "(prepare simulate --test-individuals N)")
    meta = read_json(fs, join(root, META), url)
    if write_id is not None and meta.get("dataset_write_id") != write_id:
        raise InputError(f"{url}: the test cohort belongs to another version of the dataset; fix: re-simulate "
                         "with --test-individuals N --overwrite")
    with storage_errors(url, "read"):
        ph = pd.read_csv(io.BytesIO(fs.cat_file(join(root, PHENOTYPES))), sep="\t")
    return TestCohort(url=url, n=int(meta["n"]), traits=dict(meta["traits"]),
                      chromosomes=[int(c) for c in meta["chromosomes"]], phenotypes=ph,
                      storage_options=storage_options)
