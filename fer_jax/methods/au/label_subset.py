"""Which frames' AU labels stage 2 may read: a hash of (labels.seed, clip, frame), not a sampled list.

``frame_uniform(seed, clip_key, frame_index)`` maps each frame to a number in [0, 1) with a 32-bit
integer hash (murmur3's finaliser, three rounds); a frame is chosen iff that number is < ``fraction``.
Why a hash: the choice is then the same in every process, epoch, batch composition and resume without
storing or broadcasting anything, and the numpy and JAX versions below are bit-identical, so the
workdir record (:func:`write_record`) counts exactly the frames the step uses. ``clip_key`` is the data
path's stable hash of the clip id (ARCHITECTURE §3, ``position`` group); ``frame_index`` its frame
number. Each frame is kept independently (Bernoulli): the chosen count is ``fraction`` of the frames in
expectation, recorded exactly.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

import jax.numpy as jnp
import numpy as np

from data_pipelines.atomic import atomic_write

_GOLDEN = 0x9E3779B9


def _fmix(h, xp):
    h = h ^ (h >> xp.uint32(16))
    h = h * xp.uint32(0x85EBCA6B)
    h = h ^ (h >> xp.uint32(13))
    h = h * xp.uint32(0xC2B2AE35)
    return h ^ (h >> xp.uint32(16))


def _uniform(seed, clip_key, frame_index, xp):
    seed = xp.asarray(seed).astype(xp.uint32)
    clip = xp.asarray(clip_key).astype(xp.uint32)
    frame = xp.asarray(frame_index).astype(xp.uint32)
    h = _fmix(seed * xp.uint32(_GOLDEN) + xp.uint32(1), xp)
    h = _fmix(h ^ (clip * xp.uint32(0xCC9E2D51)), xp)
    h = _fmix(h ^ (frame * xp.uint32(0x1B873593) + xp.uint32(_GOLDEN)), xp)
    return (h >> xp.uint32(8)).astype(xp.float32) / xp.float32(1 << 24)


def frame_uniform(seed: int, clip_key: Any, frame_index: Any) -> jnp.ndarray:
    """JAX: [..] uniform in [0, 1) per frame (``clip_key`` broadcasts against ``frame_index``)."""
    with np.errstate(over="ignore"):
        return _uniform(seed, clip_key, frame_index, jnp)


def frame_uniform_np(seed: int, clip_key: Any, frame_index: Any) -> np.ndarray:
    """numpy twin of :func:`frame_uniform` (bit-identical)."""
    with np.errstate(over="ignore"):
        return _uniform(np.asarray(seed), np.asarray(clip_key), np.asarray(frame_index), np)


def chosen(seed: int, fraction: float, clip_key: Any, frame_index: Any) -> jnp.ndarray:
    """float32 1/0: is this frame's label in the subset (JAX, inside the step)."""
    return (frame_uniform(seed, clip_key, frame_index) < fraction).astype(jnp.float32)


def chosen_np(seed: int, fraction: float, clip_key: Any, frame_index: Any) -> np.ndarray:
    return (frame_uniform_np(seed, clip_key, frame_index) < fraction).astype(np.float32)


def clip_key_np(clip_id: str) -> int:
    """The data path's ``clip_key`` of a clip id (TensorFlow's FarmHash fingerprint mod 2^31 - 1)."""
    from data_pipelines.tf_compat import import_tf

    tf = import_tf()
    return int(tf.strings.to_hash_bucket_fast(clip_id, 2**31 - 1).numpy())


def summarise(seed: int, fraction: float, clips: Iterable[tuple[int, np.ndarray]]) -> dict[str, Any]:
    """Counts over ``clips`` = (clip_key, au_mask [T, A] or coded [T]) of the frames chosen and coded."""
    frames = coded = picked = picked_coded = n_clips = 0
    for key, mask in clips:
        mask = np.asarray(mask)
        coded_t = mask.reshape(len(mask), -1).max(axis=1) > 0 if mask.size else np.zeros(len(mask), bool)
        keep = chosen_np(seed, fraction, np.int32(key), np.arange(len(mask), dtype=np.int32)) > 0
        n_clips += 1
        frames += len(mask)
        coded += int(coded_t.sum())
        picked += int(keep.sum())
        picked_coded += int((keep & coded_t).sum())
    return {"fraction": float(fraction), "seed": int(seed), "clips": n_clips, "frames": frames,
            "coded_frames": coded, "chosen_frames": picked, "chosen_coded_frames": picked_coded,
            "rule": "frame t of clip c is labelled iff frame_uniform(seed, clip_key(c), t) < fraction "
                    "(fer_jax/methods/au/label_subset.py)"}


def write_record(workdir: str, summary: dict[str, Any], name: str = "label_subset.json") -> str:
    """``workdir/label_subset.json``, written atomically."""
    path = os.path.join(workdir, name)
    atomic_write(path, json.dumps(summary, indent=1, sort_keys=True))
    return path


def record_from_dataset(run: Any, workdir: str) -> str:
    """Count the chosen frames of the run's training split (a built TFDS dataset; ``run``: the parsed
    ``RunSettings``) and write the record: reads only ``clip_id`` and ``au_intensity``."""
    from data_pipelines.common.folds import resolve_split
    from data_pipelines.input_pipeline import dataset_dir
    from data_pipelines.tf_compat import import_tfds

    tfds = import_tfds()
    s, labels = run.input, run.sections["labels"]
    builder = tfds.builder_from_directory(dataset_dir(s, need_frames=True))
    split = resolve_split(s.split_train, builder.info.splits.keys())
    ds = builder.as_dataset(split=split, decoders=tfds.decode.PartialDecoding(
        {"clip_id": True, "au_intensity": True}))
    clips = ((clip_key_np(ex["clip_id"].decode()), ex["au_intensity"] >= 0) for ex in tfds.as_numpy(ds))
    summary = summarise(labels.seed, labels.fraction, clips)
    summary.update(dataset=s.dataset, split=s.split_train)
    return write_record(workdir, summary)
