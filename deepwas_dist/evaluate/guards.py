"""Guard rails: warnings about a fitted prior that its metrics table alone does not make obvious.

Each check looks at one trait's fitted numbers and returns :class:`GuardWarning` s (a code and a message
saying the likely cause and what to try). They are printed under the summary table of ``train.py`` and
``evaluate.py`` and stored in ``metrics.json`` as ``traits.<trait>.warnings``. Thresholds and why:

- ``h2_collapsed``: predicted h2 (sum of f over the dataset's SNPs) below ``H2_COLLAPSE_FRACTION`` (1%) of
  the trait's LDSC-style moment estimate ``(mean chi2 - 1) M / (N mean LD score)`` (computed by
  ``train.plan.trait_scales``), or below the absolute floor ``H2_FLOOR``. A prior that explains under 1% of
  the heritability the z-scores' inflation implies has fitted the null: with a small reference panel the
  whitened likelihood amplifies LD mismatch in the panel's weakest eigen-directions, and the cheapest
  fit is f -> 0 with sigma absorbing everything (the README's chr22 height table without shrinkage). Its
  held-out gain is that of a null-like fit, and its enrichments are ratios of near-zero numbers, so the
  enrichment table's standard errors and p-values are set to NaN (:func:`mask_collapsed_enrichment`).
  The floor catches a collapse when the moment estimate is itself <= 0 (mean chi2 <= 1).
- ``sigma_low`` / ``sigma_high``: sigma is the null variance of z (LDSC's intercept). A well-calibrated
  GWAS has an intercept of about 1 to 1.2; ``SIGMA_LOW`` (0.7) means the z-scores vary less than sampling
  noise allows (wrong N/SE, shrunk or imputed statistics) or, more often, that the prior took over null
  variance: on chr22 height with 1000G LD shrunk by 0.1, sigma 0.39 came with h2 6x the moment estimate;
  ``SIGMA_HIGH`` (2) is beyond any plausible confounding and usually means sigma is absorbing LD mismatch
  or the flanks cut off real LD (a too-small ``--bandwidth``; in simulations, the small panel's long-range
  spurious LD).
- ``sigma_imprecise``: with ``--sigma sldsc`` (the default) or ``ldsc`` sigma is held at the LD score
  regression intercept of the training slices; an intercept SE above ``SIGMA_SE_HIGH`` (0.1, half the width of the
  usual 1-1.2 range) means too few SNPs to pin it down (one chromosome: SE 0.22 on chr22 height), and h2
  moves with it (there, +-1 SE of sigma moved h2 from 0.0047 to 0.0090). The refit jackknife's SEs
  include this uncertainty; a genome-wide intercept (S-LDSC, SE ~0.01) passed as ``--sigma VALUE`` removes it.
- ``lambda_high``: the per-trait LD-mismatch variance lambda (z_C ~ N(0, ... + lambda I), SuSiE-RSS's
  residual; None when the model has none) above ``LAMBDA_HIGH`` (1, in z^2 units): the mismatch noise
  is larger than the null variance of a z-score itself, so the panel hardly describes the cohort's LD.
  A negative or non-finite lambda is reported as ``lambda_invalid``.
- ``nothing_held_out``: no held-out slice, so held-out NLLs are NaN and every other number is a
  training-data number.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

#: h2 below this fraction of the moment estimate counts as a collapse to the null.
H2_COLLAPSE_FRACTION = 0.01
#: ... and so does h2 below this absolute value (whatever the moment estimate).
H2_FLOOR = 1e-4
#: Plausible range of sigma (the LDSC-intercept-like null variance of z).
SIGMA_LOW, SIGMA_HIGH = 0.7, 2.0
#: A --sigma ldsc intercept with a larger jackknife SE is too imprecise to hold sigma at without a warning.
SIGMA_SE_HIGH = 0.1
#: Largest plausible LD-mismatch variance lambda, in z^2 units.
LAMBDA_HIGH = 1.0
#: Enrichment columns that are estimates of uncertainty (set to NaN for a collapsed fit).
UNCERTAINTY_COLUMNS = ("Prop._h2_std_error", "Enrichment_std_error", "Enrichment_p")

HOLDOUT_FIX = "hold out with --holdout-chroms 6,7,8 (whole chromosomes) or --holdout-blocks K (within chromosomes)"


@dataclass(frozen=True)
class GuardWarning:
    """One warning: a stable code (for scripts) and a message for people."""

    code: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TraitFit:
    """The fitted numbers of one trait that the guards look at."""

    trait: str
    h2: float
    sigma: float
    heldout_slices: int
    h2_moment: float | None = None      # LDSC-style moment estimate (None: unknown)
    lam: float | None = None            # LD-mismatch variance (None: the model has none)
    sigma_mode: str = "learn"           # --sigma: learn | ldsc | fixed
    sigma_se: float | None = None       # --sigma ldsc: the intercept's jackknife SE


def mismatch_fix(fit: TraitFit) -> str:
    """What to try against LD mismatch, given whether the fit already learned lambda and how sigma was set."""
    if fit.lam is None:
        return "try --mismatch learn"
    if fit.sigma_mode == "learn":
        return (f"lambda is already learned ({fit.lam:.3g}); hold sigma at the LD score regression intercept "
                "(--sigma sldsc, the default; on chr22 height it brought h2 to S-LDSC's) or at an S-LDSC "
                "intercept (--sigma VALUE)")
    return (f"lambda is already learned ({fit.lam:.3g}) and sigma held ({fit.sigma_mode}); if S-LDSC gives a "
            "genome-wide intercept for these z-scores, pass it as --sigma VALUE")


def collapse_threshold(h2_moment: float | None) -> float:
    """h2 below this is a collapse: max(H2_FLOOR, H2_COLLAPSE_FRACTION * moment estimate)."""
    if h2_moment is None or not math.isfinite(h2_moment) or h2_moment <= 0:
        return H2_FLOOR
    return max(H2_FLOOR, H2_COLLAPSE_FRACTION * h2_moment)


def h2_collapsed(fit: TraitFit) -> bool:
    return not math.isfinite(fit.h2) or fit.h2 < collapse_threshold(fit.h2_moment)


def check_h2(fit: TraitFit) -> list[GuardWarning]:
    if not h2_collapsed(fit):
        return []
    ref = (f"{H2_COLLAPSE_FRACTION:.0%} of the moment estimate {fit.h2_moment:.3g} "
           f"((mean chi2 - 1) M / (N mean LD score))" if fit.h2_moment is not None and fit.h2_moment > 0
           else f"the floor {H2_FLOOR:g} (moment estimate {fit.h2_moment})")
    return [GuardWarning("h2_collapsed", f"predicted h2 {fit.h2:.3g} is below {ref}: the prior collapsed to "
                         "the null (f -> 0, sigma absorbs the signal), so its held-out gain and enrichments "
                         f"say little. Likely cause: LD panel and GWAS cohort do not match; {mismatch_fix(fit)}, or "
                         "a larger LD panel matched to the cohort (prepare.py ukbb-ld)")]


def check_sigma(fit: TraitFit) -> list[GuardWarning]:
    s = fit.sigma
    if not math.isfinite(s) or s < SIGMA_LOW:
        return [GuardWarning("sigma_low", f"sigma {s:.3g} < {SIGMA_LOW}: the z-scores vary less than "
                             "sampling noise allows. Likely cause: z not on the N(0, 1) scale (wrong N or SE "
                             "column, shrunk or imputed statistics), or LD mismatch / LD shrinkage moving null "
                             "variance into h2 (compare h2 with h2_moment); check the summary statistics' "
                             f"columns; {mismatch_fix(fit)}, or a larger, matched LD panel")]
    if s > SIGMA_HIGH:
        return [GuardWarning("sigma_high", f"sigma {s:.3g} > {SIGMA_HIGH}: beyond plausible confounding (an "
                             "LDSC intercept is ~1-1.2). Likely cause: sigma absorbs LD mismatch or LD cut off "
                             "at the slice flanks (small panel, too small --bandwidth), or stratification / "
                             f"sample overlap; {mismatch_fix(fit)}, or a larger, matched LD panel")]
    return []


def check_sigma_precision(fit: TraitFit) -> list[GuardWarning]:
    se = fit.sigma_se
    if fit.sigma_mode not in ("ldsc", "sldsc") or se is None or not se > SIGMA_SE_HIGH:
        return []
    return [GuardWarning("sigma_imprecise", f"sigma is held at the LD score regression intercept {fit.sigma:.3g} "
                         f"(jackknife SE {se:.2g} > {SIGMA_SE_HIGH}): too few SNPs to pin the intercept down, "
                         "and h2 moves with it (refit jackknife SEs include this, fixed-prior ones do not). Fix: "
                         "pass a genome-wide S-LDSC intercept for these z-scores as --sigma VALUE, or train on more "
                         "chromosomes")]


def check_lambda(fit: TraitFit) -> list[GuardWarning]:
    lam = fit.lam
    if lam is None:
        return []
    if not math.isfinite(lam) or lam < 0:
        return [GuardWarning("lambda_invalid", f"lambda {lam} is not a finite number >= 0: the mismatch fit "
                             "failed; rerun with --mismatch off to compare")]
    if lam > LAMBDA_HIGH:
        return [GuardWarning("lambda_high", f"lambda {lam:.3g} > {LAMBDA_HIGH}: the LD-mismatch variance "
                             "exceeds the null variance of z, so the panel hardly describes the cohort's LD. "
                             "Likely cause: a panel of another population or genome build, or bad allele "
                             "harmonisation (check prepare.py's flipped/dropped counts); use a matched panel")]
    return []


def check_holdout(fit: TraitFit) -> list[GuardWarning]:
    if fit.heldout_slices > 0:
        return []
    return [GuardWarning("nothing_held_out", "no held-out slices: held-out NLLs are NaN and h2, sigma and "
                         f"enrichment are training-data numbers; {HOLDOUT_FIX}")]


def check_trait(fit: TraitFit) -> list[GuardWarning]:
    """Every guard for one trait, in a fixed order."""
    return check_holdout(fit) + check_h2(fit) + check_sigma(fit) + check_sigma_precision(fit) + check_lambda(fit)


def mask_collapsed_enrichment(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of an enrichment table with its standard errors and p-values set to NaN (a collapsed fit's
    enrichments are ratios of near-zero variances: not measurements)."""
    out = table.copy()
    for c in UNCERTAINTY_COLUMNS:
        if c in out:
            out[c] = float("nan")
    return out


def enrichment_masked_warning(fit: TraitFit) -> GuardWarning:
    return GuardWarning("enrichment_masked", f"enrichment standard errors and p-values set to NaN: the fit "
                        f"collapsed (h2 {fit.h2:.3g}), so its enrichments are not measured")


def format_warnings(traits: dict[str, dict]) -> str:
    """Lines 'warning [trait] code: message' for every trait's ``warnings`` in a metrics dict ('' if none)."""
    lines = [f"warning [{name}] {w['code']}: {w['message']}" for name, m in traits.items()
             for w in m.get("warnings", [])]
    return "\n".join(lines) + ("\n" if lines else "")
