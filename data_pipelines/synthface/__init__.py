"""SynthFace: procedural, labelled face videos for every fer-jax method, test and benchmark.

Identities are fixed parameter vectors (face shape, skin tone, eyes, brows, nose, mouth, hair or
headwear, glasses, a resting face and an expressiveness scale). Faces are animated by the 12 DISFA
action units; the 7 expression classes follow EMFACS prototypes. Two regimes: ``lab`` (CK+-like
neutral-to-apex onsets, frontal) and ``wild`` (DFEW-like pose, light, occlusion, clutter and noise,
the expression anywhere in a variable-length clip).

Only numpy is needed to render; PyAV is imported when clips are encoded.
"""

from data_pipelines.synthface.clip import render_clip, render_face_image
from data_pipelines.synthface.dataset import GenerateResult, assign_splits, generate
from data_pipelines.synthface.facs import AUS, EXPRESSIONS, PROTOTYPES, SynthFaceError
from data_pipelines.synthface.identity import Identity, make_identity, sample_identities
from data_pipelines.synthface.render import AU_REGIONS

__all__ = [
    "AUS", "AU_REGIONS", "EXPRESSIONS", "GenerateResult", "Identity", "PROTOTYPES", "SynthFaceError",
    "assign_splits", "generate", "make_identity", "render_clip", "render_face_image",
    "sample_identities",
]
