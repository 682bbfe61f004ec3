"""Drawing primitives for the SynthFace renderer: signed distances, coverage, and the cropped canvas.

Face coordinates: x right, y down, the face ellipse spans about [-0.8, 0.8] x [-1, 1]; the image
spans ``[-view, view]`` on both axes (``Scene.view``: ``VIEW`` in the lab, wider in the wild). Head pose
maps face coordinates to the image; yaw and pitch are approximated by foreshortening plus a depth-dependent
shift (features sit in front of the face outline, the nose tip further still), which is cheap and reads as a
turned head at small angles.
"""

from __future__ import annotations

import numpy as np

from data_pipelines.synthface.facs import AU_INDEX, MAX_INTENSITY
from data_pipelines.synthface.identity import HAIR_STYLES, Identity
from data_pipelines.synthface.scene import Scene

VIEW = 1.15
_SHIFT = {"outline": (0.0, 0.0), "feature": (0.22, 0.18), "nose": (0.32, 0.22)}


def aa(sdf: np.ndarray, px) -> np.ndarray:
    """Coverage from a signed distance (negative inside) with a one-pixel ramp."""
    return np.clip(0.5 - sdf / px, 0.0, 1.0)


def ellipse(x, y, cx, cy, a, b):
    """Approximate signed distance to an axis-aligned ellipse (exact on the axes)."""
    return (np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2) - 1.0) * np.minimum(a, b)


def stroke(x, y, x0, x1, ycurve, half):
    """Signed distance to a horizontal stroke y = ycurve(x), x0 <= x <= x1."""
    return np.maximum(np.abs(y - ycurve) - half, np.maximum(x0 - x, x - x1))


def pixel_centres(size: int, view: float = VIEW) -> np.ndarray:
    """Face-unit coordinate of each pixel centre along one image axis (frontal, centred head) of an image
    spanning [-view, view]."""
    return (-view + (np.arange(size, dtype=np.float32) + 0.5) * (2 * view / size)).astype(np.float32)


def au_fraction(au: np.ndarray, unit: int) -> np.ndarray:
    """AU intensity as a [T, 1, 1] fraction 0..1."""
    return (au[:, AU_INDEX[unit]] / MAX_INTENSITY).astype(np.float32)[:, None, None]


class Canvas:
    """The frames being drawn plus the per-frame coordinate grids, cropped per part."""

    def __init__(self, scene: Scene, size: int, T: int):
        self.size, self.T, self.scene, self.view = size, T, scene, float(scene.view)
        lin = pixel_centres(size, self.view)
        self.X, self.Y = lin[None, None, :], lin[None, :, None]
        steady = scene.static_pose and np.ptp(scene.light_amp) == 0
        sl = slice(0, 1) if steady else slice(None)
        self.pose = [np.asarray(a, np.float32)[sl, None, None] for a in
                     (scene.tx, scene.ty, scene.scale, scene.roll, scene.yaw, scene.pitch)]
        tx, ty, sc, roll, yaw, pitch = self.pose
        x0, y0 = self.X - tx, self.Y - ty
        c, s = np.cos(roll), np.sin(roll)
        self.xr, self.yr = (c * x0 + s * y0) / sc, (-s * x0 + c * y0) / sc
        self.px = (2 * self.view / size) / sc
        self.img: np.ndarray | None = None

    def coords(self, kind: str, rows: slice, cols: slice):
        """Face coordinates of ``kind`` (outline, feature, nose) on a pixel crop."""
        _, _, _, _, yaw, pitch = self.pose
        kx, ky = _SHIFT[kind]
        xr, yr = self.xr[:, rows, cols], self.yr[:, rows, cols]
        return (xr - kx * np.sin(yaw)) / np.cos(yaw), (yr - ky * np.sin(pitch)) / np.cos(pitch)

    def box(self, x0: float, x1: float, y0: float, y1: float, kind: str = "feature"):
        """Pixel (rows, cols) slices covering a face-coordinate box in every frame, or None."""
        tx, ty, sc, roll, yaw, pitch = (a.reshape(-1) for a in self.pose)
        kx, ky = _SHIFT[kind]
        cx = np.array([x0, x1, x0, x1], np.float32)[None]
        cy = np.array([y0, y0, y1, y1], np.float32)[None]
        xr = cx * np.cos(yaw)[:, None] + kx * np.sin(yaw)[:, None]
        yr = cy * np.cos(pitch)[:, None] + ky * np.sin(pitch)[:, None]
        c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
        X = sc[:, None] * (c * xr - s * yr) + tx[:, None]
        Y = sc[:, None] * (s * xr + c * yr) + ty[:, None]
        return self._pixels(X.min(), X.max(), Y.min(), Y.max())

    def image_box(self, x0, x1, y0, y1):
        """Pixel slices covering an image-coordinate box (for objects not attached to the face)."""
        return self._pixels(x0, x1, y0, y1)

    def _pixels(self, x0, x1, y0, y1):
        v = self.view
        k = self.size / (2 * v)
        c0, c1 = int(np.floor((x0 + v) * k)) - 2, int(np.ceil((x1 + v) * k)) + 2
        r0, r1 = int(np.floor((y0 + v) * k)) - 2, int(np.ceil((y1 + v) * k)) + 2
        c0, r0 = max(c0, 0), max(r0, 0)
        c1, r1 = min(c1, self.size), min(r1, self.size)
        if c1 <= c0 or r1 <= r0:
            return None
        return slice(r0, r1), slice(c0, c1)

    def over(self, box, alpha, color) -> None:
        """Composite ``color`` ([3] or [.., h, w, 3]) over the crop with coverage ``alpha``."""
        crop = self.img[:, box[0], box[1]]  # a view: updated in place
        step = np.asarray(color, np.float32) - crop
        step *= alpha[..., None]
        crop += step

    def darken(self, box, alpha, amount) -> None:
        """Multiply the crop by ``1 - amount * alpha`` (wrinkles, folds, shadows)."""
        self.img[:, box[0], box[1]] *= (1.0 - amount * alpha)[..., None]


def hair_alpha(idt: Identity, x, y, px, back: bool) -> np.ndarray | None:
    """Coverage of hair drawn behind the face (``back``) or over it; None when there is none."""
    style = HAIR_STYLES[idt.hair_style]
    fw, fh = idt.face_w, idt.face_h
    if back:
        if style != "long":
            return None
        return aa(np.maximum(ellipse(x, y, 0.0, -0.05, fw * 1.3, fh * 1.15), y - 0.75), px)
    if style == "bald":
        return None
    if style == "cap":
        crown = np.maximum(ellipse(x, y, 0.0, -0.1, fw * 1.08, fh * 1.0), y + 0.62 * fh)
        brim = ellipse(x, y, 0.0, -0.62 * fh, fw * 1.2, 0.07)
        return aa(np.minimum(crown, brim), px)
    line = {"short": -0.7, "fringe": -0.6, "long": -0.64}[style] * fh
    wave = 0.03 * np.sin(x * 18.0) if style == "fringe" else 0.0
    hairline = line + 0.55 * (x / fw) ** 2 + wave
    return aa(np.maximum(ellipse(x, y, 0.0, -0.06, fw * 1.07, fh * 1.06), y - hairline), px)


def face_alpha(idt: Identity, xo, yo, px, jaw) -> np.ndarray:
    """Coverage of the face: an ellipse whose lower half lengthens by ``jaw`` and narrows to the chin."""
    low = np.clip(yo, 0.0, None) / (idt.face_h + jaw)
    half_w = idt.face_w * (1.0 - 0.3 * idt.chin * low ** 2)
    half_h = np.where(yo > 0, idt.face_h + jaw, idt.face_h)
    return aa(ellipse(xo, yo, 0.0, 0.0, half_w, half_h), px)


def skin_color(idt: Identity, scene: Scene, xo, yo) -> np.ndarray:
    """Skin RGB with soft rounded-face shading and, in the wild regime, a moving side light."""
    shade = 1.0 - 0.12 * ((xo / idt.face_w) ** 2 + 0.5 * (yo / idt.face_h) ** 2)
    la = np.asarray(scene.light_amp, np.float32)[:, None, None]
    if xo.shape[0] == 1 and np.ptp(la) == 0:  # one shared grid for a still head and steady light
        la = la[:1]
    if np.any(la):
        shade = shade * (1.0 + la * (np.cos(scene.light_dir) * xo + np.sin(scene.light_dir) * yo))
    return np.asarray(idt.skin, np.float32) * shade[..., None]


