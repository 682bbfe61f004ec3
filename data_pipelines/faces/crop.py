"""Crops from face tracks: one fixed square per track (video models) or a smoothed square per frame
(frame models), and optional landmark alignment.

Why two geometries: a crop that follows the face adds its own movement to every pixel, i.e. fake global
motion in every motion vector and residual, so compressed-domain and clip models get ONE square per track
that holds the face throughout (:func:`track_square`). A per-frame classifier wants the face to fill its
input in every frame, and has no motion to spoil, so it gets the track's smoothed per-frame boxes
(:func:`frame_squares`). Squares that leave the frame are edge-padded. Resizing uses Pillow's bilinear
filter, which averages over the source pixels when shrinking (no aliasing).

Every caller crops here: the dataset builders (:func:`crop_main_face`, via ``common.sources``), ``extract
--crop-faces`` and ``predict --faces`` on compressed inputs (:func:`track_square`), ``predict --faces`` on
frames and images (:func:`frame_cropper`) and ``fer-jax au`` (:func:`face_crop`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from data_pipelines.faces.detect import import_dlib, model_dir
from data_pipelines.faces.track import FaceSettings, loaded_detector

Box = tuple[int, int, int]  # (x0, y0, side) of a square, source pixels
LANDMARK_MODELS = {5: "shape_predictor_5_face_landmarks.dat", 68: "shape_predictor_68_face_landmarks.dat"}


# How a SynthFace lab frame frames its face, in units of the (dlib-sized) face side the detectors report:
# (square side, centre shift down), measured with MTCNN on rendered clips (identities 0..15, one lab clip
# each, frame 4, 224 px; 13 faces found; tests/faces/test_framing.py): frame side 1.54 x the face side
# (p10-p90 1.47-1.66), the frame centre 0.077 face sides above the box centre. From the renderer's geometry:
# the frame spans 2 x VIEW = 2.3 face units at scale 1, the face ellipse 2 x face_h = 1.98 (median),
# MTCNN's box height is 0.89 of the ellipse, the dlib-sized side 0.82 of MTCNN's height:
# 2.3 / (1.98 x 0.89 x 0.82) = 1.59. Wild builds hold tracked-face crops (the builder's own margin), so
# only the lab's whole frames need this framing.
SYNTHFACE_FRAMING = {"lab": (1.54, -0.077)}


def reframed(boxes: np.ndarray, shift: float) -> np.ndarray:
    """(cx, cy, side) boxes [..., 3] with the centre moved down by ``shift`` sides (a copy)."""
    boxes = np.array(boxes, np.float64, copy=True)
    boxes[..., 1] += shift * boxes[..., 2]
    return boxes


def track_square(boxes: np.ndarray, shape: tuple[int, int], margin: float = 1.6) -> Box:
    """The fixed square covering every (cx, cy, side) box of a track enlarged by ``margin`` (dlib boxes are
    tight: brows to lips), centred on the median face centre and clamped to the frame (h, w)."""
    h, w = shape
    cx, cy = np.median(boxes[:, 0]), np.median(boxes[:, 1])
    reach = np.maximum(np.abs(boxes[:, 0] - cx), np.abs(boxes[:, 1] - cy)) + margin * boxes[:, 2] / 2
    side = int(max(1, min(round(2 * reach.max()), h, w)))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    return x0, y0, side


def frame_squares(boxes: np.ndarray, margin: float = 1.3) -> np.ndarray:
    """Per-frame squares int [n, 3] (x0, y0, side) around each smoothed (cx, cy, side) box x ``margin``.

    Not clamped: a face at the border keeps its place in the crop and the outside is edge-padded."""
    side = np.maximum(np.round(boxes[:, 2] * margin), 1)
    x0 = np.round(boxes[:, 0] - side / 2)
    y0 = np.round(boxes[:, 1] - side / 2)
    return np.stack([x0, y0, side], 1).astype(np.int64)


def crop_square(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """``image`` [H, W, C] or [H, W] cropped to the square ``box`` (edge-padded outside) and resized."""
    from PIL import Image

    x0, y0, side = (int(v) for v in box)
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (image.ndim - 2)
        image = np.pad(image, widths, mode="edge")
        x0, y0 = x0 + pad, y0 + pad
    crop = np.ascontiguousarray(image[y0:y0 + side, x0:x0 + side])
    if side == size:
        return crop
    return np.asarray(Image.fromarray(crop).resize((size, size), Image.BILINEAR))


def face_crop(image: np.ndarray, box: np.ndarray, size: int, margin: float = 1.3) -> np.ndarray:
    """uint8 [size, size, C]: the square around one smoothed (cx, cy, side) ``box`` x ``margin``
    (:func:`frame_squares`), edge-padded and resized."""
    return crop_square(image, frame_squares(np.asarray(box)[None], margin)[0], size)


def frame_cropper(settings: FaceSettings, size: int, margin: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``(rgb, (cx, cy, side)) -> uint8 [size, size, 3]`` for frame models: the landmark-aligned chip with
    ``settings.align`` (5 points with MTCNN: :class:`FivePointAligner`, else dlib's :class:`Aligner`), else
    :func:`face_crop` x ``margin``."""
    if settings.align == 5 and settings.resolved().detector == "mtcnn":
        five = FivePointAligner(margin)
        return lambda rgb, box: five.chip(rgb, box, size)
    if settings.align:
        aligner = Aligner(settings.align)
        return lambda rgb, box: aligner.chip(rgb, box, size)
    return lambda rgb, box: face_crop(rgb, box, size, margin)


# Five landmarks (left eye, right eye, nose, left and right mouth corner) of a frontal face, in units of the
# dlib-sized face side from its centre: the medians over the 11 faces MTCNN finds in the test photos,
# made left-right symmetric. An aligned chip puts them where the unaligned crop (face_crop x margin) has
# them on average, so alignment removes roll and scale jitter without reframing the face.
FIVE_POINT_TEMPLATE = np.array([[-0.22, -0.20], [0.22, -0.20], [0.0, 0.05], [-0.21, 0.23], [0.21, 0.23]],
                               np.float64)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """float [2, 3]: the similarity transform (rotation, uniform scale, shift; no reflection) that best maps
    points ``src`` [n, 2] onto ``dst`` [n, 2] in least squares (Umeyama 1991)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    e = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ e @ vt
    scale = (sig * np.diag(e)).sum() / s.var(0).sum()
    return np.concatenate([scale * rot, (md - scale * rot @ ms)[:, None]], 1)


def align_chip(image: np.ndarray, points: np.ndarray, size: int, margin: float = 1.3) -> np.ndarray:
    """uint8 [size, size, C]: ``image`` warped so that the five ``points`` [5, 2] land on
    :data:`FIVE_POINT_TEMPLATE` in a square of ``margin`` face sides (bilinear; outside the image is black)."""
    from PIL import Image

    m = similarity(points, (0.5 + FIVE_POINT_TEMPLATE / margin) * size)
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))[:2]  # PIL maps output pixels back to input pixels
    img = Image.fromarray(np.ascontiguousarray(image))
    return np.asarray(img.transform((size, size), Image.AFFINE, tuple(inv.ravel()), Image.BILINEAR))


class FivePointAligner:
    """Alignment on MTCNN's five landmarks: O-Net reads them inside a (smoothed, maybe interpolated) track
    box, then :func:`align_chip`. Why O-Net on the box rather than the detections' landmarks: a track's box
    exists in every frame, detections only in the sampled ones."""

    def __init__(self, margin: float = 1.3):
        from data_pipelines.faces.mtcnn import shared

        self.net, self.margin = shared(), float(margin)

    def landmarks(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """float [5, 2] (x, y) in the dlib-sized (cx, cy, side) ``box`` of an RGB image."""
        return self.net.landmarks(np.asarray(image), mtcnn_square(box)[None])[0]

    def chip(self, image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
        return align_chip(image, self.landmarks(image, box), size, self.margin)


def mtcnn_square(box: np.ndarray) -> np.ndarray:
    """A dlib-sized (cx, cy, side) box -> the square MTCNN's O-Net would see around that face (x0, y0, x1, y1):
    the inverse of ``detect.dlib_box`` with the MTCNN box's height as side."""
    from data_pipelines.faces.detect import DLIB_SHIFT, DLIB_SIDE

    cx, cy, side = (float(v) for v in box)
    h = side / DLIB_SIDE[1]
    cy -= DLIB_SHIFT * h
    return np.array([cx - h / 2, cy - h / 2, cx + h / 2, cy + h / 2], np.float32)


def crop_main_face(frames: np.ndarray, fps: float, settings: FaceSettings, size: int, detector=None
                   ) -> tuple[np.ndarray, dict]:
    """Track the faces of a decoded clip and crop the main track's fixed square (:func:`track_square` x
    ``settings.margin``) from every frame -> uint8 [T, size, size, C] and what the tracker did (face share of
    the clip's frames, track count, the main track's share, gaps, ``square`` and ``crop``: face | centre).

    A clip where no face is found keeps the centre square (``crop: "centre"``, face share 0). ``detector``:
    a loaded one (default: one per settings per process)."""
    tracker = settings.tracker(fps, detector or loaded_detector(settings))
    sampled = list(range(0, len(frames), settings.every))
    tracker.update_batch(sampled, [frames[i] for i in sampled])  # MTCNN: a batch of frames per call
    result = tracker.finish(len(frames))
    main = result.main()
    info = {"crop": "centre", "face_share": 0.0, "tracks": 0, "frame_shape": list(result.shape)}
    h, w = result.shape
    box = ((w - min(h, w)) // 2, (h - min(h, w)) // 2, min(h, w))
    if main is not None:
        box = track_square(main.boxes, result.shape, settings.margin)
        summary = main.summary(result.n_frames)
        info.update(crop="face", face_share=round(float(result.face_mask().mean()), 4), tracks=len(result.tracks),
                    main_track_share=summary["share"], gaps=summary["gaps"])
    info["square"] = [int(v) for v in box]
    return np.stack([crop_square(f, box, size) for f in frames]), info


class Aligner:
    """Landmark alignment: dlib's 5- or 68-point shape predictor (face-recognition-models) on a face box,
    then ``dlib.get_face_chip``: the face rotated upright and scaled so the eyes and nose sit at fixed
    places. ``padding`` is dlib's (0.25 = a quarter of the face size around the aligned face).

    A per-frame operation: use it for frame models, not for crops fed to a codec (see the module docstring).
    """

    def __init__(self, points: int = 5, padding: float = 0.25, models: str | None = None):
        if points not in LANDMARK_MODELS:
            raise ValueError(f"landmark model has 5 or 68 points, not {points}")
        self._dlib = import_dlib()
        self.points, self.padding = points, float(padding)
        self._predictor = self._dlib.shape_predictor(os.path.join(models or model_dir(), LANDMARK_MODELS[points]))

    def landmarks(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """float [points, 2] (x, y) landmarks inside the (cx, cy, side) ``box`` of an RGB image."""
        shape = self._predictor(np.ascontiguousarray(image), self._rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    def chip(self, image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
        """uint8 [size, size, 3]: the aligned face in the (cx, cy, side) ``box`` of RGB ``image``."""
        image = np.ascontiguousarray(image)
        shape = self._predictor(image, self._rect(box))
        return np.asarray(self._dlib.get_face_chip(image, shape, size=size, padding=self.padding))

    def _rect(self, box: np.ndarray):
        cx, cy, side = (float(v) for v in box)
        half = side / 2
        return self._dlib.rectangle(int(round(cx - half)), int(round(cy - half)),
                                    int(round(cx + half)), int(round(cy + half)))
