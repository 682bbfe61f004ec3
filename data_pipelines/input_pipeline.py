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

What a batch holds: given a ``spec`` (``method.input_spec(run)``: key -> anything, only the keys are
read), exactly those keys plus ``mask``, reading only their feature groups (``data_pipelines.groups``);
a key the build cannot provide is a ``MissingFeatureError`` naming the dataset and the key. Without a
spec, the default compressed (or still-image) contract of ARCHITECTURE §3, bit for bit as before.
Settings come from ``config.input`` through :class:`~data_pipelines.settings.InputSettings`.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from data_pipelines import augment as augment_lib
from data_pipelines import groups as groups_lib
from data_pipelines import sampling
from data_pipelines.common.builder import backbone_tag, config_name, path_backbone_tag
from data_pipelines.common.folds import resolve_split
from data_pipelines.settings import InputSettings, validate_input
from data_pipelines.tf_compat import import_tf, import_tfds

tf = import_tf()
tfds = import_tfds()

IMAGE_DATASETS = ("rafdb", "sfew", "affectnet")


def dataset_dir(settings: InputSettings | Mapping[str, Any], need_frames: bool = False) -> str:
    """data_dir/<dataset>/<builder config>/<latest version> of a built dataset.

    Without ``input.builder_config`` the build is found from size/gop/mode and the identity backbone's
    content tag (``builder.backbone_tag``; builds named by the older path hash are found too). With
    ``need_frames`` a build with stored frames is preferred; otherwise one without. A dataset built under
    two protocols (BP4D: ``_folds``) gives its fold build to a fold config (``input.fold >= 0``), its
    default build to the others.
    """
    s = validate_input(settings)
    name, data_dir = s.dataset, s.data_dir
    if not data_dir:
        raise ValueError(f"input.data_dir is not set: where was {name!r} built? (fer-jax build {name} --data-dir D)")
    root = os.path.join(os.fspath(data_dir), name)
    if s.builder_config:
        candidates, wanted = [os.path.join(root, s.builder_config)], s.builder_config
    else:
        kind = "image" if name in IMAGE_DATASETS else "video"
        tags = [path_backbone_tag(s.identity_backbone)]
        try:
            tags.insert(0, backbone_tag(s.identity_backbone))
        except FileNotFoundError:
            pass  # the encoder is gone: only a path-named (older) build can still be matched
        candidates, wanted = [], ""
        for tag in tags:
            prefix = config_name(kind, s.size, s.gop, s.mode, s.identity_backbone, tag=tag)
            wanted = wanted or prefix
            found = sorted(d for d in glob.glob(os.path.join(root, prefix + "*")) if os.path.isdir(d))
            with_frames = [d for d in found if os.path.basename(d)[len(prefix):].startswith("_frames")]
            plain = [d for d in found if d not in with_frames]
            candidates = (with_frames or plain) if need_frames else (plain or with_frames)
            by_protocol = [d for d in candidates if ("_folds" in os.path.basename(d)[len(prefix):]) == (s.fold >= 0)]
            candidates = by_protocol or candidates
            if candidates:
                break
        if len(candidates) > 1:
            names = [os.path.basename(c) for c in candidates]
            raise ValueError(f"several builds of {name} match {wanted!r}: {names}; set input.builder_config")
    versions = sorted((v for c in candidates for v in glob.glob(os.path.join(c, "*.*.*"))
                       if os.path.isfile(os.path.join(v, "dataset_info.json"))),
                      key=lambda v: tuple(int(x) for x in os.path.basename(v).split(".")))
    if not versions:
        raise FileNotFoundError(f"no built dataset {name!r} under {root} (config {wanted!r}); "
                                f"build it with `fer-jax build {name} --data-dir {data_dir}`")
    return versions[-1]


class TFDSIterator:
    """Checkpointable iterator of per-process numpy batches (see the module docstring)."""

    def __init__(self, input_cfg: InputSettings | Mapping[str, Any], split: str, *, seed: int,
                 process_index: int, process_count: int, train: bool, spec: Mapping[str, Any] | None = None):
        self.cfg = s = validate_input(input_cfg)
        self.seed, self.train = int(seed), train
        self.process_index, self.process_count = process_index, process_count
        path = dataset_dir(s, need_frames=spec is not None and "frames" in spec)
        self.builder = tfds.builder_from_directory(path)
        meta_file = os.path.join(path, "metadata.json")
        self.metadata = {}
        if os.path.isfile(meta_file):
            with open(meta_file) as f:
                self.metadata = json.load(f)
        self.split = resolve_split(split, self.builder.info.splits.keys())
        self.shards = tfds.even_splits(self.split, process_count)
        self.counts = [self.builder.info.splits[sh].num_examples for sh in self.shards]
        self.local_count = self.counts[process_index]
        global_batch = s.global_batch(train)
        if global_batch % process_count:
            raise ValueError(f"global batch {global_batch} does not split over {process_count} processes")
        self.local_batch = global_batch // process_count
        features = self.builder.info.features
        self.is_video = "frame_types" in features
        self.has_frames = "frames" in features
        self.has_au = self.is_video and s.dataset in groups_lib.AU_DATASETS
        self.default_contract = spec is None
        keys = groups_lib.default_keys(self.is_video, self.has_au) if spec is None else (*spec, "mask")
        self.groups = groups_lib.check_keys(s.dataset, keys, is_video=self.is_video, has_frames=self.has_frames,
                                            has_au=self.has_au)
        self.keys = frozenset(keys)
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
    def _stored_keys(self) -> list[str]:
        """The stored features the requested groups read (only these are parsed and decoded)."""
        g = self.groups
        need = {"label": ["label"], "identity": ["subject"], "identity_embedding": ["identity_embedding"],
                "compressed": ["frame_types", "residuals", "motion_vectors", "iframes", "apex_index"],
                "apex": ["apex_frame", "apex_index"], "frames": ["frames", "frame_types"],
                "au": ["au_intensity", "frame_types"], "position": ["clip_id", "frame_types"], "image": ["image"]}
        if "au" in g and "frames" not in g:  # AU targets without frames take the compressed time axis
            need["au"] += need["compressed"]
        return sorted({k for group in g for k in need.get(group, [])})

    def _read(self):
        """This process's examples in a fixed order (file order seeded once), enumerated."""
        read_config = tfds.ReadConfig(shuffle_seed=_mix(self.seed, 1) if self.train else None,
                                      interleave_cycle_length=16, try_autocache=False)
        if self.default_contract:
            decoders = {"residuals": tfds.decode.SkipDecoding()} if self.is_video else None  # see features.py
        else:  # parse only what the groups read; residuals and frames are decoded per sampled frame
            stored = self._stored_keys()
            skip = {k: tfds.decode.SkipDecoding() for k in ("residuals", "frames") if k in stored}
            decoders = tfds.decode.PartialDecoding({k: True for k in stored}, decoders=skip)
        ds = self.builder.as_dataset(split=self.shards[self.process_index], shuffle_files=self.train,
                                     read_config=read_config, decoders=decoders)
        keep = [k for k in ds.element_spec if k != "clip_id" or "position" in self.groups]
        ds = ds.map(lambda ex: {k: ex[k] for k in keep}).enumerate()
        return ds.cache() if self.cfg.cache else ds

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
        buffer = int(self.cfg.shuffle_buffer or 1)
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
        want, out = self.keys, {}
        if "label" in want:
            out["label"] = tf.cast(ex["label"], tf.int32)
        if "identity" in want:
            out["identity"] = self.subject_table.lookup(ex["subject"])
        if "identity_embedding" in want:
            out["identity_embedding"] = ex["identity_embedding"]
        out["mask"] = tf.constant(1.0, tf.float32)
        if "image" in want:
            out["image"] = tf.cast(ex["image"], tf.float32) / 255.0
        if self.is_video:
            out.update(self._video(ex, key))
        if self.train and self.cfg.augment:
            out = augment_lib.augment(out, tf.stack([key[0] + 7, key[1]]), self.cfg.augment_shift)
        return out

    def _video(self, ex: dict, key) -> dict:
        """The temporal groups of one clip (how frames are chosen: ``InputSettings``)."""
        c, g, want, out = self.cfg, self.groups, self.keys, {}
        features = self.builder.info.features
        decode_res = features["residuals"].feature.decode_example if "residuals" in want else None
        frame_seed = tf.stack([key[0] + 11, key[1]])
        t = None  # frame numbers of the time axis (AU targets are read there)
        if c.window > 0:
            n = tf.shape(ex["frames"])[0] if "frames" in g else tf.reduce_sum(tf.cast(ex["frame_types"] > 0, tf.int32))
            t = sampling.window_positions(n, c.window, self.train, seed=frame_seed)
            if "compressed" in g:
                seg = sampling.compressed_at(ex, tf.minimum(t, n - 1), decode_res)
        elif "compressed" in g or ("au" in g and "frames" not in g):
            seg = sampling.sample_segments(ex, c.segments, c.segment_mode, self.train, seed=key,
                                           decode_residual=decode_res)
            t = seg["frame_index"]
        if "residuals" in want:
            out["residuals"] = tf.cast(seg["residuals"], tf.float32) / 255.0
        if "motion_vectors" in want:
            out["motion_vectors"] = tf.cast(seg["motion_vectors"], tf.float32)
        if "iframe" in want:
            out["iframe"] = tf.cast(seg["iframe"], tf.float32) / 255.0
        if "apex_frame" in want:
            out["apex_frame"] = tf.cast(ex["apex_frame"], tf.float32) / 255.0
        if "has_apex" in want:
            out["has_apex"] = tf.cast(ex["apex_index"] >= 0, tf.float32)
        if "frames" in g:
            n = tf.shape(ex["frames"])[0]
            if c.window > 0:
                pick = tf.minimum(t, n - 1)
            else:
                pick = sampling.frame_positions(n, c.num_frames // c.frames_per_segment, c.frames_per_segment,
                                                self.train, seed=frame_seed)
                t = pick if t is None else t
            decode = features["frames"].feature.decode_example
            frames = tf.map_fn(decode, tf.gather(ex["frames"], pick), fn_output_signature=tf.uint8)
            out["frames"] = tf.cast(frames, tf.float32) / 255.0
        if "au" in g:
            out.update(_au_targets(ex["au_intensity"], t, c.window > 0))
        if "position" in g:
            if t is None:
                raise ValueError("clip_key/frame_index need a time axis: ask for frames, AU or compressed keys "
                                 "too, or set input.window")
            out["frame_index"] = tf.cast(t, tf.int32)
            out["clip_key"] = tf.cast(tf.strings.to_hash_bucket_fast(ex["clip_id"], 2**31 - 1), tf.int32)
        return {k: v for k, v in out.items() if k in want}

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


def _au_targets(au, t, window: bool) -> dict:
    """Per-frame AU targets at frame numbers ``t``: -1 (mask 0) where a frame is not coded, the clip is
    not annotated, or a window runs past the annotation. Outside windows a frame past the end reads the
    last row (the default contract)."""
    n_aus, n = au.shape[-1], tf.shape(au)[0]
    frames = tf.minimum(t, n - 1)
    value = tf.cond(n > 0, lambda: tf.gather(au, tf.maximum(frames, 0)),
                    lambda: -tf.ones([tf.size(t), n_aus], tf.float32))  # not annotated: -1 (ignore)
    if window:
        value = tf.where((t < n)[:, None], value, -1.0)
    return {"au_intensity": value, "au_mask": tf.cast(value >= 0, tf.float32)}


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


def make_iterator(input_cfg: InputSettings | Mapping[str, Any], split: str, *, seed: int, process_index: int,
                  process_count: int, train: bool = True, spec: Mapping[str, Any] | None = None) -> TFDSIterator:
    """Per-process, checkpointable batches of ``split`` (``train@foldK``/``test@foldK`` accepted) holding
    the keys of ``spec`` (None: the default contract)."""
    return TFDSIterator(input_cfg, split, seed=seed, process_index=process_index, process_count=process_count,
                        train=train, spec=spec)
