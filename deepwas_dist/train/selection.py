"""Early stopping: which epoch's prior a run keeps when it validates (``--val-chroms``, ``--patience``).

The rule: the epoch whose prior has the lowest validation NLL per SNP (pooled over the run's traits,
``VAL_METRIC`` of the history rows), the earliest one on a tie. With ``--val-select objective`` an
LDSC-objective run reads its own objective on the validation chromosomes instead (``OBJECTIVE_METRIC``:
the LDSC loss per SNP), as a user of LDSC alone would choose; a likelihood run's objective is its NLL.
With ``--patience P`` training stops once the last P epochs have all failed to lower the score. Both
are decided from the history rows alone, so a resumed run decides as an uninterrupted one would, and
``deepwas evaluate`` names the same epoch.

The validation chromosomes are whole training chromosomes left out of training (train/holdout.py), so
the held-out chromosomes take no part in the choice and their NLL stays an honest test score.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: The history key the choice reads (written by the loop's validation scoring, prefix "val").
VAL_METRIC = "val_nll_per_snp"
#: With --val-select objective and the LDSC objective: its loss per SNP on the validation chromosomes.
OBJECTIVE_METRIC = "val_objective_per_snp"
#: --val-select choices
VAL_SELECT = ("nll", "objective")


def selection_metric(val_select: str, objective: str) -> str:
    """The history key a run's choice of epoch reads (``--val-select``, ``--objective``)."""
    return OBJECTIVE_METRIC if val_select == "objective" and objective == "ldsc" else VAL_METRIC


@dataclass(frozen=True)
class Selection:
    """The epoch a run keeps, its validation NLL per SNP, and whether training stopped before --epochs;
    ``score`` is the value of ``metric`` (the history key the choice read) at that epoch."""

    epoch: int
    val_nll_per_snp: float
    epochs_trained: int
    stopped_early: bool
    metric: str = VAL_METRIC
    score: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


def best_epoch(history: list[dict], metric: str = VAL_METRIC) -> tuple[int, float] | None:
    """(epoch, score) of the lowest finite ``metric`` (default the validation NLL per SNP), the earliest on
    a tie; None when no row has one."""
    best = None
    for row in history:
        v = row.get(metric)
        if v is not None and math.isfinite(v) and (best is None or v < best[1]):
            best = (int(row["epoch"]), float(v))
    return best


def should_stop(history: list[dict], patience: int, metric: str = VAL_METRIC) -> bool:
    """True when ``patience`` > 0 and the last ``patience`` epochs have not lowered ``metric``."""
    best = best_epoch(history, metric)
    if patience <= 0 or best is None:
        return False
    return int(history[-1]["epoch"]) - best[0] >= patience


def selection(history: list[dict], epochs: int, metric: str = VAL_METRIC) -> Selection | None:
    """The run's :class:`Selection` from its history (``epochs``: the --epochs asked for; ``metric``: the
    key the choice read, :func:`selection_metric`); None without validation."""
    best = best_epoch(history, metric)
    if best is None:
        return None
    trained = int(history[-1]["epoch"])
    nll = next(float(r.get(VAL_METRIC, math.nan)) for r in history if int(r["epoch"]) == best[0])
    return Selection(epoch=best[0], val_nll_per_snp=nll, epochs_trained=trained, stopped_early=trained < epochs,
                     metric=metric, score=best[1])


__all__ = ["VAL_METRIC", "OBJECTIVE_METRIC", "VAL_SELECT", "Selection", "selection_metric", "best_epoch",
           "should_stop", "selection"]
