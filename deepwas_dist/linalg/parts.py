"""What a linear-algebra path returns for one slice: NLL pieces and the gradient coefficients."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SliceParts:
    """Per-trait pieces of the slice NLL and its gradient (all tensors detached).

    logdet_K, quad: (T,) the log-determinant of K and u^T K^{-1} u (nats, before the 1/2).
    grad_log_s: (T, m) dNLL/dlog s_j; grad_log_sigma: (T,) dNLL/dlog sigma; None when not asked.
    grad_log_lambda: (T,) dNLL/dlog lambda of the range part (the mismatch term lambda M of K); None
    when not asked or without mismatch. The null-space part is added by the caller.
    cg_iters: CG iterations run (0 for Cholesky); residual: worst final relative CG residual (0 exact).
    """

    logdet_K: torch.Tensor
    quad: torch.Tensor
    grad_log_s: torch.Tensor | None
    grad_log_sigma: torch.Tensor | None
    method: str
    cg_iters: int = 0
    residual: float = 0.0
    converged: bool = True
    grad_log_lambda: torch.Tensor | None = None
