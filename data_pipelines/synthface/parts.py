"""Face parts and how the action units move them.

Each ``draw_*`` function draws a group of parts on the canvas, each inside its own pixel box. The
AU geometry (in face units, intensity fraction a = AU / 5):

- AU1 lifts the inner brow end by 0.11·a and draws central forehead lines; AU2 lifts the outer end
  by 0.10·a with lateral forehead lines; AU4 lowers the brow (0.05–0.09·a), pulls the inner ends
  together and draws vertical glabella lines.
- AU5 opens the upper lid (aperture ×(1 + 0.8·a)); AU6 fills and lifts the cheeks, lifts the lower lid
  and draws crow's feet.
- AU9 wrinkles the nose bridge, lifts and flares the nostrils and lifts the upper lip.
- AU12 pulls the mouth corners up (0.13·a) and out, deepening the nasolabial folds; AU15 pulls the
  corners down (0.09·a); AU20 stretches the mouth sideways and thins the lips; AU17 pushes the lower
  lip up (an arched mouth line) and wrinkles the chin boss.
- AU25 parts the lips showing the teeth; AU26 drops the jaw, opening the mouth and lowering the chin.
"""

from __future__ import annotations

import numpy as np

from data_pipelines.synthface.canvas import Canvas, aa, ellipse, face_alpha, hair_alpha, skin_color, stroke
from data_pipelines.synthface.identity import Identity


def draw_jaw(cv: Canvas, idt: Identity, a: dict, on: dict) -> None:
    """Redraw the lower face when the jaw drops (the face only grows, so drawing over is exact)."""
    if not on[26]:
        return
    box = cv.box(-idt.face_w * 1.05, idt.face_w * 1.05, 0.1, idt.face_h + 0.2, "outline")
    if box is None:
        return
    xo, yo = cv.coords("outline", *box)
    cv.over(box, face_alpha(idt, xo, yo, cv.px, 0.12 * a[26]), skin_color(idt, cv.scene, xo, yo))


def draw_upper_face(cv: Canvas, idt: Identity, a: dict, on: dict) -> None:
    """Cheeks, crow's feet, forehead and glabella lines, brows and eyes."""
    skin = np.asarray(idt.skin, np.float32)
    brow_base = idt.eye_y - idt.brow_y
    for sx in (-1.0, 1.0):
        # Cheeks: a faint resting cheek that AU6 lifts and fills.
        cx = sx * (idt.eye_dx + 0.03)
        box = cv.box(cx - 0.4, cx + 0.4, idt.eye_y - 0.2, idt.eye_y + 0.6)
        if box is not None:
            x, y = cv.coords("feature", *box)
            cy = idt.eye_y + 0.26 - 0.07 * a[6]
            blob = np.exp(-(((x - cx) / 0.13) ** 2 + ((y - cy) / 0.075) ** 2))
            cv.over(box, blob * (0.12 + 0.5 * a[6]), skin * np.float32([0.88, 0.69, 0.66]))
        ex = idt.eye_dx + idt.eye_w + 0.05
        box = cv.box(min(sx * ex, sx * (ex + 0.08)) - 0.02, max(sx * ex, sx * (ex + 0.08)) + 0.02,
                     idt.eye_y - 0.12, idt.eye_y + 0.12)
        if on[6] and box is not None:
            x, y = cv.coords("feature", *box)
            for k, dy in enumerate((-0.03, 0.0, 0.03)):
                line = stroke(sx * x, y, ex, ex + 0.07, idt.eye_y + dy * (1 + 0.6 * k)
                              + (sx * x - ex) * dy * 3, 0.008)
                cv.darken(box, aa(line, cv.px), 0.45 * a[6])
    if on[1] or on[2]:
        box = cv.box(-0.55, 0.55, brow_base - 0.3, brow_base - 0.05)
        if box is not None:
            x, y = cv.coords("feature", *box)
            for k in range(3):
                yw = brow_base - 0.14 - 0.055 * k + 0.02 * x ** 2
                cv.darken(box, aa(stroke(x, y, -0.22, 0.22, yw, 0.008), cv.px), 0.35 * a[1])
                cv.darken(box, aa(stroke(np.abs(x), y, 0.26, 0.5, yw, 0.008), cv.px), 0.35 * a[2])
    if on[4]:
        box = cv.box(-0.08, 0.08, brow_base - 0.1, brow_base + 0.1)
        if box is not None:
            x, y = cv.coords("feature", *box)
            gl = np.maximum(np.abs(np.abs(x) - 0.035) - 0.008, np.abs(y - brow_base) - 0.06)
            cv.darken(box, aa(gl, cv.px), 0.5 * a[4])
    brow_col = np.asarray(idt.hair, np.float32) * 0.8
    for sx in (-1.0, 1.0):
        inner = idt.eye_dx - idt.eye_w * 1.05 - 0.035 * a[4]
        outer = idt.eye_dx + idt.eye_w * 1.25
        lo, hi = idt.eye_dx - idt.eye_w * 1.05 - 0.04, outer + 0.02
        box = cv.box(min(sx * lo, sx * hi), max(sx * lo, sx * hi), brow_base - 0.28,
                     brow_base + 0.14)
        if box is None:
            continue
        x, y = cv.coords("feature", *box)
        xs = sx * x
        v = np.clip((xs - inner) / (outer - inner), 0.0, 1.0)
        yb = (brow_base - 0.14 * v * (1 - v) - idt.brow_tilt * v - 0.11 * a[1] * (1 - v) ** 2
              - 0.10 * a[2] * v ** 2 + 0.05 * a[4] + 0.04 * a[4] * (1 - v))
        half = idt.brow_thick * 0.5 * (1.0 - 0.45 * v)
        cv.over(box, aa(stroke(xs, y, inner, outer, yb, half), cv.px), brow_col)
    for sx in (-1.0, 1.0):
        _draw_eye(cv, idt, a, sx * idt.eye_dx)


def _draw_eye(cv: Canvas, idt: Identity, a: dict, cx: float) -> None:
    box = cv.box(cx - idt.eye_w * 1.1 - 0.03, cx + idt.eye_w * 1.1 + 0.03,
                 idt.eye_y - 1.8 * idt.eye_h - 0.09, idt.eye_y + idt.eye_h + 0.04)
    if box is None:
        return
    x, y = cv.coords("feature", *box)
    u = np.clip((x - cx) / idt.eye_w, -1.0, 1.0)
    arc = np.sqrt(1.0 - u * u)
    upper = idt.eye_y - idt.eye_h * (1.0 - 0.45 * idt.droop) * (1.0 + 0.8 * a[5]) * arc
    lower = idt.eye_y + idt.eye_h * 0.8 * (1.0 - 0.6 * a[6]) * arc
    opening = np.maximum(np.maximum(upper - y, y - lower), np.abs(x - cx) - idt.eye_w)
    cv.over(box, aa(opening, cv.px), (0.94, 0.94, 0.92))
    r, iy = idt.eye_h * 1.05, idt.eye_y + 0.1 * idt.eye_h
    cv.over(box, aa(np.maximum(ellipse(x, y, cx, iy, r, r), opening), cv.px), idt.iris)
    cv.over(box, aa(np.maximum(ellipse(x, y, cx, iy, r * 0.45, r * 0.45), opening), cv.px),
            (0.03, 0.03, 0.03))
    lid = stroke(x, y, cx - idt.eye_w * 1.05, cx + idt.eye_w * 1.05, upper, 0.012)
    cv.over(box, aa(lid, cv.px), (0.12, 0.08, 0.07))
    crease = stroke(x, y, cx - idt.eye_w * 0.9, cx + idt.eye_w * 0.9, upper - 0.035 - 0.02 * a[5],
                    0.007)
    cv.darken(box, aa(crease, cv.px), 0.25)


def draw_nose(cv: Canvas, idt: Identity, a: dict, on: dict) -> None:
    """Bridge shadow, AU9 bridge wrinkles, nostrils and wings (lifted and flared by AU9)."""
    tip_y = idt.eye_y + idt.nose_len
    half = idt.nose_w * 0.9 + 0.1
    box = cv.box(-half, half, idt.eye_y - 0.03, tip_y + 0.12, "nose")
    if box is None:
        return
    xn, yn = cv.coords("nose", *box)
    _, y = cv.coords("feature", *box)
    bridge = np.exp(-((np.abs(xn) - 0.055) / 0.02) ** 2) * ((y > idt.eye_y) & (y < tip_y - 0.04))
    cv.darken(box, bridge, 0.12)
    if on[9]:
        for k in range(3):
            wy = idt.eye_y + 0.03 + 0.04 * k
            cv.darken(box, aa(stroke(xn, y, -0.07, 0.07, wy, 0.008), cv.px), 0.5 * a[9])
    skin = np.asarray(idt.skin, np.float32)
    nos_y = tip_y - 0.035 * a[9]
    for sx in (-1.0, 1.0):
        flare = 1 + 0.2 * a[9]
        nostril = ellipse(xn, yn, sx * idt.nose_w * 0.55 * flare, nos_y, 0.03 * (1 + 0.3 * a[9]), 0.016)
        cv.over(box, aa(nostril, cv.px) * 0.85, skin * 0.3)
        wing = np.abs(ellipse(xn, yn, sx * idt.nose_w * 0.75 * flare, nos_y - 0.02, 0.045, 0.045)) - 0.006
        cv.darken(box, aa(np.maximum(wing, nos_y - 0.02 - yn), cv.px), 0.35)
    cv.darken(box, np.exp(-((xn / 0.08) ** 2 + ((yn - tip_y - 0.03) / 0.025) ** 2)), 0.18)


def draw_mouth(cv: Canvas, idt: Identity, a: dict, on: dict) -> None:
    """Nasolabial folds, lips, mouth opening, teeth, lip seam and chin."""
    tip_y = idt.eye_y + idt.nose_len
    my = idt.mouth_y - 0.02 * a[9]
    mw = idt.mouth_w * (1.0 + 0.12 * a[12] + 0.28 * a[20] - 0.08 * a[17])
    corner = -0.13 * a[12] + 0.09 * a[15] + 0.015 * a[20]
    mw_max = idt.mouth_w * 1.4
    box = cv.box(-mw_max - 0.13, mw_max + 0.13, tip_y - 0.06, idt.mouth_y + 0.16)
    if box is not None:
        x, y = cv.coords("feature", *box)
        for sx in (-1.0, 1.0):
            x_top, y_top = idt.nose_w * 0.9, tip_y - 0.02
            x_bot, y_bot = mw + 0.04, my + corner + 0.03
            t = np.clip((y - y_top) / (y_bot - y_top), 0.0, 1.0)
            xf = x_top + (x_bot - x_top) * t + 0.05 * np.sin(np.pi * t)
            fold = np.maximum(np.abs(sx * x - xf) - 0.009, np.maximum(y_top - y, y - y_bot))
            cv.darken(box, aa(fold, cv.px), 0.12 + 0.45 * a[12] + 0.3 * a[9])
    box = cv.box(-mw_max - 0.04, mw_max + 0.04, idt.mouth_y - 0.25, idt.mouth_y + 0.34)
    if box is not None:
        x, y = cv.coords("feature", *box)
        u = np.clip(x / mw, -1.0, 1.0)
        bow = np.sqrt(1 - u * u)
        mid = my + corner * u * u - 0.03 * a[17] * (1 - u * u)
        gap = (0.04 * a[25] + 0.14 * a[26]) * bow
        lt = idt.lip_thick * (1.0 - 0.35 * a[20])
        upper_in, lower_in = mid - 0.3 * gap, mid + 0.7 * gap
        upper_out = upper_in - lt * 0.8 * (0.4 + 0.6 * bow)
        lower_out = lower_in + lt * (0.3 + 0.7 * bow)
        side = np.abs(x) - mw
        cv.over(box, aa(np.maximum(np.maximum(upper_out - y, y - lower_out), side), cv.px), idt.lip)
        if on[25] or on[26]:
            inside = np.maximum(np.maximum(upper_in - y, y - lower_in), side)
            cv.over(box, aa(inside, cv.px), (0.18, 0.04, 0.05))
            cv.over(box, aa(np.maximum(inside, y - (upper_in + 0.035)), cv.px), (0.92, 0.9, 0.85))
        seam = aa(stroke(x, y, -mw, mw, mid, 0.007), cv.px)
        cv.darken(box, seam * np.clip(1.0 - gap / 0.01, 0.0, 1.0), 0.5)
    if on[17]:
        jaw = 0.12 * a[26]
        chin_y = idt.face_h * 0.82
        box = cv.box(-0.45, 0.45, chin_y - 0.32, chin_y + 0.12 + 0.3)
        if box is not None:
            x, y = cv.coords("feature", *box)
            boss = np.exp(-((x / 0.16) ** 2 + ((y - chin_y - jaw + 0.02 * a[17]) / 0.09) ** 2))
            dimples = 0.5 + 0.5 * np.sin(x * 70.0) * np.sin(y * 70.0)
            cv.darken(box, boss * (0.1 + 0.3 * dimples) * a[17], 0.9)


def draw_overlays(cv: Canvas, idt: Identity, scene) -> None:
    """Hair or headwear over the forehead, glasses, then any occluding object."""
    hw = idt.face_w * 1.22 + 0.05
    box = cv.box(-hw, hw, -cv.view - 0.4, 0.05 * idt.face_h + 0.05, "outline")
    if box is not None:
        xo, yo = cv.coords("outline", *box)
        front = hair_alpha(idt, xo, yo, cv.px, back=False)
        if front is not None:
            cv.over(box, front, idt.hat if idt.hair_style == 3 else idt.hair)
    if idt.glasses:
        gx = idt.eye_dx + idt.eye_w * 1.55 + 0.04
        gy = idt.eye_h * 2.6 + 0.04
        box = cv.box(-gx, gx, idt.eye_y - gy, idt.eye_y + gy)
        if box is not None:
            x, y = cv.coords("feature", *box)
            d = stroke(x, y, -idt.eye_dx + idt.eye_w * 1.5, idt.eye_dx - idt.eye_w * 1.5,
                       idt.eye_y - 0.02, 0.012)
            for sx in (-1.0, 1.0):
                ring = np.abs(ellipse(x, y, sx * idt.eye_dx, idt.eye_y, idt.eye_w * 1.55,
                                      idt.eye_h * 2.6)) - 0.014
                d = np.minimum(d, ring)
            cv.over(box, aa(d, cv.px), idt.glasses_color)
    oc = scene.occluder
    if oc is not None:
        lo, hi = oc.centre.min(0), oc.centre.max(0)
        box = cv.image_box(lo[0] - oc.radii[0], hi[0] + oc.radii[0], lo[1] - oc.radii[1],
                           hi[1] + oc.radii[1])
        if box is not None:
            X, Y = cv.X[:, :, box[1]], cv.Y[:, box[0], :]
            cx, cy = oc.centre[:, 0, None, None], oc.centre[:, 1, None, None]
            if oc.rect:
                d = np.maximum(np.abs(X - cx) - oc.radii[0], np.abs(Y - cy) - oc.radii[1])
            else:
                d = ellipse(X, Y, cx, cy, oc.radii[0], oc.radii[1])
            cv.over(box, aa(d, 2 * cv.view / cv.size), oc.color)
