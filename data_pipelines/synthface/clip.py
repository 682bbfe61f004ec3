"""One labelled clip in memory: identity + expression + regime -> frames and labels."""

from __future__ import annotations

import numpy as np

from data_pipelines.synthface.facs import (
    EXPRESSIONS,
    SynthFaceError,
    apex_au_vector,
    expression_id,
    lab_timeline,
    wild_timeline,
)
from data_pipelines.synthface.identity import Identity, make_identity
from data_pipelines.synthface.render import render_frames
from data_pipelines.synthface.scene import REGIMES, make_scene, wild_scene

MIN_SIZE = 32
MIN_FRAMES = 2


def check_request(regime: str, n_frames: int, size: int) -> None:
    """Raise :class:`SynthFaceError` naming the problem if the request cannot be rendered."""
    if regime not in REGIMES:
        raise SynthFaceError(f"unknown regime {regime!r}; expected one of {REGIMES}")
    if int(n_frames) < MIN_FRAMES:
        raise SynthFaceError(f"n_frames must be >= {MIN_FRAMES}, got {n_frames}")
    if int(size) < MIN_SIZE or int(size) % 2:
        raise SynthFaceError(f"size must be an even number >= {MIN_SIZE} (yuv420p video), got {size}")


def render_clip(identity: Identity | int, expression: int | str, regime: str = "lab",
                n_frames: int = 32, size: int = 112, seed: int = 0,
                head_motion: float = 0.0) -> tuple[np.ndarray, dict]:
    """Render one clip; returns ``(frames uint8 [T, S, S, 3], labels)``.

    ``identity`` is an :class:`Identity` or an index drawn with ``make_identity(index, seed=0)``.
    ``labels`` holds ``expression`` (label id), ``expression_name``, ``identity``, ``apex_index``,
    ``au_intensity`` (float32 [T, 12], expression AUs relative to the person's neutral face),
    ``regime`` and ``n_frames``. The same arguments always give the same pixels. The clip has
    exactly ``n_frames`` frames in both regimes (``generate`` varies wild lengths around it).
    ``head_motion`` scales the lab regime's head sway (0 = head fixed; see ``scene.lab_scene``).
    """
    check_request(regime, n_frames, size)
    idt = identity if isinstance(identity, Identity) else make_identity(int(identity))
    label = expression_id(expression)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(idt.index, label)))
    apex = apex_au_vector(label, rng, idt.expressiveness)
    timeline = (lab_timeline if regime == "lab" else wild_timeline)(apex, int(n_frames), rng)
    scene = make_scene(regime, int(n_frames), rng, float(head_motion))
    frames = render_frames(idt, timeline.au, scene, int(size))
    labels = {
        "expression": label,
        "expression_name": EXPRESSIONS[label],
        "identity": idt.index,
        "apex_index": timeline.apex_index,
        "au_intensity": timeline.au,
        "regime": regime,
        "n_frames": int(n_frames),
    }
    return frames, labels


def render_face_image(identity: Identity | int, size: int = 112, seed: int = 0) -> np.ndarray:
    """One still image of a person for identity-encoder pre-training: uint8 [S, S, 3].

    Pose, scale, lighting, background and a random expression at a random intensity vary with
    ``seed``; nothing covers the face (an occluded still would teach the encoder nothing).
    """
    check_request("wild", MIN_FRAMES, size)
    idt = identity if isinstance(identity, Identity) else make_identity(int(identity))
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(idt.index, 7919)))
    label = int(rng.integers(len(EXPRESSIONS)))
    au = apex_au_vector(label, rng, idt.expressiveness) * rng.uniform(0.0, 1.0)
    scene = wild_scene(1, rng, occlusion_p=0.0)
    return render_frames(idt, au[None], scene, int(size))[0]
