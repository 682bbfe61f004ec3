"""IFER against its released code: the full-size configs carry the released settings (Ranger, batch 5 /
128, 310 epochs with 20 warm-up, clip 5, colour jitter, drop-path 0.2, attention map2style, the random-z
alignment), the ``tiny`` and ``align=xhat`` departures are explicit, and the pieces behave: the
alignment's random-z target, stochastic depth, the map2style variants, colour jitter."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from ifer_helpers import SIZE

from configs.ifer import rafdb, synthface_inversion
from fer_jax.core.settings import parse
from fer_jax.methods.ifer import losses
from fer_jax.methods.ifer.gcvit import GcVit, GcVitConfig, drop_path
from fer_jax.methods.ifer.method import Ifer, prior_features
from fer_jax.methods.ifer.model import GradualStyle
from fer_jax.models.stylegan2 import Generator

IFER = Ifer()


def test_full_size_configs_are_the_released_settings():
    inv = parse(synthface_inversion.get_config("decoder=/d,identity=/i"), IFER)
    s = inv.sections
    assert (s["optim"].name, s["optim"].lr, s["optim"].grad_clip) == ("ranger", 1e-4, 0.0)
    assert (s["disc_optim"].name, s["disc_optim"].lr) == ("ranger", 1e-4) and inv.input.batch_size == 5
    assert (s["inversion"].align_target, s["inversion"].align_temperature) == ("random_z", 1.0)
    assert (s["model"].drop_path, s["model"].map2style) == (0.2, "attention") and inv.train.total_steps == 500_000
    fer = parse(rafdb.get_config("inversion=/w"), IFER)
    per_epoch = 87  # ceil(11 044 / 128)
    assert fer.input.batch_size == 128 and fer.train.total_steps == 310 * per_epoch and fer.input.augment
    o, f = fer.sections["optim"], fer.sections["fer"]
    assert (o.name, o.lr, o.weight_decay, o.schedule, o.warmup_steps, o.grad_clip) == (
        "adamw", 1e-4, 0.05, "cosine", 20 * per_epoch, 5.0)
    assert (f.color_jitter, f.mixup, f.cutmix, f.label_smoothing) == (0.4, 0.0, 1.0, 0.1)
    assert fer.train.best_metric == "val/war" and fer.input.split_val == "val"  # the carved split, not test


def test_tiny_and_xhat_departures_are_explicit():
    tiny = parse(synthface_inversion.get_config("tiny,random"), IFER).sections
    assert (tiny["optim"].name, tiny["optim"].lr, tiny["model"].drop_path, tiny["model"].map2style) == (
        "adamw", 1e-3, 0.0, "conv")
    assert tiny["inversion"].align_target == "random_z"  # the released alignment at CPU size too
    xhat = parse(synthface_inversion.get_config("tiny,random,align=xhat"), IFER).sections["inversion"]
    assert (xhat.align_target, xhat.align_temperature) == ("reconstruction", 0.1)
    with pytest.raises(ValueError, match="align=nope"):
        synthface_inversion.get_config("tiny,random,align=nope")


def test_random_z_target_is_the_decoders_own_generations():
    """The released target: features of fresh random-z generations, without gradient, the same for a key."""
    dec = Generator(SIZE, 16, 1, 0.0625, 16, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(dec)

    @jax.jit
    def run(params, key, z):
        st = types.SimpleNamespace(decoder=nnx.merge(graphdef, params))
        feats = prior_features(st, 3, [4, 8], key)
        grad = jax.grad(lambda t: losses.alignment([z], [prior_features(st, 3, [8], key)[0] + 0 * t], 1.0))(1.0)
        return feats, grad

    z = jnp.ones((3, 8, 8, 16))
    (a, grad), (b, _), (c, _) = (run(params, jax.random.key(k), z) for k in (1, 1, 2))
    assert [f.shape[:3] for f in a] == [(3, 4, 4), (3, 8, 8)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.allclose(a[1], c[1])
    assert float(grad) == 0.0  # the target carries no gradient (stop_gradient)


def test_drop_path_only_with_a_key_and_map2style_variants():
    cfg = GcVitConfig(8, (2, 1), (1, 1), (8, 4), stem_stride=1, drop_path=0.5)
    assert cfg.drop_rates() == [0.0, 0.25, 0.5]
    net = nnx.eval_shape(lambda: GcVit(cfg, 16, rngs=nnx.Rngs(0)))
    assert [b.drop_rate for level in net.levels for b in level.blocks] == [0.0, 0.25, 0.5]
    x = jnp.ones((64, 2, 2, 3))
    assert drop_path(x, 0.5, None) is x and drop_path(x, 0.0, jax.random.key(0)) is x  # eval, serving; rate 0
    kept = np.asarray(drop_path(x, 0.5, jax.random.key(0)))[:, 0, 0, 0]
    assert set(np.unique(kept)) == {0.0, 2.0} and 16 < int((kept > 0).sum()) < 48  # per example, rescaled
    plans = [nnx.eval_shape(lambda k=k: GradualStyle(4, 4, 32, k, rngs=nnx.Rngs(0))).plan for k in ("attention", "conv")]
    assert plans == [("c", "a", "a", "c", "c"), ("c",) * 5]


def test_color_jitter_stays_in_range_and_is_off_at_zero():
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (3, 8, 8, 3)), jnp.float32)
    y = losses.color_jitter(jax.random.key(0), x, 0.4)
    assert float(jnp.min(y)) >= -1.0 and float(jnp.max(y)) <= 1.0 and not np.allclose(x, y)
    assert np.array_equal(losses.color_jitter(jax.random.key(0), x, 0.0), x)
