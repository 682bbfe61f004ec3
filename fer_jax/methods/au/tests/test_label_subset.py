"""The label subset: one hash in numpy and JAX, independent of batching, and labels outside the chosen
frames never reach the loss or its gradients."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from fer_jax.core.settings import parse
from fer_jax.methods.au import label_subset as ls
from fer_jax.methods.au.regressor import AuIntensity, _loss, loss_mask
from fer_jax.methods.au.settings import LabelSettings, RegressorSettings

W, S, A = 6, 8, 3


def test_numpy_and_jax_hash_are_bit_identical_and_uniform():
    keys = (np.arange(50, dtype=np.int64) * (2**31 // 50))[:, None].astype(np.int32)
    frames = np.arange(400, dtype=np.int32)[None]
    u_np = ls.frame_uniform_np(7, keys, frames)
    u_jax = np.asarray(ls.frame_uniform(7, jnp.asarray(keys), jnp.asarray(frames)))
    np.testing.assert_array_equal(u_np, u_jax)
    assert u_np.shape == (50, 400) and 0 <= u_np.min() and u_np.max() < 1
    assert abs(u_np.mean() - 0.5) < 0.01
    assert abs((u_np < 0.02).mean() - 0.02) < 0.003  # the fraction holds over 20k frames
    assert not np.array_equal(u_np, ls.frame_uniform_np(8, keys, frames))  # the seed matters


def test_choice_depends_on_the_frame_alone_not_the_batch():
    keys, frames = np.array([11, 22, 33], np.int32), np.arange(10, dtype=np.int32)
    whole = ls.chosen_np(0, 0.3, keys[:, None], frames[None])
    for i, k in enumerate(keys):  # one clip at a time, frames in another order
        perm = frames[::-1]
        np.testing.assert_array_equal(ls.chosen_np(0, 0.3, k, perm)[::-1], whole[i])
    assert ls.chosen_np(0, 1.0, keys[:, None], frames[None]).all()


def test_summary_counts_chosen_and_coded_frames(tmp_path):
    mask = np.ones((100, A), np.float32)
    mask[:50] = 0  # first half not coded
    s = ls.summarise(3, 0.5, [(5, mask), (6, mask)])
    picked = [ls.chosen_np(3, 0.5, k, np.arange(100)) for k in (5, 6)]
    assert s["chosen_frames"] == int(sum(p.sum() for p in picked))
    assert s["chosen_coded_frames"] == int(sum(p[50:].sum() for p in picked))
    assert s["frames"] == 200 and s["coded_frames"] == 100 and s["fraction"] == 0.5 and s["seed"] == 3
    path = ls.write_record(str(tmp_path), s)
    assert path.endswith("label_subset.json") and '"chosen_frames"' in open(path).read()


def _state(fraction=0.3):
    c = ml_collections.ConfigDict(dict(
        method="au_intensity", seed=0, total_steps=10, target_names=("AU01", "AU02", "AU04"),
        model=dict(encoder="tiny", width=8, stem="small", feature_dim=8, hidden=8),
        labels=dict(fraction=fraction, seed=1), input=dict(window=W, size=S), optim=dict(warmup_steps=0)))
    method = AuIntensity()
    return method.create(parse(c, method), nnx.Rngs(0))


def _batch(seed=0, b=4):
    rng = np.random.default_rng(seed)
    au = rng.uniform(0, 5, (b, W, A)).astype(np.float32)
    mask = (rng.uniform(size=(b, W, A)) > 0.2).astype(np.float32)
    return {"frames": rng.uniform(size=(b, W, S, S, 3)).astype(np.float32),
            "au_intensity": np.where(mask > 0, au, -1.0).astype(np.float32), "au_mask": mask,
            "clip_key": np.arange(b, dtype=np.int32) * 1000 + 17,
            "frame_index": np.tile(np.arange(W, dtype=np.int32), (b, 1)), "mask": np.ones(b, np.float32)}


def _grads(state, batch):
    m = loss_mask({k: jnp.asarray(v) for k, v in batch.items()}, state.labels)
    fn = nnx.value_and_grad(_loss, has_aux=True)
    (loss, _), grads = fn(state.net, jnp.asarray(batch["frames"]), jnp.asarray(batch["au_intensity"]), m,
                          RegressorSettings())
    return float(loss), jax.tree.leaves(nnx.to_pure_dict(grads)), np.asarray(m)


@pytest.mark.parametrize("poison", [np.nan, pytest.param(1e30, marks=pytest.mark.slow)])
def test_labels_outside_the_chosen_frames_never_reach_loss_or_gradients(poison):
    state, batch = _state(), _batch()
    loss, grads, m = _grads(state, batch)
    assert 0 < m.sum() < batch["au_mask"].sum()  # some coded frames are chosen, some are not
    poisoned = dict(batch, au_intensity=np.where(m > 0, batch["au_intensity"], poison).astype(np.float32))
    loss_p, grads_p, _ = _grads(state, poisoned)
    assert loss_p == loss
    for g, gp in zip(grads, grads_p):
        np.testing.assert_array_equal(g, gp)
    # and a chosen frame's label does move the loss (the test above is not vacuous)
    i = tuple(np.argwhere(m > 0)[0])
    moved = dict(batch, au_intensity=batch["au_intensity"].copy())
    moved["au_intensity"][i] += 1.0
    assert _grads(state, moved)[0] != loss


@pytest.mark.slow
def test_train_step_on_poisoned_unchosen_labels_stays_finite():
    state, batch = _state(), _batch()
    m = np.asarray(loss_mask({k: jnp.asarray(v) for k, v in batch.items()}, LabelSettings(0.3, 1)))
    batch["au_intensity"] = np.where(m > 0, batch["au_intensity"], np.nan).astype(np.float32)
    before = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(state.net, nnx.Param)))
    metrics = AuIntensity().train_step(state, {k: jnp.asarray(v) for k, v in batch.items()}, jnp.int32(0))
    after = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(state.net, nnx.Param)))
    assert np.isfinite(float(metrics["loss/regression"]))
    assert float(metrics["labels/frames_used"]) == float(m.max(-1).sum())
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after))]
    assert any(changed) and all(np.isfinite(x).all() for x in jax.tree.leaves(after))
