"""deepwas_dist: functionally informed GWAS priors trained on the full marginal likelihood under LD."""
from .errors import InputError, SchemaError
from .slice import LDSlice

__all__ = ["InputError", "SchemaError", "LDSlice"]
__version__ = "0.1.0"
from .likelihood import NLLResult, marginal_nll  # noqa: E402

__all__ += ["NLLResult", "marginal_nll"]
