"""IFER's networks: the ASIT encoder, the MoCo-like inversion discriminator and the two FER heads.

* :class:`AsitEncoder`: GC ViT (``gcvit.py``) -> a pSp feature pyramid over its first three
  levels (p3 = 1×1(c3), p2 = up(p3) + 1×1(c2), p1 = up(p2) + 1×1(c1); ``fpn_dim`` channels each: these are
  also the alignment loss's feature branches) -> one map2style block per W+ code (``attention``, as released:
  a stride-2 3×3 conv, then at every map of at least 8² a window-attention block (8×8 windows, one head) and
  a 2×2 max-pool, below 8² stride-2 convs, down to 1×1, then a linear layer; ``conv``: pSp's
  ``GradualStyleBlock``, stride-2 3×3 convs only): codes [0, 3) from p3, [3, 7) from p2, the
  rest from p1 (pSp's split, clipped to the decoder's ``n_latent``), **added to the decoder's average
  latent** (:class:`LatentAvg`, kept with the encoder). The structure code is the last level through a 3×3
  conv of stride (last resolution / 4): stride 2 at the paper's 256 px, where the last level is 8².
* :class:`InversionDiscriminator`: query = the StyleGAN2 discriminator's trunk -> global average pool ->
  linear (-> ``disc_embed``); the key network is an EMA copy (``Ema`` variables, saved, never optimised);
  ``D(a, b) = cos(q(a), k(b))``.
* :class:`ModulationHead` (the paper's): mean of the W+ codes = a style that modulates a demodulated 3×3
  conv over 1×1(structure code) -> bias + leaky ReLU -> GAP -> linear. :class:`LinearHead` (ablation a):
  linear on the mean code.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from einops import rearrange
from flax import nnx

from fer_jax.methods.ifer.gcvit import GcVit, GcVitConfig, WindowAttention
from fer_jax.models.stylegan2 import Discriminator, channel_table
from fer_jax.models.stylegan2.ops import EqualLinear, FusedLeakyReLU, ModulatedConv2d

# pSp's split of W+ into coarse / middle / fine codes (first code index of the middle and fine groups)
COARSE_END, MIDDLE_END = 3, 7
MAP2STYLE_WINDOW = 8  # the released map2style blocks attend inside 8×8 windows, with one head
MAP2STYLE = ("attention", "conv")


class LatentAvg(nnx.Variable):
    """The decoder's mean latent and whether it was computed: saved with the encoder, never optimised."""


class StyleAttention(nnx.Module):
    """The released map2style's attention block: x + attn(LN(x)) in 8×8 windows, then x + MLP(x) (no second
    norm, as released), MLP ratio 2."""

    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(dim, rngs=rngs)
        self.attn = WindowAttention(dim, 1, MAP2STYLE_WINDOW, global_query=False, rngs=rngs)
        self.fc1, self.fc2 = nnx.Linear(dim, 2 * dim, rngs=rngs), nnx.Linear(2 * dim, dim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, r, _, c = x.shape
        w = MAP2STYLE_WINDOW
        windows = rearrange(self.norm(x), "b (y i) (z j) c -> (b y z) (i j) c", i=w, j=w)
        x = x + rearrange(self.attn(windows, None), "(b y z) (i j) c -> b (y i) (z j) c", b=b, y=r // w, i=w)
        return x + self.fc2(jax.nn.gelu(self.fc1(x)))


class GradualStyle(nnx.Module):
    """map2style: [B, r, r, C] -> [B, D] in log2(r) halvings and a linear layer (module docstring: ``kind``
    ``attention`` as released, ``conv`` as pSp; ``conv`` keeps pSp's parameter layout)."""

    def __init__(self, cin: int, cout: int, resolution: int, kind: str = "attention", *, rngs: nnx.Rngs):
        if kind not in MAP2STYLE:
            raise ValueError(f"map2style must be one of {MAP2STYLE}, got {kind!r}")
        steps = int(round(math.log2(resolution)))
        # after the first conv, a map of >= 8² is attended and max-pooled (released), else a stride-2 conv
        attend = [i > 0 and kind == "attention" and resolution // 2 ** i >= MAP2STYLE_WINDOW for i in range(steps)]
        self.plan = tuple("a" if a else "c" for a in attend)
        self.convs = nnx.List([nnx.Conv(cin if i == 0 else cout, cout, (3, 3), strides=(2, 2), padding=1, rngs=rngs)
                               for i in range(steps) if not attend[i]])
        self.blocks = nnx.List([StyleAttention(cout, rngs=rngs) for a in attend if a])
        self.linear = EqualLinear(cin if steps == 0 else cout, cout, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        c = a = 0
        for kind in self.plan:
            if kind == "a":
                x, a = nnx.max_pool(self.blocks[a](x), (2, 2), (2, 2)), a + 1
            else:
                x, c = jax.nn.leaky_relu(self.convs[c](x), 0.2), c + 1
        return self.linear(x.reshape(x.shape[0], -1))


def _up_add(x: jax.Array, lateral: jax.Array) -> jax.Array:
    b, h, w, c = lateral.shape
    return jax.image.resize(x, (b, h, w, x.shape[-1]), "bilinear") + lateral


class AsitEncoder(nnx.Module):
    """Image [B, S, S, 3] in [-1, 1] -> (W+ [B, n_latent, D], structure [B, 4, 4, C4], [p1, p2, p3])."""

    def __init__(self, cfg: GcVitConfig, size: int, n_latent: int, style_dim: int, structure_channels: int,
                 fpn_dim: int, map2style: str = "attention", *, rngs: nnx.Rngs):
        self.body = GcVit(cfg, size, rngs=rngs)
        widths, res = self.body.widths, self.body.resolutions
        if len(widths) < 3:
            raise ValueError(f"ASIT needs >= 3 GC ViT levels for its three FPN scales, got {len(widths)}")
        last = res[-1]
        if last < 4 or last % 4:
            raise ValueError(f"ASIT: the last GC ViT level is {last}²; the 4×4 structure code needs a multiple of 4")
        self.n_latent, self.style_dim = int(n_latent), int(style_dim)
        self.lateral = nnx.List([nnx.Conv(widths[i], fpn_dim, (1, 1), rngs=rngs) for i in range(3)])
        groups = self.groups()
        self.styles = nnx.List([GradualStyle(fpn_dim, style_dim, res[level], map2style, rngs=rngs)
                                for level, count in groups for _ in range(count)])
        self.structure = nnx.Conv(widths[-1], structure_channels, (3, 3), strides=(last // 4,) * 2, padding=1,
                                  rngs=rngs)
        self.latent_avg = LatentAvg(jnp.zeros((style_dim,), jnp.float32))
        self.avg_ready = LatentAvg(jnp.zeros((), jnp.float32))

    def groups(self) -> list[tuple[int, int]]:
        """(FPN level, number of codes) for the coarse (p3), middle (p2) and fine (p1) codes."""
        n = self.n_latent
        coarse, middle = min(COARSE_END, n), min(MIDDLE_END, n)
        return [(2, coarse), (1, middle - coarse), (0, n - middle)]

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> tuple[jax.Array, jax.Array, list[jax.Array]]:
        """``key``: GC ViT's stochastic depth (training steps); None: deterministic."""
        feats = self.body(x, key)
        p3 = self.lateral[2](feats[2])
        p2 = _up_add(p3, self.lateral[1](feats[1]))
        p1 = _up_add(p2, self.lateral[0](feats[0]))
        pyramid = {0: p1, 1: p2, 2: p3}
        codes, i = [], 0
        for level, count in self.groups():
            for _ in range(count):
                codes.append(self.styles[i](pyramid[level]))
                i += 1
        wplus = jnp.concatenate([c[:, None] for c in codes], axis=1) + self.latent_avg[...]  # no `stack`: ONNX export
        return wplus, self.structure(feats[-1]), [p1, p2, p3]


def cosine(a: jax.Array, b: jax.Array) -> jax.Array:
    a = a / (jnp.linalg.norm(a, axis=-1, keepdims=True) + 1e-8)
    b = b / (jnp.linalg.norm(b, axis=-1, keepdims=True) + 1e-8)
    return jnp.sum(a * b, axis=-1)


class Embedder(nnx.Module):
    """StyleGAN2 discriminator trunk -> GAP -> linear: the inversion discriminator's query (and key) network."""

    def __init__(self, size: int, channel_multiplier: float, channel_max: int, embed: int, *, rngs: nnx.Rngs):
        d = Discriminator(size, channel_multiplier, channel_max, rngs=rngs)
        self.convs = d.convs  # the trunk only: the logit head of an ordinary D is not built into the state
        self.size = d.size
        self.linear = EqualLinear(channel_table(size, channel_multiplier, channel_max)[4], embed, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[1:3] != (self.size, self.size):
            raise ValueError(f"inversion discriminator built for {self.size} px got images of shape {x.shape}")
        for layer in self.convs:
            x = layer(x)
        return self.linear(jnp.mean(x, axis=(1, 2)))


class LinearHead(nnx.Module):
    """Ablation (a): linear layer on the mean W+ code."""

    def __init__(self, style_dim: int, num_classes: int, *, rngs: nnx.Rngs):
        self.fc = nnx.Linear(style_dim, num_classes, rngs=rngs)

    def __call__(self, wplus: jax.Array, structure: jax.Array) -> jax.Array:
        del structure
        return self.fc(jnp.mean(wplus, axis=1))


class ModulationHead(nnx.Module):
    """The paper's feature-modulation head (module docstring)."""

    def __init__(self, structure_channels: int, style_dim: int, width: int, num_classes: int, *, rngs: nnx.Rngs):
        self.proj = nnx.Conv(structure_channels, width, (1, 1), rngs=rngs)
        self.mod = ModulatedConv2d(width, width, 3, style_dim, demodulate=True, rngs=rngs)
        self.act = FusedLeakyReLU(width)
        self.fc = nnx.Linear(width, num_classes, rngs=rngs)

    def __call__(self, wplus: jax.Array, structure: jax.Array) -> jax.Array:
        x = self.act(self.mod(self.proj(structure), jnp.mean(wplus, axis=1)))
        return self.fc(jnp.mean(x, axis=(1, 2)))


class Classifier(nnx.Module):
    """Encoder + head: image [B, S, S, 3] in [-1, 1] -> logits (the FER stage's predictor)."""

    def __init__(self, encoder: AsitEncoder, head: nnx.Module):
        self.encoder, self.head = encoder, head

    def codes(self, x: jax.Array, key: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        wplus, structure, _ = self.encoder(x, key)
        return wplus, structure

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        return self.head(*self.codes(x, key))
