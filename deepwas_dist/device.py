"""The linear-algebra dtype: float64 unless asked for float32."""
from __future__ import annotations

import torch


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    """Map ``None``/"float64"/"float32" (or a torch dtype) to a torch floating dtype."""
    if dtype is None:
        return torch.float64
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float64": torch.float64, "double": torch.float64, "float32": torch.float32, "float": torch.float32}
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; use 'float64' or 'float32'")
    return table[dtype]
