"""Prior networks: SNP features -> log per-SNP heritability, one head per trait.

The names (:mod:`.names`) load at once; the networks (torch) on first use (PEP 562), so that
``from deepwas_dist.models.names import MODELS`` in a command line's parser does not import torch.
"""
import importlib

from .names import MODELS, SIZES

_LAZY = {"PriorNet": ".base", "build_prior": ".registry", "parameter_table": ".registry",
         "format_parameter_table": ".registry", "saved_prior": ".registry", "load_saved_prior": ".registry"}

__all__ = ["PriorNet", "MODELS", "SIZES", "build_prior", "parameter_table", "format_parameter_table",
           "saved_prior", "load_saved_prior"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
