"""Slices read once from a dataset and kept in memory up to a byte budget (LRU), on a device.

Two readers use it. A training worker (:mod:`deepwas_dist.train.loop`) caches its shard; the final
evaluation (:func:`deepwas_dist.evaluate.report.evaluate_model`) caches every slice it scores, since it
reads the held-out slices twice (model and constant prior), the baseline subsample, all slices for the
posterior effects and the training slices for the jackknife: each is read once when they fit.

With the fixed shards of :mod:`deepwas_dist.train.assignment`, a rank asks for the same slices every
epoch: when its shard (plus its share of the held-out slices, which evaluation reads through the same cache) fits
``max_bytes``, the first epoch reads each slice once and later epochs read nothing; on a GPU worker the
slices stay in GPU memory (``device``). When the shard does not fit, LRU keeps the most recently used
slices, and because a rank's slices come in a new order each epoch a slice is often evicted before it
comes round again: most of the shard is re-read every epoch (LRU thrash; ``tests/train/test_shard_reads.py``
measures it). :meth:`prefetch` then overlaps those reads with compute: the loop asks for the next
step's slices while it scores the current step, and one background thread reads the missing ones.
``reads`` counts slices read from storage (prefetched or not).

Host-to-GPU copies of what is read are pinned and non-blocking (``Dataset.read_slice`` builds the slice on
the host and moves it with :func:`deepwas_dist.device.to_device`). A prefetch thread issues those copies
on the device's default stream, so they are ordered with (not overlapped with) the main thread's kernels;
what the prefetch overlaps is the host side: storage reads, decoding and the pinned staging copy.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from .reader import Dataset, SliceBatch

SliceKey = tuple[int, int]
#: Share of the device's memory (the machine's on CPU, the GPU's on CUDA) the workers on it may cache.
CACHE_SHARE = 0.5


def cache_budget(cache_mib: float | None, device: torch.device, local_workers: int = 1) -> int:
    """A worker's cache budget in bytes: ``cache_mib`` MiB, or by default :data:`CACHE_SHARE` of its device's
    memory split among the ``local_workers`` sharing it (a GPU worker has its GPU to itself). A fixed 2 GiB
    default re-read most of each worker's shard every epoch at 1M SNPs (a 2-worker shard holds ~3 GiB of
    float64 factors), so the default follows the machine."""
    if cache_mib is not None:
        return int(cache_mib * 2 ** 20)
    if device.type == "cuda":
        return int(CACHE_SHARE * torch.cuda.get_device_properties(device).total_memory)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(CACHE_SHARE * total / max(1, int(local_workers)))


def batch_bytes(b: SliceBatch) -> int:
    """Memory held by one slice: its LD factors, features and tracks."""
    return b.ld.nbytes() + b.features.element_size() * b.features.nelement() + \
        (0 if b.tracks is None else b.tracks.element_size() * b.tracks.nelement())


class SliceCache:
    """LRU cache of :class:`SliceBatch` by (chrom, slice id) for one dataset, trait list and bandwidth."""

    def __init__(self, dataset: Dataset, traits: list[str], *, bandwidth_kb: float | None, device: torch.device,
                 dtype: str = "float64", max_bytes: float = 2 * 1024 ** 3, keep_variance: float | None = None):
        self.ds, self.traits, self.bandwidth_kb, self.keep_variance = dataset, traits, bandwidth_kb, keep_variance
        self.device, self.dtype, self.max_bytes = device, dtype, max_bytes
        self._items: OrderedDict[SliceKey, SliceBatch] = OrderedDict()
        self._bytes: dict[SliceKey, int] = {}
        self._total = 0
        self._pending: dict[SliceKey, Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.hits = self.misses = self.reads = 0

    @property
    def nbytes(self) -> int:
        """Bytes of the slices held now."""
        return self._total

    def _read(self, key: SliceKey) -> SliceBatch:
        b = self.ds.read_slice(key[0], key[1], self.traits, bandwidth_kb=self.bandwidth_kb, device=self.device,
                               dtype=self.dtype, keep_variance=self.keep_variance)
        with self._lock:
            self.reads += 1
        return b

    def prefetch(self, keys: list[SliceKey]) -> None:
        """Start reading, in one background thread, those of ``keys`` that are neither held nor on the way;
        :meth:`get` collects them. Nothing is read when they are all held (a resident shard)."""
        todo = [k for k in keys if k not in self._items and k not in self._pending]
        if not todo:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slice-prefetch")
        for k in todo:
            self._pending[k] = self._pool.submit(self._read, k)

    def get(self, key: SliceKey) -> SliceBatch:
        """The slice, from memory, from a prefetch, or from storage."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        pending = self._pending.pop(key, None)
        b = pending.result() if pending is not None else self._read(key)
        self.put(key, b)
        return b

    def put(self, key: SliceKey, b: SliceBatch) -> None:
        """Hold ``b`` under ``key`` (most recently used), evicting LRU slices over ``max_bytes``. ``get``
        uses it for what it reads; benchmarks use it for slices built in memory (never read: no dataset)."""
        size = batch_bytes(b)
        if key in self._items:
            self._total -= self._bytes[key]
        self._items[key], self._bytes[key] = b, size
        self._items.move_to_end(key)
        self._total += size
        while self._total > self.max_bytes and len(self._items) > 1:
            old, _ = self._items.popitem(last=False)
            self._total -= self._bytes.pop(old)
