"""Decode a canonical MPEG-4 stream GOP by GOP, with the codec's motion vectors exported.

P-frames are never converted to RGB on the default ``colour="yuv"`` path: their decoded planes are used
as they are (chroma repeated to full size) and only the residual is mapped to RGB, by a 3x3 integer
matrix. ``colour="rgb"`` converts every frame with swscale instead; both give the same residual up to
rounding, and ``benchmarks/bench_extract.py`` measures which is faster.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterator

import numpy as np

from data_pipelines.compressed import motion
from data_pipelines.compressed.clip import FRAME_I, FRAME_P

COLOURS = ("yuv", "rgb")


class NotCanonical(Exception):
    """The stream is decodable but not I + (gop-1) P-frames at the expected size (internal signal)."""


@dataclasses.dataclass
class Gop:
    """The decoded frames of one GOP (an I-frame and up to gop-1 P-frames)."""

    iframe_rgb: np.ndarray  # uint8 [S, S, 3]
    planes: list[np.ndarray]  # uint8 [S, S, 4] per frame: (Y, U, V, 0) or (R, G, B, 0)
    mvs: list[np.ndarray | None]  # FFmpeg's exported vectors per P-frame
    pts: list[int]  # frame index at the canonical frame rate


def _yuv_planes(frame) -> np.ndarray:
    """yuv420p frame -> uint8 [H, W, 4] = (Y, U, V, 0), chroma repeated 2x2, no colour conversion."""
    a = frame.to_ndarray()  # [H*3/2, W]: the Y rows, then the U and V planes packed row-major
    h, w = frame.height, frame.width
    out = np.zeros((h, w, 4), np.uint8)
    out[..., 0] = a[:h]
    chroma = a[h:].reshape(2, h // 2, 1, w // 2, 1)
    out[..., 1:3].reshape(h // 2, 2, w // 2, 2, 2)[...] = chroma.transpose(1, 2, 3, 4, 0)
    return out


def _rgb_planes(frame) -> np.ndarray:
    """Any frame -> uint8 [H, W, 4] = (R, G, B, 0) via swscale."""
    rgb = frame.to_ndarray(format="rgb24")
    out = np.zeros((*rgb.shape[:2], 4), np.uint8)
    out[..., :3] = rgb
    return out


def decode_gops(
    source: bytes | str | os.PathLike, *, size: int, gop: int, colour: str = "yuv"
) -> Iterator[Gop]:
    """Yield the GOPs of a canonical stream; raise :class:`NotCanonical` when the stream is not one.

    A stream is canonical when its video is MPEG-4 Part 2 at ``size`` x ``size`` in yuv420p and the
    frame types are exactly I at every multiple of ``gop`` and P elsewhere (no B-frames, no extra
    scene-cut I-frames), with vectors referring to the previous frame only.
    """
    import av

    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")
    f = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with av.open(f) as container:
        if not container.streams.video:
            raise NotCanonical("no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx.name != "mpeg4" or ctx.width != size or ctx.height != size:
            raise NotCanonical(f"{ctx.name} {ctx.width}x{ctx.height}")
        ctx.options = {"flags2": "+export_mvs"}
        current: Gop | None = None
        for index, frame in enumerate(container.decode(stream)):
            kind = int(frame.pict_type)
            expect_i = index % gop == 0
            if frame.format.name != "yuv420p" or (kind == 1) != expect_i or kind not in (1, 2):
                raise NotCanonical(f"frame {index}: type {kind} format {frame.format.name}")
            if expect_i:
                if current is not None:
                    yield current
                rgb = frame.to_ndarray(format="rgb24")
                if colour == "yuv":
                    plane = _yuv_planes(frame)
                else:
                    plane = np.zeros((*rgb.shape[:2], 4), np.uint8)
                    plane[..., :3] = rgb
                current = Gop(iframe_rgb=rgb, planes=[plane], mvs=[], pts=[index])
                continue
            side = frame.side_data.get("MOTION_VECTORS")
            mvs = None if side is None else side.to_ndarray()
            if mvs is not None and np.any(mvs["source"] > 0):
                raise NotCanonical(f"frame {index}: vectors refer to a future frame")
            current.planes.append(_yuv_planes(frame) if colour == "yuv" else _rgb_planes(frame))
            current.mvs.append(mvs)
            current.pts.append(index)
        if current is not None:
            yield current


def gop_tensors(g: Gop, *, gop: int, mode: str, colour: str) -> dict[str, np.ndarray]:
    """One GOP's contract arrays (padded to ``gop`` frames): MVs, residuals, frame types, pts.

    ``mode="accumulate"`` traces each pixel back to the I-frame (vectors and residual relative to the
    I-frame); ``mode="frame"`` uses each P-frame's own vectors against the previous decoded frame.
    """
    s = g.iframe_rgb.shape[0]
    p_real = len(g.planes) - 1
    mvs = np.zeros((gop - 1, s // motion.CELL, s // motion.CELL, 2), np.float16)
    res = np.zeros((gop - 1, s, s, 3), np.int16)
    types = np.zeros((gop,), np.uint8)
    pts = np.full((gop,), -1, np.int64)
    types[0] = FRAME_I
    types[1 : p_real + 1] = FRAME_P
    pts[: p_real + 1] = g.pts
    if p_real:
        steps = motion.to_pixels(motion.block_fields(g.mvs, s))  # [P, S, S, 2] half-pel
        if mode == "accumulate":
            disp = np.empty_like(steps)
            prev = np.zeros_like(steps[0])
            for t in range(p_real):
                prev = disp[t] = motion.compose(prev, steps[t])
            pred = motion.predict(motion.upsample_halfpel(g.planes[0][None]), disp)
        elif mode == "frame":
            disp = steps
            refs = motion.upsample_halfpel(np.stack(g.planes[:-1]))
            pred = motion.predict(refs, disp, np.arange(p_real))
        else:
            raise ValueError(f"mode must be 'accumulate' or 'frame', got {mode!r}")
        diff = np.subtract(np.stack(g.planes[1:])[..., :3], pred[..., :3], dtype=np.int16)
        res[:p_real] = motion.yuv_difference_to_rgb(diff) if colour == "yuv" else diff
        mvs[:p_real] = (motion.to_cells(disp) * 0.5).astype(np.float16)
    return {"motion_vectors": mvs, "residuals": res, "frame_types": types, "pts": pts}
