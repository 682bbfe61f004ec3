"""Frozen identity (face-recognition) backbones: the MI-FER identity branch.

Embeddings are pre-extracted once per I-frame at dataset build time, so training never runs the
face-recognition network. Two implementations share one protocol:

* ``dlib``: dlib's pretrained 128-D ResNet (the ``[faces]`` extra), a real face-recognition network.
* ``flax:<checkpoint_dir>``: a Flax encoder pre-trained on SynthFace's reserved identities, the
  embedded stand-in that needs no extra package.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class IdentityBackbone(Protocol):
    name: str
    dim: int

    def embed(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] face crops -> float32 [N, dim], L2-normalised rows."""


def get_backbone(spec: str) -> IdentityBackbone:
    """``"dlib"`` or ``"flax:/path/to/checkpoint_dir"``."""
    kind, _, arg = spec.partition(":")
    if kind == "dlib":
        from fer_jax.identity.dlib_backbone import DlibBackbone

        return DlibBackbone()
    if kind == "flax":
        if not arg:
            raise ValueError("identity backbone 'flax' needs a checkpoint directory: 'flax:/path/to/dir'")
        from fer_jax.identity.flax_backbone import FlaxBackbone

        return FlaxBackbone.from_checkpoint(arg)
    raise ValueError(f"unknown identity backbone {spec!r}; use 'dlib' or 'flax:<checkpoint_dir>'")
