"""Faces in a video file, for ``extract --crop-faces`` and ``predict --faces``: PyAV decoding in front of the
face pipeline (``data_pipelines.faces``: detector, tracker, crops). Not imported by ``data_pipelines.faces``
itself (it needs PyAV and the compressed package's video opening).

Decoding for detection asks PyAV for frames already shrunk to the detector's resolution (grey for HOG:
cheaper than decoding RGB and converting; RGB for MTCNN and dlib's CNN), with rotation metadata applied as
players do; boxes are scaled back to upright source pixels. A detector with ``detect_batch`` (MTCNN) gets the
sampled frames ``detector.batch`` at a time (one jitted call per batch). ``--crop-faces`` crops ONE fixed
square per clip (``track_square`` of the main track: the face in most frames), so the crop adds no fake
motion to motion vectors and residuals.
"""

from __future__ import annotations

import os
import time

import numpy as np

from data_pipelines.compressed.canonical import Box, open_video, source_fps
from data_pipelines.compressed.clip import ExtractionError
from data_pipelines.faces import FaceSettings, TrackResult, track_square


def track_video(path: str | os.PathLike, settings: FaceSettings | None = None, detector=None) -> TrackResult:
    """Every face track of a video file, in upright source pixels. Raises ``ExtractionError`` for an
    unreadable file; a video without a face gives a result with no track (the caller's ``no_face``)."""
    import av

    path, settings = os.fspath(path), settings or FaceSettings()
    container, stream = open_video(path)
    fps = source_fps(stream)
    tracker = settings.tracker(fps, detector)
    fmt = "rgb24" if getattr(tracker.detector, "wants_rgb", False) else "gray"
    batch = max(1, int(getattr(tracker.detector, "batch", 1)))
    scale, shape, n, pending = 1.0, (0, 0), 0, ([], [])
    with container:
        try:
            for i, frame in enumerate(container.decode(stream)):
                n = i + 1
                k = int(round((getattr(frame, "rotation", 0) or 0) / 90)) % 4
                shape = (frame.height, frame.width) if k % 2 == 0 else (frame.width, frame.height)
                if i % settings.every:
                    tracker.update(i, np.zeros((1, 1), np.uint8))  # counts the frame; no detection
                    continue
                scale = min(1.0, settings.max_side / max(shape))
                small = frame.reformat(width=max(1, round(frame.width * scale)),
                                       height=max(1, round(frame.height * scale)), format=fmt)
                pending[0].append(i)
                pending[1].append(np.ascontiguousarray(np.rot90(small.to_ndarray(), k)))
                if len(pending[0]) >= batch:
                    tracker.update_batch(*pending)
                    pending = ([], [])
        except av.FFmpegError as e:
            if n == 0:
                raise ExtractionError(path, f"decode failed while tracking faces ({e.strerror or e})") from e
    tracker.update_batch(*pending)
    if n == 0:
        raise ExtractionError(path, "no decodable video frame while tracking faces")
    result = tracker.finish(n).rescaled(1.0 / scale, shape)
    result.fps = float(fps)
    return result


def main_square(path: str | os.PathLike, settings: FaceSettings | None = None) -> tuple[Box, dict]:
    """The one square crop (x0, y0, side) around the main face track of ``path``, and what the tracker
    did (``TrackResult.summary()`` + ``main_track`` id + ``seconds``).

    Raises ``ExtractionError`` ("no face found ...") when no sampled frame has a face."""
    start, settings = time.perf_counter(), settings or FaceSettings()
    result = track_video(path, settings)
    main = result.main()
    if main is None:
        raise ExtractionError(path, f"no face found in {result.sampled} sampled frames (--crop-faces)")
    summary = dict(result.summary(), main_track=main.track_id, seconds=round(time.perf_counter() - start, 3))
    return track_square(main.boxes, result.shape, settings.margin), summary


def face_square(path: str | os.PathLike, *, every: int = 5, margin: float = 1.6) -> Box:
    """:func:`main_square`'s square alone, for the default settings with ``every`` and ``margin``."""
    return main_square(path, FaceSettings(every=every, margin=margin))[0]
