"""An in-memory, checkpointable batch iterator over numpy arrays (smoke tests, Colab, random data).

It follows the same contract as ``data_pipelines.input_pipeline.make_iterator``: it yields per-process
numpy dicts of ``global_batch_size / process_count`` rows and exposes ``get_state()/set_state()``.

Ordering: epoch ``e`` visits the examples in ``permutation(seed, e)`` order (no shuffle when
``shuffle=False``). Global batch ``b`` is rows ``[b*G, (b+1)*G)`` of that order; process ``p`` takes the
``p``-th contiguous slice of it. ``shard_batch`` lays out process slices in process order, so the
*global* batch is identical whatever the process count — which is what makes 1-process and
N-process runs produce the same numbers.

Training mode drops the incomplete last batch of each epoch (every step sees a full, equal batch).
Evaluation mode (``train=False``) visits one epoch in fixed order, pads the last batch with copies of
row 0 marked ``mask = 0`` and then stops, so every example is seen exactly once.

The state is ``{"epoch", "position"}`` (position = global batches consumed in the epoch): it does not
depend on the process index, so the state saved by any process restores every process.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


class ArrayIterator:
    """Deterministic, resumable batches over a dict of ``[N, ...]`` numpy arrays."""

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        global_batch_size: int,
        *,
        seed: int = 0,
        process_index: int = 0,
        process_count: int = 1,
        train: bool = True,
        shuffle: bool | None = None,
    ):
        sizes = {k: len(v) for k, v in arrays.items()}
        if not sizes or len(set(sizes.values())) != 1:
            raise ValueError(f"arrays must be non-empty and share their leading dimension, got {sizes}")
        if global_batch_size % process_count:
            raise ValueError(
                f"global batch size {global_batch_size} is not divisible by {process_count} processes"
            )
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} outside [0, {process_count})")
        self.arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.num_examples = next(iter(sizes.values()))
        if train and self.num_examples < global_batch_size:
            raise ValueError(
                f"{self.num_examples} examples cannot fill one training batch of {global_batch_size}"
            )
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // process_count
        self.seed, self.process_index, self.train = seed, process_index, train
        self.shuffle = train if shuffle is None else shuffle
        self.epoch, self.position = 0, 0

    # --- checkpointable position -------------------------------------------------------------
    def get_state(self) -> dict[str, int]:
        return {"epoch": int(self.epoch), "position": int(self.position)}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    # --- iteration ---------------------------------------------------------------------------
    @property
    def batches_per_epoch(self) -> int:
        if self.train:
            return self.num_examples // self.global_batch_size
        return -(-self.num_examples // self.global_batch_size)

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_examples)
        # One generator per (seed, epoch): any epoch's order is reproducible without replaying others.
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)

    def __iter__(self) -> "ArrayIterator":
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self.position >= self.batches_per_epoch:
            if not self.train:
                raise StopIteration
            self.epoch, self.position = self.epoch + 1, 0
        order = self._order(self.epoch)
        start = self.position * self.global_batch_size + self.process_index * self.local_batch_size
        rows = order[start : start + self.local_batch_size]
        mask = np.ones(self.local_batch_size, np.float32)
        if len(rows) < self.local_batch_size:  # eval padding (never in training: remainder dropped)
            mask[len(rows) :] = 0.0
            rows = np.concatenate([rows, np.zeros(self.local_batch_size - len(rows), rows.dtype)])
        self.position += 1
        batch = {k: v[rows] for k, v in self.arrays.items()}
        batch["mask"] = mask * batch["mask"] if "mask" in batch else mask
        return batch
