"""dlib's pretrained 128-D face-recognition ResNet as a frozen identity backbone (the ``[faces]`` extra).

Inputs are face crops (the clip's I-frames), so no detector runs: the 5-point landmark model is
applied to the whole image rectangle, and dlib aligns the face chip from those landmarks before the
network (its standard pipeline). Embeddings are L2-normalised; dlib's descriptors are nearly unit
length already and are compared by Euclidean distance, which normalisation keeps meaningful.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"


def model_dir() -> str:
    """The ``face_recognition_models`` data folder.

    Found via the import system instead of importing the package: its ``__init__`` needs
    ``pkg_resources``, which recent setuptools no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the dlib identity backbone needs the 'face_recognition_models' package: "
                          "pip install 'fer-jax[faces]'")
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


class DlibBackbone:
    """``embed(uint8 [N, H, W, 3] face crops) -> float32 [N, 128]``, L2-normalised."""

    name = "dlib-resnet-128"
    dim = 128

    def __init__(self, models: str | None = None, num_jitters: int = 0):
        try:
            import dlib
        except ImportError as e:
            raise ImportError("the dlib identity backbone needs dlib: pip install 'fer-jax[faces]'") from e
        models = models or model_dir()
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(os.path.join(models, LANDMARK_MODEL))
        self._net = dlib.face_recognition_model_v1(os.path.join(models, RECOGNITION_MODEL))
        self._jitters = int(num_jitters)

    def embed(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"want uint8 [N, H, W, 3] face crops, got {images.dtype}{list(images.shape)}")
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch, shapes = [], []
        for img in images:
            img = np.ascontiguousarray(img)
            h, w = img.shape[:2]
            dets = self._dlib.full_object_detections()
            dets.append(self._landmarks(img, self._dlib.rectangle(0, 0, w - 1, h - 1)))
            batch.append(img)
            shapes.append(dets)
        out = self._net.compute_face_descriptor(batch, shapes, num_jitters=self._jitters)
        emb = np.array([np.asarray(v[0]) for v in out], np.float32)
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
