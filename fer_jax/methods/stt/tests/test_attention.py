"""Temporal attention rollout (``fer_jax.methods.stt.attention``): the explicit weights against the fused
kernel, the rollout's arithmetic on hand-set attention, and the expression share."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fer_jax.methods.stt.attention import expression_share, frame_importance, rollout
from fer_jax.methods.stt.model import SpatioTemporalTransformer
from fer_jax.methods.stt.transformer import SelfAttention

B, N, H, T = 2, 3, 2, 5


def _softmax_weights(seed: int, blocks: int = 3) -> list[jax.Array]:
    rng = np.random.default_rng(seed)
    return [jax.nn.softmax(jnp.asarray(rng.normal(size=(B, N, H, T, T)) * 3, jnp.float32), axis=-1)
            for _ in range(blocks)]


def _constant(a: np.ndarray, blocks: int) -> list[jax.Array]:
    """Every block, batch row, position and head attends with the [T, T] matrix ``a``."""
    return [jnp.broadcast_to(jnp.asarray(a, jnp.float32), (B, N, H, T, T))] * blocks


def test_explicit_weights_reproduce_the_fused_attention():
    attn = SelfAttention(8, 2, implementation="xla", rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, T, 8)), jnp.float32)
    w = attn.weights(x)
    assert w.shape == (3, 2, T, T)
    v = attn.qkv(x).reshape(3, T, 3, 2, 4)[:, :, 2]
    o = jnp.einsum("nhqk,nkhd->nqhd", w, v).reshape(3, T, 8)
    np.testing.assert_allclose(attn.out(o), attn(x), rtol=1e-5, atol=1e-5)


def test_the_model_hands_out_every_blocks_weights_and_the_same_outputs():
    net = SpatioTemporalTransformer(7, frames=4, size=32, backbone="tiny", backbone_width=8, width=16, depth=2,
                                    heads=2, attention="xla", rngs=nnx.Rngs(0))
    frames = jnp.asarray(np.random.default_rng(1).uniform(size=(2, 4, 32, 32, 3)), jnp.float32)
    weights: list = []
    logits, feats = net(frames=frames, temporal_weights=weights)
    want_logits, want_feats = net(frames=frames)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-6)
    np.testing.assert_allclose(feats, want_feats, rtol=1e-6)
    assert len(weights) == 2 and all(w.shape == (2, net.side * net.side, 2, 4, 4) for w in weights)
    np.testing.assert_allclose(frame_importance(weights).sum(-1), 1.0, rtol=1e-5)


def test_rollout_rows_and_importance_sum_to_one():
    r = rollout(_softmax_weights(0))
    assert r.shape == (B, N, T, T)
    np.testing.assert_allclose(r.sum(-1), 1.0, rtol=1e-5)
    imp = frame_importance(_softmax_weights(1))
    assert imp.shape == (B, T) and float(imp.min()) > 0
    np.testing.assert_allclose(imp.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("a", [np.eye(T), np.full((T, T), 1.0 / T)], ids=["identity", "uniform"])
def test_identity_or_uniform_attention_gives_uniform_importance(a):
    np.testing.assert_allclose(frame_importance(_constant(a, 3)), 1.0 / T, rtol=1e-6)


@pytest.mark.parametrize("blocks", [1, 3])
def test_attention_pointing_at_one_frame_puts_the_importance_there(blocks):
    k = 3
    a = np.zeros((T, T))
    a[:, k] = 1.0  # every frame reads frame k only
    imp = np.asarray(frame_importance(_constant(a, blocks)))
    # A' = ½I + ½P with P = 1·e_kᵀ idempotent: A'^L = 2^-L·I + (1 - 2^-L)·P
    keep = 0.5 ** blocks
    want = np.full(T, keep / T)
    want[k] += 1.0 - keep
    np.testing.assert_allclose(imp, np.broadcast_to(want, (B, T)), rtol=1e-6)
    assert (imp.argmax(-1) == k).all()


def test_expression_share_against_uniform():
    importance = np.array([[0.1, 0.1, 0.4, 0.4],   # weight on the expressive frames 2, 3
                           [0.25, 0.25, 0.25, 0.25],
                           [0.7, 0.1, 0.1, 0.1]])  # neutral: left out
    intensity = np.array([[0.0, 0.2, 2.0, 1.5],    # peak 2: frames >= 1 are expressive
                          [1.0, 1.0, 0.1, 0.9],    # frames 0, 1, 3
                          [0.0, 0.0, 0.0, 0.0]])
    out = expression_share(importance, intensity, np.array([3, 5, 0]), neutral=0)
    assert out["clips"] == 2 and out["clips_left_out"] == 1 and out["clips_above_uniform"] == 1
    np.testing.assert_allclose(out["per_clip"]["share"], [0.8, 0.75])
    np.testing.assert_allclose(out["per_clip"]["uniform"], [0.5, 0.75])
    assert out["share_mean"] == pytest.approx(0.775) and out["uniform_mean"] == pytest.approx(0.625)
    assert out["share_sd"] == pytest.approx(np.std([0.8, 0.75], ddof=1))
    assert out["excess_mean"] == pytest.approx(0.15)
    # a clip with an unlabelled frame (-1) is left out too
    intensity[1, 2] = -1.0
    assert expression_share(importance, intensity, np.array([3, 5, 0]))["clips"] == 1
