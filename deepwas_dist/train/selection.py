"""Early stopping: which epoch's prior a run keeps when it validates (``--val-chroms``, ``--patience``).

The rule: the epoch whose prior has the lowest validation NLL per SNP (pooled over the run's traits,
``VAL_METRIC`` of the history rows), the earliest one on a tie. With ``--patience P`` training stops
once the last P epochs have all failed to lower it. Both are decided from the history rows alone, so a
resumed run decides as an uninterrupted one would, and ``deepwas evaluate`` names the same epoch.

The validation chromosomes are whole training chromosomes left out of training (train/holdout.py), so
the held-out chromosomes take no part in the choice and their NLL stays an honest test score.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: The history key the choice reads (written by the loop's validation scoring, prefix "val").
VAL_METRIC = "val_nll_per_snp"


@dataclass(frozen=True)
class Selection:
    """The epoch a run keeps, its validation NLL per SNP, and whether training stopped before --epochs."""

    epoch: int
    val_nll_per_snp: float
    epochs_trained: int
    stopped_early: bool

    def to_dict(self) -> dict:
        return asdict(self)


def best_epoch(history: list[dict]) -> tuple[int, float] | None:
    """(epoch, validation NLL per SNP) of the lowest finite validation NLL, the earliest on a tie; None
    when no row has one."""
    best = None
    for row in history:
        v = row.get(VAL_METRIC)
        if v is not None and math.isfinite(v) and (best is None or v < best[1]):
            best = (int(row["epoch"]), float(v))
    return best


def should_stop(history: list[dict], patience: int) -> bool:
    """True when ``patience`` > 0 and the last ``patience`` epochs have not lowered the validation NLL."""
    best = best_epoch(history)
    if patience <= 0 or best is None:
        return False
    return int(history[-1]["epoch"]) - best[0] >= patience


def selection(history: list[dict], epochs: int) -> Selection | None:
    """The run's :class:`Selection` from its history (``epochs``: the --epochs asked for); None without
    validation."""
    best = best_epoch(history)
    if best is None:
        return None
    trained = int(history[-1]["epoch"])
    return Selection(epoch=best[0], val_nll_per_snp=best[1], epochs_trained=trained, stopped_early=trained < epochs)


__all__ = ["VAL_METRIC", "Selection", "best_epoch", "should_stop", "selection"]
