"""The MI-FER min-min step: phase isolation, non-finite guard, λ warm-up, apex branch, predictor.

Compilation dominates on CPU, so the tests share two states (reset to their initial values
between tests) and module-level jitted functions: ``nnx.jit`` caches on the graph definition,
which holds the optax transforms, so only the *same* state object reuses a compilation.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from mifer_helpers import D, hparams, make_batch, make_config

from fer_jax.core.registry import get_method
from fer_jax.core.settings import parse
from fer_jax.methods.mi_fer.method import encoder_phase, estimator_phase
from fer_jax.methods.mi_fer.settings import MiSettings

METHOD = get_method("mi_fer")
STEP = nnx.jit(METHOD.train_step)
EVAL = nnx.jit(METHOD.eval_step)
EST_PHASE = nnx.jit(estimator_phase)
ENC_PHASE = nnx.jit(encoder_phase)
# Config B exercises the options at once: vCLUB, motion vectors, apex branch.
OPTIONS_B = {"mi.estimator": "vclub", "mi.estimator_steps": 1, "model.use_mv": True, "apex.enabled": True}
_STATES: dict = {}


def params(module):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.as_pure(nnx.state(module, nnx.Param)))]


def changed(before, after):
    return [not np.array_equal(a, b) for a, b in zip(before, after)]


def create(**over):
    return METHOD.create(parse(make_config(**over), METHOD), nnx.Rngs(0))


def fresh(config: str = "A"):
    """The shared state of config A or B, reset to its initial values."""
    if config not in _STATES:
        st = create(**(OPTIONS_B if config == "B" else {}))
        _STATES[config] = (st, nnx.as_pure(nnx.state(st)))
    st, init = _STATES[config]
    nnx.update(st, init)
    return st


def test_phase1_updates_only_the_estimator_and_phase2_only_encoder_and_classifier(batch):
    st = fresh()
    enc0, head0, est0 = params(st.net.encoder), params(st.net.head), params(st.estimator)
    EST_PHASE(st, batch, jnp.asarray(0))
    enc1, head1, est1 = params(st.net.encoder), params(st.net.head), params(st.estimator)
    assert not any(changed(enc0, enc1)) and not any(changed(head0, head1))
    assert sum(changed(est0, est1)) >= len(est0) // 2  # (a bias feeding only dead ReLUs may not move)
    ENC_PHASE(st, batch, jnp.asarray(0))
    enc2, head2, est2 = params(st.net.encoder), params(st.net.head), params(st.estimator)
    assert not any(changed(est1, est2))
    # (zero-initialised block norms give some block weights a zero gradient on the first step)
    assert all(changed(head1, head2)) and sum(changed(enc1, enc2)) >= len(enc1) // 2


def test_train_step_runs_estimator_steps_then_one_encoder_update_with_lambda_warmup(batch):
    st = fresh()  # mi.estimator_steps=2, λ: 0 until step 2, then ramps to 0.5 at step 4
    m0 = STEP(st, batch, jnp.asarray(0))
    assert int(st.estimator_opt.step[...]) == 2 and int(st.encoder_opt.step[...]) == 1
    for key in ("loss/estimator", "loss/encoder", "loss/ce", "mi/club", "accuracy", "mi/weight"):
        assert m0[key].shape == () and np.isfinite(float(m0[key])), key
    assert float(m0["mi/weight"]) == 0.0
    assert float(m0["loss/encoder"]) == pytest.approx(float(m0["loss/ce"]), rel=1e-6)
    m3 = STEP(st, batch, jnp.asarray(3))
    assert float(m3["mi/weight"]) == pytest.approx(0.25)
    penalty = max(float(m3["mi/club"]), 0.0)  # mi.clip_negative: negative estimates are not rewarded
    assert float(m3["loss/encoder"]) == pytest.approx(float(m3["loss/ce"]) + 0.25 * penalty, rel=1e-5)


def test_lambda_warmup_schedule():
    hp = MiSettings(weight=2.0, start_step=10, warmup_steps=20)
    got = [float(hp.weight_at(jnp.asarray(s))) for s in (0, 9, 10, 20, 30, 100)]
    assert got == pytest.approx([0.0, 0.0, 0.0, 1.0, 2.0, 2.0])
    assert float(MiSettings(weight=0.3, start_step=0, warmup_steps=0).weight_at(jnp.asarray(0))) == pytest.approx(0.3)


def test_non_finite_batch_reports_non_finite_losses_and_leaves_state_untouched(batch):
    st = fresh()
    STEP(st, batch, jnp.asarray(0))  # a good step first, so optimizer states are non-trivial
    before = params(st)
    opt_before = [np.asarray(x) for x in jax.tree.leaves(nnx.as_pure(nnx.state(st.encoder_opt)))]
    bad = dict(batch, residuals=batch["residuals"].copy())
    bad["residuals"][0, 0, 0, 0, 0] = np.nan
    metrics = STEP(st, bad, jnp.asarray(1))
    assert not np.isfinite(float(metrics["loss/encoder"])) and not np.isfinite(float(metrics["loss/ce"]))
    assert not any(changed(before, params(st)))
    opt_after = [np.asarray(x) for x in jax.tree.leaves(nnx.as_pure(nnx.state(st.encoder_opt)))]
    assert not any(changed(opt_before, opt_after))
    good = STEP(st, batch, jnp.asarray(2))  # and training goes on from the untouched state
    assert np.isfinite(float(good["loss/encoder"]))


def test_masked_rows_do_not_change_the_step(batch):
    """Eval/last batches are padded with mask-0 rows; what those rows hold must not matter."""
    pa, pb = dict(batch, mask=np.array([1, 1, 1, 0], np.float32)), make_batch(seed=9)
    pb["mask"] = pa["mask"]
    for k in pa:
        if k != "mask":
            pb[k][:3] = pa[k][:3]
    ma = STEP(fresh(), pa, jnp.asarray(4))
    head_a = params(_STATES["A"][0].net.head)
    mb = STEP(fresh(), pb, jnp.asarray(4))
    for k in ("loss/ce", "mi/club", "loss/estimator", "accuracy"):
        assert float(ma[k]) == pytest.approx(float(mb[k]), rel=1e-4, abs=1e-5), k
    np.testing.assert_allclose(head_a[1], params(_STATES["A"][0].net.head)[1], rtol=1e-4, atol=1e-6)


def test_a_few_steps_fit_a_fixed_batch(batch):
    st = fresh()
    first = float(STEP(st, batch, jnp.asarray(0))["loss/ce"])
    for i in range(1, 20):
        last = STEP(st, batch, jnp.asarray(i))
    assert float(last["loss/ce"]) < 0.5 * first
    assert float(last["accuracy"]) == 1.0


@pytest.mark.slow
def test_all_options_vclub_mv_apex(batch):
    a = fresh("B")
    # apex term: zero when no row has an apex label...
    none = dict(batch, has_apex=np.zeros_like(batch["has_apex"]))
    m = STEP(a, none, jnp.asarray(4))
    assert float(m["loss/apex"]) == 0.0
    penalty = max(float(m["mi/club"]), 0.0)
    assert float(m["loss/encoder"]) == pytest.approx(float(m["loss/ce"]) + 0.5 * penalty, rel=1e-4)
    # ...positive otherwise, and it trains the apex branch
    apex0 = params(a.net.apex)
    m = STEP(a, batch, jnp.asarray(5))
    assert float(m["loss/apex"]) > 0.0 and any(changed(apex0, params(a.net.apex)))
    # its two parts are logged apart and add up (apex.agreement_weight = 1)
    assert float(m["loss/apex_ce"]) > 0.0 and float(m["loss/apex_agree"]) >= 0.0
    assert float(m["loss/apex"]) == pytest.approx(float(m["loss/apex_ce"]) + float(m["loss/apex_agree"]), rel=1e-5)
    # vCLUB negatives come from the step number: identical states and steps give identical numbers
    club5 = float(m["mi/club"])
    b = fresh("B")
    STEP(b, none, jnp.asarray(4))
    assert float(STEP(b, batch, jnp.asarray(5))["mi/club"]) == club5
    a = b
    # eval and the residual-only predictor (no apex parameters in it)
    ev = EVAL(a, batch)
    assert ev["logits"].dtype == jnp.float32 and ev["features"].shape == (4, 16)
    assert ev["mi/club_per_example"].shape == (4,)
    pred = METHOD.predictor(a)
    size = lambda m: sum(x.size for x in params(m))  # noqa: E731
    assert size(pred) == size(a.net) - size(a.net.apex)
    assert pred.encoder is a.net.encoder and pred.head is a.net.head  # shares the trained modules
    no_mv = {k: v for k, v in batch.items() if k != "motion_vectors"}
    with pytest.raises(ValueError, match="motion_vectors"):
        METHOD.eval_step(a, no_mv)


def test_clip_negative_option_controls_whether_a_negative_estimate_is_rewarded():
    from fer_jax.methods.mi_fer.method import _encoder_loss

    st = fresh()
    batch = make_batch(seed=4)
    args = (jnp.asarray(batch["identity_embedding"]), jnp.ones(4), 1.0)
    est = st.estimator
    est.logvar_out.bias[...] = jnp.full_like(est.logvar_out.bias[...], -4.0)  # a confident, wrong critic
    loss = nnx.jit(lambda net, est, b, hp: _encoder_loss(net, est, b, *args, hp, None), static_argnums=3)
    clipped, aux = loss(st.net, est, batch, hparams(clip_negative=True))
    raw, _ = loss(st.net, est, batch, hparams(clip_negative=False))
    assert float(aux["mi/club"]) < 0.0
    assert float(clipped) == pytest.approx(float(aux["loss/ce"]) + max(float(aux["mi/club"]), 0.0), rel=1e-5)
    assert float(raw) == pytest.approx(float(aux["loss/ce"]) + float(aux["mi/club"]), rel=1e-5)


def _penalised(seed: int, hp):
    """Encoder loss of the fresh state on a seeded batch under ``hp`` (λ = 1): (total, aux, z, z_id, mask)."""
    from fer_jax.methods.mi_fer.method import _encoder_loss

    st = fresh()
    batch = make_batch(seed=seed)
    z_id, mask = jnp.asarray(batch["identity_embedding"]), jnp.ones(4)
    loss = nnx.jit(lambda net, est, b, hp: _encoder_loss(net, est, b, z_id, mask, 1.0, hp, None), static_argnums=3)
    total, aux = loss(st.net, st.estimator, batch, hp)
    _, z = st.net(batch["residuals"], batch.get("motion_vectors"))
    return float(total), aux, z, z_id, mask


def test_abs_dims_penalty_charges_every_dimension_of_the_estimate():
    from fer_jax.methods.mi_fer.club import club_per_dimension

    total, aux, z, z_id, mask = _penalised(5, hparams(penalty="abs_dims"))
    per_dim = club_per_dimension(fresh().estimator, z, z_id, mask)
    want = float(aux["loss/ce"]) + float(jnp.abs(per_dim).sum())
    assert total == pytest.approx(want, rel=1e-5)
    assert float(jnp.abs(per_dim).sum()) >= abs(float(aux["mi/club"])) - 1e-6


def test_refit_penalty_uses_the_batch_refitted_linear_critic():
    from fer_jax.methods.mi_fer.club import refit_linear_club

    total, aux, z, z_id, mask = _penalised(6, hparams(penalty="refit"))
    want = float(aux["loss/ce"]) + max(float(refit_linear_club(z, z_id, mask)), 0.0)
    assert total == pytest.approx(want, rel=1e-4)
    with pytest.raises(ValueError, match="mi.penalty"):
        create(**{"mi.penalty": "nope"})


def test_refit_memory_keeps_the_newest_rows_and_skips_rejected_steps(batch):
    from fer_jax.methods.mi_fer.method import _identity

    st = create(**{"mi.penalty": "refit", "mi.refit_memory": 6})
    step = nnx.jit(METHOD.train_step)
    second = make_batch(seed=3)
    step(st, batch, jnp.asarray(5))
    step(st, second, jnp.asarray(6))
    mem = st.memory
    np.testing.assert_array_equal(np.asarray(mem.valid[...]), np.ones(6))
    np.testing.assert_allclose(mem.y[...][:4], _identity(st, second), rtol=1e-6)  # newest first
    np.testing.assert_allclose(mem.y[...][4:], _identity(st, batch)[:2], rtol=1e-6)
    assert "memory" not in str(nnx.state(st.net)) and not nnx.state(st.memory, nnx.Param)  # never optimized
    bad = dict(second, residuals=np.full_like(second["residuals"], np.nan))
    step(st, bad, jnp.asarray(7))
    assert np.isfinite(np.asarray(mem.x[...])).all() and float(mem.valid[...][:4].sum()) == 0.0


def test_identity_embeddings_are_put_on_the_sphere_of_radius_sqrt_d(batch):
    from fer_jax.methods.mi_fer.method import _identity

    small = dict(batch, identity_embedding=batch["identity_embedding"] * 0.05)  # a unit-norm-like scale
    loss = float(EST_PHASE(fresh(), batch, jnp.asarray(0)))
    assert float(EST_PHASE(fresh(), small, jnp.asarray(0))) == pytest.approx(loss, rel=1e-5)
    norms = np.linalg.norm(np.asarray(_identity(fresh(), small)), axis=-1)
    np.testing.assert_allclose(norms, np.sqrt(D), rtol=1e-5)
    with pytest.raises(ValueError, match="mi.identity_norm"):
        create(**{"mi.identity_norm": "cube"})


def test_unit_critic_input_feeds_the_estimator_normalised_features():
    from fer_jax.methods.mi_fer.method import _critic_view

    z = jnp.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(_critic_view(z, hparams(critic_input="unit")), [[0.6, 0.8], [0.0, 1.0]], rtol=1e-6)
    assert _critic_view(z, hparams()) is z


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_params_and_outputs(batch):
    st = create(**{"model.dtype": "bfloat16", "model.width": 4})
    assert all(x.dtype == jnp.float32 for x in params(st))
    ev = EVAL(st, batch)
    assert ev["logits"].dtype == jnp.float32 and ev["features"].dtype == jnp.float32
    fmap = nnx.jit(lambda net, x: net.feature_map(x))(st.net.encoder.residual_net, batch["residuals"][:, 0])
    assert fmap.dtype == jnp.bfloat16


def test_bad_configs_and_identity_width_are_reported(batch):
    with pytest.raises(ValueError, match="mi.estimator"):
        create(**{"mi.estimator": "mine"})
    with pytest.raises(ValueError, match="mi.critic_input"):
        create(**{"mi.critic_input": "cosine"})
    with pytest.raises(ValueError, match="model.dtype"):
        create(**{"model.dtype": "float8"})
    wide = dict(batch, identity_embedding=np.zeros((4, D + 1), np.float32))
    with pytest.raises(ValueError, match="mi.identity_dim"):
        METHOD.eval_step(create(), wide)
