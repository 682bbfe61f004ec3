"""GC ViT (Hatamizadeh et al., ICML 2023): global-context vision transformer, in Flax NNX. IFER's encoder.

Stem (3×3 conv + a ReduceSize block: ×1/4 at ``stem_stride=4``) -> levels of ``depths[i]`` blocks at width
``dim · 2^i``, blocks alternating **local window attention** (self-attention inside w×w windows) and
**global-query attention** (the keys and values of each window, queried by w×w *global* tokens that a
global query generator distils from the whole level's map: fused-MBConv + 3×3/2 max-pool, repeated until
the map is w×w, shared by every window). A ReduceSize block (fused-MBConv, 3×3 stride-2 conv doubling the
width, LayerNorm) joins the levels. ``__call__`` returns every level's map before its downsampling.

Choices, and why:

* **Attention through ``jax.nn.dot_product_attention``** with the learned relative-position bias of Swin /
  GC ViT passed as ``bias`` (one table of (2w−1)² entries per head and block).
* **Stochastic depth** (``drop_path``, the released encoder's 0.2 at ``base``: rates rising linearly from 0
  over the blocks, per example, on both residual branches) only when ``__call__`` gets a key: the train
  steps pass ``step_key(seed, step, "drop_path")`` (a global-batch draw: 1 device = 8 devices), evaluation
  and serving pass none. No layer scale (the release sets none).
* **``stem_stride`` 1, 2 or 4** (the paper: 4): at 32 px the paper's ×1/4 stem leaves maps too small for
  three FPN scales and a 4×4 structure code, so the CPU preset keeps the stem at full resolution.
* Every level's resolution must be a multiple of its window with a power-of-two ratio (the global query
  generator halves the map); a mismatch is a ``ValueError`` at construction naming the level.

``PRESETS``: ``base`` is the paper's GC ViT-Base as ASIT uses it (dim 128, depths 3/4/19/5, heads 4/8/16/32,
windows 8/8/16/8 on 256² input, MLP ratio 2); ``cpu`` is a CPU-sized one for 32 px (width 16, two blocks a
level, windows 8/8/8/4).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from einops import rearrange
from flax import nnx


@dataclasses.dataclass(frozen=True)
class GcVitConfig:
    dim: int
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    windows: tuple[int, ...]
    mlp_ratio: float = 2.0
    stem_stride: int = 4
    drop_path: float = 0.0

    def __post_init__(self):
        if not len(self.depths) == len(self.heads) == len(self.windows) or not self.depths:
            raise ValueError(f"GC ViT: depths {self.depths}, heads {self.heads} and windows {self.windows} "
                             "must be non-empty and of one length")
        if self.stem_stride not in (1, 2, 4):
            raise ValueError(f"GC ViT: stem_stride must be 1, 2 or 4, got {self.stem_stride}")
        if not 0 <= self.drop_path < 1:
            raise ValueError(f"GC ViT: drop_path must be in [0, 1), got {self.drop_path}")

    def drop_rates(self) -> list[float]:
        """Per block, rising linearly from 0 to ``drop_path`` (the released encoder's ``linspace``)."""
        return [float(r) for r in np.linspace(0.0, self.drop_path, sum(self.depths))]

    def widths(self) -> tuple[int, ...]:
        return tuple(self.dim * 2 ** i for i in range(len(self.depths)))

    def resolutions(self, size: int) -> tuple[int, ...]:
        return tuple(size // self.stem_stride // 2 ** i for i in range(len(self.depths)))


PRESETS = {
    "base": GcVitConfig(dim=128, depths=(3, 4, 19, 5), heads=(4, 8, 16, 32), windows=(8, 8, 16, 8), mlp_ratio=2.0),
    "cpu": GcVitConfig(dim=16, depths=(2, 2, 2, 2), heads=(1, 2, 4, 8), windows=(8, 8, 8, 4), mlp_ratio=2.0,
                       stem_stride=1),
}


def conv(cin: int, cout: int, k: int, stride: int = 1, *, groups: int = 1, bias: bool = True,
         rngs: nnx.Rngs) -> nnx.Conv:
    return nnx.Conv(cin, cout, (k, k), strides=(stride, stride), padding=k // 2 if k > 1 else 0,
                    feature_group_count=groups, use_bias=bias, rngs=rngs)


class SqueezeExcite(nnx.Module):
    def __init__(self, dim: int, ratio: float = 0.25, *, rngs: nnx.Rngs):
        hidden = max(1, int(dim * ratio))
        self.fc1, self.fc2 = nnx.Linear(dim, hidden, use_bias=False, rngs=rngs), nnx.Linear(hidden, dim,
                                                                                          use_bias=False, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        s = jax.nn.sigmoid(self.fc2(jax.nn.gelu(self.fc1(jnp.mean(x, axis=(1, 2))))))
        return x * s[:, None, None, :]


class FusedMBConv(nnx.Module):
    """x + 1×1(SE(GELU(depthwise 3×3(x)))): GC ViT's convolutional block (NHWC)."""

    def __init__(self, dim: int, *, rngs: nnx.Rngs):
        self.dw = conv(dim, dim, 3, groups=dim, bias=False, rngs=rngs)
        self.se = SqueezeExcite(dim, rngs=rngs)
        self.pw = conv(dim, dim, 1, bias=False, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + self.pw(self.se(jax.nn.gelu(self.dw(x))))


class ReduceSize(nnx.Module):
    """LayerNorm -> fused-MBConv -> 3×3 conv of ``stride`` (width ×2 unless ``keep_dim``) -> LayerNorm."""

    def __init__(self, dim: int, *, keep_dim: bool = False, stride: int = 2, rngs: nnx.Rngs):
        out = dim if keep_dim else 2 * dim
        self.norm1, self.block = nnx.LayerNorm(dim, rngs=rngs), FusedMBConv(dim, rngs=rngs)
        self.reduce = conv(dim, out, 3, stride, bias=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(out, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.norm2(self.reduce(self.block(self.norm1(x))))


class GlobalQueryGen(nnx.Module):
    """A level's map [B, r, r, C] -> global query tokens [B, w·w, C]: (fused-MBConv, 3×3/2 max-pool) × log2(r/w)."""

    def __init__(self, dim: int, resolution: int, window: int, *, rngs: nnx.Rngs):
        steps = int(round(math.log2(resolution // window)))
        self.blocks = nnx.List([FusedMBConv(dim, rngs=rngs) for _ in range(steps)])

    def __call__(self, x: jax.Array) -> jax.Array:
        for block in self.blocks:
            x = nnx.max_pool(block(x), (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        return rearrange(x, "b h w c -> b (h w) c")


def relative_index(window: int) -> np.ndarray:
    """[w², w²] index into a (2w−1)² relative-position table (Swin's); numpy: a constant of the graph."""
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
    rel = coords[:, :, None] - coords[:, None, :] + window - 1
    return rel[0] * (2 * window - 1) + rel[1]


class WindowAttention(nnx.Module):
    """Multi-head attention inside windows; ``global_query``: queries come from the global tokens."""

    def __init__(self, dim: int, heads: int, window: int, *, global_query: bool, rngs: nnx.Rngs):
        if dim % heads:
            raise ValueError(f"GC ViT: width {dim} is not a multiple of heads {heads}")
        self.heads, self.window, self.global_query = heads, window, global_query
        self.proj_in = nnx.Linear(dim, (2 if global_query else 3) * dim, rngs=rngs)
        self.proj_out = nnx.Linear(dim, dim, rngs=rngs)
        self.table = nnx.Param(0.02 * jax.random.truncated_normal(rngs.params(), -2, 2,
                                                                  ((2 * window - 1) ** 2, heads)))

    def __call__(self, x: jax.Array, q_global: jax.Array | None) -> jax.Array:
        """x [B·nW, w², C]; q_global [B, w², C] (global blocks) -> [B·nW, w², C]."""
        n, length, dim = x.shape
        h = self.heads
        proj = rearrange(self.proj_in(x), "n l (k h d) -> k n l h d", h=h, k=2 if self.global_query else 3)
        if self.global_query:
            k, v = proj[0], proj[1]
            windows = n // q_global.shape[0]
            q = jnp.repeat(rearrange(q_global, "b l (h d) -> b l h d", h=h), windows, axis=0)
        else:
            q, k, v = proj[0], proj[1], proj[2]
        bias = self.table[...][relative_index(self.window)]  # [w², w², H]
        out = jax.nn.dot_product_attention(q, k, v, bias=jnp.transpose(bias, (2, 0, 1))[None].astype(q.dtype))
        return self.proj_out(rearrange(out, "n l h d -> n l (h d)"))


def drop_path(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Stochastic depth: the residual branch ``x`` of each example kept with probability 1 − rate, scaled."""
    if key is None or rate <= 0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, (x.shape[0],) + (1,) * (x.ndim - 1))
    return jnp.where(keep, x / (1.0 - rate), 0.0)


class Block(nnx.Module):
    """Pre-norm residual block: window (or global-query) attention, then the MLP (both branches dropped
    with probability ``drop_rate`` per example when a key is given)."""

    def __init__(self, dim: int, heads: int, window: int, mlp_ratio: float, *, global_query: bool,
                 drop_rate: float = 0.0, rngs: nnx.Rngs):
        self.window, self.drop_rate = window, float(drop_rate)
        self.norm1, self.norm2 = nnx.LayerNorm(dim, rngs=rngs), nnx.LayerNorm(dim, rngs=rngs)
        self.attn = WindowAttention(dim, heads, window, global_query=global_query, rngs=rngs)
        hidden = int(dim * mlp_ratio)
        self.fc1, self.fc2 = nnx.Linear(dim, hidden, rngs=rngs), nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x: jax.Array, q_global: jax.Array | None, key: jax.Array | None = None) -> jax.Array:
        b, r, _, c = x.shape
        w = self.window
        k1, k2 = jax.random.split(key) if key is not None else (None, None)
        windows = rearrange(self.norm1(x), "b (y i) (z j) c -> (b y z) (i j) c", i=w, j=w)
        out = rearrange(self.attn(windows, q_global), "(b y z) (i j) c -> b (y i) (z j) c", b=b, y=r // w, i=w)
        x = x + drop_path(out, self.drop_rate, k1)
        return x + drop_path(self.fc2(jax.nn.gelu(self.fc1(self.norm2(x)))), self.drop_rate, k2)


class Level(nnx.Module):
    def __init__(self, dim: int, depth: int, heads: int, window: int, resolution: int, mlp_ratio: float, *,
                 drop_rates: list[float] | None = None, rngs: nnx.Rngs):
        rates = drop_rates or [0.0] * depth
        self.query_gen = GlobalQueryGen(dim, resolution, window, rngs=rngs)
        self.blocks = nnx.List([Block(dim, heads, window, mlp_ratio, global_query=i % 2 == 1, drop_rate=rates[i],
                                      rngs=rngs) for i in range(depth)])

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        q_global = self.query_gen(x)
        for i, block in enumerate(self.blocks):
            x = block(x, q_global if block.attn.global_query else None,
                      None if key is None else jax.random.fold_in(key, i))
        return x


class GcVit(nnx.Module):
    """Image [B, S, S, 3] (about [-1, 1]) -> one map per level, ``[B, r_i, r_i, dim·2^i]``."""

    def __init__(self, cfg: GcVitConfig, size: int, *, rngs: nnx.Rngs):
        self.cfg, self.size = cfg, int(size)
        resolutions = cfg.resolutions(size)
        for i, (r, w) in enumerate(zip(resolutions, cfg.windows)):
            ratio = r // w if w and r % w == 0 else 0
            if r < 1 or not ratio or ratio & (ratio - 1):
                raise ValueError(f"GC ViT level {i}: resolution {r} (input {size}, stem ×1/{cfg.stem_stride}) "
                                 f"must be a power-of-two multiple of its window {w}")
        self.resolutions, self.widths = resolutions, cfg.widths()
        self.stem = conv(3, cfg.dim, 3, 2 if cfg.stem_stride >= 2 else 1, rngs=rngs)
        self.stem_reduce = ReduceSize(cfg.dim, keep_dim=True, stride=2 if cfg.stem_stride == 4 else 1, rngs=rngs)
        rates, starts = cfg.drop_rates(), np.cumsum((0,) + tuple(cfg.depths))
        self.levels = nnx.List([Level(d, n, h, w, r, cfg.mlp_ratio, drop_rates=rates[starts[i]:starts[i + 1]],
                                      rngs=rngs) for i, (d, n, h, w, r) in
                                enumerate(zip(self.widths, cfg.depths, cfg.heads, cfg.windows, resolutions))])
        self.downs = nnx.List([ReduceSize(d, rngs=rngs) for d in self.widths[:-1]])

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> list[jax.Array]:
        """``key``: stochastic depth on (training); None: deterministic (evaluation, serving)."""
        if x.shape[1:3] != (self.size, self.size):
            raise ValueError(f"GC ViT built for {self.size} px got images of shape {x.shape}")
        x = self.stem_reduce(self.stem(x))
        out = []
        for i, level in enumerate(self.levels):
            x = level(x, None if key is None else jax.random.fold_in(key, i))
            out.append(x)
            if i < len(self.downs):
                x = self.downs[i](x)
        return out
