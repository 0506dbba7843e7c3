"""Prior networks: SNP features -> log per-SNP heritability, one head per trait."""
from .base import PriorNet
from .registry import (MODELS, SIZES, build_prior, format_parameter_table, load_saved_prior, parameter_table,
                       saved_prior)

__all__ = ["PriorNet", "MODELS", "SIZES", "build_prior", "parameter_table", "format_parameter_table",
           "saved_prior", "load_saved_prior"]
