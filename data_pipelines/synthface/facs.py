"""FACS action units, EMFACS expression prototypes and per-clip AU trajectories.

The seven classes are built from EMFACS-style prototypes restricted to the 12 DISFA action units
SynthFace animates. Where EMFACS uses an AU SynthFace does not draw (AU7 lid tighten, AU23 lip
tighten, AU16 lower-lip depress), the closest drawn AU stands in: anger uses AU17 (chin raise pushes
the lips together) and disgust uses AU15+AU17 for the lowered, pushed-up lower lip.

Labels follow FACS coding practice: intensities describe change *relative to the person's neutral
face*, so an identity's resting-face offset (a natural frown, upturned corners) is drawn but is not
part of ``au_intensity``. That is exactly the identity/expression confound: the pixels move with the
resting face, the labels do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPRESSIONS: tuple[str, ...] = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
    6: "cheek raiser", 9: "nose wrinkler", 12: "lip corner puller", 15: "lip corner depressor",
    17: "chin raiser", 20: "lip stretcher", 25: "lips part", 26: "jaw drop",
}
AU_INDEX: dict[int, int] = {au: i for i, au in enumerate(AUS)}
MAX_INTENSITY = 5.0

# Core AUs of each prototype with their relative apex weight (1.0 = full intensity before the
# per-sample and per-identity scaling).
PROTOTYPES: dict[str, dict[int, float]] = {
    "neutral": {},
    "anger": {4: 1.0, 5: 0.7, 17: 0.7},
    "disgust": {9: 1.0, 15: 0.6, 17: 0.6},
    "fear": {1: 0.9, 2: 0.7, 4: 0.6, 5: 1.0, 20: 1.0, 25: 0.7},
    "happiness": {6: 0.9, 12: 1.0},
    "sadness": {1: 1.0, 4: 0.6, 15: 0.9},
    "surprise": {1: 1.0, 2: 1.0, 5: 0.8, 25: 0.9, 26: 1.0},
}
# Optional AUs that EMFACS lists as variants: (weight, probability of appearing in a sample).
OPTIONAL_AUS: dict[str, dict[int, tuple[float, float]]] = {
    "neutral": {},
    "anger": {25: (0.4, 0.3)},
    "disgust": {4: (0.5, 0.3), 25: (0.4, 0.3)},
    "fear": {26: (0.5, 0.4)},
    "happiness": {25: (0.6, 0.5)},
    "sadness": {17: (0.5, 0.4)},
    "surprise": {},
}


class SynthFaceError(ValueError):
    """Invalid SynthFace request (unknown expression or regime, unusable size or length)."""


def expression_id(expression: int | str) -> int:
    """Label id of ``expression`` given as a name or an id (raises :class:`SynthFaceError`)."""
    if isinstance(expression, str):
        if expression not in EXPRESSIONS:
            raise SynthFaceError(f"unknown expression {expression!r}; expected one of {EXPRESSIONS}")
        return EXPRESSIONS.index(expression)
    idx = int(expression)
    if not 0 <= idx < len(EXPRESSIONS):
        raise SynthFaceError(f"expression id {idx} out of range 0..{len(EXPRESSIONS) - 1}")
    return idx


def apex_au_vector(expression: int | str, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Apex AU intensities [12] for one sample: prototype x per-sample strength x identity scale.

    ``scale`` is the identity's expressiveness. The per-sample strength is U(0.6, 1.0) with a ±15%
    per-AU jitter, so the same expression of the same person never repeats exactly.
    """
    name = EXPRESSIONS[expression_id(expression)]
    out = np.zeros(len(AUS), np.float32)
    strength = rng.uniform(0.6, 1.0)
    for au, w in PROTOTYPES[name].items():
        out[AU_INDEX[au]] = w * strength * rng.uniform(0.85, 1.15)
    for au, (w, p) in OPTIONAL_AUS[name].items():
        if rng.uniform() < p:
            out[AU_INDEX[au]] = w * strength * rng.uniform(0.85, 1.15)
    return np.clip(out * MAX_INTENSITY * scale, 0.0, MAX_INTENSITY).astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class Timeline:
    """AU trajectories of one clip and the frame where the expression peaks."""

    au: np.ndarray  # float32 [T, 12], 0..5
    apex_index: int


def lab_timeline(apex: np.ndarray, n_frames: int, rng: np.random.Generator) -> Timeline:
    """CK+-like onset: neutral frames, a smooth rise, then the apex held to the last frame.

    Onset starts in the first quarter and reaches the apex between 65% and 90% of the clip; each AU
    lags the common ramp by up to one frame so AUs do not move in perfect lock-step. For the neutral
    class (all-zero apex) the apex index is the last frame, as in CK+ sequences.
    """
    t = np.arange(n_frames, dtype=np.float32)[:, None]
    start = rng.uniform(0.05, 0.25) * (n_frames - 1)
    peak = rng.uniform(0.65, 0.9) * (n_frames - 1)
    lag = rng.uniform(-1.0, 1.0, size=len(AUS)).astype(np.float32)[None, :]
    ramp = _smoothstep((t - start - lag) / max(peak - start, 1.0))
    au = (ramp * apex[None, :]).astype(np.float32)
    return Timeline(au, _apex_of(au, default=n_frames - 1))


def wild_timeline(apex: np.ndarray, n_frames: int, rng: np.random.Generator) -> Timeline:
    """DFEW-like trimmed clip: the expression holds for most of it, onset or offset may be cut by its ends.

    DFEW's and AFEW's clips were cut by annotators around one expression, so most of a clip shows it: the
    peak plateau lasts 55-85 % of the clip, the rise and fall 10-25 % each, and the event is placed so
    that the plateau stays inside the clip while the onset, the offset or both may fall before frame 0
    or after the last frame (a clip that starts mid-expression). Share of frames at >= half the peak:
    0.84 on average over 2000 clips of 18-30 frames, never below 0.55
    (``tests/synthface/test_labels_and_separability.py``). For the neutral class the apex
    index is the middle frame.
    """
    t = np.arange(n_frames, dtype=np.float32)[:, None]
    rise = rng.uniform(0.1, 0.25) * n_frames
    hold = rng.uniform(0.55, 0.85) * n_frames
    fall = rng.uniform(0.1, 0.25) * n_frames
    peak_start = rng.uniform(0.0, n_frames - hold)  # plateau inside the clip; rise / fall may be cut
    lag = rng.uniform(-1.0, 1.0, size=len(AUS)).astype(np.float32)[None, :]
    tt = t - lag
    up = _smoothstep((tt - (peak_start - rise)) / rise)
    down = 1.0 - _smoothstep((tt - (peak_start + hold)) / fall)
    au = (np.minimum(up, down) * apex[None, :]).astype(np.float32)
    return Timeline(au, _apex_of(au, default=n_frames // 2))


def _apex_of(au: np.ndarray, default: int) -> int:
    total = au.sum(axis=1)
    if total.max() <= 1e-6:
        return int(default)
    # First frame within 1% of the maximum: the start of the apex plateau.
    return int(np.flatnonzero(total >= total.max() * 0.99)[0])
