"""A raw file -> the serving inputs of one example, for each input group of a ``ServingSpec``.

``predict`` does exactly what the data path did for training, so a served model sees what it learned on:

* ``compressed``: a video through the same compressed-domain extraction (canonical MPEG-4, ``gop``,
  ``size`` and ``mode`` from the spec's preprocessing); the whole clip as K evaluation segments
  (:func:`clip_inputs`; ``iframe``: the I-frame of the middle segment's GOP, as training samples it) and
  a timeline of one entry per GOP, K segments within its own P-frames.
* ``frames``: a video decoded to RGB with PyAV, centre square crop + resize to ``size`` (the geometry of
  ``data_pipelines.common.sources``), /255; T frames at the centres of T equal segments of the whole clip,
  and a timeline of consecutive windows of ``window`` frames (default: the GOP, 12, so both video paths
  give the same timeline), T frames at the segment centres of each. With ``frames_per_segment`` = m in the
  spec's preprocessing, T/m segments each give a run of m consecutive frames centred in its segment
  (``data_pipelines.sampling.centred_runs``, training's evaluation sampling).
* ``image``: an image file read with Pillow (grey/RGBA -> RGB), same crop + resize, /255; no timeline.

Which frames: the data path's own evaluation sampling (``data_pipelines.sampling.segment_centres`` and
``centred_runs``, numpy), never a copy of it. Only numpy here; PyAV, Pillow and ``data_pipelines`` are
imported when a group needs them, so the models and this module import without them. Every unreadable
input raises :class:`InputError`, which names the file and the reason, so a batch of files can report it
and go on.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import numpy as np

P_FRAME = 2  # frame_types value of a P-frame (see data_pipelines.compressed)
COMPRESSED_KEYS = ("residuals", "motion_vectors", "iframe")  # what the compressed group can feed


class InputError(ValueError):
    """A file that cannot be turned into serving inputs; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = os.fspath(path), reason
        super().__init__(f"{self.path}: {reason}")


@dataclasses.dataclass
class Prepared:
    """One file's inputs: ``inputs`` (one example per key, no batch axis) for the whole file,
    ``windows`` ([W, ...] per key) and ``timeline`` (W dicts with ``start_s``/``end_s``) for its parts,
    ``info`` (counts the record reports: frames, GOPs, fps, image size). With face tracking
    (``fer_jax.serving.face_inputs.prepare_faces``): ``track`` (what the tracker found for this face) and ``window_ok``
    (bool [W]; False where the window holds no frame of the face: ``no_face``)."""

    inputs: dict[str, np.ndarray]
    windows: dict[str, np.ndarray]
    timeline: list[dict[str, Any]]
    info: dict[str, Any]
    track: dict[str, Any] | None = None
    window_ok: np.ndarray | None = None


def clip_inputs(frame_types: np.ndarray, residuals: np.ndarray, motion_vectors: np.ndarray, k: int,
                iframes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One clip's stored arrays -> the model's inputs over the whole clip: K evaluation segments.

    ``residuals`` [G, P, S, S, 3] int16, ``motion_vectors`` [G, P, S/4, S/4, 2] -> float32
    ``residuals`` [K, S, S, 3] (/255) and ``motion_vectors`` [K, S/4, S/4, 2]. A clip with no P-frame
    (a single frame) shows its first slot, all zeros: no motion, no residual. With ``iframes`` [G, S, S, 3]
    uint8: also ``iframe`` [S, S, 3] (/255), the I-frame of the GOP of the middle segment's P-frame
    (``data_pipelines.sampling.sample_segments``; the segments' centres: ``segment_centres``).
    """
    from data_pipelines.sampling import segment_centres

    valid = np.flatnonzero(frame_types[:, 1:].reshape(-1) == P_FRAME)
    if valid.size == 0:
        valid = np.zeros(1, np.int64)
    pick = valid[segment_centres(valid.size, k)]
    res = residuals.reshape((-1,) + residuals.shape[2:])[pick]
    mv = motion_vectors.reshape((-1,) + motion_vectors.shape[2:])[pick]
    out = {"residuals": res.astype(np.float32) / 255.0, "motion_vectors": mv.astype(np.float32)}
    if iframes is not None:
        p = max(frame_types.shape[1] - 1, 1)
        out["iframe"] = iframes[min(int(pick[k // 2]) // p, len(iframes) - 1)].astype(np.float32) / 255.0
    return out


def gop_inputs(frame_types: np.ndarray, residuals: np.ndarray, motion_vectors: np.ndarray, k: int,
               iframes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-GOP inputs for a timeline: [G, K, ...], K segments within each GOP's own P-frames (and that
    GOP's I-frame)."""
    per = [clip_inputs(frame_types[g:g + 1], residuals[g:g + 1], motion_vectors[g:g + 1], k,
                       None if iframes is None else iframes[g:g + 1])
           for g in range(frame_types.shape[0])]
    return {key: np.stack([p[key] for p in per]) for key in per[0]}


def check_spec(spec: Any) -> None:
    """Raise ``ValueError`` if ``spec``'s inputs are not what its input group can make."""
    names, group = list(spec.inputs), spec.input_group
    if not names:
        raise ValueError("the serving spec has no inputs")
    if group == "compressed":
        unknown = [n for n in names if n not in COMPRESSED_KEYS]
        if unknown:
            raise ValueError(f"input group 'compressed' makes {list(COMPRESSED_KEYS)}, not {unknown}")
        return
    want = 4 if group == "frames" else 3
    shape = tuple(spec.inputs[names[0]].shape)
    if len(names) != 1 or len(shape) != want or shape[-1] != 3:
        raise ValueError(f"input group {group!r} feeds one RGB input of rank {want} (..., S, S, 3), "
                         f"got {{{', '.join(f'{n}: {tuple(spec.inputs[n].shape)}' for n in names)}}}")


def size_of(spec: Any) -> int:
    first = next(iter(spec.inputs.values()))
    return int(spec.preprocessing.get("size") or first.shape[-2])


def count_of(spec: Any, key: str, override: int | None) -> int:
    """Segments (compressed) or frames (frames) per example: the override, the spec's, or the input's axis 0."""
    return int(override or spec.preprocessing.get(key) or next(iter(spec.inputs.values())).shape[0])


def prepare(path: str | os.PathLike, spec: Any, segments: int | None = None, backend: str = "numpy") -> Prepared:
    """``path`` -> :class:`Prepared` for ``spec`` (a ``ServingSpec``); ``segments`` overrides K or T.
    ``backend``: where the compressed group's per-pixel maths runs (``extract_stream``: numpy | jax | auto;
    the same numbers). Worker processes (``predict --workers``) keep ``numpy``: one device, many workers."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if spec.input_group == "compressed":
        return _compressed(path, spec, count_of(spec, "segments", segments), backend)
    if spec.input_group == "frames":
        return _frames(path, spec, count_of(spec, "frames", segments))
    return _image(path, spec)


def _compressed(path: str, spec: Any, k: int, backend: str = "numpy") -> Prepared:
    from data_pipelines.compressed import ExtractionError, extract_file

    pre = spec.preprocessing
    try:
        clip = extract_file(path, size=size_of(spec), gop=int(pre.get("gop", 12)),
                            mode=str(pre.get("mode", "accumulate")), backend=backend)
    except ExtractionError as e:
        raise InputError(path, e.reason) from e
    except OSError as e:
        raise InputError(path, f"cannot read ({e})") from e
    keys = list(spec.inputs)
    iframes = clip.iframes if "iframe" in keys else None
    whole = clip_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, k, iframes)
    per_gop = gop_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, k, iframes)
    fps = float(clip.meta.get("fps") or 25.0)
    timeline = []
    for g in range(clip.frame_types.shape[0]):
        valid = clip.pts[g][clip.frame_types[g] > 0]
        timeline.append({"gop": g, "start_s": round(float(valid.min()) / fps, 3),
                         "end_s": round(float(valid.max() + 1) / fps, 3)})
    return Prepared({n: whole[n] for n in keys}, {n: per_gop[n] for n in keys}, timeline,
                    {"gops": int(clip.frame_types.shape[0]), "frames": int(clip.meta.get("n_frames", 0)),
                     "fps": fps})


def _frames(path: str, spec: Any, t: int) -> Prepared:
    from data_pipelines.common.sources import SourceError, read_video_frames

    try:
        frames, fps = read_video_frames(path, size_of(spec))
    except SourceError as e:
        raise InputError(path, e.reason) from e
    except OSError as e:
        raise InputError(path, f"cannot read ({e})") from e
    fps = float(fps or 25.0)
    n, window = len(frames), int(spec.preprocessing.get("window") or spec.preprocessing.get("gop") or 12)
    pick = frame_picker(path, spec, t)
    starts = range(0, n, window)
    name = next(iter(spec.inputs))
    timeline = [{"window": i, "start_s": round(s / fps, 3), "end_s": round(min(s + window, n) / fps, 3)}
                for i, s in enumerate(starts)]
    return Prepared({name: pick(frames)}, {name: np.stack([pick(frames[s:s + window]) for s in starts])},
                    timeline, {"frames": n, "windows": len(timeline), "fps": fps})


def frame_picker(path: str, spec: Any, t: int) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 frames [n, S, S, 3] -> the model's T frames, float /255: runs of the spec's
    ``frames_per_segment`` centred in T / m equal segments (``data_pipelines.sampling.centred_runs``), as
    training evaluates."""
    from data_pipelines.sampling import centred_runs

    per = int(spec.preprocessing.get("frames_per_segment") or 1)
    if t % per:
        raise InputError(path, f"{t} frames are not whole runs of frames_per_segment={per}")
    return lambda x: x[centred_runs(len(x), t // per, per)].astype(np.float32) / 255.0


def _image(path: str, spec: Any) -> Prepared:
    from data_pipelines.common.sources import SourceError, read_image, square_resize

    try:
        image = read_image(path)
    except SourceError as e:
        raise InputError(path, e.reason) from e
    x = square_resize(image, size_of(spec)).astype(np.float32) / 255.0
    return Prepared({next(iter(spec.inputs)): x}, {}, [], {"height": int(image.shape[0]), "width": int(image.shape[1])})
