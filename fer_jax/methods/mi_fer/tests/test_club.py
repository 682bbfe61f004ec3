"""CLUB against the closed form for Gaussian conditionals, and its estimator variants."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from fer_jax.methods.mi_fer.club import (
    ClubEstimator,
    club_estimate,
    club_per_dimension,
    club_per_example,
    estimator_loss,
    refit_linear_club,
)

D = 20


def _sample(key, rho, n):
    kx, kn = jax.random.split(key)
    x = jax.random.normal(kx, (n, D))
    y = rho * x + jnp.sqrt(1 - rho**2) * jax.random.normal(kn, (n, D))
    return x, y


@pytest.fixture(scope="module", params=[64, 0], ids=["mlp", "linear"])
def trained_estimates(request):
    """Train one estimator per ρ (a few hundred Adam steps in one scan) and estimate on fresh data.

    ``hidden = 0`` is the linear-Gaussian critic, which represents this conditional exactly too."""
    est = ClubEstimator(D, D, hidden=request.param, rngs=nnx.Rngs(0))
    graphdef, params0 = nnx.split(est)
    tx = optax.adam(optax.cosine_decay_schedule(1e-2, 600, alpha=0.02))

    @jax.jit
    def train_and_estimate(rho, key):
        def loss_fn(p, x, y):
            return estimator_loss(nnx.merge(graphdef, p), x, y)

        def step(carry, k):
            p, opt = carry
            x, y = _sample(k, rho, 512)
            g = jax.grad(loss_fn)(p, x, y)
            upd, opt = tx.update(g, opt, p)
            return (optax.apply_updates(p, upd), opt), None

        k_train, k_eval = jax.random.split(key)
        (p, _), _ = jax.lax.scan(step, (params0, tx.init(params0)), jax.random.split(k_train, 600))
        x, y = _sample(k_eval, rho, 20000)
        m = nnx.merge(graphdef, p)
        return club_estimate(m, x, y, kind="club"), club_estimate(m, x, y, kind="vclub", key=k_eval)

    return {rho: [float(v) for v in train_and_estimate(rho, jax.random.key(1))] for rho in (0.0, 0.3, 0.6, 0.9)}


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.6, 0.9])
def test_trained_club_matches_closed_form_and_bounds_true_mi(trained_estimates, rho):
    club, vclub = trained_estimates[rho]
    closed = D * rho**2 / (1 - rho**2)
    true_mi = -(D / 2) * np.log(1 - rho**2)
    if rho == 0.0:  # closed form is 0: hold it to 10% of one nat, absolute
        assert abs(club) < 0.1
        assert club > -0.05
    else:
        assert abs(club - closed) <= 0.1 * closed, (rho, club, closed)
        assert club >= true_mi, (rho, club, true_mi)
    # One shuffled negative per row: same expectation, more noise.
    assert abs(vclub - closed) <= 0.1 * closed + 0.5, (rho, vclub, closed)


def test_all_pairs_negatives_match_the_explicit_pair_sum():
    est = ClubEstimator(3, 4, hidden=8, rngs=nnx.Rngs(2))
    x = jax.random.normal(jax.random.key(0), (6, 3))
    y = jax.random.normal(jax.random.key(1), (6, 4))
    mask = jnp.array([1, 1, 0, 1, 1, 1.0])
    mu, logvar = est(x)
    ll = -0.5 * (((y[None, :, :] - mu[:, None, :]) ** 2) * jnp.exp(-logvar)[:, None, :] + logvar[:, None, :]).sum(-1)
    valid = np.asarray(mask, bool)
    expected = []
    for i in range(6):
        others = [j for j in range(6) if j != i and valid[j]]
        expected.append(float(ll[i, i] - ll[i, others].mean()) if valid[i] else 0.0)
    got = club_per_example(est, x, y, mask, kind="club")
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(club_estimate(est, x, y, mask)), np.sum(expected) / 5, rtol=1e-4)


def test_vclub_needs_a_key_and_unknown_kind_is_rejected():
    est = ClubEstimator(2, 2, hidden=4, rngs=nnx.Rngs(0))
    x = jnp.ones((4, 2))
    with pytest.raises(ValueError, match="PRNG key"):
        club_per_example(est, x, x, kind="vclub")
    with pytest.raises(ValueError, match="unknown MI estimator"):
        club_per_example(est, x, x, kind="infonce")


def test_logvar_is_bounded():
    est = ClubEstimator(2, 2, hidden=4, logvar_bound=2.0, rngs=nnx.Rngs(0))
    _, logvar = est(jnp.full((3, 2), 1e4))
    assert float(jnp.abs(logvar).max()) <= 2.0


@pytest.mark.parametrize("hidden", [16, 0])
def test_per_dimension_terms_sum_to_the_estimate_and_see_anti_correlation(hidden):
    est = ClubEstimator(D, D, hidden=hidden, rngs=nnx.Rngs(3))
    x, y = _sample(jax.random.key(4), 0.5, 256)
    mask = jnp.ones(256).at[:7].set(0.0)
    per_dim = club_per_dimension(est, x, y, mask)
    assert per_dim.shape == (D,)
    np.testing.assert_allclose(float(per_dim.sum()), float(club_estimate(est, x, y, mask)), rtol=1e-4, atol=1e-4)
    # A critic fitted to +ρ sees -ρ data as negative per-dimension terms: the total can be driven below
    # zero while y still depends on x; |terms| cannot.
    lin = ClubEstimator(D, D, hidden=0, rngs=nnx.Rngs(0))
    lin.mu_skip.kernel[...] = 0.5 * jnp.eye(D)
    lin.logvar_const[...] = jnp.full((D,), float(np.log(0.75)))
    anti = club_per_dimension(lin, x, -y)
    assert float(anti.sum()) < -1.0 and float(jnp.abs(anti).sum()) > 1.0


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.6, 0.9])
def test_refit_linear_club_matches_closed_form_and_has_a_gradient(rho):
    x, y = _sample(jax.random.key(7), rho, 20000)
    closed = D * rho**2 / (1 - rho**2)
    value = float(refit_linear_club(x, y, ridge=1e-3))
    assert abs(value - closed) <= max(0.1 * closed, 0.1), (rho, value, closed)
    # the penalty is differentiable through the fit: moving x away from y lowers it
    g = jax.grad(lambda x_: refit_linear_club(x_, y[:256], ridge=1e-3))(x[:256])
    assert bool(jnp.all(jnp.isfinite(g))) and (rho == 0.0 or float(jnp.abs(g).sum()) > 0)


def test_leave_one_out_refit_does_not_reward_collapsing_the_features():
    """Independent x, y: the in-sample refit grows with x's rank (an encoder could lower it by collapsing
    z_exp); the leave-one-out refit stays near 0 at any rank."""
    r = np.random.default_rng(0)
    y = jnp.asarray(r.standard_normal((144, 64)), jnp.float32)
    values = {}
    for rank in (1, 32):
        x = jnp.asarray(r.standard_normal((144, rank)) @ r.standard_normal((rank, 32)), jnp.float32)
        values[rank] = (float(refit_linear_club(x, y, ridge=1.0, leave_one_out=False)),
                        float(refit_linear_club(x, y, ridge=1.0)))
    assert values[32][0] > values[1][0] + 3.0  # in-sample: ~0.5 vs ~6 nats
    assert abs(values[1][1]) < 0.5 and abs(values[32][1]) < 0.6
