"""Ground-truth maps from SNP features to per-SNP heritability f (DESIGN.md section 3, "Simulation").

Every truth computes an unnormalised log f per SNP and rescales so that sum(f) == h2 over all SNPs it is
given (all chromosomes of the trait at once). Kinds:

  * ``linear``: log f = X w, X the annotations (binary raw 0/1, others standardised), w ~ N(0, scale^2):
    S-LDSC-like multiplicative enrichments.
  * ``threshold``: hard enrichment, f multiplied by ``factor`` where every one of a few annotations
    exceeds its threshold (binary: is 1; continuous: above a quantile), f constant elsewhere.
  * ``network``: a randomly initialised tanh MLP on standardised annotations (optionally plus a random
    1-D conv over the track windows, max- and centre-pooled), output rescaled to sd ``log_sd``.

Data-dependent constants (standardisation, thresholds, output scale) are fixed at construction from the
reference features and stored in ``params``, which holds only JSON types, so a Truth can be saved beside
the dataset and re-evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from .features import Features
from .seeds import rng

TRUTH_KINDS = ("linear", "threshold", "network")


@dataclass(frozen=True)
class Truth:
    """A ground-truth annotation -> variance function.

    Attributes:
        name: label (e.g. the trait's name).
        kind: one of TRUTH_KINDS.
        h2: total heritability, the sum of f over all SNPs passed to :meth:`f`.
        params: JSON-serialisable parameters (weights, thresholds, scalings, seed).
    """

    name: str
    kind: str
    h2: float
    params: dict[str, Any] = field(default_factory=dict)

    def log_f(self, features: Features) -> np.ndarray:
        """(M,) float64 unnormalised log per-SNP heritability (defined up to an additive constant)."""
        return _LOG_F[self.kind](self.params, features)

    def f(self, features: Features) -> np.ndarray:
        """(M,) float64 per-SNP heritability (fraction of phenotypic variance), sum == h2."""
        lf = self.log_f(features)
        f = np.exp(lf - lf.max())
        f *= self.h2 / f.sum()
        return f


# ----------------------------------------------------------------------------------- builders
def make_truth(kind: str, features: Features, h2: float, seed: int, name: str | None = None,
               **options: Any) -> Truth:
    """Build a truth of ``kind`` from ``seed``; ``features`` are the reference features (all SNPs of the
    trait) that fix standardisations and thresholds; ``options`` go to the kind's builder."""
    builders: dict[str, Callable[..., Truth]] = {
        "linear": linear_truth, "threshold": threshold_truth, "network": network_truth}
    if kind not in builders:
        raise InputError(f"unknown truth kind {kind!r}; use one of {TRUTH_KINDS}")
    return builders[kind](features, h2, seed, name=name or kind, **options)


def linear_truth(features: Features, h2: float, seed: int, scale: float = 0.5, name: str = "linear") -> Truth:
    """log f = sum_k w_k x_k with w_k ~ N(0, scale^2); x_k binary 0/1 or continuous standardised."""
    _check_h2(h2)
    centre, sd = _scaling(features.annotations, binary_raw=True)
    w = rng(seed, 1).normal(0.0, scale, len(features.names))
    return Truth(name, "linear", float(h2), {
        "seed": int(seed), "names": list(features.names), "centre": centre.tolist(), "sd": sd.tolist(),
        "weights": w.tolist()})


def threshold_truth(features: Features, h2: float, seed: int, factor: float = 20.0, n_conditions: int = 2,
                    quantile: float = 0.5, name: str = "threshold") -> Truth:
    """f = c * factor^[all conditions hold], c set by h2. Conditions are on ``n_conditions`` annotations
    chosen by ``seed``, alternating binary (coverage 3%-50%; condition: == 1) and continuous (condition:
    above the ``quantile`` of the reference features)."""
    _check_h2(h2)
    if factor <= 0 or n_conditions < 1:
        raise InputError(f"factor must be > 0 and n_conditions >= 1, got {factor}, {n_conditions}")
    A = features.annotations
    binary = _is_binary(A)
    cover = A.mean(axis=0)
    pools = [list(np.flatnonzero(binary & (cover >= 0.03) & (cover <= 0.5))), list(np.flatnonzero(~binary))]
    g = rng(seed, 2)
    for pool in pools:
        g.shuffle(pool)
    conditions: list[dict] = []
    joint = np.ones(len(A), dtype=bool)
    while len(conditions) < n_conditions and (pools[0] or pools[1]):
        pool = pools[len(conditions) % 2] or pools[(len(conditions) + 1) % 2]
        j = int(pool.pop())
        threshold = 0.5 if binary[j] else float(np.quantile(A[:, j], quantile))
        meets = A[:, j] > threshold
        if (joint & meets).any():                 # skip a condition that contradicts the ones chosen
            conditions.append({"annotation": features.names[j], "threshold": threshold})
            joint &= meets                        # (e.g. two MAF annotations of disjoint ranges)
    if len(conditions) < n_conditions:
        raise InputError(f"threshold truth needs {n_conditions} usable annotations that some SNP meets together, "
                         f"found {len(conditions)}; use fewer conditions")
    return Truth(name, "threshold", float(h2), {"seed": int(seed), "factor": float(factor),
                                                 "conditions": conditions})


def threshold_mask(truth: Truth, features: Features) -> np.ndarray:
    """(M,) bool: the SNPs a threshold truth enriches (every condition's annotation > its threshold)."""
    return _threshold_mask(truth.params, features)


def network_truth(features: Features, h2: float, seed: int, hidden: tuple[int, ...] = (32, 32),
                  gain: float = 2.5, log_sd: float = 1.0, use_tracks: bool | None = None,
                  n_filters: int = 8, filter_width: int = 5, name: str = "network") -> Truth:
    """log f = log_sd * standardised MLP(x), a tanh MLP with N(0, gain^2 / fan_in) weights and N(0, 0.5^2)
    biases on standardised annotations; with tracks (default: when ``features`` has them) the MLP input
    also gets, per random conv filter over the standardised track window, the ReLU output's max over the
    window and its value at the centre (standardised)."""
    _check_h2(h2)
    use_tracks = features.tracks is not None if use_tracks is None else use_tracks
    if use_tracks and features.tracks is None:
        raise InputError("network truth with use_tracks=True needs features with tracks")
    g = rng(seed, 3)
    centre, sd = _scaling(features.annotations, binary_raw=False)
    params: dict[str, Any] = {"seed": int(seed), "names": list(features.names), "centre": centre.tolist(),
                              "sd": sd.tolist(), "log_sd": float(log_sd), "use_tracks": bool(use_tracks)}
    n_in = len(features.names)
    if use_tracks:
        K, W = features.tracks.shape[1:]
        t_mean = features.tracks.mean(axis=(0, 2), dtype=np.float64)
        t_sd = features.tracks.std(axis=(0, 2), dtype=np.float64)
        params.update(track_shape=[K, W], track_mean=t_mean.tolist(), track_sd=np.where(t_sd > 0, t_sd, 1).tolist(),
                      conv_w=g.normal(0, 1 / np.sqrt(K * filter_width), (n_filters, K, filter_width)).tolist(),
                      conv_b=g.normal(0, 0.1, n_filters).tolist())
        pooled = _conv_pool(params, features.tracks)
        params.update(pool_mean=pooled.mean(axis=0).tolist(),
                      pool_sd=np.where(pooled.std(axis=0) > 0, pooled.std(axis=0), 1).tolist())
        n_in += pooled.shape[1]
    layers = []
    for width in (*hidden, 1):
        layers.append({"W": g.normal(0, gain / np.sqrt(n_in), (n_in, width)).tolist(),
                       "b": g.normal(0, 0.5, width).tolist()})
        n_in = width
    params["layers"] = layers
    out = _mlp_output(params, features)
    params.update(out_mean=float(out.mean()), out_sd=float(out.std()) or 1.0)
    return Truth(name, "network", float(h2), params)


# ----------------------------------------------------------------------------------- log f by kind
def _linear_log_f(p: dict[str, Any], features: Features) -> np.ndarray:
    X = (features.columns(p["names"]) - np.asarray(p["centre"])) / np.asarray(p["sd"])
    return X @ np.asarray(p["weights"])


def _threshold_mask(p: dict[str, Any], features: Features) -> np.ndarray:
    conds = p["conditions"]
    A = features.columns([c["annotation"] for c in conds])
    return np.all(A > np.asarray([c["threshold"] for c in conds]), axis=1)


def _threshold_log_f(p: dict[str, Any], features: Features) -> np.ndarray:
    return np.log(p["factor"]) * _threshold_mask(p, features).astype(np.float64)


def _network_log_f(p: dict[str, Any], features: Features) -> np.ndarray:
    return p["log_sd"] * (_mlp_output(p, features) - p["out_mean"]) / p["out_sd"]


_LOG_F: dict[str, Callable[[dict[str, Any], Features], np.ndarray]] = {
    "linear": _linear_log_f, "threshold": _threshold_log_f, "network": _network_log_f}


def _mlp_output(p: dict[str, Any], features: Features) -> np.ndarray:
    h = (features.columns(p["names"]) - np.asarray(p["centre"])) / np.asarray(p["sd"])
    if p["use_tracks"]:
        if features.tracks is None or list(features.tracks.shape[1:]) != p["track_shape"]:
            raise InputError(f"network truth needs track windows of shape (M, {p['track_shape']})")
        pooled = (_conv_pool(p, features.tracks) - np.asarray(p["pool_mean"])) / np.asarray(p["pool_sd"])
        h = np.concatenate([h, pooled], axis=1)
    for i, layer in enumerate(p["layers"]):
        h = h @ np.asarray(layer["W"]) + np.asarray(layer["b"])
        if i < len(p["layers"]) - 1:
            h = np.tanh(h)
    return h[:, 0]


def _conv_pool(p: dict[str, Any], tracks: np.ndarray) -> np.ndarray:
    """(M, 2 * n_filters): per filter, max over the window and value at the centre of ReLU(conv)."""
    x = (tracks.astype(np.float64) - np.asarray(p["track_mean"])[:, None]) / np.asarray(p["track_sd"])[:, None]
    w = np.asarray(p["conv_w"])                                   # (F, K, width)
    width = w.shape[2]
    win = np.lib.stride_tricks.sliding_window_view(x, width, axis=2)    # (M, K, W - width + 1, width)
    y = np.maximum(np.einsum("mkpw,fkw->mfp", win, w) + np.asarray(p["conv_b"])[:, None], 0.0)
    centre = x.shape[2] // 2 - width // 2                          # output position centred on the SNP
    return np.concatenate([y.max(axis=2), y[:, :, min(max(centre, 0), y.shape[2] - 1)]], axis=1)


# ----------------------------------------------------------------------------------- helpers
def _is_binary(A: np.ndarray) -> np.ndarray:
    return np.all((A == 0) | (A == 1), axis=0)


def _scaling(A: np.ndarray, binary_raw: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-column centre and scale: binary columns kept raw when ``binary_raw``; constant columns scale 1."""
    centre, sd = A.mean(axis=0), A.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    if binary_raw:
        b = _is_binary(A)
        centre, sd = np.where(b, 0.0, centre), np.where(b, 1.0, sd)
    return centre, sd


def _check_h2(h2: float) -> None:
    if not 0.0 < h2 <= 1.0:
        raise InputError(f"h2 must be in (0, 1], got {h2}")
