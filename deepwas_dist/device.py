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


def to_device(x: torch.Tensor, device: torch.device | str | None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x.to(device, dtype)``; a host-to-CUDA copy goes through pinned memory with ``non_blocking=True``.

    The cast runs on the host first (a float32 copy moves half the bytes), then the tensor is staged in
    page-locked memory so the copy is a DMA that does not block the host; later work on the same stream
    is ordered after it, and PyTorch's pinned-memory allocator keeps the staging buffer alive until the
    copy has finished. On any other target (CPU, or a tensor already on the GPU) it is plain ``.to``.
    """
    target = x.device if device is None else torch.device(device)
    if target.type == "cuda" and x.device.type == "cpu":
        if dtype is not None:
            x = x.to(dtype)
        return x.pin_memory().to(target, non_blocking=True)
    return x.to(device=target, dtype=dtype)
