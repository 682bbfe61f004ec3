"""What a dataset parser hands the shared builder, and the per-source work done in generation workers.

A builder's only dataset-specific job is to turn the official folder layout and label files into a
list of ``ClipSource`` / ``ImageSource`` per split. Everything else (decoding, canonical re-encode and
compressed-domain extraction, identity embedding, corrupt-input handling) is here, in a module that
imports neither TensorFlow nor TFDS, so it can run in spawned worker processes or Beam workers.

The identity embedder (``name``, ``dim``, ``embed(uint8 [N, H, W, 3]) -> float32 [N, dim]``) is passed
in by the caller (``fer_jax/commands/build.py`` resolves ``--identity-backbone``); data_pipelines knows no
model. A worker process gets it once, as the object itself or, when that does not pickle (a compiled
JAX function), as a picklable zero-argument factory that each worker calls once.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

SYNTH_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)  # DISFA order; the AU axis of non-AU datasets


class SourceError(ValueError):
    """An input of a dataset (image, video, label file) that cannot be used; names the file and why."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


@dataclasses.dataclass(frozen=True)
class ClipSource:
    """One clip to build: a video file or an ordered image sequence, plus its annotations.

    ``window`` > 0 cuts a long recording (DISFA, BP4D) into consecutive clips of that many frames,
    each its own example with id ``<clip_id>_w<start>``; ``au_intensity`` then covers the whole
    recording, [n_frames, A], and is sliced per window.
    """

    clip_id: str
    subject: str
    label: int
    video: str | None = None
    frames: tuple[str, ...] = ()
    fps: float = 25.0
    apex_index: int = -1
    au_intensity: np.ndarray | None = None
    window: int = 0

    @property
    def path(self) -> str:
        if self.video:
            return self.video
        return os.path.dirname(self.frames[0]) if self.frames else self.clip_id


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """One still image (RAF-DB, SFEW, AffectNet); ``box`` = (x, y, w, h) face box to crop, if given."""

    image_id: str
    subject: str
    label: int
    path: str
    box: tuple[int, int, int, int] | None = None


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """Builder-config values a worker needs; plain data so it pickles to any process."""

    size: int
    gop: int
    mode: str
    identity_backbone: str
    num_aus: int
    store_frames: bool = False
    face_crop: Any = None  # a data_pipelines.faces.FaceSettings: crop the tracked face (None: centre square)


def square_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Centre square crop then resize to ``size``; the same geometry for every still and frame.

    Choice: crop rather than stretch so faces keep their aspect ratio (CK+/Oulu frames are 4:3).
    """
    from PIL import Image

    h, w = image.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    crop = image[y0:y0 + s, x0:x0 + s]
    if crop.shape[0] == size:
        return np.ascontiguousarray(crop)
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))


def read_image(path: str) -> np.ndarray:
    """RGB uint8 [H, W, 3]; grey or RGBA inputs are converted. Unreadable files -> ``SourceError``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise SourceError(path, f"cannot decode image ({type(e).__name__}: {e})") from e


def read_video_frames(path: str, size: int | None) -> tuple[np.ndarray, float]:
    """All frames of a video as uint8 [T, size, size, 3] (square-resized while decoding; ``size=None``
    keeps them whole, [T, H, W, 3]) and its fps."""
    import av

    frames = []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise SourceError(path, "no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25.0)
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                frames.append(rgb if size is None else square_resize(rgb, size))
    except av.error.FFmpegError as e:
        if not frames:
            raise SourceError(path, f"cannot decode video ({e})") from e
    if not frames:
        raise SourceError(path, "no decodable video frame")
    return np.stack(frames), fps


_WORKER_EMBEDDER: Any = None  # set once per worker process by ``init_worker``
_WORKER_FACTORY: Any = None


def init_worker(embedder: Any = None, factory: Any = None) -> None:
    """Pool initializer: the embedder (or a factory for it), sent to each worker once, not per job. JAX in a
    worker (MTCNN face detection) takes accelerator memory as it needs it: N workers preallocating most of
    one device each would fail."""
    global _WORKER_EMBEDDER, _WORKER_FACTORY
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    _WORKER_EMBEDDER, _WORKER_FACTORY = embedder, factory


def worker_embedder(factory: Any = None) -> Any:
    """This process's embedder: the one sent by ``init_worker``, or made once by its factory (or by
    ``factory``, for Beam workers, which have no initializer)."""
    global _WORKER_EMBEDDER
    if _WORKER_EMBEDDER is None:
        factory = factory or _WORKER_FACTORY
        if factory is None:
            raise RuntimeError("no identity embedder: the builder was given neither backbone= nor "
                               "backbone_factory= (fer-jax build resolves --identity-backbone to one)")
        _WORKER_EMBEDDER = factory()
    return _WORKER_EMBEDDER


def clip_embedding(backbone, iframes: np.ndarray) -> np.ndarray:
    """One identity embedding per clip: the mean of its I-frames' embeddings, re-normalised.

    Choice: the mean over GOPs is the clip's identity estimate and is robust to one bad frame; the
    model sees one vector per clip whichever GOP a batch samples.
    """
    emb = np.asarray(backbone.embed(iframes), np.float32).mean(0)
    return (emb / max(float(np.linalg.norm(emb)), 1e-12)).astype(np.float32)


def _clip_example(clip, source: ClipSource, au: np.ndarray | None, apex: np.ndarray | None,
                  apex_index: int, clip_id: str, settings: BuildSettings, backbone,
                  frames: np.ndarray | None = None) -> dict[str, Any]:
    size = settings.size
    n_aus = settings.num_aus
    if au is None:
        au = np.zeros((0, n_aus), np.float32)
    extra = {}
    if settings.store_frames:
        extra["frames"] = list(frames)  # uint8 [T, S, S, 3]; one JPEG per frame (see features)
    return {
        **extra,
        "iframes": clip.iframes,
        "motion_vectors": clip.motion_vectors.astype(np.float16),
        "residuals": clip.residuals.astype(np.int16).reshape(-1, size, size, 3),  # [G*P, ...]: see features
        "frame_types": clip.frame_types.astype(np.uint8),
        "label": int(source.label),
        "subject": source.subject,
        "clip_id": clip_id,
        "apex_index": int(apex_index),
        "apex_frame": apex if apex is not None else np.zeros((size, size, 3), np.uint8),
        "au_intensity": np.asarray(au, np.float32).reshape(-1, n_aus),
        "identity_embedding": clip_embedding(backbone, clip.iframes),
    }


def build_clip_examples(source: ClipSource, settings: BuildSettings,
                        backbone=None) -> list[tuple[str, dict[str, Any]]]:
    """Decode, extract and embed one source -> [(key, example)]; raises ``SourceError``/``ExtractionError``."""
    from data_pipelines.compressed import extract_file

    backbone = backbone if backbone is not None else worker_embedder()
    size = settings.size
    if settings.face_crop is not None:
        frames, fps, face = face_crop_frames(source, settings)
        return [(cid, dict(ex, face_track=face))  # popped by common.face_crop_builder.FaceCropBuilder
                for cid, ex in _window_examples(source, frames, fps, settings, backbone)]
    if source.video and source.window <= 0 and source.apex_index < 0:
        # Nothing to slice or look up: let extraction read the file itself (decoded frames, when stored,
        # are a separate decode, so the compressed tensors are those of a build without frames).
        clip = extract_file(source.video, size=size, gop=settings.gop, mode=settings.mode)
        frames = read_video_frames(source.video, size)[0] if settings.store_frames else None
        au = source.au_intensity
        return [(source.clip_id, _clip_example(clip, source, au, None, -1, source.clip_id, settings, backbone,
                                               frames))]
    if source.frames:
        frames = np.stack([square_resize(read_image(f), size) for f in source.frames])
        fps = source.fps
    elif source.video:
        frames, fps = read_video_frames(source.video, size)
    else:
        raise SourceError(source.clip_id, "source has neither a video nor frames")
    return _window_examples(source, frames, fps, settings, backbone)


def face_crop_frames(source: ClipSource, settings: BuildSettings) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Decode a source whole, track its faces and crop the main track's fixed square from every frame
    (``data_pipelines.faces.crop_main_face``).

    Returns uint8 [T, size, size, 3], the fps, and what the tracker did (face share of the clip's frames,
    track count, the main track's share, gaps, square and ``crop``) for the build's metadata.
    Choices: one square for the whole clip, not one per frame, so the crop adds no motion of its own to the
    motion vectors and residuals (``data_pipelines.faces.crop``). A clip where no face is found keeps the
    centre square (``crop: "centre"``, face share 0) rather than being dropped: a benchmark protocol counts
    every labelled clip (CK+'s 327 sequences), and a detector miss must not change the folds.
    """
    from data_pipelines.faces import crop_main_face

    if source.frames:
        images = [read_image(f) for f in source.frames]
        if len({im.shape for im in images}) > 1:
            raise SourceError(source.path, f"frames differ in size ({sorted({im.shape for im in images})})")
        frames, fps = np.stack(images), source.fps
    elif source.video:
        frames, fps = read_video_frames(source.video, None)
    else:
        raise SourceError(source.clip_id, "source has neither a video nor frames")
    crops, info = crop_main_face(frames, fps, settings.face_crop, settings.size)
    return crops, float(fps), info


def _window_examples(source: ClipSource, frames: np.ndarray, fps: float, settings: BuildSettings,
                     backbone) -> list[tuple[str, dict[str, Any]]]:
    """Square frames [T, S, S, 3] of one source -> its examples, one per window (the whole clip when
    ``source.window`` is 0)."""
    from data_pipelines.compressed import extract_frames

    size = settings.size
    n = len(frames)
    windows = [(0, n)] if source.window <= 0 else [(s, min(s + source.window, n)) for s in range(0, n, source.window)]
    out = []
    for start, stop in windows:
        au = None if source.au_intensity is None else np.asarray(source.au_intensity)[start:stop]
        apex_index = source.apex_index - start if start <= source.apex_index < stop else -1
        apex = frames[start + apex_index] if apex_index >= 0 else None
        clip = extract_frames(frames[start:stop], fps=fps, size=size, gop=settings.gop, mode=settings.mode,
                              source=source.path)
        clip_id = source.clip_id if source.window <= 0 else f"{source.clip_id}_w{start:06d}"
        out.append((clip_id, _clip_example(clip, source, au, apex, apex_index, clip_id, settings, backbone,
                                           frames[start:stop])))
    return out


def build_image_example(source: ImageSource, settings: BuildSettings,
                        backbone=None) -> list[tuple[str, dict[str, Any]]]:
    """Read, crop and embed one still image -> [(key, example)]; raises ``SourceError``."""
    backbone = backbone if backbone is not None else worker_embedder()
    image = read_image(source.path)
    if source.box is not None:
        x, y, w, h = source.box
        if w <= 0 or h <= 0:
            raise SourceError(source.path, f"empty face box {source.box}")
        image = image[max(y, 0):y + h, max(x, 0):x + w]
        if image.size == 0:
            raise SourceError(source.path, f"face box {source.box} lies outside the image")
    image = square_resize(image, settings.size)
    emb = np.asarray(backbone.embed(image[None]), np.float32)[0]
    return [(source.image_id, {"image": image, "label": int(source.label), "subject": source.subject,
                               "clip_id": source.image_id, "identity_embedding": emb})]


def run_source(job: tuple[Any, BuildSettings, Any]) -> tuple[str, list, str | None]:
    """Worker entry: (source, settings, embedder-or-None) -> (path, examples, error-or-None); None uses
    this process's :func:`worker_embedder`.

    Expected input failures come back as an error string, so a batch build reports and skips them;
    anything else is a bug and propagates.
    """
    from data_pipelines.compressed import ExtractionError

    source, settings, backbone = job
    fn = build_image_example if isinstance(source, ImageSource) else build_clip_examples
    try:
        return source.path, fn(source, settings, backbone), None
    except (SourceError, ExtractionError) as e:
        return source.path, [], str(e)
