"""The paths ``bench_inference.py`` times, as streams: worker processes decode, the device computes.

Every path has the same shape: a :class:`~data_pipelines.compressed.parallel.Producer` maps a per-clip
host function over the clips' file bytes in ``--workers`` spawned processes (bounded in flight, in
order); the main process collates ``batch`` results, ships them to the device and dispatches the jitted
work without waiting, so host decoding of the next batch overlaps device work on this one. Throughput is
clips over wall time for the whole stream, waited for at the end.

* ``bare_decode``: PyAV decodes every frame, nothing else (no vectors, no conversion, no model).
* ``compressed[numpy]``: the host extracts (``extract_stream(residual_frames=K sampled)``) and ships the
  K int16 residuals; the device does /255 and the residual-only MI-FER model.
* ``compressed[jax]``: the host decodes (planes + raw vectors, no RGB) and ships compact arrays
  (``device.pack_gops``); the device rasterises, accumulates, compensates, converts, then runs the model.
* ``rgb_all``: the host decodes every frame to RGB (swscale, at the model size) and ships uint8 frames;
  the device does /255 and the per-frame ResNet on all T frames + temporal mean + head.

Worker functions live at module level (spawned workers import this module: numpy and PyAV only).
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable

import numpy as np

GOP = 12


def sampled_frames(n_frames: int, gop: int, k: int) -> np.ndarray:
    """Frame indices of the K evaluation segments' P-frames (the same ones ``clip_inputs`` picks): the
    centres of K equal segments of the clip's P-frames (``data_pipelines.sampling.segment_centres``: numpy
    only, so worker processes import neither fer_jax nor TensorFlow)."""
    from data_pipelines.sampling import segment_centres

    p = np.array([t for t in range(n_frames) if t % gop], np.int64)
    if p.size == 0:
        return np.zeros(0, np.int64)
    return p[segment_centres(p.size, k)]


def frame_count(data: bytes) -> int:
    import io

    import av

    with av.open(io.BytesIO(data)) as c:
        return int(c.streams.video[0].frames) or sum(1 for _ in c.decode(video=0))


# --- per-clip host functions (run in worker processes) -------------------------------------------------


def numpy_inputs(data: bytes, hw: tuple[int, int], k: int, n_frames: int) -> np.ndarray:
    """Host extraction of the K sampled residuals -> int16 [K, H, W, 3] (the numpy backend)."""
    from data_pipelines.compressed.extract import extract_stream

    want = sampled_frames(n_frames, GOP, k)
    arr = extract_stream(data, size=hw, gop=GOP, residual_frames=want)
    res = arr["residuals"].reshape(-1, *arr["residuals"].shape[2:])
    return res[[(t // GOP) * (GOP - 1) + t % GOP - 1 for t in want]]


def jax_inputs(data: bytes, hw: tuple[int, int], k: int, n_frames: int) -> dict[str, np.ndarray]:
    """Host decode only -> the compact arrays of the device backend (``device.pack_gops``)."""
    from data_pipelines.compressed.parallel import decode_compact

    return decode_compact(data, hw, GOP, residual_frames=sampled_frames(n_frames, GOP, k))


def rgb_inputs(data: bytes, hw: tuple[int, int]) -> np.ndarray:
    from data_pipelines.compressed.parallel import decode_rgb

    return decode_rgb(data, *hw)


def bare_inputs(data: bytes) -> int:
    from data_pipelines.compressed.parallel import bare_decode

    return bare_decode(data)


# --- device side ----------------------------------------------------------------------------------------


def jax_batch_fn(k: int, n_frames: int) -> Callable[[list[dict]], tuple[dict, np.ndarray]]:
    """Host-side collation of B packs -> (device batch, pick [B, K] rows of the residual output: each
    clip's K sampled frames, repeats included, as ``clip_inputs`` picks them)."""
    from data_pipelines.compressed import device

    want = sampled_frames(n_frames, GOP, k)

    def collate(packs: list[dict]) -> tuple[dict, np.ndarray]:
        batch, spans = device.collate(packs)
        pick = []
        for p, sp in zip(packs, spans):
            frames = p["gop_index"] * GOP + p["slot"] + 1  # ascending: pack_gops walks GOPs and slots in order
            pick.append(sp["rows"].start + np.searchsorted(frames, want))
        return batch, np.stack(pick).astype(np.int32)

    return collate


def make_consumers(models: dict[str, Callable], hw: tuple[int, int], k: int, n_frames: int
                   ) -> dict[str, Callable]:
    """Per path, ``results of B clips -> device outputs`` (dispatched, not waited for)."""
    import jax
    import jax.numpy as jnp

    from data_pipelines.compressed import device

    mi, rgb = models["mi_fer"], models["rgb_baseline"]
    scale = jax.jit(lambda x: x.astype(jnp.float32) * (1.0 / 255))
    extract = device.extractor(*hw)
    collate = jax_batch_fn(k, n_frames)

    @jax.jit
    def pick_scale(res, pick):
        return res[pick].astype(jnp.float32) * (1.0 / 255)

    def jax_path(packs):
        batch, pick = collate(packs)
        out = extract(batch)
        return mi(pick_scale(out["residuals"], pick))

    return {"bare_decode": lambda outs: None,
            "compressed[numpy]": lambda outs: mi(scale(np.stack(outs))),
            "compressed[jax]": jax_path,
            "rgb_all": lambda outs: rgb(scale(np.stack(outs)))}


def host_fns(hw: tuple[int, int], k: int, n_frames: int) -> dict[str, Callable[[bytes], Any]]:
    return {"bare_decode": bare_inputs,
            "compressed[numpy]": functools.partial(numpy_inputs, hw=hw, k=k, n_frames=n_frames),
            "compressed[jax]": functools.partial(jax_inputs, hw=hw, k=k, n_frames=n_frames),
            "rgb_all": functools.partial(rgb_inputs, hw=hw)}


def stream(producer, host_fn: Callable, consume: Callable | None, clips: list[bytes], batch: int) -> float:
    """Seconds to push every clip through ``host_fn`` (workers) and ``consume`` (device) in batches of
    ``batch``; ``consume=None`` times the producer alone."""
    import jax

    t = time.perf_counter()
    pending, last = [], None
    for out in producer.imap(host_fn, clips):
        pending.append(out)
        if len(pending) == batch:
            last = consume(pending) if consume else None
            pending = []
    if pending and consume:
        last = consume(pending)
    if last is not None:
        jax.block_until_ready(last)
    return time.perf_counter() - t


def device_only(consume: Callable, host_fn: Callable, clips: list[bytes], batch: int, repeats: int) -> float:
    """Seconds per batch of the device side alone: collation, transfer and jitted work on one prepared
    batch of host results, waited for (min of ``repeats``)."""
    import jax

    outs = [host_fn(c) for c in clips[:batch]]
    jax.block_until_ready(consume(outs))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(consume(outs))
        best = min(best, time.perf_counter() - t)
    return best
