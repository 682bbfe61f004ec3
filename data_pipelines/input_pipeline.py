"""The tf.data input pipeline: a built fer-jax TFDS dataset -> per-process numpy batches (ARCHITECTURE §3).

TensorFlow runs on the CPU only (``tf_compat``). Determinism and exact resume: every random choice
(file order, shuffle, segment draw, augmentation) is seeded from (seed, epoch[, example position]); an
epoch's pipeline is rebuilt from those seeds, and the iterator state is (epoch, batches consumed in
the epoch), restored by rebuilding that epoch and skipping the consumed examples. The state does not
depend on the process, so the state saved by any process restores all of them.

Sharding: process p reads ``tfds.even_splits(split, process_count)[p]``; the global batch is split
evenly across processes (``batch_size / process_count`` rows each) and, by ``shard_batch``, across
devices. Training drops each epoch's incomplete last batch; evaluation reads one epoch in a fixed
order, pads the last batch with ``mask`` = 0 rows and pads every process to the same number of batches,
so each example is seen exactly once and all processes run the same number of steps.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from data_pipelines import augment as augment_lib
from data_pipelines import sampling
from data_pipelines.common.builder import config_name
from data_pipelines.common.folds import resolve_split
from data_pipelines.tf_compat import import_tf, import_tfds

tf = import_tf()
tfds = import_tfds()

AU_DATASETS = ("disfa", "bp4d", "synthface")  # builders whose examples carry per-frame AU intensities


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    """A field of a ConfigDict, dict or plain object, with a default."""
    if hasattr(cfg, "get"):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def dataset_dir(input_cfg: Any) -> str:
    """data_dir/<dataset>/<builder config>/<latest version> of a built dataset."""
    name, data_dir = _get(input_cfg, "dataset"), _get(input_cfg, "data_dir")
    if not data_dir:
        raise ValueError(f"input.data_dir is not set: where was {name!r} built? (fer-jax build {name} --data-dir D)")
    root = os.path.join(os.fspath(data_dir), name)
    config = _get(input_cfg, "builder_config")
    if config:
        candidates = [os.path.join(root, config)]
    else:
        kind = "image" if name in ("rafdb", "sfew", "affectnet") else "video"
        prefix = config_name(kind, int(_get(input_cfg, "size", 112)), int(_get(input_cfg, "gop", 12)),
                             _get(input_cfg, "mode", "accumulate"), _get(input_cfg, "identity_backbone", "dlib"))
        candidates = sorted(d for d in glob.glob(os.path.join(root, prefix + "*")) if os.path.isdir(d))
        if len(candidates) > 1:
            names = [os.path.basename(c) for c in candidates]
            raise ValueError(f"several builds of {name} match {prefix!r}: {names}; set input.builder_config")
    versions = sorted((v for c in candidates for v in glob.glob(os.path.join(c, "*.*.*"))
                       if os.path.isfile(os.path.join(v, "dataset_info.json"))),
                      key=lambda v: tuple(int(x) for x in os.path.basename(v).split(".")))
    if not versions:
        raise FileNotFoundError(f"no built dataset {name!r} under {root} (config {config or prefix!r}); "
                                f"build it with `fer-jax build {name} --data-dir {data_dir}`")
    return versions[-1]


class TFDSIterator:
    """Checkpointable iterator of per-process numpy batches (see the module docstring)."""

    def __init__(self, input_cfg: Any, split: str, *, seed: int, process_index: int, process_count: int,
                 train: bool):
        self.cfg, self.seed, self.train = input_cfg, int(seed), train
        self.process_index, self.process_count = process_index, process_count
        path = dataset_dir(input_cfg)
        self.builder = tfds.builder_from_directory(path)
        meta_file = os.path.join(path, "metadata.json")
        self.metadata = {}
        if os.path.isfile(meta_file):
            with open(meta_file) as f:
                self.metadata = json.load(f)
        self.split = resolve_split(split, self.builder.info.splits.keys())
        self.shards = tfds.even_splits(self.split, process_count)
        self.counts = [self.builder.info.splits[s].num_examples for s in self.shards]
        self.local_count = self.counts[process_index]
        global_batch = int(_get(input_cfg, "batch_size" if train else "eval_batch_size")
                           or _get(input_cfg, "batch_size"))
        if global_batch % process_count:
            raise ValueError(f"global batch {global_batch} does not split over {process_count} processes")
        self.local_batch = global_batch // process_count
        self.is_video = "frame_types" in self.builder.info.features
        self.has_au = self.is_video and _get(input_cfg, "dataset") in AU_DATASETS
        if train:
            self.batches_per_epoch = min(self.counts) // self.local_batch
            if self.batches_per_epoch == 0:
                raise ValueError(f"{self.split}: a process holds {min(self.counts)} examples, fewer than one "
                                 f"local batch of {self.local_batch}")
        else:
            self.batches_per_epoch = -(-max(self.counts) // self.local_batch)
        subjects = self.metadata.get("subjects", [])
        self.subject_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(subjects or [""], tf.string),
                                                tf.range(max(len(subjects), 1), dtype=tf.int32)), -1)
        self.epoch, self.position = 0, 0
        self._it: Iterator | None = None

    # -- state -----------------------------------------------------------------------------------
    def get_state(self) -> dict[str, int]:
        return {"epoch": int(self.epoch), "position": int(self.position)}

    def set_state(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._it = None

    # -- tf.data ---------------------------------------------------------------------------------
    def _read(self):
        """This process's examples in a fixed order (file order seeded once), enumerated."""
        read_config = tfds.ReadConfig(shuffle_seed=_mix(self.seed, 1) if self.train else None,
                                      interleave_cycle_length=16, try_autocache=False)
        decoders = {"residuals": tfds.decode.SkipDecoding()} if self.is_video else None  # see features.py
        ds = self.builder.as_dataset(split=self.shards[self.process_index], shuffle_files=self.train,
                                     read_config=read_config, decoders=decoders)
        keep = [k for k in ds.element_spec if k not in ("clip_id",)]
        ds = ds.map(lambda ex: {k: ex[k] for k in keep}).enumerate()
        return ds.cache() if _get(self.cfg, "cache", False) else ds

    def _dataset(self):
        """Training: every epoch from ``self.epoch`` on, in one pipeline (no per-epoch rebuild or
        re-tracing); each epoch is reshuffled with a seed of (seed, epoch), cut to the same number of
        batches on every process, and the first one skips what the saved state had consumed.
        Evaluation: one pass in file order, from ``self.position``."""
        options = tf.data.Options()
        options.deterministic = True
        base = self._read()
        map_kw = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if not self.train:
            ds = base.map(lambda i, ex: self._prepare(ex, i, tf.constant(0, tf.int64)), **map_kw)
            ds = ds.batch(self.local_batch, **map_kw).skip(self.position)
            return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
        buffer = int(_get(self.cfg, "shuffle_buffer", 1000) or 1)
        first, skip = self.epoch, self.position * self.local_batch
        per_epoch = self.batches_per_epoch * self.local_batch

        def epoch_dataset(epoch):
            ds = base.shuffle(buffer, seed=_mix(self.seed, 2) + epoch * 7919, reshuffle_each_iteration=False)
            ds = ds.take(per_epoch).skip(tf.where(epoch == first, tf.constant(skip, tf.int64), 0))
            return ds.map(lambda i, ex: self._prepare(ex, i, epoch), **map_kw)

        ds = tf.data.Dataset.range(first, 2**62).flat_map(epoch_dataset)
        ds = ds.batch(self.local_batch, drop_remainder=True, **map_kw)
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def _prepare(self, ex: dict, index, epoch) -> dict:
        """One stored example -> the batch-contract row (before batching). Random draws are keyed by
        (seed, epoch, process, position in the process's file order)."""
        key = tf.stack([_mix(self.seed, 3) + tf.cast(epoch, tf.int64) * 7919,
                        tf.cast(index, tf.int64) * 1_000_003 + self.process_index])
        out = {
            "label": tf.cast(ex["label"], tf.int32),
            "identity": self.subject_table.lookup(ex["subject"]),
            "identity_embedding": ex["identity_embedding"],
            "mask": tf.constant(1.0, tf.float32),
        }
        if self.is_video:
            k = int(_get(self.cfg, "segments", 3))
            mode = _get(self.cfg, "segment_mode", "tsn")
            decode = self.builder.info.features["residuals"].feature.decode_example
            seg = sampling.sample_segments(ex, k, mode, self.train, seed=key, decode_residual=decode)
            out["residuals"] = tf.cast(seg["residuals"], tf.float32) / 255.0
            out["motion_vectors"] = tf.cast(seg["motion_vectors"], tf.float32)
            out["iframe"] = tf.cast(seg["iframe"], tf.float32) / 255.0
            out["apex_frame"] = tf.cast(ex["apex_frame"], tf.float32) / 255.0
            out["has_apex"] = tf.cast(ex["apex_index"] >= 0, tf.float32)
            if self.has_au:
                au = ex["au_intensity"]
                n_aus = au.shape[-1]
                frames = tf.minimum(seg["frame_index"], tf.shape(au)[0] - 1)
                out["au_intensity"] = tf.cond(
                    tf.shape(au)[0] > 0, lambda: tf.gather(au, tf.maximum(frames, 0)),
                    lambda: -tf.ones([k, n_aus], tf.float32))  # not annotated: -1 (ignore)
        else:
            out["image"] = tf.cast(ex["image"], tf.float32) / 255.0
        if self.train and _get(self.cfg, "augment", False):
            out = augment_lib.augment(out, tf.stack([key[0] + 7, key[1]]))
        return out

    # -- iteration -------------------------------------------------------------------------------
    def __iter__(self) -> TFDSIterator:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if not self.train and self.position >= self.batches_per_epoch:
            raise StopIteration
        if self._it is None:
            self._it = self._dataset().as_numpy_iterator()
        batch = next(self._it, None)
        if batch is None:  # eval: this process ran out before the others; a fully masked batch
            batch = self._padding_batch()
        elif len(batch["mask"]) < self.local_batch:
            batch = _pad(batch, self.local_batch)
        self.position += 1
        if self.train and self.position == self.batches_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
        return batch

    def _padding_batch(self) -> dict[str, np.ndarray]:
        spec = self._dataset().element_spec
        return {k: np.zeros([self.local_batch, *s.shape[1:]], s.dtype.as_numpy_dtype) for k, s in spec.items()}


def _pad(batch: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    n = len(batch["mask"])
    out = {k: np.concatenate([v, np.repeat(v[:1], rows - n, 0)]) for k, v in batch.items()}
    out["mask"][n:] = 0.0
    return out


def _mix(*xs: int) -> int:
    """A stable 31-bit seed from integers (no Python hash randomisation)."""
    h = 0x12345
    for x in xs:
        h = (h * 1_000_003 ^ (int(x) & 0xFFFFFFFF)) & 0x7FFFFFFF
    return h


def make_iterator(input_cfg: Any, split: str, *, seed: int, process_index: int | None = None,
                  process_count: int | None = None, train: bool = True) -> TFDSIterator:
    """Per-process, checkpointable batches of ``split`` (``train@foldK``/``test@foldK`` accepted)."""
    if process_index is None or process_count is None:
        import jax

        process_index, process_count = jax.process_index(), jax.process_count()
    return TFDSIterator(input_cfg, split, seed=seed, process_index=process_index,
                        process_count=process_count, train=train)


def device_batches(iterator: Iterator[dict], mesh, prefetch: int = 2) -> Iterator[dict]:
    """Hand-off to the devices: per-process numpy batches -> global ``jax.Array``s on the ``data`` mesh,
    ``prefetch`` batches ahead (transfers overlap the step that consumes the previous batch)."""
    import collections

    from fer_jax.parallel import shard_batch

    queue: collections.deque = collections.deque()
    for batch in iterator:
        queue.append(shard_batch(batch, mesh))
        if len(queue) > prefetch:
            yield queue.popleft()
    while queue:
        yield queue.popleft()
