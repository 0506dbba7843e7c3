"""GWAS z-scores drawn from the model of DESIGN.md section 1, with the LD of a given sample's genotypes.

With standardised genotypes X (n x M, standardised by the sample's own allele frequencies), R_X = X^T X / n.
For b = sqrt(N) beta ~ N(0, diag(N f)),

    z = R_X b + e = X^T (X b) / n + X^T g / sqrt(n),   g ~ N(0, sigma I_n),

so Cov(e) = sigma R_X exactly and z ~ N(0, R_X S R_X + sigma R_X) with S = N diag(f). R_X is never formed;
X is standardised in blocks of rows (z is a sum over rows of X_rows^T (X_rows b / n + g_rows / sqrt(n))),
so memory stays bounded for large samples. N is the trait's nominal GWAS size, not n.

Which sample gives z its LD is the simulation's *design* (:data:`DESIGNS`):

  * ``out-of-sample`` (the real situation): X is the GWAS cohort's genotypes, R_X = R_c, while the stored
    LD R comes from a separate, smaller reference panel of the same population. The fitted model's
    Sigma = R S R + sigma R is then only approximately z's covariance R_c S R_c + sigma R_c.
  * ``in-sample``: X is the reference panel itself, R_X = R: z follows the fitted model exactly (and
    carries the panel's spurious long-range LD, r ~ 1/sqrt(n_ref), which the slices' flanks cut off).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from ..data.schema import SNP
from ..errors import InputError
from .features import Features
from .genotypes import ChromPanel
from .seeds import derive_seed, key
from .truth import TRUTH_KINDS, Truth, make_truth


@dataclass(frozen=True)
class TraitSpec:
    """One simulated trait: total heritability ``h2`` (0, 1], GWAS sample size ``N``, noise scale ``sigma``
    (1 = no confounding), ground-truth ``truth`` kind and keyword options for its builder."""

    name: str
    h2: float
    N: float
    sigma: float = 1.0
    truth: str = "linear"
    truth_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.h2 <= 1.0:
            raise InputError(f"trait {self.name}: h2 must be in (0, 1], got {self.h2}")
        if not self.N > 0 or not self.sigma > 0:
            raise InputError(f"trait {self.name}: N and sigma must be positive, got N={self.N}, sigma={self.sigma}")
        if self.truth not in TRUTH_KINDS:
            raise InputError(f"trait {self.name}: unknown truth {self.truth!r}; use one of {TRUTH_KINDS}")


#: Which sample's genotypes give the z-scores their LD (module docstring).
DESIGNS = ("out-of-sample", "in-sample")
#: Float64 genotype block of draw_z (bytes): a panel of n * M * 8 bytes up to this is one block.
BLOCK_BYTES = 64 * 2**20

#: A default set of traits with different heritabilities, sample sizes and truths. On the default panel
#: (3 x 5 Mb, LD scores about 10) mean chi^2 is roughly 1 + 10 N h2 / M, i.e. about 4-10.
DEFAULT_TRAITS = (
    TraitSpec("sim_linear", h2=0.3, N=20_000, truth="linear"),
    TraitSpec("sim_threshold", h2=0.2, N=10_000, truth="threshold"),
    TraitSpec("sim_network", h2=0.4, N=20_000, sigma=1.1, truth="network"),
)


@dataclass(frozen=True)
class SimulatedTrait:
    """Per-chromosome z-scores and true f of one trait (panel order), plus its Truth.

    Unpacks as ``z, f = trait``. z[c] is (M_c,) float64 (unitless z-scores), f[c] is (M_c,) float64 per-SNP
    heritability; the f of all chromosomes sum to h2.
    """

    z: list[np.ndarray]
    f: list[np.ndarray]
    truth: Truth

    def __iter__(self) -> Iterator[list[np.ndarray]]:
        return iter((self.z, self.f))


def draw_z(panel: ChromPanel, f: np.ndarray, N: float, sigma: float = 1.0, seed: int = 0,
           n_draws: int | None = None, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Draw z-scores for one chromosome: (M,) when ``n_draws`` is None, else (M, n_draws) independent draws.

    ``panel`` holds the genotypes whose LD z gets (the reference panel in-sample, the GWAS cohort
    out-of-sample), ``f`` is the (M,) per-SNP heritability, ``N`` the GWAS sample size, ``sigma`` the
    noise scale. Genotypes are standardised ``block_bytes`` of float64 at a time; when one block holds all
    rows the result is bit-identical to the unblocked X^T (X b / n + g / sqrt(n)).
    """
    return draw_z_traits(panel, [(f, N, sigma, seed)], n_draws, block_bytes)[0]


def draw_z_traits(panel: ChromPanel, traits: Sequence[tuple[np.ndarray, float, float, int]],
                  n_draws: int | None = None, block_bytes: int = BLOCK_BYTES) -> list[np.ndarray]:
    """:func:`draw_z` for several traits (f, N, sigma, seed) on one chromosome, standardising the genotypes
    once for all of them; entry t equals ``draw_z(panel, *traits[t], n_draws, block_bytes)``."""
    n, M = panel.genotypes.shape
    d = 1 if n_draws is None else int(n_draws)
    draws = []
    for f, N, sigma, seed in traits:
        f = np.asarray(f, dtype=np.float64)
        if f.shape != (M,):
            raise InputError(f"f must have shape ({M},) to match the panel, got {f.shape}")
        if np.any(f < 0) or not np.all(np.isfinite(f)):
            raise InputError("f must be finite and non-negative")
        if not N >= 0 or not sigma > 0:
            raise InputError(f"N must be >= 0 and sigma > 0, got N={N}, sigma={sigma}")
        g = np.random.default_rng(seed)
        b = _effects(g, f, N, d)                                  # sqrt(N) beta ~ N(0, N diag f)
        draws.append((b, g.standard_normal((n, d)) * np.sqrt(sigma)))
    rows = max(1, int(block_bytes) // (8 * M))
    if rows >= n:                                             # one block
        X = panel.standardized()
        zs = [X.T @ (X @ b / n + e / np.sqrt(n)) for b, e in draws]
    else:
        mean, sd = panel.column_scale()
        zs = [np.zeros((M, d)) for _ in draws]
        for lo in range(0, n, rows):
            X = panel.genotypes[lo:lo + rows].astype(np.float64)
            X -= mean
            X /= sd
            for z, (b, e) in zip(zs, draws):
                z += X.T @ (X @ b / n + e[lo:lo + rows] / np.sqrt(n))
    return [z[:, 0] if n_draws is None else z for z in zs]


def _effects(g: np.random.Generator, f: np.ndarray, N: float, d: int) -> np.ndarray:
    """(M, d) sqrt(N) beta ~ N(0, N diag f): the first draw of a trait's stream (draw_z_traits, true_beta)."""
    return np.sqrt(N * f)[:, None] * g.standard_normal((f.shape[0], d))


def true_beta(f: np.ndarray, N: float, seed: int) -> np.ndarray:
    """(M,) the true effects beta per standardised genotype that :func:`draw_z` with the same (f, N, seed)
    and one draw put into its z (b / sqrt(N), the same random numbers); 0 where f is 0."""
    f = np.asarray(f, dtype=np.float64)
    return _effects(np.random.default_rng(seed), f, N, 1)[:, 0] / np.sqrt(N) if N > 0 else np.zeros_like(f)


def simulate_traits(panels: Sequence[ChromPanel], features: Features, specs: Sequence[TraitSpec],
                    seed: int = 0, cohorts: Sequence[ChromPanel] | None = None) -> dict[str, SimulatedTrait]:
    """Simulate every trait of ``specs`` on ``panels``. ``features`` covers all SNPs of the panels in
    order; each trait's truth is built on them and its f sums to h2 across all chromosomes. z gets the LD
    of ``cohorts`` (one per panel, same SNPs: out-of-sample) or, when None, of the panels (in-sample).
    Seeds derive from (seed, trait name[, chromosome]), so a trait does not change when other traits are
    added, and both designs use the same effects b for the same seed."""
    sizes = [p.n_snps for p in panels]
    if features.n_snps != sum(sizes):
        raise InputError(f"features have {features.n_snps} SNPs but the panels have {sum(sizes)}")
    panel_snps = np.concatenate([p.snps[SNP].to_numpy() for p in panels])
    if not np.array_equal(panel_snps.astype(str), np.asarray(features.snp).astype(str)):
        raise InputError("features' SNPs are not the panels' SNPs in panel order")
    if cohorts is not None:
        if len(cohorts) != len(panels):
            raise InputError(f"got {len(cohorts)} cohorts for {len(panels)} panels; give one per chromosome")
        for p, c in zip(panels, cohorts):
            if not np.array_equal(p.snps[SNP].to_numpy(), c.snps[SNP].to_numpy()):
                raise InputError(f"chr{p.chrom}: the cohort's SNPs are not the panel's SNPs in panel order")
    if len({s.name for s in specs}) != len(specs):
        raise InputError("trait names must be unique")
    truths, fs = true_effects(features, specs, seed, sizes)
    zs: list[list[np.ndarray]] = [[] for _ in specs]
    for i, x in enumerate(panels if cohorts is None else cohorts):   # one chromosome's genotypes at a time
        for z, zc in zip(zs, chrom_z(x, [f[i] for f in fs], specs, seed)):
            z.append(zc)
    return {spec.name: SimulatedTrait(z, f, truth) for spec, z, f, truth in zip(specs, zs, fs, truths)}


def true_effects(features: Features, specs: Sequence[TraitSpec], seed: int, sizes: Sequence[int]
                 ) -> tuple[list[Truth], list[list[np.ndarray]]]:
    """Each trait's Truth, built on the whole genome's ``features``, and its f split into chromosomes of
    ``sizes`` SNPs: (truths, fs) with fs[t][c] the (sizes[c],) f of trait t on chromosome c."""
    bounds = np.cumsum([0, *sizes])
    truths, fs = [], []
    for spec in specs:
        truth = make_truth(spec.truth, features, spec.h2, derive_seed(seed, key(spec.name)), name=spec.name,
                           **spec.truth_options)
        f_all = truth.f(features)
        truths.append(truth)
        fs.append([f_all[bounds[i]:bounds[i + 1]] for i in range(len(sizes))])
    return truths, fs


def chrom_z(x: ChromPanel, fs: Sequence[np.ndarray], specs: Sequence[TraitSpec], seed: int) -> list[np.ndarray]:
    """z of every trait of ``specs`` on one chromosome, with the LD of the genotypes ``x`` (the cohort
    out-of-sample, the panel in-sample) and fs[t] that trait's f there; the seeds derive from (seed, trait
    name, chromosome), so the result does not depend on where or in which order chromosomes run."""
    per_trait = [(f, spec.N, spec.sigma, derive_seed(seed, key(spec.name), x.chrom)) for spec, f in zip(specs, fs)]
    return draw_z_traits(x, per_trait)


def chrom_beta(chrom: int, fs: Sequence[np.ndarray], specs: Sequence[TraitSpec], seed: int) -> list[np.ndarray]:
    """The true effects (per standardised genotype of the sample z was drawn from) that :func:`chrom_z` put
    into every trait's z on chromosome ``chrom``: fs[t] that trait's f there."""
    return [true_beta(f, spec.N, derive_seed(seed, key(spec.name), chrom)) for spec, f in zip(specs, fs)]
