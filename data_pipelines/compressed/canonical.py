"""Canonicalise any video PyAV can open into the stream the extractor reads: MPEG-4 Part 2, I + P only.

Steps, all in memory: decode the first video stream; undo rotation metadata; resample to a constant
frame rate (variable-frame-rate input repeats or drops frames to the output clock); crop one fixed square
(the centred largest square by default, or the face square of :mod:`.faces`); scale it to ``size`` with
swscale's area filter; encode MPEG-4 Part 2 with a fixed GOP, no B-frames and scene-cut I-frames disabled,
at a fixed quantiser. The result is an ``.mp4`` byte string, which is also what datasets store.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from data_pipelines.compressed.clip import ExtractionError

if TYPE_CHECKING:  # PyAV is imported where it is used, so importing this module stays cheap
    import av

DEFAULT_FPS = 25.0  # used when a source declares no frame rate
Box = tuple[int, int, int]  # (x0, y0, side) of a square crop in source pixels


def encode_canonical(frames: Iterable[np.ndarray], *, size: int, fps: float, gop: int, qscale: int = 2) -> bytes:
    """Encode uint8 [S, S, 3] RGB frames as MPEG-4 Part 2 (.mp4 bytes): GOP ``gop``, no B-frames.

    ``qscale`` is MPEG-4's fixed quantiser (1 best .. 31 worst); 2 keeps coding noise well below facial
    motion while the stream stays several times smaller than raw frames (see the benchmark).
    """
    from fractions import Fraction

    import av

    rate = Fraction(fps).limit_denominator(1001)
    buf = io.BytesIO()
    n = 0
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        ctx = stream.codec_context
        ctx.gop_size = gop
        ctx.max_b_frames = 0
        # A fixed quantiser via qmin = qmax: PyAV does not copy global_quality onto each frame as the
        # ffmpeg CLI does for -q:v, so the QSCALE flag alone would not take effect.
        ctx.options = {"sc_threshold": "1000000000", "qmin": str(qscale), "qmax": str(qscale)}
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(format="yuv420p", threads=1)  # small frame: threads cost more than they save
            frame.pts = n
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
            n += 1
        if n == 0:
            raise ValueError("no frames to encode")
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def open_video(path: str | os.PathLike):
    """Open ``path`` with PyAV and return (container, first video stream); clear errors otherwise."""
    import av

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ExtractionError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise ExtractionError(path, "empty file (0 bytes)")
    try:
        container = av.open(path)
    except av.FFmpegError as e:
        raise ExtractionError(path, f"not a readable media file ({e.strerror or e})") from e
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise ExtractionError(path, f"no video stream (streams: {', '.join(kinds)})")
    return container, container.streams.video[0]


def source_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else DEFAULT_FPS


def iter_source_frames(path: str | os.PathLike, *, fps: float | None) -> Iterator[tuple[int, "av.VideoFrame"]]:
    """Yield (output index, frame) pairs on a constant ``fps`` clock (``None``: the source's own rate).

    Each output tick shows the latest source frame whose timestamp is not after it, so variable frame
    rates become constant ones by repeating or dropping frames. Decode errors mid-stream are fatal.
    """
    import av

    container, stream = open_video(path)
    target = fps or source_fps(stream)
    with container:
        stream.thread_type = "AUTO"
        prev, tick, t0 = None, 0, None
        try:
            for i, frame in enumerate(container.decode(stream)):
                t = frame.time if frame.time is not None else i / target
                t0 = t if t0 is None else t0
                t -= t0
                if prev is not None:
                    while tick / target < t - 1e-6:
                        yield tick, prev
                        tick += 1
                prev = frame
        except av.FFmpegError as e:
            raise ExtractionError(path, f"decode failed after {tick} frames ({e.strerror or e})") from e
        if prev is not None:
            yield tick, prev


def to_rgb(frame) -> np.ndarray:
    """Decoded frame -> upright uint8 RGB (rotation metadata applied, as players do)."""
    rgb = frame.to_ndarray(format="rgb24")
    k = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def centre_square(height: int, width: int) -> Box:
    side = min(height, width)
    return (width - side) // 2, (height - side) // 2, side


def crop_resize(rgb: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Crop the square ``box`` (edge-padded where it leaves the frame) and area-resize it to ``size``."""
    import av

    x0, y0, side = box
    h, w = rgb.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        x0, y0 = x0 + pad, y0 + pad
    crop = np.ascontiguousarray(rgb[y0 : y0 + side, x0 : x0 + side])
    if side == size:
        return crop
    frame = av.VideoFrame.from_ndarray(crop, format="rgb24")
    return frame.reformat(width=size, height=size, format="rgb24", interpolation="AREA").to_ndarray()


def canonical_from_file(
    path: str | os.PathLike, *, size: int, gop: int, fps: float | None, box: Box | None = None, qscale: int = 2
) -> tuple[bytes, dict]:
    """Re-encode ``path`` to the canonical stream; returns (mp4 bytes, facts about the source)."""
    container, stream = open_video(path)
    with container:
        info = {"codec": stream.codec_context.name, "source_fps": source_fps(stream)}
    out_fps = fps or info["source_fps"]
    state = {"n": 0}

    def frames():
        for _, frame in iter_source_frames(path, fps=out_fps):
            rgb = to_rgb(frame)
            state["n"] += 1
            yield crop_resize(rgb, box or centre_square(*rgb.shape[:2]), size)

    try:
        data = encode_canonical(frames(), size=size, fps=out_fps, gop=gop, qscale=qscale)
    except ValueError as e:
        if state["n"] == 0:
            raise ExtractionError(path, "no decodable video frames") from e
        raise
    info["fps"] = out_fps
    return data, info
