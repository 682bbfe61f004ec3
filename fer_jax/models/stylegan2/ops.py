"""StyleGAN2's building blocks (Karras et al., 2020) in Flax NNX, NHWC, as rosinality's PyTorch code
defines them, so that converted checkpoints give the same images.

* **Equalised learning rate**: weights are stored as N(0, 1) (divided by ``lr_mul``) and scaled by
  ``lr_mul / sqrt(fan_in)`` at every call, so Adam's per-parameter step is the same for every layer.
* **upfirdn2d**: zero-insert upsample, pad (negative = crop), FIR filter (a true convolution:
  the kernel is flipped), keep every ``down``-th sample; one depthwise ``lax.conv``.
* **Modulated convolution**: rosinality scales the *weights* per example and runs a grouped conv
  (groups = batch). Here the *input* is scaled by the style and the *output* by the demodulation
  factor around one shared-weight conv, which is the same linear map (conv(x·s, w)·d = conv(x, w·s·d)
  per example) without per-example kernels; XLA runs it as an ordinary batched conv.

Parameter layouts (converter: ``convert.py``): linear ``[in, out]``, conv ``[kh, kw, in, out]``.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

DN = ("NHWC", "HWIO", "NHWC")
BLUR_KERNEL = (1, 3, 3, 1)
SQRT2 = math.sqrt(2.0)


def make_kernel(k: Sequence[float]) -> np.ndarray:
    """A 1-D filter -> its normalised 2-D outer product (sum 1)."""
    k = np.asarray(k, np.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: jax.Array, kernel: np.ndarray, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> jax.Array:
    """Upsample by zero insertion (``up``), pad ``pad`` = (before, after) on H and W, convolve with
    ``kernel`` per channel, subsample by ``down``. ``x`` is NHWC."""
    c = x.shape[-1]
    k = np.flip(np.asarray(kernel, np.float32), (0, 1))  # lax.conv correlates; upfirdn convolves
    w = jnp.broadcast_to(jnp.asarray(np.ascontiguousarray(k), x.dtype)[:, :, None, None], (*k.shape, 1, c))
    p0, p1 = pad
    padding = ((p0, p1 + up - 1), (p0, p1 + up - 1))  # lhs_dilation leaves no zero after the last row
    return jax.lax.conv_general_dilated(x, w, (down, down), padding, lhs_dilation=(up, up),
                                        dimension_numbers=DN, feature_group_count=c)


def fused_leaky_relu(x: jax.Array, bias: jax.Array | None = None, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> jax.Array:
    """``leaky_relu(x + bias) * sqrt(2)``: bias on the last (channel) axis; the gain keeps the variance."""
    if bias is not None:
        x = x + bias
    return jax.nn.leaky_relu(x, negative_slope) * scale


class Blur(nnx.Module):
    """A fixed FIR filter (upfirdn2d with no resampling); ``upsample_factor`` scales it by factor²
    after a zero-inserting upsample so the mean is kept."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        self.taps, self.gain = tuple(float(t) for t in kernel), float(upsample_factor ** 2)  # static, hashable
        self.pad = tuple(pad)

    def __call__(self, x: jax.Array) -> jax.Array:
        return upfirdn2d(x, make_kernel(self.taps) * self.gain, pad=self.pad)


class Upsample(nnx.Module):
    """×2 upsampling with the blur filter (toRGB skips)."""

    def __init__(self, kernel: Sequence[float], factor: int = 2):
        self.factor, self.taps = factor, tuple(float(t) for t in kernel)
        p = len(self.taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def __call__(self, x: jax.Array) -> jax.Array:
        return upfirdn2d(x, make_kernel(self.taps) * self.factor ** 2, up=self.factor, pad=self.pad)


class EqualLinear(nnx.Module):
    """Linear layer with equalised learning rate; ``activation="fused_lrelu"`` fuses bias + leaky ReLU."""

    def __init__(self, in_dim: int, out_dim: int, *, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None, rngs: nnx.Rngs):
        self.weight = nnx.Param(jax.random.normal(rngs.params(), (in_dim, out_dim)) / lr_mul)
        self.bias = nnx.Param(jnp.full((out_dim,), bias_init, jnp.float32)) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        if activation not in (None, "fused_lrelu"):
            raise ValueError(f"EqualLinear activation must be None or 'fused_lrelu', got {activation!r}")
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        out = x @ (self.weight[...] * self.scale)
        bias = None if self.bias is None else self.bias[...] * self.lr_mul
        if self.activation:
            return fused_leaky_relu(out, bias)
        return out if bias is None else out + bias


class EqualConv2d(nnx.Module):
    """Conv with equalised learning rate (the discriminator's)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, bias: bool = True, rngs: nnx.Rngs):
        k = kernel_size
        self.weight = nnx.Param(jax.random.normal(rngs.params(), (k, k, in_channel, out_channel)))
        self.bias = nnx.Param(jnp.zeros((out_channel,), jnp.float32)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channel * k * k)
        self.stride, self.padding = stride, padding

    def __call__(self, x: jax.Array) -> jax.Array:
        p = self.padding
        out = jax.lax.conv_general_dilated(x, self.weight[...] * self.scale, (self.stride,) * 2,
                                           ((p, p), (p, p)), dimension_numbers=DN)
        return out if self.bias is None else out + self.bias[...]


class FusedLeakyReLU(nnx.Module):
    """Per-channel bias + leaky ReLU(0.2) × sqrt(2)."""

    def __init__(self, channel: int, bias: bool = True):
        self.bias = nnx.Param(jnp.zeros((channel,), jnp.float32)) if bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        return fused_leaky_relu(x, None if self.bias is None else self.bias[...])


class ModulatedConv2d(nnx.Module):
    """Style-modulated (and demodulated) conv; ``upsample`` = transposed conv ×2 then blur,
    ``downsample`` = blur then stride-2 conv. The style's affine map starts at bias 1 (identity scale)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, *,
                 demodulate: bool = True, upsample: bool = False, downsample: bool = False,
                 blur_kernel: Sequence[float] = BLUR_KERNEL, rngs: nnx.Rngs):
        k = kernel_size
        self.kernel_size, self.in_channel, self.out_channel = k, in_channel, out_channel
        self.upsample, self.downsample, self.demodulate = upsample, downsample, demodulate
        factor, taps = 2, len(blur_kernel)
        blur = None
        if upsample:
            p = (taps - factor) - (k - 1)
            blur = Blur(blur_kernel, ((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        elif downsample:
            p = (taps - factor) + (k - 1)
            blur = Blur(blur_kernel, ((p + 1) // 2, p // 2))
        self.blur = blur
        self.scale = 1.0 / math.sqrt(in_channel * k * k)
        self.padding = k // 2
        self.weight = nnx.Param(jax.random.normal(rngs.params(), (k, k, in_channel, out_channel)))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0, rngs=rngs)

    def __call__(self, x: jax.Array, style: jax.Array) -> jax.Array:
        s = self.modulation(style)  # [B, in]
        w = self.weight[...] * self.scale  # [k, k, in, out]
        x = x * s[:, None, None, :].astype(x.dtype)
        k = self.kernel_size
        if self.upsample:  # conv_transpose2d(stride 2) = dilated input, flipped kernel, full padding
            out = jax.lax.conv_general_dilated(x, jnp.flip(w, (0, 1)), (1, 1), ((k - 1, k - 1),) * 2,
                                               lhs_dilation=(2, 2), dimension_numbers=DN)
        elif self.downsample:
            out = jax.lax.conv_general_dilated(self.blur(x), w, (2, 2), ((0, 0),) * 2, dimension_numbers=DN)
        else:
            p = self.padding
            out = jax.lax.conv_general_dilated(x, w, (1, 1), ((p, p),) * 2, dimension_numbers=DN)
        if self.demodulate:  # 1/||w·s|| per (example, output channel), computed without per-example kernels
            d = jax.lax.rsqrt(jnp.einsum("bi,io->bo", s * s, jnp.sum(w * w, axis=(0, 1))) + 1e-8)
            out = out * d[:, None, None, :].astype(out.dtype)
        if self.upsample:
            out = self.blur(out)
        return out
