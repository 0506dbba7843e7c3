"""Delete-one-block jackknife that re-fits the prior without each block (the honest standard errors).

Data and blocks. The data are the z-scores of the training slices' cores. The slices, in genomic order,
are cut into B contiguous blocks (:func:`deepwas_dist.data.slicing.contiguous_blocks`).
The full-data estimate is the prior theta_hat that
minimises the training objective L(theta) = sum_k loss_k(theta) over all training slices k (the run's
objective: the exact likelihood, or LDSC). The leave-block-b-out estimate theta_(b) minimises
L_(b)(theta) = sum_{k not in b} loss_k(theta).

Refits. Every parameter of the network is refitted (model.parameters(): weights, per-trait log sigma and
any other per-trait parameter it owns), in float64 with the exact linear algebra. theta_hat is first
polished on all training slices by full-batch L-BFGS, so that the refits start from, and are compared
with, the optimum of the same objective and not a stochastic AdamW iterate. theta_(b) differs from
theta_hat by O(1/B) of the data, so a warm start converges in a few steps:

- small priors (at most NEWTON_MAX_PARAMS parameters: constant, linear): per-slice Hessians H_k are taken
  once at theta_hat, in closed form for the likelihood (one pass, :mod:`.curvature`), by forward
  differences of the exact per-slice gradients g_k for LDSC (P + 1 passes). Refit b
  iterates theta <- theta - H_(b)^+ g_(b)(theta), starting from H_(b) = sum_{k not in b} H_k and
  updating it by BFGS from the observed gradient changes, with step halving when neither the loss nor
  the gradient falls. Its first gradient is free (sum_{k not in b} g_k(theta_hat)); every further
  step costs one pass over the remaining slices. H only preconditions: the stopping rule is the true
  gradient, max |g_(b)| / n_SNPs < tolerance_grad, so the fixed point is the exact leave-one-out optimum,
  or a Newton decrement (the next step's predicted gain) below tolerance_decrement = 1e-7 nats, where the
  optimum lies at infinity along a flat direction (an annotation whose f goes to 0). Steps follow |H|'s
  eigenvalues (descent even where H is indefinite) and drop H's null space (the prior's output bias and
  head bias are one offset).
- larger networks: up to ``refit_iters`` L-BFGS iterations from theta_hat (final gradient recorded).
  Not used by the report: unregularised full-batch fits of an mlp are not the AdamW-trained estimator and
  do not converge in this budget (measured: mlp/small polish to max |grad| 4e-3, h2 0.39 -> 10.7).
- the report refits a larger network's *last layer* instead (``refit-local``, the default;
  :mod:`.local_shape`): the trained network is held and a per-trait offset plus a linear correction on
  its trunk's K leading standardised feature directions (K <= 32) are refitted by Newton as above, so
  h2 and enrichment replicates carry the uncertainty of the scale, of sigma and of the shape along the
  network's own features; the trunk's uncertainty is left out. ``--jackknife refit-scale``
  (:func:`shape_held`) refits only the per-trait offset (log f = shape(x) + c_t) and, when learned, log
  sigma: its h2 replicates carry the uncertainty of the total (and of the intercept under ``--sigma
  ldsc``); enrichment is scale-free (every replicate would give the same table), so its SEs stay those of
  the fixed-prior jackknife, and the report says so.

Statistics. For any statistic theta -> g(theta) (h2 = sum_j f_j; Prop._h2 and Enrichment per annotation)
the replicate g_b = g(theta_(b)) is evaluated on ALL SNPs of the dataset, with f predicted by refit b.
That is the delete-one-block jackknife of S-LDSC (Finucane et al. 2015): the quantity estimated is a
fixed function of the fitted parameters over a fixed set of SNPs (S-LDSC multiplies each block-deleted
tau by the same annotation sizes M_c of all SNPs); what is deleted is data (z-scores), not the SNPs over
which the function is summed. Summing over only the SNPs outside block b would add the fixed-prior
jackknife's variability of the SNP set (the "genomic consistency" term of :func:`enrichment_table`)
on top, and is not a jackknife of the estimator. Then

    SE(g) = sqrt((B - 1) / B * sum_b (g_b - mean_b g_b)^2),

and Enrichment_p is two-sided for Enrichment = 1 under a normal approximation, as for the fixed-prior
table. Cost: one polishing fit plus B warm refits, each a few full passes of the exact NLL over the
training slices (B * refit_iters passes at most), with all training slices held in memory.
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..data.reader import SliceBatch
from ..data.slicing import contiguous_blocks
from ..errors import InputError
from .curvature import slice_curvature
from .enrichment import COLUMNS, jackknife_se, ratios, table_from_replicates
from .objective import slice_loss

SliceKey = tuple[int, int]
#: Largest network whose refits use Newton steps (its per-slice Hessians cost P + 1 gradient passes).
NEWTON_MAX_PARAMS = 200


@dataclass
class RefitSettings:
    """How the refits are run."""

    n_blocks: int = 20
    full_iters: int = 100           # L-BFGS iterations polishing the full-data fit
    # iterations of each warm-started leave-one-block-out refit (at most; the stopping rule is the gradient).
    # With --sigma ldsc each refit also moves sigma to its block's intercept: chr22 height needed up to 49
    refit_iters: int = 60
    tolerance_grad: float = 1e-7    # stop when max |gradient of the per-SNP objective| falls below
    # ... or (Newton) when the next step's predicted gain, the Newton decrement g^T H^+ g / 2, is below this
    # many nats: then a statistic's remaining error is at most sqrt(2 x this) of its SE (Cauchy-Schwarz, with
    # H^+ its covariance), 4.5e-4 SE, while a prior at the boundary (f -> 0 on an annotation's SNPs, the
    # optimum at infinity) stops drifting along its flat direction
    tolerance_decrement: float = 1e-7
    objective: str = "likelihood"
    method: str = "auto"            # newton | lbfgs | auto: newton for at most NEWTON_MAX_PARAMS parameters


@dataclass
class FitTrace:
    """One L-BFGS fit: objective evaluations, final per-SNP objective and max |gradient|, seconds."""

    evaluations: int
    loss: float
    max_grad: float
    seconds: float


@dataclass
class RefitJackknife:
    """The polished full fit and the B leave-one-block-out refits, as predicted log f on all SNPs."""

    log_f_full: np.ndarray                   # (M, T) from the polished full-data fit
    log_f_blocks: np.ndarray                 # (B, M, T) from refit b (block b's slices left out)
    blocks: list[list[SliceKey]]
    full: FitTrace
    refits: list[FitTrace] = field(default_factory=list)
    kind: str = "refit"                      # refit | refit-scale (:func:`shape_held`) | refit-local (LocalShape)
    components: int | None = None            # refit-local: the feature directions refitted per trait
    method: str = "newton"                   # newton | lbfgs: how the refits were solved

    @property
    def shape_held(self) -> bool:
        """Only the scale (and sigma) refitted: every enrichment replicate is the same."""
        return self.kind == "refit-scale"

    @property
    def n_blocks(self) -> int:
        return int(self.log_f_blocks.shape[0])

    def h2(self) -> tuple[np.ndarray, np.ndarray]:
        """(h2 of the polished full fit (T,), jackknife SE (T,))."""
        return np.exp(self.log_f_full).sum(0), jackknife_se(np.exp(self.log_f_blocks).sum(1))

    def summary(self) -> dict:
        """What metrics.json records about the refits."""
        extra = {} if self.components is None else {"components": self.components}
        return {"jackknife": self.kind, **extra, "method": self.method, "blocks": self.n_blocks,
                "full_fit_evaluations": self.full.evaluations,
                "full_fit_max_grad": self.full.max_grad,
                "refit_evaluations_max": max(r.evaluations for r in self.refits),
                "refit_max_grad_max": max(r.max_grad for r in self.refits),
                "seconds": self.full.seconds + sum(r.seconds for r in self.refits)}


def fit_lbfgs(net: torch.nn.Module, batches: Sequence[SliceBatch], log_N: torch.Tensor, objective: str,
              iters: int, tolerance_grad: float = 1e-7) -> FitTrace:
    """Minimise the per-SNP training objective summed over ``batches`` in place over every parameter of
    ``net`` (a float64 network) by full-batch L-BFGS with a strong-Wolfe line search."""
    t0 = time.perf_counter()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, max_eval=int(iters * 1.5) + 1,
                            tolerance_grad=tolerance_grad, tolerance_change=1e-12, history_size=20,
                            line_search_fn="strong_wolfe")
    n_total = sum(b.n for b in batches) or 1
    count = [0]

    def closure():
        opt.zero_grad()
        loss = torch.zeros((), dtype=torch.float64)
        for b in batches:
            log_f = net(b.features.double(), None if b.tracks is None else b.tracks.double())
            loss = loss + slice_loss(b, log_f, net.log_sigma, log_N, objective, method="exact",
                                     log_lambda=net.log_lambda())[0]
        loss = loss / n_total
        loss.backward()
        count[0] += 1
        return loss

    opt.step(closure)
    loss = closure()                              # value and gradient at the returned parameters
    g = max((float(p.grad.abs().max()) for p in params if p.grad is not None), default=0.0)
    return FitTrace(evaluations=count[0], loss=float(loss.detach()), max_grad=g,
                    seconds=time.perf_counter() - t0)


def _flat(net: torch.nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector([p for p in net.parameters() if p.requires_grad]).detach().clone()


def _set_flat(net: torch.nn.Module, v: torch.Tensor) -> None:
    torch.nn.utils.vector_to_parameters(v, [p for p in net.parameters() if p.requires_grad])


def slice_gradients(net: torch.nn.Module, batches: Sequence[SliceBatch], log_N: torch.Tensor,
                    objective: str) -> tuple[np.ndarray, torch.Tensor]:
    """Per slice: the training loss (K,) (a sum over its core SNPs) and its gradient (K, P) at ``net``."""
    params = [p for p in net.parameters() if p.requires_grad]
    losses, grads = np.empty(len(batches)), []
    for i, b in enumerate(batches):
        net.zero_grad()
        log_f = net(b.features.double(), None if b.tracks is None else b.tracks.double())
        loss = slice_loss(b, log_f, net.log_sigma, log_N, objective, method="exact", log_lambda=net.log_lambda())[0]
        loss.backward()
        losses[i] = float(loss.detach())
        grads.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                                for p in params]).detach().clone())
    return losses, torch.stack(grads)


def slice_hessians(net: torch.nn.Module, batches: Sequence[SliceBatch], log_N: torch.Tensor, objective: str,
                   g0: torch.Tensor, step: float = 1e-5) -> torch.Tensor:
    """Per-slice Hessians (K, P, P) by forward differences of the exact per-slice gradients ``g0``."""
    theta = _flat(net)
    P = theta.numel()
    H = torch.empty(len(batches), P, P, dtype=torch.float64)
    for i in range(P):
        e = theta.clone()
        e[i] += step
        _set_flat(net, e)
        H[:, :, i] = (slice_gradients(net, batches, log_N, objective)[1] - g0) / step
    _set_flat(net, theta)
    return 0.5 * (H + H.transpose(1, 2))


#: Step halvings a Newton refit may take to get back into the valid region (2^-40 of the Newton step).
MAX_HALVINGS = 40


def newton_direction(H: torch.Tensor, g: torch.Tensor, rtol: float = 1e-7) -> torch.Tensor:
    """-|H|^+ g: the Newton step with H's eigenvalues taken in absolute value (a saddle-free step, which
    descends where the curvature is negative, as it can be away from the optimum and in BFGS-updated H)
    and those below ``rtol`` x the largest dropped (redundant offsets: H is singular)."""
    ev, V = torch.linalg.eigh(H)
    a = ev.abs()
    keep = a > rtol * a.max()
    return -V[:, keep] @ ((V[:, keep].T @ g) / a[keep])


def newton_refit(net: torch.nn.Module, batches: Sequence[SliceBatch], log_N: torch.Tensor, objective: str,
                 H: torch.Tensor, g: torch.Tensor, loss: float, iters: int, tolerance_grad: float,
                 tolerance_decrement: float = 0.0) -> FitTrace:
    """Minimise the loss summed over ``batches`` in place from ``net``, where it is ``loss`` with gradient
    ``g`` (P,), by Newton steps starting from the Hessian ``H`` (P, P) (taken at the full-data optimum)
    and improved by BFGS updates from the observed gradient changes; a step is halved when neither the loss
    (beyond rounding) nor max |g| falls. Stops when max |g| / n_SNPs < ``tolerance_grad``, or when the
    Newton decrement -g.d / 2 (the quadratic model's gain from the next step, :func:`newton_direction`) is
    below ``tolerance_decrement`` nats."""
    t0 = time.perf_counter()
    n = sum(b.n for b in batches) or 1
    theta, evals, H = _flat(net), 0, H.clone()
    for _ in range(iters):
        if float(g.abs().max()) / n < tolerance_grad:
            break
        d = newton_direction(H, g)
        if -0.5 * float(g @ d) < tolerance_decrement:
            break
        valid, tries = False, 0
        while tries < 8 or (not valid and tries < MAX_HALVINGS):
            tries += 1
            _set_flat(net, theta + d)
            evals += 1
            try:
                losses, grads = slice_gradients(net, batches, log_N, objective)
            except InputError:            # the step left the valid region (f overflowed): a shorter one,
                valid, d = False, d / 2   # for as long as it takes (a backtracking line search)
                continue
            valid, g_new = True, grads.sum(0)
            if losses.sum() <= loss + 1e-10 * abs(loss) or float(g_new.abs().max()) < float(g.abs().max()):
                break
            d = d / 2
        if not valid:
            _set_flat(net, theta)
            raise InputError(f"a jackknife refit step left the valid region even after {MAX_HALVINGS} halvings; "
                             "use --jackknife fixed, or fewer --jackknife-blocks")
        y = g_new - g
        if float(y @ d) > 1e-12 * float(y.norm() * d.norm()):                     # BFGS update of H
            Hd = H @ d
            H = H + torch.outer(y, y) / float(y @ d) - torch.outer(Hd, Hd) / float(d @ Hd)
        theta, loss, g = theta + d, float(losses.sum()), g_new
    _set_flat(net, theta)
    return FitTrace(evaluations=evals, loss=loss / n, max_grad=float(g.abs().max()) / n,
                    seconds=time.perf_counter() - t0)


def _predict(net: torch.nn.Module, features: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([net(X.double(), None if t is None else t.double()).numpy() for X, t in features])


def refit_jackknife(net: torch.nn.Module, batches: Sequence[SliceBatch], log_N: torch.Tensor,
                    features: Sequence[tuple[torch.Tensor, torch.Tensor | None]], settings: RefitSettings,
                    log: Callable[[str], None] = print,
                    block_log_sigma: Callable[[dict, int], np.ndarray] | None = None) -> RefitJackknife:
    """Polish ``net`` on ``batches`` (the training slices) and refit it without each of B blocks of them.

    ``features``: per chromosome, (standardised annotations (M_c, A), tracks or None) of every SNP, in
    the order of the enrichment table. ``net`` is not modified (the fits run on a float64 copy).
    ``block_log_sigma(which, B)`` (``--sigma ldsc``: sigma is an estimate, held fixed in the fit): the
    (B, T) log sigma that refit b holds, estimated without block b (``which``: slice key -> block), so
    the SEs include the intercept's uncertainty.
    """
    keys = [(b.chrom, b.slice_id) for b in batches]
    B = min(settings.n_blocks, len(keys))
    if B < 2:
        raise InputError(f"--jackknife-blocks: need at least 2 blocks and 2 training slices, got "
                         f"{settings.n_blocks} blocks over {len(keys)} slices")
    which = contiguous_blocks(keys, B)
    blocks = [[k for k in sorted(keys) if which[k] == b] for b in range(B)]
    full = copy.deepcopy(net).double().train()
    if getattr(full, "log_lambda_raw", None) is not None:
        # The LD-mismatch lambda is held at the trained value: near its floor the likelihood is flat in
        # it, which sends unregularised Newton steps to overflow. (Its uncertainty is left out of the SEs.)
        full.log_lambda_raw.requires_grad_(False)
    P = _flat(full).numel()
    newton = settings.method == "newton" or (settings.method == "auto" and P <= NEWTON_MAX_PARAMS)
    # Newton polishes the last digits itself: L-BFGS only has to get close (it stalls near 1e-6 anyway).
    trace = fit_lbfgs(full, batches, log_N, settings.objective, settings.full_iters,
                      max(settings.tolerance_grad, 1e-5) if newton else settings.tolerance_grad)
    if newton:
        t0 = time.perf_counter()
        losses, grads = slice_gradients(full, batches, log_N, settings.objective)
        H = (torch.stack([slice_curvature(full, b, log_N)[1] for b in batches]) if settings.objective == "likelihood"
             else slice_hessians(full, batches, log_N, settings.objective, grads))
        pol = newton_refit(full, batches, log_N, settings.objective, H.sum(0), grads.sum(0), float(losses.sum()),
                           settings.refit_iters, settings.tolerance_grad, settings.tolerance_decrement)
        losses, grads = slice_gradients(full, batches, log_N, settings.objective)   # at the polished optimum
        hessian_passes = 1 if settings.objective == "likelihood" else P + 1
        trace = FitTrace(evaluations=trace.evaluations + hessian_passes + 1 + pol.evaluations, loss=pol.loss,
                         max_grad=pol.max_grad, seconds=trace.seconds + time.perf_counter() - t0)
        member = np.array([which[k] for k in keys])
    log(f"[jackknife] full fit polished ({'Newton' if newton else 'L-BFGS'}, {P} parameters): "
        f"{trace.evaluations} passes, max |grad| {trace.max_grad:.1e} ({trace.seconds:.0f} s); "
        f"{B} leave-one-block-out refits")
    start = copy.deepcopy(full.state_dict())
    sigma_b = None if block_log_sigma is None else torch.as_tensor(block_log_sigma(which, B), dtype=torch.float64)
    out = RefitJackknife(log_f_full=_predict(full, features), log_f_blocks=np.empty(0), blocks=blocks, full=trace,
                         kind=getattr(full, "jackknife_kind", None) or (
                             "refit-scale" if any(not p.requires_grad for n, p in full.named_parameters()
                                                  if n not in ("bias", "log_sigma", "log_lambda_raw")) else "refit"),
                         components=getattr(full, "n_components", None),
                         method="newton" if newton else "lbfgs")
    preds = []
    for b in range(B):
        full.load_state_dict(start)
        keep = [x for x, k in zip(batches, keys) if which[k] != b]
        if sigma_b is not None:
            with torch.no_grad():
                full.log_sigma.copy_(sigma_b[b])
        if newton:
            out_b = member != b
            l_b, g_b = losses[out_b], grads[out_b]
            if sigma_b is not None:                # the start's loss and gradient under block b's sigma
                l_b, g_b = slice_gradients(full, keep, log_N, settings.objective)
            r = newton_refit(full, keep, log_N, settings.objective, H[out_b].sum(0), g_b.sum(0),
                             float(l_b.sum()), settings.refit_iters, settings.tolerance_grad,
                             settings.tolerance_decrement)
        else:
            r = fit_lbfgs(full, keep, log_N, settings.objective, settings.refit_iters, settings.tolerance_grad)
        out.refits.append(r)
        preds.append(_predict(full, features))
    out.log_f_blocks = np.stack(preds)
    worst = max(r.max_grad for r in out.refits)
    log(f"[jackknife] {B} refits: at most {max(r.evaluations for r in out.refits)} evaluations each, "
        f"max |grad| {worst:.1e} ({sum(r.seconds for r in out.refits):.0f} s)")
    return out


def shape_held(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``net`` whose trunk and head are frozen: what stays trainable is the per-trait output
    offset ``bias`` (the log scale of f) and log sigma (if it was trainable), 2T parameters at most."""
    held = copy.deepcopy(net)
    keep = {id(held.bias), id(held.log_sigma)}
    for p in held.parameters():
        if id(p) not in keep:
            p.requires_grad_(False)
    return held


def refit_enrichment_table(jk: RefitJackknife, trait: int, f: np.ndarray, annotations: np.ndarray,
                           names: list[str]) -> pd.DataFrame:
    """The S-LDSC-style table of ``f`` (M,) (the reported prior) with SEs from the refit replicates of
    ``trait``: each replicate's Prop._h2 and Enrichment are computed over all M SNPs."""
    A = np.asarray(annotations, dtype=np.float64)
    reps = [ratios(np.exp(jk.log_f_blocks[b, :, trait]), A) for b in range(jk.n_blocks)]
    return table_from_replicates(f, A, names, np.stack([r[0] for r in reps]), np.stack([r[1] for r in reps]))


__all__ = ["COLUMNS", "FitTrace", "RefitJackknife", "RefitSettings",
           "fit_lbfgs", "jackknife_se", "newton_refit", "refit_enrichment_table", "refit_jackknife", "shape_held"]
