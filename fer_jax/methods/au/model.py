"""The AU networks: a per-frame CNN + a temporal module (the backbone both stages share), with a
projection head (stage 1) or a per-frame regression head (stage 2).

Stage 2 loads stage 1's ``net/backbone`` by ``init_from``; the two heads differ, so each stage's state
holds only what it trains (no idle head decaying under weight decay in the other stage).

* **Per-frame CNN**: the shared ResNet (``fer_jax.models``), global-average-pooled and projected to
  ``feature_dim``; frames of all windows go through it as one batch.
* **GRU** (default; Cho et al. 2014 gates) written as a ``lax.scan`` over time: the input projection of
  every frame is computed at once, only the recurrent product is sequential. Unidirectional, so the
  output at frame t depends on frames <= t of the window (what a streaming user gets).
* **TCN** (option): residual 1-D convolutions over time, dilations 1, 2, 4, ..., "same" padding, so
  the output at t sees a symmetric neighbourhood.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from fer_jax.methods.au.settings import DTYPES, ModelSettings
from fer_jax.models import make_resnet


class GRU(nnx.Module):
    """[B, T, D] -> [B, T, H] hidden states, h_0 = 0."""

    def __init__(self, in_dim: int, hidden: int, *, rngs: nnx.Rngs):
        self.hidden = hidden
        self.inp = nnx.Linear(in_dim, 3 * hidden, rngs=rngs)
        self.rec = nnx.Linear(hidden, 3 * hidden, use_bias=False, kernel_init=nnx.initializers.orthogonal(),
                              rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h_dim = self.hidden
        xi = self.inp(x.astype(jnp.float32))  # [B, T, 3H]
        w = self.rec.kernel[...]

        def step(h, xt):
            hr = h @ w
            r = jax.nn.sigmoid(xt[:, :h_dim] + hr[:, :h_dim])
            z = jax.nn.sigmoid(xt[:, h_dim:2 * h_dim] + hr[:, h_dim:2 * h_dim])
            n = jnp.tanh(xt[:, 2 * h_dim:] + r * hr[:, 2 * h_dim:])
            h = (1.0 - z) * n + z * h
            return h, h

        h0 = jnp.zeros((x.shape[0], h_dim), jnp.float32)
        _, hs = jax.lax.scan(step, h0, jnp.swapaxes(xi, 0, 1))
        return jnp.swapaxes(hs, 0, 1)


class TCN(nnx.Module):
    """[B, T, D] -> [B, T, H]: a linear map to H, then residual dilated convolutions over time."""

    def __init__(self, in_dim: int, hidden: int, kernel: int, layers: int, *, rngs: nnx.Rngs):
        self.inp = nnx.Linear(in_dim, hidden, rngs=rngs)
        self.norms = nnx.List([nnx.LayerNorm(hidden, rngs=rngs) for _ in range(layers)])
        self.convs = nnx.List([nnx.Conv(hidden, hidden, (kernel,), kernel_dilation=(2**i,), padding="SAME",
                                        rngs=rngs) for i in range(layers)])

    def __call__(self, x: jax.Array) -> jax.Array:
        x = self.inp(x.astype(jnp.float32))
        for norm, conv in zip(self.norms, self.convs):
            x = x + nnx.relu(conv(norm(x)))
        return x


class Backbone(nnx.Module):
    """frames [B, T, S, S, 3] -> per-frame features [B, T, hidden] (float32)."""

    def __init__(self, m: ModelSettings, *, rngs: nnx.Rngs):
        self.cnn = make_resnet(m.encoder, 3, m.width, m.stem, dtype=DTYPES[m.dtype], rngs=rngs)
        self.frame_proj = nnx.Linear(self.cnn.out_dim, m.feature_dim, rngs=rngs)
        if m.temporal == "gru":
            self.temporal = GRU(m.feature_dim, m.hidden, rngs=rngs)
        else:
            self.temporal = TCN(m.feature_dim, m.hidden, m.tcn_kernel, m.tcn_layers, rngs=rngs)
        self.out_dim = m.hidden

    def frame_features(self, frames: jax.Array) -> jax.Array:
        """[B, T, S, S, 3] -> [B, T, feature_dim]: the CNN alone (what ``regressor.freeze_cnn`` holds)."""
        b, t = frames.shape[:2]
        f = self.cnn(frames.reshape((b * t,) + frames.shape[2:])).astype(jnp.float32)
        return nnx.relu(self.frame_proj(f)).reshape(b, t, -1)

    def __call__(self, frames: jax.Array, freeze_cnn: bool = False) -> jax.Array:
        f = self.frame_features(frames)
        if freeze_cnn:
            f = jax.lax.stop_gradient(f)
        return self.temporal(f)


class ContrastiveNet(nnx.Module):
    """Stage 1: backbone + an MLP projection of the time-averaged features -> unit vectors [B, proj_dim]."""

    def __init__(self, m: ModelSettings, *, rngs: nnx.Rngs):
        self.backbone = Backbone(m, rngs=rngs)
        self.proj1 = nnx.Linear(m.hidden, m.hidden, rngs=rngs)
        self.proj2 = nnx.Linear(m.hidden, m.proj_dim, rngs=rngs)

    def __call__(self, frames: jax.Array) -> jax.Array:
        pooled = self.backbone(frames).mean(axis=1)
        z = self.proj2(nnx.relu(self.proj1(pooled)))
        return z / jnp.sqrt(jnp.sum(z * z, axis=-1, keepdims=True) + 1e-12)


class AuRegressor(nnx.Module):
    """Stage 2 and serving: backbone + a linear head -> AU intensities [B, T, A] per frame."""

    def __init__(self, m: ModelSettings, num_aus: int, *, rngs: nnx.Rngs):
        self.backbone = Backbone(m, rngs=rngs)
        self.head = nnx.Linear(m.hidden, num_aus, rngs=rngs)

    def __call__(self, frames: jax.Array, freeze_cnn: bool = False) -> jax.Array:
        return self.head(self.backbone(frames, freeze_cnn)).astype(jnp.float32)
