"""Procedural identities: one fixed parameter vector per person.

An identity is drawn from ``SeedSequence(seed, spawn_key=(index,))``, so identity ``i`` of a seed is
the same whatever the number of identities requested. Besides appearance (face shape, skin tone,
eyes, brows, nose, mouth, hair or headwear, glasses) each identity has a *resting face* (a constant
AU offset: a natural frown, upturned or downturned mouth corners, raised inner brows) plus droopy
lids, and an *expressiveness* that scales every expression it makes. Both tie expression
appearance to identity, which is the confound identity-aware FER has to remove.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from data_pipelines.synthface.facs import AU_INDEX, AUS

# Skin tones from light to dark (RGB 0..1); an identity interpolates between neighbours.
_SKIN = np.array([[1.0, 0.88, 0.78], [0.96, 0.78, 0.64], [0.86, 0.64, 0.48], [0.68, 0.48, 0.34],
                  [0.48, 0.33, 0.24]], np.float32)
_HAIR = np.array([[0.08, 0.06, 0.05], [0.25, 0.16, 0.09], [0.50, 0.33, 0.17], [0.80, 0.65, 0.40],
                  [0.55, 0.55, 0.55], [0.55, 0.20, 0.10]], np.float32)
_IRIS = np.array([[0.25, 0.15, 0.08], [0.20, 0.35, 0.55], [0.30, 0.45, 0.25], [0.12, 0.10, 0.08]],
                 np.float32)
HAIR_STYLES = ("short", "fringe", "long", "cap", "bald")


@dataclass(frozen=True)
class Identity:
    """All appearance and behaviour parameters of one synthetic person (face units: face ≈ [-1, 1])."""

    index: int
    face_w: float  # half-width of the face ellipse
    face_h: float  # half-height
    chin: float  # 0 round .. 1 pointed jaw
    skin: tuple[float, float, float]
    eye_dx: float  # half the distance between eye centres
    eye_y: float
    eye_w: float
    eye_h: float
    iris: tuple[float, float, float]
    brow_y: float  # gap between brow and eye centre
    brow_thick: float
    brow_tilt: float  # >0 outer ends higher
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_thick: float
    lip: tuple[float, float, float]
    hair_style: int  # index into HAIR_STYLES
    hair: tuple[float, float, float]
    hat: tuple[float, float, float]
    glasses: bool
    glasses_color: tuple[float, float, float]
    droop: float  # 0..1 droopy upper lids
    resting_au: tuple[float, ...]  # constant AU offset [12], drawn but not labelled
    expressiveness: float  # scales every expression's AU amplitudes

    def to_json(self) -> dict:
        """JSON-serialisable dict (floats rounded to 4 decimals)."""
        out = {}
        for k, v in asdict(self).items():
            if isinstance(v, tuple):
                out[k] = [round(float(x), 4) for x in v]
            elif isinstance(v, float):
                out[k] = round(v, 4)
            else:
                out[k] = v
        return out


def _pick_color(rng: np.random.Generator, palette: np.ndarray) -> tuple[float, float, float]:
    pos = rng.uniform(0, len(palette) - 1)
    i = int(pos)
    j = min(i + 1, len(palette) - 1)
    c = palette[i] * (1 - (pos - i)) + palette[j] * (pos - i)
    c = np.clip(c * rng.uniform(0.95, 1.05, 3), 0, 1)
    return tuple(float(x) for x in c)


def make_identity(index: int, seed: int = 0) -> Identity:
    """Identity number ``index`` of ``seed`` (deterministic, independent of how many are drawn)."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(index),)))
    resting = np.zeros(len(AUS), np.float32)
    # Each resting trait is present in a good share of people with a clearly visible intensity.
    for au, p, lo, hi in ((4, 0.35, 1.0, 2.5), (12, 0.3, 1.0, 2.5), (15, 0.25, 1.0, 2.5),
                          (1, 0.2, 0.8, 2.0), (17, 0.15, 0.8, 2.0)):
        if rng.uniform() < p:
            resting[AU_INDEX[au]] = rng.uniform(lo, hi)
    if resting[AU_INDEX[12]] > 0 and resting[AU_INDEX[15]] > 0:  # one mouth-corner trait at most
        resting[AU_INDEX[15]] = 0.0
    style = int(rng.integers(len(HAIR_STYLES)))
    return Identity(
        index=int(index),
        face_w=float(rng.uniform(0.68, 0.86)),
        face_h=float(rng.uniform(0.92, 1.08)),
        chin=float(rng.uniform(0.0, 1.0)),
        skin=_pick_color(rng, _SKIN),
        eye_dx=float(rng.uniform(0.27, 0.37)),
        eye_y=float(rng.uniform(-0.18, -0.06)),
        eye_w=float(rng.uniform(0.14, 0.18)),
        eye_h=float(rng.uniform(0.065, 0.09)),
        iris=_pick_color(rng, _IRIS),
        brow_y=float(rng.uniform(0.17, 0.23)),
        brow_thick=float(rng.uniform(0.05, 0.09)),
        brow_tilt=float(rng.uniform(-0.04, 0.05)),
        nose_len=float(rng.uniform(0.26, 0.36)),
        nose_w=float(rng.uniform(0.08, 0.13)),
        mouth_y=float(rng.uniform(0.42, 0.52)),
        mouth_w=float(rng.uniform(0.2, 0.3)),
        lip_thick=float(rng.uniform(0.035, 0.06)),
        lip=_pick_color(rng, np.array([[0.75, 0.35, 0.35], [0.6, 0.28, 0.28], [0.45, 0.22, 0.2]],
                                      np.float32)),
        hair_style=style,
        hair=_pick_color(rng, _HAIR),
        hat=tuple(float(x) for x in rng.uniform(0.1, 0.9, 3)),
        glasses=bool(rng.uniform() < 0.3),
        glasses_color=tuple(float(x) for x in rng.uniform(0.0, 0.4, 3)),
        droop=float(rng.uniform(0.3, 0.6) if rng.uniform() < 0.25 else 0.0),
        resting_au=tuple(float(x) for x in resting),
        expressiveness=float(rng.uniform(0.55, 1.25)),
    )


def sample_identities(n: int, seed: int = 0, start: int = 0) -> list[Identity]:
    """Identities ``start .. start+n-1`` of ``seed``."""
    return [make_identity(i, seed) for i in range(int(start), int(start) + int(n))]


def neutral_identity(index: int = 0, seed: int = 0) -> Identity:
    """Identity ``index`` with no resting-face offset and no droop (used to test AUs in isolation)."""
    ident = make_identity(index, seed)
    return replace(ident, resting_au=tuple(0.0 for _ in AUS), droop=0.0, glasses=False)
