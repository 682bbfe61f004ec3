"""ResNet family (He et al., 2016) in Flax NNX, shared by all four methods.

Choices, and why:

* **GroupNorm instead of BatchNorm.** The network is per-example: no running statistics to carry
  between train and eval, no cross-device reduction, padded eval rows cannot leak into real ones,
  and tiny per-device batches (video clips are large) still train. This follows BiT
  (Kolesnikov et al., 2020), which trained ResNets with GroupNorm (+ weight standardisation) at
  scale. Groups: up to 32, with at least 4 channels per group. One channel per group would be
  instance norm, which maps a 1×1 feature map (small inputs, deep stages) to all zeros.
* **Zero-initialised last norm scale in each block** (Goyal et al., 2017): every block starts as
  the identity, which makes training from scratch stable without BatchNorm.
* **Two stems.** ``"imagenet"`` is the usual 7×7/2 conv + 3×3/2 max-pool (112² → 28²), so
  ``feature_map(x, num_stages=3)`` of ``resnet18`` on 112² frames gives the 256×7×7 tokens STT
  uses. ``"small"`` is a 3×3/1 conv without pooling, for inputs that are already small (motion
  vector fields at S/4, 32² test frames).
* ``dtype`` is the compute dtype (e.g. bfloat16); parameters stay float32.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

# name -> blocks per stage. ``tiny`` is one block per stage: the demo and test variant.
ARCHS: dict[str, tuple[int, ...]] = {
    "tiny": (1, 1, 1, 1),
    "resnet10": (1, 1, 1, 1),
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}
DEFAULT_WIDTH = {"tiny": 16, "resnet10": 64, "resnet18": 64, "resnet34": 64}


def _norm(channels: int, dtype, rngs: nnx.Rngs, zero_scale: bool = False) -> nnx.GroupNorm:
    init = nnx.initializers.zeros if zero_scale else nnx.initializers.ones
    groups = math.gcd(min(32, max(1, channels // 4)), channels)
    return nnx.GroupNorm(channels, num_groups=groups, dtype=dtype, scale_init=init, rngs=rngs)


class BasicBlock(nnx.Module):
    """3×3 conv → norm → ReLU → 3×3 conv → norm, plus a (projected) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, *, dtype, rngs: nnx.Rngs):
        def conv(i, o, k, s):
            return nnx.Conv(i, o, (k, k), strides=s, use_bias=False, dtype=dtype, rngs=rngs)

        self.conv1 = conv(in_ch, out_ch, 3, stride)
        self.norm1 = _norm(out_ch, dtype, rngs)
        self.conv2 = conv(out_ch, out_ch, 3, 1)
        self.norm2 = _norm(out_ch, dtype, rngs, zero_scale=True)
        if stride != 1 or in_ch != out_ch:
            self.proj = conv(in_ch, out_ch, 1, stride)
            self.proj_norm = _norm(out_ch, dtype, rngs)
        else:
            self.proj = None
            self.proj_norm = None

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        shortcut = x if self.proj is None else self.proj_norm(self.proj(x))
        return nnx.relu(y + shortcut)


class ResNet(nnx.Module):
    """A ResNet trunk: NHWC images -> pooled features [N, C] (or the spatial map)."""

    def __init__(
        self,
        in_channels: int = 3,
        stage_sizes: Sequence[int] = ARCHS["resnet18"],
        width: int = 64,
        stem: str = "imagenet",
        *,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        if stem not in ("imagenet", "small"):
            raise ValueError(f"unknown ResNet stem {stem!r}; use 'imagenet' or 'small'")
        self.stem_kind = stem
        k, s = (7, 2) if stem == "imagenet" else (3, 1)
        self.stem = nnx.Conv(in_channels, width, (k, k), strides=s, use_bias=False, dtype=dtype, rngs=rngs)
        self.stem_norm = _norm(width, dtype, rngs)
        stages, ch = [], width
        for i, n in enumerate(stage_sizes):
            out = width * 2**i
            blocks = [BasicBlock(ch if j == 0 else out, out, (1 if i == 0 or j else 2), dtype=dtype, rngs=rngs) for j in range(n)]
            stages.append(nnx.List(blocks))
            ch = out
        self.stages = nnx.List(stages)
        self.out_dim = ch
        self.dtype = dtype

    def stage_dims(self) -> list[int]:
        return [stage[-1].conv2.out_features for stage in self.stages]

    def feature_map(self, x: jax.Array, num_stages: int | None = None) -> jax.Array:
        """[N, H, W, C_in] -> [N, h, w, C] after the first ``num_stages`` stages (all by default)."""
        x = nnx.relu(self.stem_norm(self.stem(x.astype(self.dtype))))
        if self.stem_kind == "imagenet":
            x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
        for stage in list(self.stages)[: num_stages if num_stages is not None else len(self.stages)]:
            for block in stage:
                x = block(x)
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        """[N, H, W, C_in] -> global-average-pooled [N, out_dim] (in the compute dtype)."""
        return self.feature_map(x).mean(axis=(1, 2))


def make_resnet(
    arch: str,
    in_channels: int = 3,
    width: int | None = None,
    stem: str = "imagenet",
    *,
    dtype=jnp.float32,
    rngs: nnx.Rngs,
) -> ResNet:
    """``arch`` ∈ ARCHS; ``width`` is the first stage's channels (default per arch: tiny 16, else 64)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown encoder {arch!r}; known: {sorted(ARCHS)}")
    return ResNet(in_channels, ARCHS[arch], width or DEFAULT_WIDTH[arch], stem, dtype=dtype, rngs=rngs)
