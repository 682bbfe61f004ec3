"""Stage 1's parts: views (same and nearby sub-windows), augmentation, multi-positive InfoNCE; both
networks and their shared backbone path (what init_from maps); the configs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fer_jax.core.settings import ConfigError
from fer_jax.methods.au.contrastive import augment, info_nce, make_views
from fer_jax.methods.au.model import AuRegressor, ContrastiveNet
from fer_jax.methods.au.settings import ContrastiveSettings, ModelSettings


def test_views_same_window_twice_and_a_nearby_one():
    b, w, length, shift = 64, 20, 5, 3
    frames = jnp.broadcast_to(jnp.arange(w, dtype=jnp.float32)[None, :, None, None, None], (b, w, 2, 2, 3))
    a, a2, near = make_views(frames, jax.random.key(0), ContrastiveSettings(view_frames=length, max_shift=shift))
    start_a, start_n = np.asarray(a[:, 0, 0, 0, 0]), np.asarray(near[:, 0, 0, 0, 0])
    np.testing.assert_array_equal(a, a2)  # the same sub-window (augmented independently later)
    np.testing.assert_array_equal(np.asarray(a[:, :, 0, 0, 0]) - start_a[:, None], np.arange(length)[None].repeat(b, 0))
    d = np.abs(start_n - start_a)
    assert d.max() <= shift and (d > 0).mean() > 0.8  # nearby, and mostly not the same one
    assert start_a.min() >= 0 and start_a.max() <= w - length and start_n.max() <= w - length
    assert len(make_views(frames, jax.random.key(0), ContrastiveSettings(view_frames=length, max_shift=0))) == 2


def test_augment_keeps_range_and_shares_one_draw_across_frames():
    x = jax.random.uniform(jax.random.key(1), (4, 1, 16, 16, 3))
    x = jnp.repeat(x, 3, axis=1)  # three identical frames per example
    y = augment(x, jax.random.key(2), ContrastiveSettings(noise=0.0))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    np.testing.assert_allclose(y[:, 0], y[:, 2], atol=1e-6)  # same transform on every frame of a view
    assert not np.allclose(y, x)


def test_info_nce_by_hand():
    ids = jnp.array([0, 1, 2, 0, 1, 2])
    z = jnp.eye(3)[ids]  # each positive pair identical and orthogonal to the others
    loss, acc = info_nce(z, ids, jnp.ones(6), temperature=0.1)
    # per row: -log(e^10 / (e^10 + 4 e^0))
    assert float(loss) == pytest.approx(-np.log(np.exp(10) / (np.exp(10) + 4)), rel=1e-2)
    assert float(acc) == 1.0
    shuffled = jnp.eye(3)[jnp.array([0, 1, 2, 1, 2, 0])]  # positives now point elsewhere
    loss_s, acc_s = info_nce(shuffled, ids, jnp.ones(6), 0.1)
    assert float(loss_s) > 5 and float(acc_s) == 0
    # a padding row is neither an anchor nor a candidate
    masked = info_nce(z, ids, jnp.array([1, 1, 1, 0, 1, 1.0]), 0.1)
    assert np.isfinite(float(masked[0])) and float(masked[1]) == 1.0


@pytest.mark.parametrize("temporal", ["gru", "tcn"])
def test_networks_share_the_backbone_path_and_shapes(temporal):
    m = ModelSettings(encoder="tiny", width=8, stem="small", feature_dim=8, hidden=12, proj_dim=6, temporal=temporal)
    pre, reg = ContrastiveNet(m, rngs=nnx.Rngs(0)), AuRegressor(m, 5, rngs=nnx.Rngs(1))
    x = jax.random.uniform(jax.random.key(0), (2, 7, 16, 16, 3))
    z, y = pre(x), reg(x)
    assert z.shape == (2, 6) and np.allclose(np.linalg.norm(z, axis=-1), 1, atol=1e-5)
    assert y.shape == (2, 7, 5)
    a = jax.tree.map(jnp.shape, nnx.to_pure_dict(nnx.state(pre.backbone)))
    b = jax.tree.map(jnp.shape, nnx.to_pure_dict(nnx.state(reg.backbone)))
    assert a == b  # init_from's load={"net/backbone": "net/backbone"} needs identical trees
    if temporal == "gru":  # unidirectional: frame t does not see frames after it
        x2 = x.at[:, 5:].set(0.0)
        np.testing.assert_allclose(reg(x2)[:, :5], y[:, :5], atol=1e-5)


def test_settings_reject_bad_values():
    with pytest.raises(ConfigError, match="temporal"):
        ModelSettings(temporal="lstm")
    with pytest.raises(ConfigError, match="temperature"):
        ContrastiveSettings(temperature=0)
