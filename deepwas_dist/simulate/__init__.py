"""Semi-synthetic data: coalescent or real genotypes, structured annotations, ground-truth priors, z-scores."""
from .annotations import simulate_annotations, simulate_tracks
from .features import Features, simulate_features
from .genotypes import ChromPanel, panel_from_genotypes, simulate_panel, simulate_panel_and_cohort
from .traits import DEFAULT_TRAITS, DESIGNS, SimulatedTrait, TraitSpec, draw_z, draw_z_traits, simulate_traits
from .truth import TRUTH_KINDS, Truth, make_truth

__all__ = ["ChromPanel", "simulate_panel", "simulate_panel_and_cohort", "panel_from_genotypes",
           "simulate_annotations", "simulate_tracks",
           "Features", "simulate_features", "Truth", "TRUTH_KINDS", "make_truth", "TraitSpec",
           "DEFAULT_TRAITS", "DESIGNS", "SimulatedTrait", "draw_z", "draw_z_traits", "simulate_traits"]
