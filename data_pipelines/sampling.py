"""Which P-frames of a clip a training example shows: TSN segments or the onset sequence (tf.data ops).

A clip has G GOPs x P = gop-1 P-frame slots; ``frame_types`` marks the valid ones (2) and the padding
of a short last GOP (0). Sampling works on the valid P-frames in time order:

* ``tsn`` (TSN / CoViAR): split them into K equal contiguous segments; training draws one frame per
  segment uniformly at random, evaluation takes each segment's centre. A clip with fewer than K valid
  P-frames repeats frames (segments then share a frame).
* ``onset``: K frames evenly spaced from the first P-frame to the apex (or to the last P-frame when
  the apex is not annotated), so the whole neutral -> apex onset is covered; no randomness.

Residuals and motion vectors of the chosen P-frames are returned as-is: in ``accumulate`` mode each is
already relative to its GOP's I-frame (CoViAR), so a frame needs no other frame of its GOP.
Choice: the I-frame handed to the model is that of the GOP holding the middle segment's frame.

The segment arithmetic (equal segments ``floor(i * n / k)``, their centres, centred runs) is written once,
over an array namespace: numpy for serving (``fer_jax.serving.prepare``) and the benchmarks, TensorFlow
for tf.data. So ``segment_centres`` / ``centred_runs`` (numpy, no TensorFlow import) give exactly the
positions ``tsn_positions`` / ``frame_positions`` give at evaluation. TensorFlow is imported by the
tf.data functions only when called.
"""

from __future__ import annotations

import types

import numpy as np

from data_pipelines.tf_compat import import_tf


def _tf_ops():
    """numpy's names for the few array ops the segment arithmetic uses, on TensorFlow tensors."""
    tf = import_tf()
    return types.SimpleNamespace(arange=tf.range, minimum=tf.minimum, maximum=tf.maximum, reshape=tf.reshape)


def segment_bounds(n, k: int, xp=np) -> tuple:
    """Start and stop (exclusive) of each of ``k`` equal contiguous segments of ``n`` frames:
    ``floor(i * n / k)`` in integer arithmetic (empty segments when n < k)."""
    edges = xp.arange(k + 1) * n // k
    return edges[:-1], edges[1:]


def segment_centres(n, k: int, xp=np):
    """[k] evaluation-time TSN positions in [0, n): the centre of each of ``k`` equal segments (the upper
    middle of an even one); a clip with fewer than ``k`` frames repeats frames."""
    start, stop = segment_bounds(n, k, xp)
    return xp.minimum(start + xp.maximum(stop - start, 1) // 2, xp.maximum(n - 1, 0))


def centred_runs(n, segments: int, per_segment: int, xp=np):
    """[segments * per_segment] evaluation-time frame numbers in [0, n): a run of ``per_segment``
    consecutive frames centred in each of ``segments`` equal segments (the lower middle); short clips
    repeat their last frame."""
    start, stop = segment_bounds(n, segments, xp)
    offset = xp.maximum(stop - start - per_segment, 0) // 2
    t = (start + offset)[:, None] + xp.arange(per_segment)[None, :]
    return xp.minimum(xp.reshape(t, [-1]), xp.maximum(n - 1, 0))


def valid_p_frames(frame_types) -> tuple:
    """Flat indices into [G*P] of the valid P-frames and their frame numbers in the clip (t = g*gop + p)."""
    tf = import_tf()
    gop = tf.shape(frame_types)[1]
    p_types = frame_types[:, 1:]
    flat = tf.reshape(p_types, [-1])
    idx = tf.cast(tf.where(tf.equal(flat, 2))[:, 0], tf.int32)
    idx = tf.cond(tf.size(idx) > 0, lambda: idx, lambda: tf.zeros([1], tf.int32))  # single-frame clip
    p = gop - 1
    t = (idx // p) * gop + idx % p + 1
    return idx, t


def tsn_positions(n, k: int, train: bool, seed=None):
    """Positions in [0, n) of K segments' frames (at evaluation :func:`segment_centres`); ``seed`` ([2] int)
    keys the random draw in training."""
    tf = import_tf()
    n = tf.cast(n, tf.int32)
    if not train:
        return segment_centres(n, k, _tf_ops())
    start, stop = segment_bounds(n, k, _tf_ops())
    length = tf.maximum(stop - start, 1)
    u = tf.random.stateless_uniform([k], seed=seed)
    offset = tf.cast(tf.floor(u * tf.cast(length, tf.float32)), tf.int32)
    return tf.minimum(start + offset, n - 1)


def onset_positions(t, apex_index, k: int):
    """K evenly spaced positions from the first valid P-frame to the apex's (or the last)."""
    tf = import_tf()
    n = tf.size(t)
    upto = tf.reduce_sum(tf.cast(t <= tf.cast(apex_index, tf.int32), tf.int32)) - 1
    last = tf.where(apex_index >= 0, tf.maximum(upto, 0), n - 1)
    pos = tf.round(tf.linspace(0.0, tf.cast(last, tf.float32), k))
    return tf.cast(pos, tf.int32)


def sample_segments(example: dict, k: int, mode: str, train: bool, seed=None, decode_residual=None) -> dict:
    """-> residuals [K,S,S,3] int16, motion_vectors [K,S/4,S/4,2], iframe [S,S,3], frame_index [K].

    ``example["residuals"]`` is [G*P, S, S, 3] or, with ``decode_residual`` given, the [G*P] still
    encoded frames; then only the K picked ones are decoded.
    """
    tf = import_tf()
    idx, t = valid_p_frames(example["frame_types"])
    if mode == "tsn":
        pos = tsn_positions(tf.size(idx), k, train, seed)
    elif mode == "onset":
        pos = onset_positions(t, example["apex_index"], k)
    else:
        raise ValueError(f"segment_mode must be 'tsn' or 'onset', got {mode!r}")
    pick = tf.gather(idx, pos)
    res = tf.gather(example["residuals"], pick)
    if decode_residual is not None:
        res = tf.map_fn(decode_residual, res, fn_output_signature=tf.int16)
    mv = example["motion_vectors"]
    mv = tf.reshape(mv, tf.concat([[-1], tf.shape(mv)[2:]], 0))
    p = tf.shape(example["frame_types"])[1] - 1
    gop_of_middle = pick[k // 2] // p
    return {
        "residuals": res,
        "motion_vectors": tf.gather(mv, pick),
        "iframe": example["iframes"][gop_of_middle],
        "frame_index": tf.gather(t, pos),
    }


def frame_positions(n, segments: int, per_segment: int, train: bool, seed=None):
    """[segments * per_segment] frame numbers in [0, n): ``segments`` equal parts of the clip, a run of
    ``per_segment`` consecutive frames from each (random start in training, centred at evaluation:
    :func:`centred_runs`). Short clips repeat their last frame."""
    tf = import_tf()
    n = tf.cast(n, tf.int32)
    if not train:
        return centred_runs(n, segments, per_segment, _tf_ops())
    start, stop = segment_bounds(n, segments, _tf_ops())
    room = tf.maximum(stop - start - per_segment, 0)  # start offsets that keep the run in its segment
    u = tf.random.stateless_uniform([segments], seed=seed)
    offset = tf.cast(tf.floor(u * tf.cast(room + 1, tf.float32)), tf.int32)
    t = (start + offset)[:, None] + tf.range(per_segment)[None, :]
    return tf.minimum(tf.reshape(t, [-1]), n - 1)


def window_positions(n, w: int, train: bool, seed=None):
    """Frame numbers ``start .. start + w - 1`` of one contiguous window (random start in training, the
    centred window at evaluation). Positions past the clip's end are returned as they are (>= n): the
    caller clamps frames and masks their targets."""
    tf = import_tf()
    room = tf.maximum(n - w, 0)
    if train:
        u = tf.random.stateless_uniform([], seed=seed)
        start = tf.cast(tf.floor(u * tf.cast(room + 1, tf.float32)), tf.int32)
    else:
        start = room // 2
    return start + tf.range(w)


def compressed_at(example: dict, t, decode_residual=None) -> dict:
    """Residuals and motion vectors at frame numbers ``t`` [W] (zeros at I-frames: nothing changed
    relative to the GOP's I-frame) and the I-frame of the middle frame's GOP."""
    tf = import_tf()
    gop = tf.shape(example["frame_types"])[1]
    p = gop - 1
    g, q = t // gop, t % gop
    is_p = q > 0
    flat = g * p + tf.maximum(q - 1, 0)
    res = tf.gather(example["residuals"], flat)
    if decode_residual is not None:
        res = tf.map_fn(decode_residual, res, fn_output_signature=tf.int16)
    res = res * tf.cast(is_p, res.dtype)[:, None, None, None]
    mv = example["motion_vectors"]
    mv = tf.gather(tf.reshape(mv, tf.concat([[-1], tf.shape(mv)[2:]], 0)), flat)
    mv = mv * tf.cast(is_p, mv.dtype)[:, None, None, None]
    return {"residuals": res, "motion_vectors": mv, "iframe": example["iframes"][g[tf.size(t) // 2]]}
