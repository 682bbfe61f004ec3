"""The optimizers of ``fer_jax/train/optim.py`` that optax does not ship whole: Ranger's Lookahead."""

import jax.numpy as jnp
import numpy as np
import optax

from fer_jax.train.optim import RANGER, OptimSettings, lookahead, make_tx


def test_lookahead_syncs_every_k_steps_to_the_interpolated_slow_weights():
    """With plain SGD as the fast optimizer the trajectory is known in closed form: k fast steps of −lr·g,
    then the parameters jump to slow + α·(fast − slow)."""
    k, alpha, lr = 3, 0.5, 0.1
    tx = optax.chain(optax.sgd(lr), lookahead(k, alpha))
    p = {"w": jnp.array([1.0, -2.0])}
    state = tx.init(p)
    g = {"w": jnp.array([1.0, 1.0])}  # a constant gradient
    slow = np.array([1.0, -2.0])
    for step in range(1, 7):
        u, state = tx.update(g, state, p)
        p = optax.apply_updates(p, u)
        if step % k == 0:
            fast = slow - k * lr * np.ones(2)
            slow = slow + alpha * (fast - slow)
            np.testing.assert_allclose(p["w"], slow, rtol=1e-6)
            np.testing.assert_allclose(state[1].slow["w"], slow, rtol=1e-6)
    assert int(state[1].count) == 6


def test_ranger_is_radam_plus_lookahead_and_descends():
    tx = make_tx(OptimSettings(name="ranger", lr=1e-2, schedule="constant", warmup_steps=0, grad_clip=0.0), 100)
    p = {"w": jnp.array([3.0, -1.0])}
    state = tx.init(p)
    for _ in range(60):
        u, state = tx.update({"w": 2 * p["w"]}, state, p)  # gradient of |w|²
        p = optax.apply_updates(p, u)
    assert float(jnp.sum(p["w"] ** 2)) < 10.0 * 0.9 and RANGER["sync_period"] == 6
