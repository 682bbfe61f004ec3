"""StyleGAN2 generator (config F, as rosinality's ``Generator(size, 512, n_mlp=8)``) in Flax NNX.

Mapping network (pixel norm + ``n_mlp`` equalised linear layers at lr × ``lr_mlp``) -> W; synthesis from a
learned 4×4 constant (or a given ``structure`` tensor: ASIT's structure code) through one modulated
conv at 4² and two per resolution (the first upsamples), noise injection, fused bias + leaky ReLU,
and toRGB skips summed with blur upsampling. Images are NHWC in about [-1, 1].

W+ has ``n_latent = 2·log2(size) − 2`` codes (14 at 256 px): code 0 drives the 4² conv, code 1 the
first toRGB, then each resolution uses codes (i, i+1) for its convs and i+2 for its toRGB.

Widths: ``channels(r) = min(channel_max, 16384·channel_multiplier / r)``, which is rosinality's table
for ``channel_max=512`` (512 up to 32², then 256·m at 64², 128·m at 128², ...); a smaller
``channel_max`` and multiplier give CPU-sized generators for tests.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from fer_jax.models.stylegan2.ops import BLUR_KERNEL, EqualLinear, FusedLeakyReLU, ModulatedConv2d, Upsample


def channel_table(size: int, channel_multiplier: float = 2, channel_max: int = 512) -> dict[int, int]:
    """Resolution -> feature channels (rosinality's table when ``channel_max=512``)."""
    log_size = check_size(size)
    return {2 ** r: max(1, min(int(channel_max), int(16384 * channel_multiplier / 2 ** r)))
            for r in range(2, log_size + 1)}


def check_size(size: int) -> int:
    """log2(size) for a power of two >= 4; anything else is a ValueError."""
    log_size = int(round(math.log2(size))) if size > 0 else 0
    if size < 4 or 2 ** log_size != size:
        raise ValueError(f"StyleGAN2 size must be a power of two >= 4, got {size}")
    return log_size


class Buffer(nnx.Variable):
    """A fixed, non-trained tensor saved with the model (the per-layer constant noise maps)."""


def pixel_norm(x: jax.Array) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-8)


class NoiseInjection(nnx.Module):
    """``x + weight · noise`` with one learned strength per layer (starts at 0)."""

    def __init__(self):
        self.weight = nnx.Param(jnp.zeros((1,), jnp.float32))

    def __call__(self, x: jax.Array, noise: jax.Array) -> jax.Array:
        return x + self.weight[...] * noise


class StyledConv(nnx.Module):
    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, *,
                 upsample: bool = False, blur_kernel: Sequence[float] = BLUR_KERNEL, rngs: nnx.Rngs):
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel, rngs=rngs)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def __call__(self, x: jax.Array, style: jax.Array, noise: jax.Array) -> jax.Array:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nnx.Module):
    def __init__(self, in_channel: int, style_dim: int, *, upsample: bool = True,
                 blur_kernel: Sequence[float] = BLUR_KERNEL, rngs: nnx.Rngs):
        self.upsample = Upsample(blur_kernel) if upsample else None
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False, rngs=rngs)
        self.bias = nnx.Param(jnp.zeros((1, 1, 1, 3), jnp.float32))

    def __call__(self, x: jax.Array, style: jax.Array, skip: jax.Array | None = None) -> jax.Array:
        out = self.conv(x, style) + self.bias[...]
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Noises(nnx.Module):
    """The fixed noise maps ``noise_0 .. noise_{L-1}`` (rosinality's ``noises`` buffers), [1, r, r, 1]."""

    def __init__(self, num_layers: int, rngs: nnx.Rngs):
        for i in range(num_layers):
            r = 2 ** ((i + 5) // 2)
            setattr(self, f"noise_{i}", Buffer(jax.random.normal(rngs.params(), (1, r, r, 1))))


class Generator(nnx.Module):
    """StyleGAN2 generator; see the module docstring. ``size`` any power of two >= 8."""

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: float = 2,
                 channel_max: int = 512, blur_kernel: Sequence[float] = BLUR_KERNEL, lr_mlp: float = 0.01, *,
                 rngs: nnx.Rngs):
        self.size, self.style_dim = int(size), int(style_dim)
        self.log_size = check_size(size)
        if self.log_size < 3:
            raise ValueError(f"StyleGAN2 generator size must be >= 8, got {size}")
        ch = channel_table(size, channel_multiplier, channel_max)
        self.channels = ch
        self.style = nnx.List([EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu", rngs=rngs)
                               for _ in range(n_mlp)])
        self.input = nnx.Param(jax.random.normal(rngs.params(), (1, 4, 4, ch[4])))
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim, blur_kernel=blur_kernel, rngs=rngs)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False, rngs=rngs)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.noises = Noises(self.num_layers, rngs)
        convs, to_rgbs, in_channel = [], [], ch[4]
        for i in range(3, self.log_size + 1):
            out_channel = ch[2 ** i]
            convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel,
                                    rngs=rngs))
            convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel, rngs=rngs))
            to_rgbs.append(ToRGB(out_channel, style_dim, blur_kernel=blur_kernel, rngs=rngs))
            in_channel = out_channel
        self.convs, self.to_rgbs = nnx.List(convs), nnx.List(to_rgbs)

    # --- latents -------------------------------------------------------------------------------

    def mapping(self, z: jax.Array) -> jax.Array:
        """z [..., style_dim] -> w [..., style_dim]."""
        w = pixel_norm(z)
        for layer in self.style:
            w = layer(w)
        return w

    def mean_latent(self, key: jax.Array, n: int = 4096) -> jax.Array:
        """The mean w of ``n`` random z (the truncation centre), [1, style_dim]."""
        return jnp.mean(self.mapping(jax.random.normal(key, (n, self.style_dim))), axis=0, keepdims=True)

    def to_wplus(self, w: jax.Array) -> jax.Array:
        """One code [B, D] -> W+ [B, n_latent, D]; W+ passes through (checked)."""
        if w.ndim == 2:
            return jnp.broadcast_to(w[:, None, :], (w.shape[0], self.n_latent, w.shape[-1]))
        if w.ndim != 3 or w.shape[1] != self.n_latent:
            raise ValueError(f"W+ must be [B, {self.n_latent}, {self.style_dim}] at {self.size} px, got {w.shape}")
        return w

    def mix(self, w1: jax.Array, w2: jax.Array, index: jax.Array | int) -> jax.Array:
        """Style mixing: W+ with codes [0, index) from ``w1`` and [index, n_latent) from ``w2``
        (``index`` may be traced)."""
        first = (jnp.arange(self.n_latent) < index)[None, :, None]
        return jnp.where(first, w1[:, None, :], w2[:, None, :])

    def random_noise(self, key: jax.Array, batch: int) -> list[jax.Array]:
        """Fresh per-example noise maps for every layer ([B, r, r, 1] each)."""
        keys = jax.random.split(key, self.num_layers)
        sizes = [2 ** ((i + 5) // 2) for i in range(self.num_layers)]
        return [jax.random.normal(k, (batch, r, r, 1)) for k, r in zip(keys, sizes)]

    def fixed_noise(self) -> list[jax.Array]:
        return [getattr(self.noises, f"noise_{i}")[...] for i in range(self.num_layers)]

    # --- synthesis ------------------------------------------------------------------------------

    def synthesis(self, wplus: jax.Array, noise: Sequence[jax.Array] | None = None,
                  structure: jax.Array | None = None, *, return_features: bool = False):
        """W+ [B, n_latent, D] -> image [B, size, size, 3]. ``noise``: one map per layer (None = the
        fixed maps); ``structure`` [B, 4, 4, C4] replaces the learned constant. ``return_features``:
        also ``{resolution: feature map}`` after each resolution's convs (IFER's alignment loss)."""
        b = wplus.shape[0]
        noise = self.fixed_noise() if noise is None else list(noise)
        if len(noise) != self.num_layers:
            raise ValueError(f"noise: {self.num_layers} maps expected at {self.size} px, got {len(noise)}")
        if structure is None:
            out = jnp.broadcast_to(self.input[...], (b, *self.input.shape[1:]))
        else:
            if structure.shape[1:] != self.input.shape[1:]:
                raise ValueError(f"structure must be [B, {', '.join(map(str, self.input.shape[1:]))}], "
                                 f"got {structure.shape}")
            out = structure
        out = self.conv1(out, wplus[:, 0], noise[0])
        skip = self.to_rgb1(out, wplus[:, 1])
        features = {4: out}
        i = 1
        for j, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * j](out, wplus[:, i], noise[2 * j + 1])
            out = self.convs[2 * j + 1](out, wplus[:, i + 1], noise[2 * j + 2])
            features[out.shape[1]] = out
            skip = to_rgb(out, wplus[:, i + 2], skip)
            i += 2
        return (skip, features) if return_features else skip

    def __call__(self, latent: jax.Array, *, input_is_latent: bool = False, noise: Sequence[jax.Array] | None = None,
                 noise_key: jax.Array | None = None, truncation: float = 1.0,
                 truncation_latent: jax.Array | None = None, structure: jax.Array | None = None) -> jax.Array:
        """z [B, D] (or w / W+ with ``input_is_latent``) -> image [B, S, S, 3].

        Noise: ``noise`` maps, else fresh maps from ``noise_key``, else the fixed maps.
        Truncation: ``w ← w_avg + truncation · (w − w_avg)`` (needs ``truncation_latent`` when < 1).
        """
        w = latent if input_is_latent else self.mapping(latent)
        if truncation < 1.0:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. generator.mean_latent(key))")
            w = truncation_latent + truncation * (w - truncation_latent)
        wplus = self.to_wplus(w)
        if noise is None and noise_key is not None:
            noise = self.random_noise(noise_key, wplus.shape[0])
        return self.synthesis(wplus, noise, structure)
