"""The compact term's gate: switched on at a fixed step while CE is still on its plateau, the ratio
collapses the features and pins CE at ln C (what SynthFace's lab split showed at 25 % of the run); gated
on the CE's progress it waits, then acts without collapsing them.

The dynamics run on a linear encoder + linear classifier over weakly separable inputs (a CE plateau in
a second of CPU), with the method's own ``step_centres``, ``compactness`` and ``CompactSettings`` gate."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from stt_helpers import tiny_config, tiny_state

from fer_jax.methods.stt.method import compactness, step_centres
from fer_jax.methods.stt.settings import CompactSettings

C, D, DIN, N, B, STEPS = 7, 32, 32, 448, 32, 600
CHANCE = math.log(C)


def _toy(rule: str, seed: int, fixed_start: int = 50) -> dict[str, float]:
    """Train the toy; ``rule`` = ``fixed`` (λ on from ``fixed_start``) or ``gate`` (CompactSettings' gate)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, N)
    x = rng.normal(size=(C, DIN))[y] * 0.1 + rng.normal(size=(N, DIN))
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    # features start nearly equal (small spread around a large shared offset), as an encoder's do
    params = {"w": jax.random.normal(k1, (DIN, D)) * 0.01, "b": jnp.full(D, 7.8 / math.sqrt(D)),
              "v": jax.random.normal(k2, (D, C)) * 1e-3, "c": jnp.zeros(C)}
    tx = optax.adam(1e-3)
    cs = CompactSettings(gate=0.9, ramp=0.0)

    def loss(p, xb, yb, centres, seen, lam):
        f = xb @ p["w"] + p["b"]
        ce = optax.softmax_cross_entropy_with_integer_labels(f @ p["v"] + p["c"], yb).mean()
        mask = jnp.ones(len(yb))
        new, covered = step_centres(centres, seen, f, yb, mask, cs.momentum)
        return ce + lam * compactness(f, yb, mask, new, covered, cs.eps), (ce, new, covered, f.std(0).mean())

    @jax.jit
    def step(p, o, st, xb, yb, i):
        if rule == "gate":
            on = cs.switched_on(st["on"], st["ema"], i, C)
        else:
            on = jnp.where(i >= fixed_start, jnp.float32(fixed_start), jnp.float32(-1))
        lam = cs.weight_at(i, on, STEPS)
        (_, (ce, new, covered, spread)), g = jax.value_and_grad(loss, has_aux=True)(
            p, xb, yb, st["centres"], st["seen"], lam)
        u, o = tx.update(g, o, p)
        ema = cs.gate_momentum * st["ema"] + (1 - cs.gate_momentum) * ce
        return optax.apply_updates(p, u), o, dict(centres=new, seen=covered, ema=ema, on=on), ce, spread

    opt = tx.init(params)
    st = dict(centres=jnp.zeros((C, D)), seen=jnp.zeros(C), ema=jnp.float32(CHANCE), on=jnp.float32(-1))
    ces, spreads, on_step = [], [], -1
    for i in range(STEPS):
        idx = rng.integers(0, N, B)
        params, opt, st, ce, spread = step(params, opt, st, jnp.asarray(x[idx]), jnp.asarray(y[idx]), i)
        ces.append(float(ce))
        spreads.append(float(spread))
        if on_step < 0 and float(st["on"]) >= 0:
            on_step = int(st["on"])
    at_on = spreads[on_step] if on_step >= 0 else float("nan")
    return {"on_step": on_step, "ce_end": float(np.mean(ces[-50:])), "spread_on": at_on,
            "spread_end": float(np.mean(spreads[-50:]))}


@pytest.mark.parametrize("seed", [0, 1])
def test_fixed_start_collapses_and_the_gate_does_not(seed):
    old, new = _toy("fixed", seed), _toy("gate", seed)
    # the old rule: on while CE is at chance; the features shrink to a point and CE never leaves ln C
    assert old["spread_end"] < 0.2 * old["spread_on"], old
    assert old["ce_end"] > 0.97 * CHANCE, old
    # the gate: it waits for CE to fall, then the term acts and the features keep their spread
    assert new["on_step"] > 50, new
    assert new["spread_end"] > 0.5 * new["spread_on"], new
    assert new["ce_end"] < 0.93 * CHANCE, new


def test_stt_step_switches_on_when_the_ce_average_falls_below_the_gate():
    config = tiny_config(dropout=0.0)
    config.compact.update(gate=0.9, ramp=0.0)
    _, state, _, batch, step = tiny_state(config, 8)
    assert float(state.ce_ema[...]) == pytest.approx(CHANCE) and float(state.on_step[...]) == -1
    out = step(state, batch, jnp.int32(0))
    assert float(out["compact/weight"]) == 0.0 and float(state.on_step[...]) == -1  # CE at chance: off
    ema = 0.9 * CHANCE + 0.1 * float(out["loss/ce"])
    assert float(state.ce_ema[...]) == pytest.approx(ema, rel=1e-5)
    state.ce_ema[...] = jnp.float32(0.5 * CHANCE)  # as if CE had fallen
    out = step(state, batch, jnp.int32(1))
    assert float(out["compact/weight"]) == pytest.approx(CompactSettings.weight)
    assert float(state.on_step[...]) == 1.0
    state.ce_ema[...] = jnp.float32(CHANCE)  # latched: a CE that climbs back does not switch it off
    out = step(state, batch, jnp.int32(2))
    assert float(out["compact/weight"]) == pytest.approx(CompactSettings.weight) and float(state.on_step[...]) == 1.0


def test_the_embedding_evaluator_reports_the_ratio_the_loss_optimises():
    from fer_jax.evaluate.evaluators import embedding

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 5)
    feats = rng.normal(size=(4, 8))[labels] * 3 + rng.normal(size=(20, 8))
    centres = np.stack([feats[labels == c].mean(0) for c in range(4)])
    loss = compactness(jnp.asarray(feats, jnp.float32), jnp.asarray(labels), jnp.ones(20), jnp.asarray(centres,
                       jnp.float32), jnp.ones(4), 1e-12)
    report = embedding({"features": feats, "label": labels}, None)["embedding"]
    assert report["ratio_sq"] == pytest.approx(float(loss), rel=1e-5)
