"""Encode rendered frames as real video files with PyAV (imported lazily).

Default: MPEG-4 Part 2, GOP 12, no B-frames, scene-cut I-frames disabled, a fixed quantiser
(qscale 2 via qmin = qmax, the same setting ``data_pipelines.compressed`` uses when it re-encodes, so
synthetic and re-encoded residuals carry the same quantisation noise), one encoder thread. That
is the canonical compressed-domain layout (1 I-frame + 11 P-frames per GOP), so extraction can read
motion vectors straight from these files without re-encoding, and output is bit-identical run to
run. H.264 (``libx264``) is available for testing the re-encode path.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from data_pipelines.atomic import atomic_path

GOP = 12


class VideoWriteError(OSError):
    """A clip could not be encoded; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def encode_video(frames: np.ndarray, path: str | os.PathLike, fps: float = 25.0,
                 codec: str = "mpeg4", gop: int = GOP, qscale: int = 2) -> Path:
    """Write uint8 RGB ``frames`` [T, H, W, 3] to ``path`` atomically (temp file, then rename).

    ``qscale`` is the fixed MPEG-4 quantiser (1 best .. 31 worst); for ``libx264`` it maps to CRF
    ``4 * qscale + 10``.
    """
    import av

    path = Path(path)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise VideoWriteError(path, f"expected uint8 [T, H, W, 3] frames, got {frames.dtype} "
                                    f"{frames.shape}")
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise VideoWriteError(path, f"frame size {w}x{h} must be even for yuv420p")
    try:
        with atomic_path(path) as tmp, av.open(tmp, "w", format="mp4") as container:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.gop_size = gop
            stream.codec_context.max_b_frames = 0
            stream.thread_count = 1
            if codec == "libx264":  # x264 reads the scene-cut threshold the other way round: 0 = off
                options = {"sc_threshold": "0", "bf": "0", "refs": "1", "keyint_min": str(gop),
                           "crf": str(4 * qscale + 10)}
            else:
                options = {"sc_threshold": "1000000000", "qmin": str(qscale), "qmax": str(qscale)}
            stream.codec_context.options = options
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except VideoWriteError:
        raise
    except Exception as exc:  # PyAV raises several unrelated types (FFmpegError, ValueError, ...)
        raise VideoWriteError(path, f"encoding with {codec} failed: {exc}") from exc
    return path


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, list[int]]:
    """Decode ``path`` to uint8 RGB frames [T, H, W, 3] and their picture types (1 I, 2 P, 3 B)."""
    import av

    frames, types = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            types.append(int(frame.pict_type))
    return np.stack(frames), types
