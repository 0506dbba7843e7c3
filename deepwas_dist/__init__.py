"""deepwas_dist: functionally informed GWAS priors trained on the full marginal likelihood under LD."""
import importlib as _importlib
import os as _os

from .errors import InputError, SchemaError

# OpenMP threads that spin while idle steal shared cores: on a 2-core machine with two busy processes,
# chr22 ingestion took 78 s with libgomp's default spin (300,000) against 13 s with 3,000. Threads that
# never spin (OMP_WAIT_POLICY=PASSIVE: 10-16 s there) pay a wake-up on every small parallel op, which
# made the iterative likelihood 1.3-2x slower on a quiet machine. A short spin keeps both. Set before
# torch loads; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins (KMP_BLOCKTIME: LLVM/Intel OpenMP).
# The names set here are kept in _OMP_DEFAULTS_SET: `prepare` undoes them for its own policy (PASSIVE).
_OMP_DEFAULTS_SET: tuple[str, ...] = ()
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _OMP_DEFAULTS_SET = ("GOMP_SPINCOUNT",) + (() if "KMP_BLOCKTIME" in _os.environ else ("KMP_BLOCKTIME",))
    _os.environ["GOMP_SPINCOUNT"] = "3000"
    _os.environ.setdefault("KMP_BLOCKTIME", "0")

__all__ = ["InputError", "SchemaError", "LDSlice", "NLLResult", "marginal_nll"]
__version__ = "0.1.0"

# The numerical core (torch) loads on first use (PEP 562): importing deepwas_dist.cli or
# deepwas_dist.models.names, as the command lines do before parsing, stays instant.
_LAZY = {"LDSlice": ".slice", "NLLResult": ".likelihood", "marginal_nll": ".likelihood"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(_importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
