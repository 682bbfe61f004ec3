"""StyleGAN2 residual discriminator (rosinality's ``Discriminator(size, channel_multiplier)``) in NNX.

fromRGB (1×1 conv) -> residual blocks halving the resolution down to 4² (conv 3×3, blurred stride-2 conv
3×3, and a blurred stride-2 1×1 skip, summed / sqrt 2) -> minibatch standard deviation (groups of up
to 4, one feature) -> conv 3×3 -> linear -> linear to one logit. Input NHWC in about [-1, 1].

``trunk(x)`` returns the 4² features before the minibatch-std layer: IFER's inversion discriminator is
this trunk with its own head.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from fer_jax.models.stylegan2.generator import channel_table, check_size
from fer_jax.models.stylegan2.ops import BLUR_KERNEL, Blur, EqualConv2d, EqualLinear, FusedLeakyReLU


class ConvLayer(nnx.Module):
    """[blur] -> equalised conv -> [bias + leaky ReLU]; ``downsample`` blurs then strides by 2."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, *, downsample: bool = False,
                 blur_kernel: Sequence[float] = BLUR_KERNEL, bias: bool = True, activate: bool = True,
                 rngs: nnx.Rngs):
        self.downsample = downsample
        p = (len(blur_kernel) - 2) + (kernel_size - 1)
        self.blur = Blur(blur_kernel, ((p + 1) // 2, p // 2)) if downsample else None
        self.conv = EqualConv2d(in_channel, out_channel, kernel_size, stride=2 if downsample else 1,
                                padding=0 if downsample else kernel_size // 2, bias=bias and not activate,
                                rngs=rngs)
        self.act = FusedLeakyReLU(out_channel, bias=bias) if activate else None

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.blur is not None:
            x = self.blur(x)
        x = self.conv(x)
        return x if self.act is None else self.act(x)


class ResBlock(nnx.Module):
    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = BLUR_KERNEL, *,
                 rngs: nnx.Rngs):
        self.conv1 = ConvLayer(in_channel, in_channel, 3, rngs=rngs)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel, rngs=rngs)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, blur_kernel=blur_kernel, activate=False,
                              bias=False, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


def minibatch_stddev(x: jax.Array, group_size: int = 4, num_features: int = 1) -> jax.Array:
    """Append the std over groups of ``min(B, group_size)`` examples (example b is in group b mod B/G),
    averaged over space and channels, as ``num_features`` extra channels."""
    b, h, w, c = x.shape
    g = min(b, group_size)
    if b % g:
        raise ValueError(f"minibatch stddev: batch {b} is not divisible by its group size {g}")
    y = x.reshape(g, b // g, h, w, num_features, c // num_features)
    y = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)  # [B/G, H, W, F, C/F]
    y = jnp.mean(y, axis=(1, 2, 4))  # [B/G, F]
    y = jnp.tile(y[:, None, None, :], (g, h, w, 1))
    return jnp.concatenate([x, y.astype(x.dtype)], axis=-1)


class Discriminator(nnx.Module):
    """StyleGAN2 discriminator; see the module docstring. Returns logits [B, 1]."""

    def __init__(self, size: int, channel_multiplier: float = 2, channel_max: int = 512,
                 blur_kernel: Sequence[float] = BLUR_KERNEL, *, rngs: nnx.Rngs):
        self.size = int(size)
        log_size = check_size(size)
        ch = channel_table(size, channel_multiplier, channel_max)
        convs: list[nnx.Module] = [ConvLayer(3, ch[size], 1, rngs=rngs)]
        in_channel = ch[size]
        for i in range(log_size, 2, -1):
            convs.append(ResBlock(in_channel, ch[2 ** (i - 1)], blur_kernel, rngs=rngs))
            in_channel = ch[2 ** (i - 1)]
        self.convs = nnx.List(convs)
        self.stddev_group, self.stddev_feat = 4, 1
        self.final_conv = ConvLayer(in_channel + 1, ch[4], 3, rngs=rngs)
        self.final_linear = nnx.List([EqualLinear(ch[4] * 4 * 4, ch[4], activation="fused_lrelu", rngs=rngs),
                                      EqualLinear(ch[4], 1, rngs=rngs)])

    def trunk(self, x: jax.Array) -> jax.Array:
        """Image [B, S, S, 3] -> features [B, 4, 4, C4] (before the minibatch-std layer)."""
        if x.shape[1:3] != (self.size, self.size):
            raise ValueError(f"discriminator built for {self.size} px got images of shape {x.shape}")
        for layer in self.convs:
            x = layer(x)
        return x

    def __call__(self, x: jax.Array) -> jax.Array:
        out = minibatch_stddev(self.trunk(x), self.stddev_group, self.stddev_feat)
        out = self.final_conv(out)
        out = jnp.transpose(out, (0, 3, 1, 2)).reshape(out.shape[0], -1)  # CHW order, as the torch weights
        for layer in self.final_linear:
            out = layer(out)
        return out
