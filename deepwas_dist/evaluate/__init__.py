"""Evaluation of a trained prior: held-out likelihood, baselines, h2, truth recovery, outputs, plots."""
