"""LD and eigendecomposition per slice as Ray tasks (``prepare plink|ukbb-ld --executor ray``).

One task per slice: it reads the slice's window of the PLINK panel from the .bed itself (the
:class:`~.plink.Panel` travels without its open reader), standardises it, forms R = X^T X / n and
whitens it (:func:`~deepwas_dist.data.ld_numerics.slice_from_ld`, the writer's own step). Memory: a task
holds one window, (n_ref, m) genotypes and the (m, m) R, and returns only the slice's LDSlice (its
whitened factors: about what the slice takes in the dataset, at float64). At most ``workers`` tasks are
in flight; the driver hands the slices to the writer in slice order as they finish (ray.wait; a slice
done before an earlier one waits in a buffer). On a cluster the .bed must be readable at the same path
on every node. A UKBB slice's task (:func:`window_slice_maker`) reads its chosen window's .npz sparse
(from any fsspec URL, so on a cluster from object storage), makes only the slice's block dense and
whitens it: it holds the window's sparse triangle and the slice's (m, m) R. The dataset equals the serial
path's (same windows, same numerics) up to the last bits of the eigendecomposition, which runs on one
thread in a task (tests/ingest/test_ld_tasks.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ..data.ld_numerics import slice_from_ld
from ..data.slicing import SlicePlan
from ..ray_tasks import results_in_order
from ..slice import LDSlice
from .plink import Panel, ld_matrix
from .ukbb import read_ukbb_window, window_ld


def _slice_task(panel: Panel, start: int, plan: SlicePlan, geom: dict) -> LDSlice:
    """One slice of the chromosome whose SNP rows begin at panel row ``start``."""
    return slice_from_ld(lambda lo, hi: ld_matrix(panel.standardized(start + lo, start + hi)), plan, geom)


def panel_slice_maker(ray, window: int, panel_ref, start: int
                      ) -> Callable[[Sequence[SlicePlan], dict], Iterator[LDSlice]]:
    """A ``slice_maker`` for :meth:`DatasetWriter.add_ld_slices`: the chromosome's slices as Ray tasks,
    ``window`` in flight, yielded in plan order. ``panel_ref``: ray.put(panel), shared by all tasks."""
    task = ray.remote(num_cpus=1)(_slice_task)

    def make(plans: Sequence[SlicePlan], geom: dict) -> Iterator[LDSlice]:
        return results_in_order(ray, len(plans), lambda i: [task.remote(panel_ref, start, plans[i], geom)], window)

    return make


def _window_slice_task(url: str, ids, rows, plan: SlicePlan, geom: dict, iso: dict | None) -> LDSlice:
    """One slice from rows ``rows`` of the UKBB window at ``url`` (whose SNP list must still be ``ids``)."""
    _, M = read_ukbb_window(url, iso, expect_ids=ids)
    return slice_from_ld(lambda lo, hi: window_ld(M, rows), plan, geom)


def window_slice_maker(ray, window: int, choices: Sequence[tuple], iso: dict | None
                       ) -> Callable[[Sequence[SlicePlan], dict], Iterator[LDSlice]]:
    """A ``slice_maker`` for a chromosome of UKBB windows: ``choices[i]`` = (window, its matrix rows) of
    plan i (``from_ukbb._choose_windows``), one Ray task per slice, ``window`` in flight, in plan order."""
    task = ray.remote(num_cpus=1)(_window_slice_task)

    def make(plans: Sequence[SlicePlan], geom: dict) -> Iterator[LDSlice]:
        def submit(i: int) -> list:
            win, rows = choices[i]
            return [task.remote(win.url, win.ids, rows, plans[i], geom, iso)]

        return results_in_order(ray, len(plans), submit, window)

    return make
