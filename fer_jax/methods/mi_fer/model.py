"""MI-FER networks: the residual (+ motion-vector) expression encoder, its classifier, and the apex branch.

Architecture choices, and why:

* **Per-segment 2-D CNN + temporal mean** (TSN / CoViAR style): each of the K residual frames of a
  clip goes through the same ResNet (``model.encoder``: ``tiny`` for tests and the demo,
  ``resnet18`` as in the paper's ResNet-18 class), features are averaged over segments. Mean
  pooling is order-free and cheap, and it is what CoViAR uses for its residual stream.
* **Optional motion-vector stream** (``model.use_mv``): a separate small ResNet (``model.mv_encoder``,
  default ``tiny``, "small" stem since MV fields are S/4) whose per-segment features are
  concatenated with the residual features before pooling. No input scaling is needed: the stem's
  GroupNorm normalises each example's field.
* **z_exp** is a linear projection of the pooled features to ``model.feature_dim``; the classifier
  is linear on z_exp, so everything the classifier uses passes through the representation the
  MI penalty acts on.
* **Apex branch** (``apex.enabled``; training only): a second ResNet on the decoded apex frame,
  projected to the same z space and classified by the *same* head. Its CE trains it to be a good
  still-image expression encoder; the residual stream's expression posterior is pulled towards its
  (stop-gradient) posterior by KL(p_apex ‖ p_residual), so the apex branch teaches without being
  dragged towards the residual stream. Agreement is on the *posterior*, not on features: the apex
  frame shows the whole face, and pulling z_exp towards its features pulled identity in with it
  (measured: ``README.md``). Rows without an apex label (``has_apex == 0``) contribute nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fer_jax.models import make_resnet


class ExpressionEncoder(nnx.Module):
    """residuals [B, K, S, S, 3] (+ motion vectors [B, K, S/4, S/4, 2]) -> z_exp [B, feature_dim] (float32)."""

    def __init__(
        self,
        arch: str = "tiny",
        width: int | None = None,
        feature_dim: int = 128,
        use_mv: bool = False,
        mv_arch: str = "tiny",
        mv_width: int | None = None,
        stem: str = "imagenet",
        *,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.residual_net = make_resnet(arch, 3, width, stem, dtype=dtype, rngs=rngs)
        in_dim = self.residual_net.out_dim
        self.use_mv = use_mv
        if use_mv:
            self.mv_net = make_resnet(mv_arch, 2, mv_width, "small", dtype=dtype, rngs=rngs)
            in_dim += self.mv_net.out_dim
        else:
            self.mv_net = None
        self.proj = nnx.Linear(in_dim, feature_dim, dtype=dtype, rngs=rngs)
        self.feature_dim = feature_dim

    def __call__(self, residuals: jax.Array, motion_vectors: jax.Array | None = None) -> jax.Array:
        b, k = residuals.shape[:2]
        feats = self.residual_net(residuals.reshape((b * k,) + residuals.shape[2:]))
        if self.use_mv:
            if motion_vectors is None:
                raise ValueError("model.use_mv is on but the batch has no 'motion_vectors'")
            mv = self.mv_net(motion_vectors.reshape((b * k,) + motion_vectors.shape[2:]))
            feats = jnp.concatenate([feats, mv], axis=-1)
        pooled = feats.reshape(b, k, -1).mean(axis=1)
        return self.proj(pooled).astype(jnp.float32)


class ApexBranch(nnx.Module):
    """Training-only still-image encoder: apex frame [B, S, S, 3] -> z [B, feature_dim] (float32)."""

    def __init__(self, arch: str, width: int | None, feature_dim: int, stem: str = "imagenet", *,
                 dtype=jnp.float32, rngs: nnx.Rngs):
        self.net = make_resnet(arch, 3, width, stem, dtype=dtype, rngs=rngs)
        self.proj = nnx.Linear(self.net.out_dim, feature_dim, dtype=dtype, rngs=rngs)

    def __call__(self, frames: jax.Array) -> jax.Array:
        return self.proj(self.net(frames)).astype(jnp.float32)


class ExpressionClassifier(nnx.Module):
    """The inference-time model: compressed-domain input -> (logits, z_exp). No identity, no apex."""

    def __init__(self, encoder: ExpressionEncoder, head: nnx.Linear):
        self.encoder = encoder
        self.head = head

    def __call__(self, residuals: jax.Array, motion_vectors: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        z = self.encoder(residuals, motion_vectors)
        return self.head(z).astype(jnp.float32), z


class MiFerNet(nnx.Module):
    """Everything the encoder-side optimizer trains: encoder, classifier head, optional apex branch."""

    def __init__(
        self,
        num_classes: int,
        encoder: ExpressionEncoder,
        apex: ApexBranch | None,
        *,
        rngs: nnx.Rngs,
    ):
        self.encoder = encoder
        self.head = nnx.Linear(encoder.feature_dim, num_classes, rngs=rngs)
        self.apex = apex

    def __call__(self, residuals: jax.Array, motion_vectors: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        z = self.encoder(residuals, motion_vectors)
        return self.head(z).astype(jnp.float32), z
