"""IFER's networks and loss terms at test size: GC ViT shapes (the paper's preset by shape inference only),
the ASIT encoder's W+ / structure / FPN outputs, the alignment and mixing terms, and the adversarial term's
gradient into the encoder (which the released code lacks)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from ifer_helpers import SIZE, fer_config, inversion_config

from fer_jax.core.settings import ConfigError, parse
from fer_jax.methods.ifer import losses
from fer_jax.methods.ifer.gcvit import PRESETS, GcVit, GcVitConfig
from fer_jax.methods.ifer.method import Ifer, encoder_terms

IFER = Ifer()


@pytest.mark.slow
def test_gcvit_presets_and_window_check():
    base = nnx.eval_shape(lambda: GcVit(PRESETS["base"], 256, rngs=nnx.Rngs(0)))
    n = sum(x.size for x in jax.tree.leaves(nnx.state(base, nnx.Param)))
    assert 85e6 < n < 92e6  # GC ViT-Base: about 90 M parameters with its classifier
    out = jax.eval_shape(lambda: GcVit(PRESETS["base"], 256, rngs=nnx.Rngs(0))(jnp.zeros((1, 256, 256, 3))))
    assert [o.shape for o in out] == [(1, 64, 64, 128), (1, 32, 32, 256), (1, 16, 16, 512), (1, 8, 8, 1024)]
    cpu = jax.eval_shape(lambda: GcVit(PRESETS["cpu"], 32, rngs=nnx.Rngs(0))(jnp.zeros((1, 32, 32, 3))))
    assert [o.shape[1] for o in cpu] == [32, 16, 8, 4]
    with pytest.raises(ValueError, match="level 2: resolution 4 .* window 8"):
        GcVit(GcVitConfig(8, (1, 1, 1), (1, 1, 1), (8, 8, 8), stem_stride=1), 16, rngs=nnx.Rngs(0))


@pytest.mark.slow
def test_encoder_outputs_and_heads():
    state = IFER.create(parse(fer_config(), IFER), nnx.Rngs(0))
    graphdef, params = nnx.split(state.net)
    x = jax.ShapeDtypeStruct((2, SIZE, SIZE, 3), jnp.float32)
    wplus, structure, feats = jax.eval_shape(lambda p, x: nnx.merge(graphdef, p).encoder(x), params, x)
    assert wplus.shape == (2, 6, 16) and structure.shape == (2, 4, 4, 16)  # n_latent 6 at 16 px; C4 = 16
    assert [f.shape for f in feats] == [(2, 16, 16, 16), (2, 8, 8, 16), (2, 4, 4, 16)]
    assert [count for _, count in state.net.encoder.groups()] == [3, 3, 0]
    assert jax.eval_shape(lambda p, x: nnx.merge(graphdef, p)(x), params, x).shape == (2, 7)
    linear = IFER.create(parse(fer_config("tiny,random,scratch,linear"), IFER), nnx.Rngs(0))
    graphdef, params = nnx.split(linear.net)
    assert type(linear.net.head).__name__ == "LinearHead"
    assert jax.eval_shape(lambda p, x: nnx.merge(graphdef, p)(x), params, x).shape == (2, 7)


def test_config_errors():
    c = inversion_config("tiny")  # no decoder= and no random: the decoder must come from init_from
    with pytest.raises(ConfigError, match="needs the trained decoder"):
        IFER.create(parse(c, IFER), nnx.Rngs(0))
    c = inversion_config(**{"inversion.identity_encoder": ""})
    with pytest.raises(ConfigError, match="inversion.identity > 0 needs"):
        IFER.create(parse(c, IFER), nnx.Rngs(0))
    c = fer_config()
    c.model.head = "mlp"
    with pytest.raises(ConfigError, match="model.head"):
        IFER.create(parse(c, IFER), nnx.Rngs(0))
    with pytest.raises(ValueError, match="inversion=WORKDIR"):
        fer_config("tiny")


def test_alignment_is_zero_for_matching_similarities_and_positive_otherwise():
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(6, 4, 4, 3)), jnp.float32)
    assert float(losses.alignment([a], [2.0 * a], 0.1)) == pytest.approx(0.0, abs=1e-6)  # same cosines
    b = jnp.asarray(rng.normal(size=(6, 4, 4, 5)), jnp.float32)
    assert float(losses.alignment([a], [b], 0.1)) > 0.01
    assert float(losses.alignment([a[:1]], [b[:1]], 0.1)) == 0.0
    g = jax.grad(lambda e, t: losses.alignment([e], [t], 0.1), argnums=(0, 1))(a, b)
    assert float(jnp.abs(g[0]).sum()) > 0 and float(jnp.abs(g[1]).sum()) == 0.0  # the generator side is the target


def test_mix_batch_keeps_label_mass_and_matches_lambda():
    x = jnp.stack([jnp.full((8, 8, 3), float(i)) for i in range(4)])
    y = losses.smooth_labels(jnp.arange(4), 7, 0.1)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-6)
    for seed in range(6):
        mixed, targets, lam = losses.mix_batch(jax.random.key(seed), x, y, mixup=0.8, cutmix=1.0, mix_prob=1.0,
                                               switch_prob=0.5)
        np.testing.assert_allclose(targets.sum(-1), 1.0, rtol=1e-5)
        # row 0 is mixed with row 3: its mean pixel is λ·0 + (1 − λ)·3 for mixup and cutmix alike
        assert float(mixed[0].mean()) == pytest.approx(float((1 - lam) * 3), abs=1e-4)
    same, t, lam = losses.mix_batch(jax.random.key(0), x, y, mixup=0.0, cutmix=0.0, mix_prob=1.0, switch_prob=0.5)
    assert float(lam) == 1.0 and np.array_equal(same, x) and np.array_equal(t, y)


@pytest.mark.slow
def test_adversarial_term_has_a_gradient_into_the_encoder():
    """``encoder_terms``' adversarial term, differentiated w.r.t. the encoder as the step does it, has a
    non-zero gradient (the released code computed it on a detached x̂: gradient 0)."""
    state = IFER.create(parse(inversion_config(), IFER), nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, SIZE, SIZE, 3)), jnp.float32)
    graphdef, params, rest = nnx.split(state.encoder, nnx.Param, ...)
    grads = jax.jit(jax.grad(lambda p: encoder_terms(state, nnx.merge(graphdef, p, rest), x, 0)[0]["adv"]))(params)
    norm = float(optax.tree.norm(grads))
    assert np.isfinite(norm) and norm > 1e-6
    # the discriminator's parameters are not in the differentiated tree: its own update is separate
    assert not any("disc" in str(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0])


@pytest.mark.slow
def test_frozen_variant_trains_the_head_only():
    """``frozen``: the FER stage's optimizer holds the head alone; the encoder stays as loaded."""
    from fer_jax.methods.ifer.method import fer_step

    state = IFER.create(parse(fer_config("tiny,random,scratch,frozen"), IFER), nnx.Rngs(0))
    encoder = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(state.net.encoder, nnx.Param)))
    head = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(state.net.head, nnx.Param)))
    rng = np.random.default_rng(0)
    batch = {"image": jnp.asarray(rng.uniform(size=(4, SIZE, SIZE, 3)), jnp.float32),
             "label": jnp.asarray([0, 1, 2, 3], jnp.int32)}
    step = nnx.jit(fer_step)
    for i in range(3):
        out = step(state, batch, jnp.int32(i))
    assert np.isfinite(float(out["loss/ce"]))
    after_enc = nnx.to_pure_dict(nnx.state(state.net.encoder, nnx.Param))
    after_head = nnx.to_pure_dict(nnx.state(state.net.head, nnx.Param))
    jax.tree.map(np.testing.assert_array_equal, encoder, after_enc)
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: not np.array_equal(a, b), head, after_head))
    assert all(moved)  # every head parameter was updated
    opt_leaves = sum(x.size for x in jax.tree.leaves(nnx.state(state.opt)))
    head_leaves = sum(x.size for x in jax.tree.leaves(nnx.state(state.net.head, nnx.Param)))
    assert opt_leaves < 3 * head_leaves + 8  # Adam's two moments of the head (and a counter), nothing of the encoder
