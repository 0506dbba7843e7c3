"""deepwas_dist: functionally informed GWAS priors trained on the full marginal likelihood under LD."""
import os as _os

# Idle OpenMP threads spinning on shared cores slowed eigendecompositions up to ~100x on busy machines
# (measured during ingestion); sleeping threads cost nothing measurable when the machine is quiet.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from .errors import InputError, SchemaError
from .slice import LDSlice

__all__ = ["InputError", "SchemaError", "LDSlice"]
__version__ = "0.1.0"
from .likelihood import NLLResult, marginal_nll  # noqa: E402

__all__ += ["NLLResult", "marginal_nll"]
