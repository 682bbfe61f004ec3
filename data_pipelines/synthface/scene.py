"""Per-clip recording conditions: head pose, lighting, occlusion, background and camera noise.

The lab regime is CK+-like: frontal, centred, constant light, plain backdrop, no noise. The wild
regime is DFEW/AFEW-like: head pose, scale and translation drift smoothly, light changes in
strength, colour and direction, an object may cover part of the face, the background is cluttered
and the camera adds noise. Every quantity is drawn from the clip's own generator, so a clip is a
pure function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_pipelines.synthface.facs import SynthFaceError

REGIMES = ("lab", "wild")


@dataclass(frozen=True)
class Occluder:
    """An object (hand, cup, microphone) in front of the face; image coordinates, may move."""

    centre: np.ndarray  # float32 [T, 2]
    radii: tuple[float, float]
    rect: bool  # rounded rectangle instead of ellipse
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Scene:
    """Everything about a clip that is not the person or the expression."""

    tx: np.ndarray  # float32 [T] translation (image units, face ≈ [-1, 1])
    ty: np.ndarray
    scale: np.ndarray
    roll: np.ndarray  # radians
    yaw: np.ndarray
    pitch: np.ndarray
    gain: np.ndarray  # [T] global brightness
    cast: tuple[float, float, float]  # colour cast multiplier
    light_dir: float  # radians, direction of the side light
    light_amp: np.ndarray  # [T] side-light strength
    background: tuple[float, float, float]
    clutter: tuple[tuple[float, ...], ...]  # (kind, cx, cy, rx, ry, r, g, b) per shape
    clothes: tuple[float, float, float]
    occluder: Occluder | None
    noise_sigma: float  # camera noise, 0..255 scale
    noise_seed: int
    view: float = 1.15  # the image spans [-view, view] face units on both axes (canvas.VIEW: the lab's)

    @property
    def static_pose(self) -> bool:
        """True when pose does not change over the clip (renderer may share one grid)."""
        return all(float(np.ptp(a)) == 0.0 for a in (self.tx, self.ty, self.scale, self.roll,
                                                       self.yaw, self.pitch))


def _drift(rng: np.random.Generator, n: int, amp: float, period_lo: float = 12.0) -> np.ndarray:
    """Smooth random motion: a sum of two sinusoids with random period and phase."""
    t = np.arange(n, dtype=np.float32)
    out = np.zeros(n, np.float32)
    for _ in range(2):
        period = rng.uniform(period_lo, 4 * period_lo)
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    return (amp * out / 2.0).astype(np.float32)


def lab_scene(n_frames: int, rng: np.random.Generator, jitter: bool = True,
              head_motion: float = 0.0) -> Scene:
    """Frontal, evenly lit, plain backdrop, no noise; static within the clip unless ``head_motion``.

    With ``jitter`` each clip (a recording session) gets its own small framing and exposure offset
    (±0.03 shift, ±3% scale, ±5% gain), as two CK+ sessions of one person never line up exactly.
    ``head_motion`` > 0 adds the slow sway of a subject asked to hold still (CK+ subjects are not
    head-fixed): translation drifting by up to 0.03·h, roll 0.04·h rad, scale 2·h %, one to four
    sways per clip. At 48–112 px that is a pixel or less, so the codec's motion vectors miss much of it
    and the residuals show the face outline, hair and glasses: identity in the expression stream,
    the confound MI-FER's game removes. 0 (the default) keeps the head fixed.
    """
    zeros = np.zeros(n_frames, np.float32)
    ones = np.ones(n_frames, np.float32)
    if jitter:
        dx, dy = rng.uniform(-0.03, 0.03, 2)
        sc, gain = rng.uniform(0.97, 1.03), rng.uniform(0.95, 1.05)
    else:
        dx = dy = 0.0
        sc = gain = 1.0
    tx, ty, scale, roll = zeros + dx, zeros + dy, ones * sc, zeros
    if head_motion > 0:
        period = n_frames / 4.0
        tx = tx + _drift(rng, n_frames, 0.03 * head_motion, period)
        ty = ty + _drift(rng, n_frames, 0.03 * head_motion, period)
        roll = roll + _drift(rng, n_frames, 0.04 * head_motion, period)
        scale = (scale * (1 + _drift(rng, n_frames, 0.02 * head_motion, period))).astype(np.float32)
    return Scene(
        tx=tx, ty=ty, scale=scale, roll=roll, yaw=zeros, pitch=zeros,
        gain=ones * gain, cast=(1.0, 1.0, 1.0), light_dir=0.0, light_amp=zeros,
        background=(0.55, 0.58, 0.62), clutter=(), clothes=(0.25, 0.3, 0.4), occluder=None,
        noise_sigma=0.0, noise_seed=int(rng.integers(2**31)),
    )


# The wild frame is a movie frame, not a face crop: it spans [-WILD_VIEW, WILD_VIEW] face units, so the face
# (about 1.6 x 2 units at scale 1) fills a third to a half of its width, and the builders crop the tracked
# face from it as DFEW's release was cropped from its movie frames.
WILD_VIEW = 2.0


def wild_scene(n_frames: int, rng: np.random.Generator, occlusion_p: float = 0.35) -> Scene:
    """Pose/scale/translation jitter, changing light, optional occluder, clutter, camera noise, in a frame
    wider than the face (``WILD_VIEW``)."""
    n = n_frames
    base_scale = rng.uniform(0.8, 1.1)
    clutter = []
    reach = WILD_VIEW + 0.25  # clutter may stand partly outside the frame
    for _ in range(int(rng.integers(5, 12))):
        clutter.append((float(rng.integers(2)), *(float(v) for v in rng.uniform(-reach, reach, 2)),
                        *(float(v) for v in rng.uniform(0.15, 0.7, 2)),
                        *(float(v) for v in rng.uniform(0.05, 0.95, 3))))
    occluder = None
    if rng.uniform() < occlusion_p:
        start = rng.uniform([-0.7, -0.2], [0.7, 0.9])
        end = start + rng.uniform(-0.4, 0.4, 2)
        path = np.linspace(start, end, n).astype(np.float32)
        skinlike = rng.uniform() < 0.5
        color = (tuple(float(c) for c in rng.uniform([0.6, 0.45, 0.35], [0.9, 0.7, 0.6])) if skinlike
                 else tuple(float(c) for c in rng.uniform(0.05, 0.95, 3)))
        occluder = Occluder(path, (float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.15, 0.35))),
                            bool(rng.uniform() < 0.5), color)
    return Scene(
        tx=_drift(rng, n, 0.12) + rng.uniform(-0.12, 0.12),
        ty=_drift(rng, n, 0.08) + rng.uniform(-0.08, 0.08),
        scale=(base_scale * (1 + _drift(rng, n, 0.06))).astype(np.float32),
        roll=_drift(rng, n, 0.12) + rng.uniform(-0.12, 0.12),
        yaw=_drift(rng, n, 0.35) + rng.uniform(-0.3, 0.3),
        pitch=_drift(rng, n, 0.15) + rng.uniform(-0.1, 0.1),
        gain=(rng.uniform(0.75, 1.2) * (1 + _drift(rng, n, 0.15))).astype(np.float32),
        cast=tuple(float(c) for c in rng.uniform(0.85, 1.15, 3)),
        light_dir=float(rng.uniform(0, 2 * np.pi)),
        light_amp=np.abs(rng.uniform(0.0, 0.3) + _drift(rng, n, 0.1)).astype(np.float32),
        background=tuple(float(c) for c in rng.uniform(0.1, 0.9, 3)),
        clutter=tuple(clutter),
        clothes=tuple(float(c) for c in rng.uniform(0.05, 0.9, 3)),
        occluder=occluder,
        noise_sigma=float(rng.uniform(1.5, 6.0)),
        noise_seed=int(rng.integers(2**31)),
        view=WILD_VIEW,
    )


def make_scene(regime: str, n_frames: int, rng: np.random.Generator, head_motion: float = 0.0) -> Scene:
    """Scene for ``regime`` (``lab`` or ``wild``); ``head_motion`` applies to the lab (see ``lab_scene``)."""
    if head_motion < 0:
        raise SynthFaceError(f"head_motion must be >= 0, got {head_motion}")
    if regime == "lab":
        return lab_scene(n_frames, rng, head_motion=head_motion)
    if regime == "wild":
        return wild_scene(n_frames, rng)
    raise SynthFaceError(f"unknown regime {regime!r}; expected one of {REGIMES}")
