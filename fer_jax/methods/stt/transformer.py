"""STT's transformer parts: self-attention through ``jax.nn.dot_product_attention``,
the MLP, and the factorised space-time block STT stacks.

Choices, and why:

* **Attention through ``jax.nn.dot_product_attention``** with ``implementation`` chosen once per model
  (:func:`attention_implementation`): ``"cudnn"`` (the fused flash kernel) on a GPU when the compute
  dtype is bf16/fp16 and the head width is one cuDNN takes; otherwise ``"xla"``. ``None`` in JAX
  means XLA today, so the fused kernel is never picked unless asked for.
* **Pre-LayerNorm residual blocks** (ViT / scenic ``vivit``): stable from scratch without warm-up
  tricks; LayerNorm statistics are computed in float32 even in bf16 (flax's own promotion).
* **Factorised space-time block with one CLS token** (TimeSformer's "divided" attention, scenic's
  ``EncoderFactorizedSelfAttentionBlock`` order changed to the one STT describes): spatial attention
  over each frame's tokens with the CLS token prepended (the CLS output is averaged over frames),
  then temporal attention over each spatial position's T tokens (CLS excluded: it has no time axis),
  then the MLP on every token. Cost is T·(N+1)² + N·T² per head instead of (T·N)² for joint attention.
* **Dropout** keyed by the caller's ``nnx.Rngs`` (``fer_jax.train.rng.step_rngs``); no ``rngs`` =
  deterministic, as at evaluation and serving.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

IMPLEMENTATIONS = ("auto", "xla", "cudnn")
_CUDNN_HEAD_DIMS = (32, 64, 128, 256)


def attention_implementation(choice: str, dtype, head_dim: int) -> str:
    """``"auto"`` -> ``"cudnn"`` on a GPU backend with a 16-bit ``dtype`` and a supported ``head_dim``,
    else ``"xla"``; ``"xla"`` / ``"cudnn"`` are returned as given."""
    if choice not in IMPLEMENTATIONS:
        raise ValueError(f"attention implementation must be one of {IMPLEMENTATIONS}, got {choice!r}")
    if choice != "auto":
        return choice
    half = jnp.dtype(dtype) in (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
    return "cudnn" if jax.default_backend() == "gpu" and half and head_dim in _CUDNN_HEAD_DIMS else "xla"


class SelfAttention(nnx.Module):
    """Multi-head self-attention: [N, L, D] -> [N, L, D] (fused QKV projection, output projection)."""

    def __init__(self, dim: int, heads: int, *, dtype=jnp.float32, implementation: str = "auto",
                 dropout: float = 0.0, rngs: nnx.Rngs):
        if dim % heads:
            raise ValueError(f"width {dim} is not a multiple of heads {heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.implementation = attention_implementation(implementation, dtype, self.head_dim)
        self.qkv = nnx.Linear(dim, 3 * dim, dtype=dtype, rngs=rngs)
        self.out = nnx.Linear(dim, dim, dtype=dtype, rngs=rngs)
        self.drop = nnx.Dropout(dropout)

    def __call__(self, x: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        n, length, dim = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, self.heads, self.head_dim)
        o = jax.nn.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2],
                                         implementation=self.implementation)
        return self.drop(self.out(o.reshape(n, length, dim)), deterministic=rngs is None, rngs=rngs)

    def weights(self, x: jax.Array) -> jax.Array:
        """The attention weights ``softmax(q·kᵀ/√d)`` of ``x`` [N, L, D], written out: [N, heads, L, L]
        (query, key), float32. For analysis only (``fer_jax.methods.stt.attention``): ``__call__`` keeps the
        fused ``dot_product_attention``, which never materialises them."""
        n, length, _ = x.shape
        qkv = self.qkv(x).astype(jnp.float32).reshape(n, length, 3, self.heads, self.head_dim)
        q, k = qkv[:, :, 0], qkv[:, :, 1]
        logits = jnp.einsum("nqhd,nkhd->nhqk", q, k) / jnp.sqrt(jnp.float32(self.head_dim))
        return jax.nn.softmax(logits, axis=-1)


class Mlp(nnx.Module):
    """Linear -> GELU -> Linear, hidden = ``ratio`` × width."""

    def __init__(self, dim: int, ratio: int = 4, *, dtype=jnp.float32, dropout: float = 0.0, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(dim, ratio * dim, dtype=dtype, rngs=rngs)
        self.fc2 = nnx.Linear(ratio * dim, dim, dtype=dtype, rngs=rngs)
        self.drop = nnx.Dropout(dropout)

    def __call__(self, x: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        return self.drop(self.fc2(jax.nn.gelu(self.fc1(x))), deterministic=rngs is None, rngs=rngs)


class FactorisedBlock(nnx.Module):
    """[spatial attention -> temporal attention -> MLP] on (cls [B, D], tokens [B, T, N, D])."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4, *, dtype=jnp.float32,
                 implementation: str = "auto", dropout: float = 0.0, rngs: nnx.Rngs):
        norm = lambda: nnx.LayerNorm(dim, dtype=dtype, rngs=rngs)  # noqa: E731
        attn = lambda: SelfAttention(dim, heads, dtype=dtype, implementation=implementation,  # noqa: E731
                                     dropout=dropout, rngs=rngs)
        self.norm_space, self.space = norm(), attn()
        self.norm_time, self.time = norm(), attn()
        self.norm_mlp, self.mlp = norm(), Mlp(dim, mlp_ratio, dtype=dtype, dropout=dropout, rngs=rngs)

    def __call__(self, cls: jax.Array, x: jax.Array, rngs: nnx.Rngs | None = None, *,
                 temporal_weights: list | None = None) -> tuple[jax.Array, jax.Array]:
        """``temporal_weights``: a list to append this block's temporal attention weights to,
        [B, N, heads, T, T] (analysis only; ``None``, the default, computes nothing extra)."""
        b, t, n, d = x.shape
        seq = jnp.concatenate([jnp.broadcast_to(cls[:, None, None, :], (b, t, 1, d)).astype(x.dtype), x], axis=2)
        seq = self.space(self.norm_space(seq.reshape(b * t, n + 1, d)), rngs).reshape(b, t, n + 1, d)
        cls = cls + seq[:, :, 0].mean(axis=1).astype(cls.dtype)
        x = x + seq[:, :, 1:]
        per_pos = self.norm_time(x.transpose(0, 2, 1, 3).reshape(b * n, t, d))
        if temporal_weights is not None:
            temporal_weights.append(self.time.weights(per_pos).reshape(b, n, -1, t, t))
        x = x + self.time(per_pos, rngs).reshape(b, n, t, d).transpose(0, 2, 1, 3)
        cls = cls + self.mlp(self.norm_mlp(cls), rngs).astype(cls.dtype)
        x = x + self.mlp(self.norm_mlp(x), rngs)
        return cls, x
