"""Generator and discriminator behaviour the parity test does not cover: the structure input (ASIT),
truncation, style mixing, W+ checks, sizes, and the minibatch-std grouping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fer_jax.models.stylegan2 import Discriminator, Generator, channel_table
from fer_jax.models.stylegan2.discriminator import minibatch_stddev


@pytest.fixture(scope="module")
def gen():
    return Generator(16, 8, 1, channel_multiplier=0.0625, channel_max=8, rngs=nnx.Rngs(0))


def test_channel_table_is_rosinalitys_at_config_f():
    assert channel_table(256) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}
    assert channel_table(1024, 2)[1024] == 32 and channel_table(64, 1)[64] == 256
    for bad in (0, 3, 48, 100):
        with pytest.raises(ValueError, match="power of two"):
            channel_table(bad)


def test_structure_replaces_the_constant(gen):
    w = jax.random.normal(jax.random.key(0), (2, 8))
    const = jnp.broadcast_to(gen.input[...], (2, 4, 4, 8))
    np.testing.assert_allclose(np.asarray(gen(w, structure=const)), np.asarray(gen(w)), atol=1e-6)
    other = np.asarray(gen(w, structure=const + 1.0))
    assert np.abs(other - np.asarray(gen(w))).max() > 1e-3
    with pytest.raises(ValueError, match="structure must be"):
        gen(w, structure=jnp.zeros((2, 8, 8, 8)))


@pytest.mark.slow
def test_truncation_mixing_and_wplus(gen):
    z = jax.random.normal(jax.random.key(1), (3, 8))
    avg = gen.mean_latent(jax.random.key(2), 64)
    flat = np.asarray(gen(z, truncation=0.0, truncation_latent=avg))
    np.testing.assert_allclose(flat[0], flat[1], atol=1e-5)  # every z -> w_avg
    with pytest.raises(ValueError, match="truncation_latent"):
        gen(z, truncation=0.5)
    w1, w2 = gen.mapping(z), gen.mapping(-z)
    mixed = gen.mix(w1, w2, 2)
    assert mixed.shape == (3, gen.n_latent, 8)
    np.testing.assert_array_equal(np.asarray(mixed[:, :2]), np.asarray(jnp.broadcast_to(w1[:, None], (3, 2, 8))))
    np.testing.assert_array_equal(np.asarray(mixed[:, 2:]), np.asarray(jnp.broadcast_to(w2[:, None], (3, 4, 8))))
    np.testing.assert_allclose(np.asarray(gen(gen.mix(w1, w2, gen.n_latent), input_is_latent=True)),
                               np.asarray(gen(w1, input_is_latent=True)), atol=1e-6)
    with pytest.raises(ValueError, match=r"W\+ must be \[B, 6, 8\]"):
        gen(jnp.zeros((3, 5, 8)), input_is_latent=True)
    strength = gen.conv1.noise.weight
    try:
        strength[...] = jnp.full((1,), 0.5)  # 0 at init: noise has no effect until trained
        a = gen(w1, input_is_latent=True, noise_key=jax.random.key(3))
        b = gen(w1, input_is_latent=True, noise_key=jax.random.key(4))
        c = gen(w1, input_is_latent=True, noise_key=jax.random.key(3))
    finally:
        strength[...] = jnp.zeros((1,))
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > 1e-4
    np.testing.assert_array_equal(np.asarray(a), np.asarray(c))


@pytest.mark.slow
def test_discriminator_stddev_groups_and_size_checks():
    x = jax.random.normal(jax.random.key(0), (8, 4, 4, 6))
    y = minibatch_stddev(x, 4, 1)
    assert y.shape == (8, 4, 4, 7)
    want = np.sqrt(np.var(np.asarray(x).reshape(4, 2, 4, 4, 6), axis=0) + 1e-8).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(y[:, 0, 0, -1]), np.tile(want, 4), rtol=1e-5)  # example b: group b % 2
    with pytest.raises(ValueError, match="not divisible"):
        minibatch_stddev(jnp.zeros((6, 4, 4, 2)), 4)
    d = Discriminator(16, 0.0625, 8, rngs=nnx.Rngs(0))
    assert d(jnp.zeros((4, 16, 16, 3))).shape == (4, 1) and d.trunk(jnp.zeros((4, 16, 16, 3))).shape == (4, 4, 4, 8)
    with pytest.raises(ValueError, match="built for 16 px"):
        d(jnp.zeros((4, 32, 32, 3)))
