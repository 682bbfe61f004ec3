"""``--crop-faces``: one fixed square around the face of a clip, from dlib's HOG detector.

Why one fixed square per clip rather than a per-frame box: a crop that follows the face adds its own
movement to every pixel, i.e. fake global motion in every motion vector and residual. So the per-frame
track is only used to choose a square that contains the face throughout the clip.

Detection runs on every ``every``-th frame (default 5, 0.2 s at 25 fps) and is linearly interpolated in
between: faces move little in that time, and HOG detection costs ~10-20 ms a frame, more than decoding.
The track is median-smoothed (window ``2 * every + 1`` frames) so a single false or missed detection
cannot move the square. The square is centred on the median face centre and large enough to hold every
smoothed box enlarged by ``margin`` (dlib boxes are tight: brows to lips), clamped to the frame.
"""

from __future__ import annotations

import os

import numpy as np

from data_pipelines.compressed.canonical import Box, open_video
from data_pipelines.compressed.clip import ExtractionError


def _moving_median(x: np.ndarray, window: int) -> np.ndarray:
    if len(x) < 3 or window < 3:
        return x
    half = window // 2
    padded = np.pad(x, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=-1)


def detect_track(path: str | os.PathLike, *, every: int = 5, max_side: int = 480) -> tuple[np.ndarray, tuple[int, int]]:
    """Per-frame face boxes [T, 3] = (cx, cy, side) in upright source pixels, and the frame (h, w).

    Frames without a detection are interpolated from their neighbours; raises ``ExtractionError`` when
    no sampled frame has a face.
    """
    import av
    import dlib

    detector = dlib.get_frontal_face_detector()
    container, stream = open_video(path)
    hits: list[tuple[int, float, float, float]] = []
    n, shape = 0, (0, 0)
    with container:
        try:
            for i, frame in enumerate(container.decode(stream)):
                n = i + 1
                if i % every:
                    continue
                k = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4
                h, w = (frame.height, frame.width) if k % 2 == 0 else (frame.width, frame.height)
                shape = (h, w)
                scale = min(1.0, max_side / max(h, w))
                small = frame.reformat(width=max(1, round(frame.width * scale)),
                                       height=max(1, round(frame.height * scale)), format="gray")
                gray = np.ascontiguousarray(np.rot90(small.to_ndarray(), k))
                boxes = detector(gray, 1 if min(gray.shape) < 400 else 0)  # upsample small frames once
                if len(boxes):
                    b = max(boxes, key=lambda r: r.width() * r.height())
                    cx, cy = (b.left() + b.right()) / 2 / scale, (b.top() + b.bottom()) / 2 / scale
                    hits.append((i, cx, cy, max(b.width(), b.height()) / scale))
        except av.FFmpegError as e:
            raise ExtractionError(path, f"decode failed while detecting faces ({e.strerror or e})") from e
    if not hits:
        raise ExtractionError(path, f"no face found in {len(range(0, n, every))} sampled frames (--crop-faces)")
    idx, cx, cy, side = (np.array(c, np.float64) for c in zip(*hits))
    t = np.arange(n)
    track = np.stack([_moving_median(np.interp(t, idx, v), 2 * every + 1) for v in (cx, cy, side)], axis=1)
    return track, shape


def square_from_track(track: np.ndarray, shape: tuple[int, int], margin: float = 1.6) -> Box:
    """The fixed (x0, y0, side) square covering every box of ``track`` enlarged by ``margin``."""
    h, w = shape
    cx, cy = np.median(track[:, 0]), np.median(track[:, 1])
    reach = np.maximum(np.abs(track[:, 0] - cx), np.abs(track[:, 1] - cy)) + margin * track[:, 2] / 2
    side = int(min(round(2 * reach.max()), h, w))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    return x0, y0, side


def face_square(path: str | os.PathLike, *, every: int = 5, margin: float = 1.6) -> Box:
    """Detect, smooth and return the one square crop (x0, y0, side) for ``path``."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    track, shape = detect_track(path, every=every)
    return square_from_track(track, shape, margin)
