"""A PyTorch reference StyleGAN2 (generator + discriminator) with rosinality's state-dict layout.

Written from the architecture (Karras et al. 2020, config F, as rosinality's ``model.py`` lays out its
modules and parameters), not copied: it is the other side of the converter parity check
(``fer_jax/models/stylegan2/tests/``) and of the throughput benchmark (``benchmarks/stylegan2/bench_parity_speed.py``).
Modulated convs use per-example weights in one grouped conv (rosinality's fused path), an
implementation independent of the JAX one (which scales inputs and outputs instead).

Key names it writes (``state_dict()``) are the ones rosinality's ``train.py`` saves in ``g``, ``g_ema``
and ``d``: ``style.{1..n_mlp}.weight``, ``input.input``, ``conv1.conv.weight``, ``convs.{i}.conv.blur.kernel``,
``noises.noise_{i}``, ``to_rgbs.{i}.upsample.kernel``, ``convs.{i}.conv2.1.weight`` (discriminator), ...
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def channel_table(size: int, channel_multiplier: float = 2, channel_max: int = 512) -> dict[int, int]:
    log_size = int(math.log2(size))
    return {2 ** r: max(1, min(int(channel_max), int(16384 * channel_multiplier / 2 ** r)))
            for r in range(2, log_size + 1)}


def blur_kernel_2d(taps=(1, 3, 3, 1)) -> torch.Tensor:
    k = torch.tensor(taps, dtype=torch.float32)
    k = torch.outer(k, k)
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad=(0, 0)) -> torch.Tensor:
    """NCHW: zero-insert by ``up``, pad (crop if negative), convolve with ``kernel``, keep every ``down``-th."""
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h, up, w, up)
        z[:, :, :, 0, :, 0] = x
        x = z.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, [max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0): x.shape[2] - max(-p1, 0), max(-p0, 0): x.shape[3] - max(-p1, 0)]
    weight = torch.flip(kernel, [0, 1])[None, None].repeat(c, 1, 1, 1).to(x.dtype)
    x = F.conv2d(x, weight, groups=c)
    return x[:, :, ::down, ::down]


class Blur(nn.Module):
    def __init__(self, taps, pad, upsample_factor=1):
        super().__init__()
        self.register_buffer("kernel", blur_kernel_2d(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, taps, factor=2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", blur_kernel_2d(taps) * factor ** 2)
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


def lrelu(x, bias=None):
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel, bias=True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None

    def forward(self, x):
        return lrelu(x, self.bias)


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(in_dim), lr_mul, activation

    def forward(self, x):
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            return lrelu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    def __init__(self, cin, cout, k, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale, self.stride, self.padding = 1 / math.sqrt(cin * k * k), stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class ModulatedConv2d(nn.Module):
    def __init__(self, cin, cout, k, style_dim, demodulate=True, upsample=False, downsample=False, taps=(1, 3, 3, 1)):
        super().__init__()
        self.cin, self.cout, self.k = cin, cout, k
        self.upsample, self.downsample, self.demodulate = upsample, downsample, demodulate
        if upsample:
            p = (len(taps) - 2) - (k - 1)
            self.blur = Blur(taps, ((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        if downsample:
            p = (len(taps) - 2) + (k - 1)
            self.blur = Blur(taps, ((p + 1) // 2, p // 2))
        self.scale = 1 / math.sqrt(cin * k * k)
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.modulation = EqualLinear(style_dim, cin, bias_init=1.0)

    def forward(self, x, style):
        b, _, h, w = x.shape
        s = self.modulation(style).view(b, 1, self.cin, 1, 1)
        weight = self.scale * self.weight * s  # [B, out, in, k, k]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, self.cout, 1, 1, 1)
        x = x.reshape(1, b * self.cin, h, w)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * self.cin, self.cout, self.k, self.k)
            out = F.conv_transpose2d(x, weight, stride=2, padding=0, groups=b)
            out = self.blur(out.reshape(b, self.cout, *out.shape[2:]))
            return out
        weight = weight.reshape(b * self.cout, self.cin, self.k, self.k)
        if self.downsample:
            x = self.blur(x)
            out = F.conv2d(x, weight, stride=2, padding=0, groups=b)
        else:
            out = F.conv2d(x, weight, padding=self.k // 2, groups=b)
        return out.reshape(b, self.cout, *out.shape[2:])


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise):
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch):
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    def __init__(self, cin, cout, k, style_dim, upsample=False, taps=(1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, k, style_dim, upsample=upsample, taps=taps)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(cout)

    def forward(self, x, style, noise):
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, cin, style_dim, upsample=True, taps=(1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(taps)
        self.conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        return out if skip is None else out + self.upsample(skip)


class Generator(nn.Module):
    def __init__(self, size, style_dim=512, n_mlp=8, channel_multiplier=2, channel_max=512, lr_mlp=0.01):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.style = nn.Sequential(*([_PixelNorm()] + [EqualLinear(style_dim, style_dim, lr_mul=lr_mlp,
                                                                   activation="fused_lrelu") for _ in range(n_mlp)]))
        ch = channel_table(size, channel_multiplier, channel_max)
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, style_dim)
        self.to_rgb1 = ToRGB(ch[4], style_dim, upsample=False)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            cout = ch[2 ** i]
            self.convs.append(StyledConv(cin, cout, 3, style_dim, upsample=True))
            self.convs.append(StyledConv(cout, cout, 3, style_dim))
            self.to_rgbs.append(ToRGB(cout, style_dim))
            cin = cout

    def forward(self, wplus: torch.Tensor, noise=None) -> torch.Tensor:
        """W+ [B, n_latent, D] (a [B, D] code is repeated) -> NCHW image; ``noise`` list or the fixed maps."""
        if wplus.ndim == 2:
            wplus = wplus[:, None].repeat(1, self.n_latent, 1)
        if noise is None:
            noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        out = self.input(wplus.shape[0])
        out = self.conv1(out, wplus[:, 0], noise[0])
        skip = self.to_rgb1(out, wplus[:, 1])
        i = 1
        for j, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * j](out, wplus[:, i], noise[2 * j + 1])
            out = self.convs[2 * j + 1](out, wplus[:, i + 1], noise[2 * j + 2])
            skip = to_rgb(out, wplus[:, i + 2], skip)
            i += 2
        return skip


class _PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class ConvLayer(nn.Sequential):
    def __init__(self, cin, cout, k, downsample=False, taps=(1, 3, 3, 1), bias=True, activate=True):
        layers = []
        if downsample:
            p = (len(taps) - 2) + (k - 1)
            layers.append(Blur(taps, ((p + 1) // 2, p // 2)))
        layers.append(EqualConv2d(cin, cout, k, stride=2 if downsample else 1, padding=0 if downsample else k // 2,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(cout, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = ConvLayer(cin, cin, 3)
        self.conv2 = ConvLayer(cin, cout, 3, downsample=True)
        self.skip = ConvLayer(cin, cout, 1, downsample=True, activate=False, bias=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


class Discriminator(nn.Module):
    def __init__(self, size, channel_multiplier=2, channel_max=512):
        super().__init__()
        ch = channel_table(size, channel_multiplier, channel_max)
        convs = [ConvLayer(3, ch[size], 1)]
        cin = ch[size]
        for i in range(int(math.log2(size)), 2, -1):
            convs.append(ResBlock(cin, ch[2 ** (i - 1)]))
            cin = ch[2 ** (i - 1)]
        self.convs = nn.Sequential(*convs)
        self.final_conv = ConvLayer(cin + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 16, ch[4], activation="fused_lrelu"),
                                          EqualLinear(ch[4], 1))

    def forward(self, x):
        out = self.convs(x)
        b, c, h, w = out.shape
        g = min(b, 4)
        y = out.view(g, -1, 1, c, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        out = torch.cat([out, y.repeat(g, 1, h, w)], 1)
        out = self.final_conv(out)
        return self.final_linear(out.view(b, -1))


def randomize(module: nn.Module, seed: int, scale: float = 0.2) -> nn.Module:
    """Perturb every zero-initialised parameter (biases, noise strengths) so a parity check sees them."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or name.endswith("noise.weight"):
                p.add_(scale * torch.randn(p.shape, generator=gen))
    return module
