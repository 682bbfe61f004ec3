"""STT networks: a per-frame CNN cut after layer3 as the tokeniser, a factorised space-time transformer
with a CLS token on top, and a linear classifier.

Choices, and why (what the paper leaves open; docs/methods.md §2):

* **Tokeniser = ResNet up to its third stage** (``fer_jax.models.ResNet`` built with three stages, so no
  unused layer4 weights sit in the state or the optimizer). ResNet-18 on 112² frames with the ImageNet
  stem gives 256×7×7: 49 one-by-one "patches" per frame, linearly projected to the width.
* **Learnable spatial [N, D] and temporal [T, D] position embeddings**, summed per token; the CLS token
  carries neither (it stands for the whole clip). Initialised N(0, 0.02) as in ViT.
* **Features** (what ``eval_step`` reports and the compact loss acts on) are the final-LayerNorm CLS
  embedding [B, D] in float32; the classifier is linear on them.
* **Compressed tokens** (``model.tokens = "compressed"``; no published STT has it): the clip is the
  decoded I-frame followed by K accumulated residuals (CoViAR's representation, read from the
  compressed build without decoding any P-frame). Appearance and change have different statistics, so
  each gets its own layer3 tokeniser (as CoViAR keeps one CNN per modality); the transformer, its
  position embeddings (T = K + 1) and the head are the RGB model's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fer_jax.methods.stt.transformer import FactorisedBlock
from fer_jax.models.resnet import ARCHS, DEFAULT_WIDTH, ResNet

TOKEN_STAGES = 3  # ResNet stages kept: layer1..layer3


def tokeniser(arch: str, width: int | None, stem: str, *, dtype, rngs: nnx.Rngs) -> ResNet:
    """A ResNet of ``arch`` with only its first three stages: frames -> [N, h, w, 4·width] maps."""
    if arch not in ARCHS:
        raise ValueError(f"unknown backbone {arch!r}; known: {sorted(ARCHS)}")
    return ResNet(3, ARCHS[arch][:TOKEN_STAGES], width or DEFAULT_WIDTH[arch], stem, dtype=dtype, rngs=rngs)


def token_grid(size: int, stem: str) -> int:
    """Side of the layer3 map for ``size``² inputs: /16 with the ImageNet stem, /4 with the small one."""
    return -(-size // (16 if stem == "imagenet" else 4))


class SpatioTemporalTransformer(nnx.Module):
    """frames [B, T, S, S, 3] (or iframe [B, S, S, 3] + residuals [B, K, S, S, 3]) -> (logits, features)."""

    def __init__(self, num_classes: int, *, frames: int, size: int, backbone: str = "resnet18",
                 backbone_width: int | None = None, stem: str = "imagenet", width: int = 512, depth: int = 4,
                 heads: int = 8, mlp_ratio: int = 4, dropout: float = 0.0, tokens: str = "frames",
                 attention: str = "auto", dtype=jnp.float32, rngs: nnx.Rngs):
        if tokens not in ("frames", "compressed"):
            raise ValueError(f"tokens must be 'frames' or 'compressed', got {tokens!r}")
        self.tokens, self.dtype = tokens, dtype
        self.trunk = tokeniser(backbone, backbone_width, stem, dtype=dtype, rngs=rngs)
        self.residual_trunk = (tokeniser(backbone, backbone_width, stem, dtype=dtype, rngs=rngs)
                               if tokens == "compressed" else None)
        side = token_grid(size, stem)
        channels = self.trunk.out_dim
        self.embed = nnx.Linear(channels, width, dtype=dtype, rngs=rngs)
        init = nnx.initializers.normal(0.02)
        self.pos_space = nnx.Param(init(rngs.params(), (side * side, width)))
        self.pos_time = nnx.Param(init(rngs.params(), (frames, width)))
        self.cls = nnx.Param(init(rngs.params(), (width,)))
        self.blocks = nnx.List([FactorisedBlock(width, heads, mlp_ratio, dtype=dtype, implementation=attention,
                                                dropout=dropout, rngs=rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.head = nnx.Linear(width, num_classes, rngs=rngs)
        self.frames, self.side = frames, side

    def _tokens(self, trunk: ResNet, x: jax.Array) -> jax.Array:
        """[B, T, S, S, 3] -> [B, T, N, C] layer3 tokens."""
        b, t = x.shape[:2]
        maps = trunk.feature_map(x.reshape((b * t,) + x.shape[2:]))
        return maps.reshape(b, t, -1, maps.shape[-1])

    def clip_tokens(self, frames: jax.Array | None = None, iframe: jax.Array | None = None,
                    residuals: jax.Array | None = None) -> jax.Array:
        """The [B, T, N, C] token grid of either input kind."""
        if self.tokens == "frames":
            if frames is None:
                raise ValueError("model.tokens='frames' needs the batch key 'frames'")
            return self._tokens(self.trunk, frames)
        if iframe is None or residuals is None:
            raise ValueError("model.tokens='compressed' needs the batch keys 'iframe' and 'residuals'")
        return jnp.concatenate([self._tokens(self.trunk, iframe[:, None]),
                                self._tokens(self.residual_trunk, residuals)], axis=1)

    def __call__(self, frames: jax.Array | None = None, iframe: jax.Array | None = None,
                 residuals: jax.Array | None = None, rngs: nnx.Rngs | None = None, *,
                 temporal_weights: list | None = None) -> tuple[jax.Array, jax.Array]:
        """``temporal_weights``: a list that receives each block's temporal attention weights
        [B, N, heads, T, T] in block order (``fer_jax.methods.stt.attention``); ``None`` adds nothing."""
        grid = self.clip_tokens(frames, iframe, residuals)
        b, t, n, _ = grid.shape
        if (t, n) != (self.frames, self.side * self.side):
            raise ValueError(f"the model was built for {self.frames} frames of {self.side}x{self.side} tokens, "
                             f"got {t} frames of {n} tokens (check input.size / segments / frames_per_segment)")
        x = self.embed(grid) + (self.pos_time[...][:, None] + self.pos_space[...][None]).astype(self.dtype)
        cls = jnp.broadcast_to(self.cls[...].astype(self.dtype), (b, x.shape[-1]))
        for block in self.blocks:
            cls, x = block(cls, x, rngs, temporal_weights=temporal_weights)
        feats = self.norm(cls).astype(jnp.float32)
        return self.head(feats).astype(jnp.float32), feats
