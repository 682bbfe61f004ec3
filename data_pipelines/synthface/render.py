"""Vectorised face renderer: implicit shapes on a pixel grid, all frames of a clip at once.

Every part (face, hair, brows, eyes, nose, mouth, wrinkles) is a signed distance or a soft blob
evaluated with numpy on [T, h, w] arrays and composited in painter's order with a one-pixel linear
antialiasing ramp. Action units move control points (brow ends, lid apertures, mouth corners, lip
gap, jaw), so motion and residuals appear exactly where a real face would move, and their edges
follow the identity's geometry. No Python loop runs over pixels; the loops are over face parts.

Speed: each part is evaluated only inside its pixel box (the part's face-coordinate box mapped
through every frame's head pose), and parts whose AU drive is zero over the whole clip are skipped.
A part therefore never changes pixels outside its box; ``AU_REGIONS`` below bounds, per AU, where
that AU can change pixels (the tests check it on rendered frames).

Face coordinates: x right, y down, the face ellipse spans about [-0.8, 0.8] x [-1, 1]; the image
spans ``[-scene.view, scene.view]`` on both axes (``canvas.VIEW`` in the lab, ``scene.WILD_VIEW`` in the wild).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from data_pipelines.synthface.canvas import Canvas, aa, au_fraction, ellipse, face_alpha, hair_alpha, skin_color
from data_pipelines.synthface.facs import MAX_INTENSITY
from data_pipelines.synthface.identity import Identity
from data_pipelines.synthface.parts import draw_jaw, draw_mouth, draw_nose, draw_overlays, draw_upper_face
from data_pipelines.synthface.scene import Scene

# Per-AU face-coordinate boxes (x0, x1, y0, y1) outside which that AU alone changes no pixel of a
# frontal face: the measured extent of its change over identities 0..59 plus a 0.06 margin. Boxes
# overlap where anatomy does (the nasolabial folds follow the mouth corners for AU12/15/17/20).
AU_REGIONS: dict[int, tuple[float, float, float, float]] = {
    1: (-0.62, 0.62, -0.7, -0.12),
    2: (-0.65, 0.65, -0.7, -0.15),
    4: (-0.65, 0.65, -0.55, -0.08),
    5: (-0.6, 0.6, -0.46, 0.02),
    6: (-0.72, 0.72, -0.3, 0.27),
    9: (-0.42, 0.42, -0.22, 0.66),
    12: (-0.46, 0.46, 0.0, 0.66),
    15: (-0.43, 0.43, 0.03, 0.7),
    17: (-0.43, 0.43, 0.05, 1.1),
    20: (-0.5, 0.5, 0.03, 0.66),
    25: (-0.36, 0.36, 0.27, 0.68),
    26: (-0.92, 0.92, 0.0, 1.25),
}

def _base(cv: Canvas, idt: Identity) -> np.ndarray:
    """Background, clutter, shoulders, neck, ears, hair behind the head and the face at rest.

    Drawn once when the head does not move (lab) and per frame otherwise ([Tp, S, S, 3]).
    """
    scene, size = cv.scene, cv.size
    X, Y = cv.X, cv.Y
    img = np.empty((1, size, size, 3), np.float32)
    img[...] = np.asarray(scene.background, np.float32)
    img = img * (1.0 - 0.12 * (Y[..., None] / cv.view))
    pix = 2 * cv.view / size
    for kind, cx, cy, rx, ry, r, g, b in scene.clutter:
        d = (ellipse(X, Y, cx, cy, rx, ry) if kind < 0.5
             else np.maximum(np.abs(X - cx) - rx, np.abs(Y - cy) - ry))
        img = img + aa(d, pix)[..., None] * (np.asarray((r, g, b), np.float32) - img)
    cv.img = np.broadcast_to(img, (cv.xr.shape[0],) + img.shape[1:]).copy()
    skin = np.asarray(idt.skin, np.float32)
    fw, fh = idt.face_w, idt.face_h
    parts = [
        ((-1.25, 1.25, 1.15, 2.7), lambda x, y: aa(ellipse(x, y, 0.0, 1.9, 1.2, 0.7), cv.px),
         scene.clothes),
        ((-0.45 * fw, 0.45 * fw, 0.35, 3.0),
         lambda x, y: aa(np.maximum(np.abs(x) - 0.42 * fw, 0.4 - y), cv.px), skin * 0.82),
        ((-1.32 * fw, 1.32 * fw, -0.07 - 1.15 * fh, 0.77),
         lambda x, y: hair_alpha(idt, x, y, cv.px, back=True), idt.hair),
        ((-fw - 0.1, fw + 0.1, idt.eye_y - 0.07, idt.eye_y + 0.31),
         lambda x, y: aa(np.minimum(*(ellipse(x, y, sx * fw * 0.97, idt.eye_y + 0.12, 0.09, 0.17)
                                       for sx in (-1.0, 1.0))), cv.px), skin * 0.9),
        ((-fw * 1.02, fw * 1.02, -fh * 1.02, fh * 1.02),
         lambda x, y: face_alpha(idt, x, y, cv.px, 0.0), None),
    ]
    for (x0, x1, y0, y1), alpha_fn, color in parts:
        box = cv.box(x0, x1, y0, y1, "outline")
        if box is None:
            continue
        x, y = cv.coords("outline", *box)
        alpha = alpha_fn(x, y)
        if alpha is not None:
            cv.over(box, alpha, skin_color(idt, scene, x, y) if color is None else color)
    return cv.img


def render_frames(idt: Identity, au: np.ndarray, scene: Scene, size: int) -> np.ndarray:
    """Render frames for AU intensities ``au`` [T, 12] (labels, before the resting offset).

    Returns uint8 [T, size, size, 3]. The identity's resting-face offset is added here, so
    ``au`` = 0 shows the person's own neutral face.
    """
    au = np.asarray(au, np.float32)
    still = (scene.static_pose and scene.noise_sigma == 0 and np.ptp(scene.gain) == 0
             and np.ptp(scene.light_amp) == 0 and scene.occluder is None)
    if still and len(au) > 1:  # identical AU rows give identical frames: draw each once
        uniq, inverse = np.unique(au, axis=0, return_inverse=True)
        if len(uniq) < len(au):
            sub = _replace_len(scene, len(uniq))
            return render_frames(idt, uniq, sub, size)[inverse.reshape(-1)]
    T = au.shape[0]
    au = np.clip(au + np.asarray(idt.resting_au, np.float32)[None], 0.0, MAX_INTENSITY)
    cv = Canvas(scene, size, T)
    cv.img = np.broadcast_to(_base(cv, idt), (T, size, size, 3)).copy()
    a = {u: au_fraction(au, u) for u in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)}
    on = {u: bool(np.any(v > 0)) for u, v in a.items()}
    draw_jaw(cv, idt, a, on)
    draw_upper_face(cv, idt, a, on)
    draw_nose(cv, idt, a, on)
    draw_mouth(cv, idt, a, on)
    draw_overlays(cv, idt, scene)
    img = cv.img  # finish in place: exposure, colour cast, camera noise, quantisation
    img *= np.asarray(scene.gain, np.float32)[:, None, None, None] * (
        255.0 * np.asarray(scene.cast, np.float32))
    if scene.noise_sigma > 0:
        noise = np.random.default_rng(scene.noise_seed).standard_normal(img.shape, dtype=np.float32)
        noise *= scene.noise_sigma
        img += noise
    img += 0.5
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def _replace_len(scene: Scene, n: int) -> Scene:
    arrays = {k: np.asarray(getattr(scene, k))[:1].repeat(n) for k in
              ("tx", "ty", "scale", "roll", "yaw", "pitch", "gain", "light_amp")}
    return replace(scene, **arrays)
