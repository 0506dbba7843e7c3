"""Linear algebra on K = sigma I + Z^T S Z: the operator, Cholesky path, preconditioned CG and SLQ."""
from .operator import KOperator
from .parts import SliceParts

__all__ = ["KOperator", "SliceParts"]
