"""Prior networks by name and size preset, and a parameter-count table.

    build_prior("mlp", "small", n_features=A, n_traits=T)

Names: constant, linear, mlp, conv. Sizes (mlp and conv): tiny, small, medium, large, xlarge;
constant and linear have one size. With ~50 annotations the mlp presets span about 1e3 to 1e7
parameters, so the "do bigger priors help?" question can be asked.
"""
from __future__ import annotations

import math

from ..errors import InputError
from .base import PriorNet
from .names import MODELS, SIZES
from .trunks import ConstantTrunk, ConvTrunk, LinearTrunk, MLPTrunk

#: mlp: (width, depth)
MLP_PRESETS = {"tiny": (16, 1), "small": (64, 2), "medium": (256, 3), "large": (1024, 4), "xlarge": (2048, 6)}
#: conv: (channels, conv layers, mlp width, mlp depth)
CONV_PRESETS = {"tiny": (8, 1, 16, 1), "small": (32, 2, 64, 2), "medium": (64, 3, 256, 3),
                "large": (128, 4, 1024, 4), "xlarge": (256, 6, 2048, 6)}


def build_prior(name: str, size: str = "small", *, n_features: int, n_traits: int = 1,
                n_tracks: int = 0, window: int = 0, init_log_f: float = math.log(1e-6)) -> PriorNet:
    """A :class:`PriorNet` for ``n_features`` annotations and ``n_traits`` traits.

    ``init_log_f`` is the starting log per-SNP heritability (log(h2 / M) for a guessed h2).
    """
    if name not in MODELS:
        raise InputError(f"unknown prior model {name!r}; choose one of {MODELS}")
    if size not in SIZES:
        raise InputError(f"unknown size preset {size!r}; choose one of {SIZES}")
    if name == "constant":
        trunk = ConstantTrunk()
    elif name == "linear":
        trunk = LinearTrunk(n_features)
    elif name == "mlp":
        trunk = MLPTrunk(n_features, *MLP_PRESETS[size])
    else:
        if n_tracks <= 0 or window <= 0:
            raise InputError("the conv prior needs track windows (n_tracks > 0, window > 0); this data has "
                             "none: use --model mlp, or ingest tracks with the SNP table")
        trunk = ConvTrunk(n_features, n_tracks, window, *CONV_PRESETS[size])
    return PriorNet(trunk, n_traits, init_log_f=init_log_f, name=name,
                    size=size if name in ("mlp", "conv") else "-")


def saved_prior(net: PriorNet, model: str, size: str, n_features: int, tracks_shape=None, **extra) -> dict:
    """What ``model.pt`` holds: the state dict and everything :func:`load_saved_prior` needs to rebuild it
    (tensors and plain values only, so it loads with ``torch.load(..., weights_only=True)``)."""
    lam = net.log_lambda_raw
    return {"state_dict": net.state_dict(), "model": model, "size": size, "n_features": n_features,
            "n_traits": net.n_traits, "tracks_shape": None if tracks_shape is None else list(tracks_shape),
            "mismatch": "off" if lam is None else ("learn" if lam.requires_grad else "fixed"), **extra}


def load_saved_prior(saved: dict) -> PriorNet:
    """Rebuild the prior network of a ``model.pt`` dictionary (see :func:`saved_prior`)."""
    K, w = saved.get("tracks_shape") or (0, 0)
    net = build_prior(saved["model"], saved["size"], n_features=saved["n_features"],
                      n_traits=saved.get("n_traits", len(saved.get("traits", [])) or 1), n_tracks=K, window=w)
    if saved.get("mismatch", "off") != "off":
        net.enable_mismatch(1.0, learn=saved["mismatch"] == "learn")
    net.load_state_dict(saved["state_dict"])
    return net


def parameter_table(n_features: int, n_traits: int = 1, n_tracks: int = 4, window: int = 32) -> list[dict]:
    """One row per (model, size) with its parameter count."""
    rows = []
    for name in MODELS:
        for size in (SIZES if name in ("mlp", "conv") else ("small",)):
            net = build_prior(name, size, n_features=n_features, n_traits=n_traits, n_tracks=n_tracks,
                              window=window)
            rows.append({"model": name, "size": net.size, "parameters": net.num_parameters()})
    return rows


def format_parameter_table(rows: list[dict]) -> str:
    """The table from :func:`parameter_table` as aligned text."""
    lines = [f"{'model':<10}{'size':<8}{'parameters':>14}"]
    lines += [f"{r['model']:<10}{r['size']:<8}{r['parameters']:>14,}" for r in rows]
    return "\n".join(lines)
