"""GWAS z-scores drawn from the model of DESIGN.md section 1, using the panel's genotypes for LD.

With standardised panel genotypes X (n_ref x M), R = X^T X / n_ref. For b = sqrt(N) beta ~ N(0, diag(N f))

    z = R b + e = X^T (X b) / n_ref + X^T g / sqrt(n_ref),   g ~ N(0, sigma I_{n_ref}),

so Cov(e) = sigma R exactly and z ~ N(0, R S R + sigma R) with S = N diag(f). R is never formed.
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
           n_draws: int | None = None) -> np.ndarray:
    """Draw z-scores for one chromosome: (M,) when ``n_draws`` is None, else (M, n_draws) independent draws.

    ``f`` is the (M,) per-SNP heritability, ``N`` the GWAS sample size, ``sigma`` the noise scale.
    """
    f = np.asarray(f, dtype=np.float64)
    if f.shape != (panel.n_snps,):
        raise InputError(f"f must have shape ({panel.n_snps},) to match the panel, got {f.shape}")
    if np.any(f < 0) or not np.all(np.isfinite(f)):
        raise InputError("f must be finite and non-negative")
    if not N >= 0 or not sigma > 0:
        raise InputError(f"N must be >= 0 and sigma > 0, got N={N}, sigma={sigma}")
    d = 1 if n_draws is None else int(n_draws)
    X = panel.standardized()
    n = X.shape[0]
    g = np.random.default_rng(seed)
    b = np.sqrt(N * f)[:, None] * g.standard_normal((panel.n_snps, d))   # sqrt(N) beta ~ N(0, N diag f)
    e = g.standard_normal((n, d)) * np.sqrt(sigma)
    z = X.T @ (X @ b / n + e / np.sqrt(n))
    return z[:, 0] if n_draws is None else z


def simulate_traits(panels: Sequence[ChromPanel], features: Features, specs: Sequence[TraitSpec],
                    seed: int = 0) -> dict[str, SimulatedTrait]:
    """Simulate every trait of ``specs`` on ``panels``. ``features`` covers all SNPs of the panels in
    order; each trait's truth is built on them and its f sums to h2 across all chromosomes. Seeds derive
    from (seed, trait name[, chromosome]), so a trait does not change when other traits are added."""
    sizes = [p.n_snps for p in panels]
    if features.n_snps != sum(sizes):
        raise InputError(f"features have {features.n_snps} SNPs but the panels have {sum(sizes)}")
    panel_snps = np.concatenate([p.snps[SNP].to_numpy() for p in panels])
    if not np.array_equal(panel_snps.astype(str), np.asarray(features.snp).astype(str)):
        raise InputError("features' SNPs are not the panels' SNPs in panel order")
    if len({s.name for s in specs}) != len(specs):
        raise InputError("trait names must be unique")
    bounds = np.cumsum([0, *sizes])
    out = {}
    for spec in specs:
        tk = key(spec.name)
        truth = make_truth(spec.truth, features, spec.h2, derive_seed(seed, tk), name=spec.name,
                           **spec.truth_options)
        f_all = truth.f(features)
        f = [f_all[bounds[i]:bounds[i + 1]] for i in range(len(panels))]
        z = [draw_z(p, fc, spec.N, spec.sigma, seed=derive_seed(seed, tk, p.chrom)) for p, fc in zip(panels, f)]
        out[spec.name] = SimulatedTrait(z, f, truth)
    return out
