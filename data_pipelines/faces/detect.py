"""Face detection with dlib: the HOG frontal detector or the CNN (MMOD) detector of face-recognition-models.

Frames are downscaled before detection so that their longer side is at most ``max_side`` pixels: HOG costs
grow with the pixel count, and faces that fill a useful part of a video frame are still far above HOG's
80-pixel minimum window at 640 pixels. Small frames (shorter side under 240 after scaling, e.g. QCIF
176x144) are upsampled once instead, so that their faces reach that window. Boxes come back in the
source frame's pixels.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os

import numpy as np

CNN_MODEL = "mmod_human_face_detector.dat"
DETECTORS = ("hog", "cnn")


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


class FaceDetector:
    """``detector(frame) -> [Detection]`` for uint8 RGB [H, W, 3] (or gray [H, W] for HOG).

    ``kind``: ``hog`` (CPU, ~15 ms at 640x360) or ``cnn`` (dlib's MMOD network: more robust to pose and
    light, ~10x slower on CPU). ``threshold``: the HOG score below which a box is dropped (0 = dlib's
    default); ``upsample``: ``None`` = automatic (see the module docstring) or a fixed count.
    """

    def __init__(self, kind: str = "hog", *, max_side: int = 640, upsample: int | None = None,
                 threshold: float = 0.0, models: str | None = None):
        if kind not in DETECTORS:
            raise ValueError(f"unknown face detector {kind!r}; known: {DETECTORS}")
        if max_side < 32:
            raise ValueError(f"max_side must be >= 32, got {max_side}")
        dlib = import_dlib()
        self.kind, self.max_side, self.upsample, self.threshold = kind, int(max_side), upsample, float(threshold)
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
