"""Decode a canonical MPEG-4 stream GOP by GOP, with the codec's motion vectors exported.

P-frames are never converted to RGB on the default ``colour="yuv"`` path: the decoded 4:2:0 planes are
motion-compensated as they are (luma at full size, chroma at half size with MPEG-4's chroma vectors) and
only the residual is mapped to RGB by BT.601's 3x3 matrix. ``colour="rgb"`` converts every frame with
swscale and compensates RGB instead. Both give the same residual up to rounding;
``benchmarks/bench_extract.py`` measures which is faster (yuv: about 1.8x faster at 112 px).
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
# _SWS_THREADS: RGB conversions of these small frames use one swscale thread; swscale's default (one slice
# per core) costs more in thread hand-offs than it saves at 112 px, ~4x more on a 16-core machine.


class NotCanonical(Exception):
    """The stream is decodable but not I + (gop-1) P-frames at the expected size (internal signal)."""


@dataclasses.dataclass
class Gop:
    """The decoded frames of one GOP (an I-frame and up to gop-1 P-frames)."""

    iframe_rgb: np.ndarray | None  # uint8 [H, W, 3]; None when decoded with iframe_rgb=False
    # per frame (None: not kept): yuv420p as decoded, uint8 [3H/2, W]; or RGB0 uint8 [H, W, 4]
    planes: list[np.ndarray | None]
    mvs: list[bytes | None]  # FFmpeg's exported vectors per P-frame (raw motion.MV_DTYPE records)
    pts: list[int]  # frame index at the canonical frame rate
    height: int = 0
    width: int = 0


def _rgb0(rgb: np.ndarray) -> np.ndarray:
    out = np.zeros((*rgb.shape[:2], 4), np.uint8)
    out[..., :3] = rgb
    return out


def decode_gops(
    source: bytes | str | os.PathLike, *, size: int | tuple[int, int], gop: int, colour: str = "yuv",
    iframe_rgb: bool = True, keep_planes: set[int] | None = None,
) -> Iterator[Gop]:
    """Yield the GOPs of a canonical stream; raise :class:`NotCanonical` when the stream is not one.

    ``size``: side of a square stream, or (height, width) (CoViAR's 340x256 re-encode is (256, 340)).
    ``iframe_rgb=False`` skips swscale's RGB conversion of I-frames (residual-only inference needs none).
    ``keep_planes``: frame indices whose planes are copied out of the decoder (``None``: all); the others
    get ``None`` (the device backend needs the I-frames and the residual frames only).
    A stream is canonical when its video is MPEG-4 Part 2 at that size in yuv420p and the
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
        height, width = motion._hw(size)
        if ctx.name != "mpeg4" or ctx.width != width or ctx.height != height:
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
                rgb = frame.to_ndarray(format="rgb24", threads=1) if iframe_rgb or colour == "rgb" else None
                keep = keep_planes is None or index in keep_planes
                plane = (frame.to_ndarray() if colour == "yuv" else _rgb0(rgb)) if keep else None
                current = Gop(iframe_rgb=rgb if iframe_rgb else None, planes=[plane], mvs=[], pts=[index],
                              height=height, width=width)
                continue
            side = frame.side_data.get("MOTION_VECTORS")
            if keep_planes is not None and index not in keep_planes:
                current.planes.append(None)
            else:
                current.planes.append(frame.to_ndarray() if colour == "yuv" else
                                      _rgb0(frame.to_ndarray(format="rgb24", threads=1)))
            current.mvs.append(None if side is None else bytes(side))
            current.pts.append(index)
        if current is not None:
            yield current


def _split_yuv(planes: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
    """[N, 3H/2, W] packed yuv420p -> Y [N, H, W] and interleaved UV [N, H/2, W/2, 2] (uint8)."""
    n, w = planes.shape[0], planes.shape[2]
    chroma = planes[:, h:].reshape(n, 2, h // 2, w // 2)
    return planes[:, :h], np.ascontiguousarray(chroma.transpose(0, 2, 3, 1))


def _residuals(g: Gop, disp: np.ndarray, refs: np.ndarray, ref_index, colour: str, out: np.ndarray,
               slots: np.ndarray | None = None) -> None:
    """Write the RGB residuals of the GOP's P-frames (or only its P slots ``slots``, in that order, with
    ``disp`` / ``refs`` / ``ref_index`` already restricted to them) into ``out`` [P or len(slots), S, S, 3]."""
    h, w = g.height, g.width
    cur = np.stack([g.planes[1 + i] for i in (range(len(g.planes) - 1) if slots is None else slots)])
    if colour == "yuv":
        ref_y, ref_uv = _split_yuv(refs, h)
        cur_y, cur_uv = _split_yuv(cur, h)
        pred_y = motion.predict(motion.upsample_halfpel(ref_y), motion.gather_index(disp, h, ref_index, w))
        cdisp = motion.chroma_displacement(disp)
        up_uv = motion.upsample_halfpel(ref_uv, channel_axis=True)
        pred_uv = motion.predict(up_uv, motion.gather_index(cdisp, h // 2, ref_index, w // 2))
        dy = np.subtract(cur_y, pred_y, dtype=np.int16)
        duv = np.subtract(cur_uv, pred_uv, dtype=np.int16)
        motion.yuv_difference_to_rgb(dy, duv, out=out)
    else:
        pred = motion.predict(motion.upsample_halfpel(refs, channel_axis=True),
                              motion.gather_index(disp, h, ref_index, w))
        np.subtract(cur[..., :3], pred[..., :3], out=out, dtype=np.int16)


def gop_tensors(g: Gop, *, gop: int, mode: str, colour: str,
                residual_slots: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One GOP's contract arrays (padded to ``gop`` frames): MVs, residuals, frame types, pts.

    ``mode="accumulate"`` traces each cell back to the I-frame (vectors and residual relative to the
    I-frame); ``mode="frame"`` uses each P-frame's own vectors against the previous decoded frame.
    ``residual_slots`` (P-slot indices 0..P-1; ``None`` = all): compute residuals only there and leave the
    other slots zero. Inference needs residuals of the few sampled frames only, and residuals are a
    large part of the extraction cost; vectors are still computed for every frame (accumulation needs them).
    """
    h, w = g.height, g.width
    p_real = len(g.planes) - 1
    mvs = np.zeros((gop - 1, h // motion.CELL, w // motion.CELL, 2), np.float16)
    res = np.zeros((gop - 1, h, w, 3), np.int16)
    types = np.zeros((gop,), np.uint8)
    pts = np.full((gop,), -1, np.int64)
    types[0] = FRAME_I
    types[1 : p_real + 1] = FRAME_P
    pts[: p_real + 1] = g.pts
    if p_real:
        if motion.refers_to_future(g.mvs):
            raise NotCanonical(f"frames {g.pts[1]}..{g.pts[-1]}: vectors refer to a future frame (B-frames)")
        steps = motion.block_fields(g.mvs, (h, w))  # [P, H/4, W/4, 2] half-pel
        if mode not in ("accumulate", "frame"):
            raise ValueError(f"mode must be 'accumulate' or 'frame', got {mode!r}")
        disp = motion.accumulate(steps) if mode == "accumulate" else steps
        slots = None
        if residual_slots is not None:
            slots = np.unique(np.asarray(residual_slots, np.int64))
            slots = slots[(slots >= 0) & (slots < p_real)]
        if slots is None:
            if mode == "accumulate":
                _residuals(g, disp, g.planes[0][None], None, colour, res[:p_real])
            else:
                _residuals(g, disp, np.stack(g.planes[:-1]), np.arange(p_real), colour, res[:p_real])
        elif slots.size:
            part = np.empty((slots.size, h, w, 3), np.int16)
            if mode == "accumulate":
                _residuals(g, disp[slots], g.planes[0][None], None, colour, part, slots)
            else:
                refs = np.stack([g.planes[i] for i in slots])
                _residuals(g, disp[slots], refs, np.arange(slots.size), colour, part, slots)
            res[slots] = part
        mvs[:p_real] = disp * np.float16(0.5)
    return {"motion_vectors": mvs, "residuals": res, "frame_types": types, "pts": pts}
