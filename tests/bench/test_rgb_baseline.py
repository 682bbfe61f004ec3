"""The ``rgb_baseline`` method: frame-order-free temporal mean, learning, non-finite guard, shared trainer."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from configs.rgb_baseline import synthface
from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.core.registry import get_method
from fer_jax.core.settings import parse

METHOD = get_method("rgb_baseline")
STEP = nnx.jit(METHOD.train_step)
EVAL = nnx.jit(METHOD.eval_step)
B, T, S = 8, 3, 16


def config(**over):
    c = ml_collections.ConfigDict(dict(
        method="rgb_baseline", num_classes=7, total_steps=100, seed=0,
        model=dict(encoder="tiny", width=8, stem="small", dtype="float32"),
        optim=dict(name="adamw", lr=3e-3, weight_decay=0.0, schedule="constant", warmup_steps=0)))
    c.update(over)
    return c


def batch(seed=0):
    """Class c tints every frame with colour c (a task a per-frame CNN must learn)."""
    r = np.random.default_rng(seed)
    label = (np.arange(B) % 7).astype(np.int32)
    tint = np.stack([np.cos(label), np.sin(label), np.cos(2 * label)], -1)[:, None, None, None, :]
    frames = (0.5 + 0.2 * tint + 0.05 * r.standard_normal((B, T, S, S, 3))).astype(np.float32)
    return {"frames": frames, "label": label, "mask": np.ones(B, np.float32)}


def params(module):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(module, nnx.Param))]


def test_registered_and_configs_build():
    assert METHOD.name == "rgb_baseline"
    full, tiny = synthface.get_config(), synthface.get_config("tiny")
    assert full.method == tiny.method == "rgb_baseline" and full.model.encoder == "resnet18"
    assert (tiny.model.encoder, tiny.input.size) == ("tiny", 32)


def test_outputs_are_a_temporal_mean_independent_of_frame_order():
    st = METHOD.create(parse(config(), METHOD), nnx.Rngs(0))
    b = batch()
    out = EVAL(st, b)
    assert out["logits"].shape == (B, 7) and out["features"].shape == (B, st.net.trunk.out_dim)
    shuffled = dict(b, frames=b["frames"][:, ::-1])
    np.testing.assert_allclose(EVAL(st, shuffled)["logits"], out["logits"], rtol=1e-5, atol=1e-5)
    per_frame = st.net.trunk(b["frames"].reshape(B * T, S, S, 3)).reshape(B, T, -1).mean(1)
    np.testing.assert_allclose(out["features"], per_frame, rtol=1e-4, atol=1e-5)


def test_training_lowers_the_loss_and_a_non_finite_batch_changes_nothing():
    st = METHOD.create(parse(config(), METHOD), nnx.Rngs(0))
    b = batch()
    first = STEP(st, b, jnp.asarray(0))
    for i in range(1, 25):
        last = STEP(st, b, jnp.asarray(i))
    assert float(last["loss/ce"]) < 0.5 * float(first["loss/ce"])
    before = params(st)
    bad = dict(b, mask=np.where(np.arange(B) == 0, np.nan, 1.0).astype(np.float32))  # NaN loss and gradients
    m = STEP(st, bad, jnp.asarray(25))
    assert not np.isfinite(float(m["loss/ce"]))
    assert all(np.array_equal(x, y) for x, y in zip(before, params(st)))


def test_shared_trainer_runs_it_from_in_memory_frames(tmp_path):
    from fer_jax.train.trainer import train

    c = config(total_steps=4, log_every=2, eval_every=4, ckpt_every=4, keep_ckpts=1, best_metric="val/uar",
               best_mode="max", progress_bar=False, tensorboard=False, class_names=tuple("abcdefg"))
    arrays = batch()
    out = train(c, str(tmp_path), train_iter=ArrayIterator(arrays, 4, seed=0),
                eval_iter_fn=lambda: ArrayIterator(arrays, 4, train=False))
    assert out["step"] == 4 and 0.0 <= out["val"]["val/war"] <= 1.0
