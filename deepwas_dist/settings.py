"""Run settings that command-line flags name, parsed and checked; torch-free, so that the CLI can build its
flags and answer ``--help`` before torch and Ray load.

:class:`MismatchSetting` (``--mismatch``) and :class:`SigmaSetting` (``--sigma``) turn a flag's text into a
mode and a value. The maths they switch on lives elsewhere: the mismatch likelihood in
:mod:`deepwas_dist.mismatch`, the intercept fit in :mod:`deepwas_dist.evaluate.intercept`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class MismatchSetting:
    """How a run treats LD mismatch: ``mode`` 'learn' (lambda per trait, trained like sigma), 'off' (no
    mismatch term: the original model on range(R_CC)) or 'fixed' at ``value``."""

    mode: str = "learn"
    value: float | None = None

    @classmethod
    def parse(cls, text: str | float, flag: str = "--mismatch") -> "MismatchSetting":
        t = str(text).strip().lower()
        if t in ("learn", "off"):
            return cls(t)
        try:
            v = float(t)
        except ValueError:
            raise InputError(f"{flag} must be 'learn', 'off' or a lambda >= 0 (e.g. 0.05), got {text!r}") from None
        if not (v >= 0 and math.isfinite(v)):
            raise InputError(f"{flag} must be 'learn', 'off' or a finite lambda >= 0, got {text!r}")
        return cls("off") if v == 0 else cls("fixed", v)

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


@dataclass(frozen=True)
class SigmaSetting:
    """--sigma: how the null variance of a z-score (LD score regression's intercept) is set.

    ``learn``: trained with the prior. ``ldsc``: held at the LD score regression intercept of each trait,
    fitted on the run's training slices before training (:mod:`deepwas_dist.evaluate.intercept`).
    ``sldsc``: the same, stratified by the dataset's annotations (S-LDSC's regression: robust when per-SNP
    h2 varies with LD-related annotations, but noisier). ``fixed``: held at ``value`` (e.g. an S-LDSC
    intercept).

    With a small reference panel the full likelihood trades heritability for sigma: the panel's LD
    misdescribes the cohort's, and excess variance is cheapest to explain as noise. On chr22 height with
    1000G LD, learned sigma came out 2.0 and h2 0.0026, against S-LDSC's intercept 1.24 and h2 0.0053
    (README, "Does it work?")."""

    mode: str
    value: float | None = None

    @classmethod
    def parse(cls, text: str | float) -> "SigmaSetting":
        t = str(text).strip().lower()
        if t in ("learn", "ldsc", "sldsc"):
            return cls(t)
        try:
            v = float(t)
        except ValueError:
            raise InputError(f"--sigma must be 'ldsc', 'sldsc', 'learn' or a value > 0 (e.g. an S-LDSC intercept, "
                             f"1.05), got {text!r}") from None
        if not (v > 0 and math.isfinite(v)):
            raise InputError(f"--sigma must be 'ldsc', 'sldsc', 'learn' or a finite value > 0, got {text!r}")
        return cls("fixed", v)

    @property
    def intercept(self) -> bool:
        """Whether sigma is an LD score regression intercept fitted by the run (ldsc or sldsc)."""
        return self.mode in ("ldsc", "sldsc")

    @property
    def held(self) -> bool:
        """Whether sigma is held fixed in training (ldsc or a value), not trained."""
        return self.mode != "learn"


__all__ = ["MismatchSetting", "SigmaSetting"]
