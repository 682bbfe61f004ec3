"""A raw file -> serving inputs per face track (``predict --faces``), for the frames, compressed and image groups.

The faces and their crops come from the one face pipeline (``data_pipelines.faces``; video files:
``data_pipelines.faces.video``): MTCNN (or dlib's HOG / CNN) detection every few frames, IoU tracking, smoothed boxes,
the crops of ``data_pipelines.faces.crop``. What is serving's own here: turning each track into model
inputs. Each track becomes one :class:`~fer_jax.serving.prepare.Prepared` with its ``track`` summary, so a
video with two people gives two records. A file without a face gives no track at all: the caller reports
``status: no_face`` and no class.

Geometry per group (why: ``data_pipelines.faces.crop``):

* ``frames``: a smoothed square per frame around the track's box (x ``margin``), or the landmark-aligned chip
  with ``align`` 5/68. The whole-track input takes the model's T frames (runs of ``frames_per_segment``
  centred in equal segments, as without tracking) of the track's own frames; a timeline window holding
  none of the track's frames is ``no_face``.
* ``compressed``: ONE fixed square per track (``track_square``), the video re-encoded inside it, so the crop
  adds no motion; GOPs the track does not reach are ``no_face``, and the whole-track input uses only the
  GOPs it does.
* ``image``: each detection of the image, cropped like a frame.

Framing: the crop's side over the face side is the model's ``margin`` (its face-crop builder's), or, for a
model trained on whole SynthFace frames, ``FaceSettings.crop_margin`` / ``crop_shift`` (the framing of a
SynthFace frame, ``data_pipelines.faces.crop.SYNTHFACE_FRAMING``), so every model sees what it learned on.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from fer_jax.serving.prepare import InputError, Prepared, clip_inputs, count_of, frame_picker, gop_inputs, size_of


def face_framing(input_settings: Any) -> dict[str, float]:
    """``FaceSettings`` fields that frame each face for a model trained with ``input_settings`` (a workdir's
    ``run.input``): {} (the model's own margin) for face-crop datasets, SynthFace's wild builds among them,
    and the rest; for SynthFace's whole lab frames the framing of a lab frame (``crop.SYNTHFACE_FRAMING``)."""
    if input_settings.dataset != "synthface" or "wild" in str(input_settings.builder_config or ""):
        return {}
    from data_pipelines.faces.crop import SYNTHFACE_FRAMING

    margin, shift = SYNTHFACE_FRAMING["lab"]
    return {"crop_margin": margin, "crop_shift": shift}


def framing_margin(face: Any, default: Any) -> float:
    """The crop's side over the face side: the settings' ``crop_margin`` (a model trained on whole frames)
    or the model's own."""
    return float(face.crop_margin if face.crop_margin is not None else default)


def prepare_faces(path: str | os.PathLike, spec: Any, face: Any, segments: int | None = None) -> list[Prepared]:
    """``path`` -> one :class:`Prepared` per face track; [] when no face is found. ``face`` is a
    ``data_pipelines.faces.FaceSettings``; ``segments`` overrides K or T."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if spec.input_group == "compressed":
        return compressed_tracks(path, spec, count_of(spec, "segments", segments), face, size_of(spec))
    if spec.input_group == "frames":
        return frames_tracks(path, spec, count_of(spec, "frames", segments), face, size_of(spec))
    return image_faces(path, spec, face, size_of(spec))


def _track_video(path: str, face: Any):
    from data_pipelines.compressed import ExtractionError
    from data_pipelines.faces.video import track_video

    try:
        return track_video(path, face)
    except ExtractionError as e:
        raise InputError(path, e.reason) from e
    except OSError as e:
        raise InputError(path, f"cannot read ({e})") from e


def frames_tracks(path: str, spec: Any, t: int, face: Any, size: int) -> list[Prepared]:
    """Per face track: T cropped frames for the whole track and per timeline window (see the module doc)."""
    import av

    from data_pipelines.faces import frame_cropper, reframed

    result = _track_video(path, face)
    if not result.tracks:
        return []
    crop = frame_cropper(face, size, framing_margin(face, spec.preprocessing.get("margin", 1.3)))
    crops: list[list[np.ndarray]] = [[] for _ in result.tracks]
    try:
        with av.open(path) as container:
            for i, frame in enumerate(container.decode(container.streams.video[0])):
                rgb = None
                for k, track in enumerate(result.tracks):
                    box = track.box_at(i)
                    if box is not None:
                        box = reframed(box, face.crop_shift)
                        rgb = frame.to_ndarray(format="rgb24") if rgb is None else rgb
                        crops[k].append(crop(rgb, box))
    except av.error.FFmpegError as e:
        if not any(crops):
            raise InputError(path, f"cannot decode video ({e})") from e
    fps, n = float(result.fps or 25.0), result.n_frames
    window = int(spec.preprocessing.get("window") or spec.preprocessing.get("gop") or 12)
    name = next(iter(spec.inputs))
    out = []
    for track, frames in zip(result.tracks, crops):
        frames = np.stack(frames) if frames else np.zeros((0, size, size, 3), np.uint8)
        covered = track.frames[:len(frames)]
        pick = frame_picker(path, spec, t)
        rows, timeline, ok = [], [], []
        for w, s in enumerate(range(0, n, window)):
            inside = (covered >= s) & (covered < s + window)
            ok.append(bool(inside.any()))
            rows.append(pick(frames[inside]) if inside.any() else np.zeros((t, size, size, 3), np.float32))
            timeline.append({"frame" if window == 1 else "window": w, "start_s": round(s / fps, 3),
                             "end_s": round(min(s + window, n) / fps, 3)})
        if not len(frames):
            continue
        info = {"frames": n, "windows": len(timeline), "fps": fps}
        out.append(Prepared({name: pick(frames)}, {name: np.stack(rows)}, timeline, info,
                            track=dict(track.summary(n), detector=result.detector), window_ok=np.array(ok)))
    return out


def compressed_tracks(path: str, spec: Any, k: int, face: Any, size: int) -> list[Prepared]:
    """Per face track: the video re-encoded inside the track's fixed square; K segments for the whole track
    (its GOPs only) and per GOP."""
    from data_pipelines.compressed import ExtractionError, extract_file
    from data_pipelines.faces import reframed, track_square

    result = _track_video(path, face)
    pre, keys, out = spec.preprocessing, list(spec.inputs), []
    gop = int(pre.get("gop", 12))
    for track in result.tracks:
        box = track_square(reframed(track.boxes, face.crop_shift), result.shape,
                           framing_margin(face, pre.get("margin", face.margin)))
        try:
            clip = extract_file(path, size=size, gop=gop, mode=str(pre.get("mode", "accumulate")), face_box=box)
        except ExtractionError as e:
            raise InputError(path, e.reason) from e
        g = clip.frame_types.shape[0]
        ok = np.array([bool(((track.frames >= i * gop) & (track.frames < (i + 1) * gop)).any()) for i in range(g)])
        sel = np.flatnonzero(ok) if ok.any() else np.arange(g)
        iframes = clip.iframes if "iframe" in keys else None  # STT's compressed tokens read the I-frame too
        whole = clip_inputs(clip.frame_types[sel], clip.residuals[sel], clip.motion_vectors[sel], k,
                            None if iframes is None else iframes[sel])
        per_gop = gop_inputs(clip.frame_types, clip.residuals, clip.motion_vectors, k, iframes)
        fps = float(clip.meta.get("fps") or 25.0)
        timeline = []
        for i in range(g):
            valid = clip.pts[i][clip.frame_types[i] > 0]
            timeline.append({"gop": i, "start_s": round(float(valid.min()) / fps, 3),
                             "end_s": round(float(valid.max() + 1) / fps, 3)})
        info = {"gops": g, "frames": int(clip.meta.get("n_frames", 0)), "fps": fps, "face_box": list(box)}
        out.append(Prepared({n: whole[n] for n in keys}, {n: per_gop[n] for n in keys}, timeline, info,
                            track=dict(track.summary(result.n_frames), detector=result.detector),
                            window_ok=ok))
    return out


def image_faces(path: str, spec: Any, face: Any, size: int) -> list[Prepared]:
    """One entry per face detected in an image (track ids in order of detection size, largest first)."""
    from data_pipelines.common.sources import SourceError, read_image
    from data_pipelines.faces import frame_cropper, reframed

    try:
        image = read_image(path)
    except SourceError as e:
        raise InputError(path, e.reason) from e
    detector = face.make_detector()  # MTCNN's networks are loaded and compiled once per process (mtcnn.shared)
    detections = detector(image)
    crop = frame_cropper(face, size, framing_margin(face, spec.preprocessing.get("margin", 1.3)))
    name, out = next(iter(spec.inputs)), []
    for i, d in enumerate(sorted(detections, key=lambda d: -d.side)):
        box = reframed(np.array([*d.centre, d.side]), face.crop_shift)
        x = crop(image, box).astype(np.float32) / 255.0
        track = {"track_id": i, "box": [round(float(v), 1) for v in (d.x0, d.y0, d.x1, d.y1)],
                 "score": round(d.score, 3), "detector": getattr(detector, "name", face.detector)}
        if d.landmarks is not None:
            track["landmarks"] = np.round(np.asarray(d.landmarks, np.float64), 1).tolist()
        out.append(Prepared({name: x}, {}, [], {"height": int(image.shape[0]), "width": int(image.shape[1])},
                            track=track))
    return out
