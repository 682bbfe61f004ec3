"""STT's network and compact loss: the factorised block against a direct computation, token shapes of
both input kinds, attention-kernel choice, the EMA centres and the ratio's properties, and training on
random clips (loss falls, centres move, bf16 keeps float32 parameters)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from stt_helpers import tiny_config, tiny_state

from fer_jax.core.registry import get_method
from fer_jax.core.settings import ConfigError, parse
from fer_jax.methods.stt.method import compactness, step_centres
from fer_jax.methods.stt.model import SpatioTemporalTransformer, token_grid
from fer_jax.methods.stt.settings import CompactSettings
from fer_jax.methods.stt.transformer import FactorisedBlock, attention_implementation
from fer_jax.train.config_check import validate


def _attend(x, attn):
    """Multi-head attention written out: softmax(QKᵀ/√d) V per head."""
    n, length, d = x.shape
    h = attn.heads
    qkv = (x @ attn.qkv.kernel[...] + attn.qkv.bias[...]).reshape(n, length, 3, h, d // h)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    w = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // h), axis=-1)
    o = (w @ v).transpose(0, 2, 1, 3).reshape(n, length, d)
    return o @ attn.out.kernel[...] + attn.out.bias[...]


def test_factorised_block_is_spatial_then_temporal_then_mlp():
    block = FactorisedBlock(8, 2, 2, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    cls, x = jnp.asarray(rng.normal(size=(2, 8)), jnp.float32), jnp.asarray(rng.normal(size=(2, 3, 4, 8)), jnp.float32)
    got_cls, got_x = block(cls, x)
    # direct: each frame attends over [cls, its 4 tokens]; cls gets the frame-mean of its outputs
    seq = jnp.concatenate([jnp.broadcast_to(cls[:, None, None], (2, 3, 1, 8)), x], axis=2).reshape(6, 5, 8)
    s = _attend(block.norm_space(seq), block.space).reshape(2, 3, 5, 8)
    c, y = cls + s[:, :, 0].mean(1), x + s[:, :, 1:]
    for p in range(4):  # each spatial position attends over its 3 frames
        y = y.at[:, :, p].add(_attend(block.norm_time(y[:, :, p]), block.time))
    mlp = lambda v: block.mlp.fc2(jax.nn.gelu(block.mlp.fc1(block.norm_mlp(v))))  # noqa: E731
    np.testing.assert_allclose(got_cls, c + mlp(c), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_x, y + mlp(y), rtol=1e-4, atol=1e-5)
    # the temporal step mixes frames: changing frame 2's tokens changes frame 0's outputs
    x2 = x.at[:, 2].add(jnp.asarray(rng.normal(size=(2, 4, 8)), jnp.float32))
    assert not np.allclose(block(cls, x2)[1][:, 0], got_x[:, 0], atol=1e-3)


def test_attention_kernel_choice():
    assert attention_implementation("auto", jnp.float32, 64) == "xla"
    assert attention_implementation("auto", jnp.bfloat16, 64) == ("cudnn" if jax.default_backend() == "gpu" else "xla")
    assert attention_implementation("cudnn", jnp.float32, 64) == "cudnn"
    with pytest.raises(ValueError, match="attention implementation"):
        attention_implementation("flash", jnp.float32, 64)


@pytest.mark.parametrize("tokens", [pytest.param("frames", marks=pytest.mark.slow), "compressed"])
def test_token_grids_and_outputs(tokens):
    net = SpatioTemporalTransformer(7, frames=5 if tokens == "compressed" else 4, size=32, backbone="tiny",
                                    backbone_width=8, width=16, depth=1, heads=2, tokens=tokens, rngs=nnx.Rngs(0))
    assert token_grid(112, "imagenet") == 7 and token_grid(32, "small") == 8 and net.side == 2
    r = np.random.default_rng(0)
    if tokens == "frames":
        grid = net.clip_tokens(frames=jnp.asarray(r.uniform(size=(3, 4, 32, 32, 3)), jnp.float32))
        assert grid.shape == (3, 4, 4, 32)  # T, 2x2 tokens, 4 x backbone width (layer3)
        logits, feats = net(frames=jnp.zeros((3, 4, 32, 32, 3)))
    else:
        inputs = dict(iframe=jnp.zeros((3, 32, 32, 3)), residuals=jnp.zeros((3, 4, 32, 32, 3)))
        assert net.clip_tokens(**inputs).shape == (3, 5, 4, 32)  # I-frame + 4 residuals
        logits, feats = net(**inputs)
        with pytest.raises(ValueError, match="iframe"):
            net(frames=jnp.zeros((3, 4, 32, 32, 3)))
    assert logits.shape == (3, 7) and feats.shape == (3, 16) and feats.dtype == jnp.float32
    assert len(net.trunk.stages) == 3  # no unused layer4 in the state
    with pytest.raises(ValueError, match="built for"):
        SpatioTemporalTransformer(7, frames=6, size=32, backbone="tiny", width=16, depth=1, heads=2,
                                  tokens="frames", rngs=nnx.Rngs(0))(frames=jnp.zeros((1, 4, 32, 32, 3)))


def test_step_centres_ema_first_sight_and_mask():
    centres = jnp.asarray([[1.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    seen = jnp.asarray([1.0, 0.0, 1.0])
    feats = jnp.asarray([[3.0, 0.0], [2.0, 2.0], [4.0, 4.0], [100.0, 100.0]])
    labels = jnp.asarray([0, 1, 1, 2])
    mask = jnp.asarray([1.0, 1.0, 1.0, 0.0])  # the class-2 row is padding
    new, covered = step_centres(centres, seen, feats, labels, mask, 0.9)
    np.testing.assert_allclose(new[0], [0.9 * 1 + 0.1 * 3, 0.0], rtol=1e-6)  # seen before: EMA
    np.testing.assert_allclose(new[1], [3.0, 3.0], rtol=1e-6)  # first sight: the batch mean
    np.testing.assert_allclose(new[2], [5.0, 5.0])  # only padding rows: unchanged
    np.testing.assert_array_equal(covered, [1.0, 1.0, 1.0])


def test_compactness_ratio_properties():
    r = np.random.default_rng(0)
    centres = jnp.asarray(r.normal(size=(3, 4)) * 5, jnp.float32)
    labels = jnp.asarray(r.integers(0, 3, 30))
    feats = centres[labels] + jnp.asarray(r.normal(size=(30, 4)), jnp.float32)
    mask, covered = jnp.ones(30), jnp.ones(3)
    ratio = compactness(feats, labels, mask, centres, covered, 1e-9)
    # scale-free: shrinking all features and centres cannot lower it (unlike center loss)
    np.testing.assert_allclose(compactness(0.1 * feats, labels, mask, 0.1 * centres, covered, 1e-9), ratio, rtol=1e-4)
    tighter = centres[labels] + 0.5 * (feats - centres[labels])
    assert compactness(tighter, labels, mask, centres, covered, 1e-9) < ratio
    assert float(compactness(feats, labels, mask, centres, jnp.asarray([1.0, 0, 0]), 1e-9)) == 0.0  # one class


def test_training_moves_centres_and_lowers_the_loss():
    # plain CE (a compact term at weight 0.5 from step 0 slowed this fit ~3x: README); the centres
    # are tracked and the logged ratio falls as CE separates the classes
    config = tiny_config(dropout=0.0)
    config.optim.update(schedule="constant", warmup_steps=0, lr=3e-3)
    config.compact.weight = 0.0
    method, state, arrays, batch, step = tiny_state(config, 16)
    first = step(state, batch, jnp.int32(0))
    assert float(state.seen[...].sum()) == len(np.unique(arrays["label"][:16]))
    for i in range(1, 30):
        last = step(state, batch, jnp.int32(i))
    assert float(last["loss/total"]) < 0.5 * float(first["loss/total"])
    assert float(last["loss/compact"]) < 0.5 * float(first["loss/compact"]) and float(last["accuracy"]) == 1.0
    out = nnx.jit(method.eval_step)(state, batch)
    assert out["logits"].shape == (16, 7) and out["features"].shape == (16, 16)


@pytest.mark.slow
def test_default_compact_weight_from_step_0_still_fits():
    # the default λ with the term on from the first step: CE must still fit the batch (at λ = 0.5 it
    # stalled near ln 7 while the ratio fell: README sweep), and the term must be on and falling
    config = tiny_config(dropout=0.0)
    config.optim.update(schedule="constant", warmup_steps=0, lr=3e-3)
    config.compact.update(weight=CompactSettings.weight, gate=100.0, ramp=0.0)
    _, state, _, batch, step = tiny_state(config, 16)
    first = step(state, batch, jnp.int32(0))
    for i in range(1, 30):
        last = step(state, batch, jnp.int32(i))
    assert CompactSettings.weight > 0 and float(first["compact/weight"]) == pytest.approx(CompactSettings.weight)
    assert float(last["loss/ce"]) < 0.3 * float(first["loss/ce"]) and float(last["accuracy"]) == 1.0
    assert float(last["loss/compact"]) < float(first["loss/compact"])


@pytest.mark.slow
def test_bf16_compute_keeps_float32_parameters():
    config = tiny_config(dtype="bfloat16")
    method = get_method("stt")
    state = method.create(parse(config, method), nnx.Rngs(0))
    params = jax.tree.leaves(nnx.state(state.net, nnx.Param))
    assert params and all(p.dtype == jnp.float32 for p in params)
    logits, feats = state.net(frames=jnp.zeros((2, 4, 32, 32, 3)))
    assert logits.dtype == feats.dtype == jnp.float32


def test_settings_errors():
    method = get_method("stt")
    for section, key, value, match in [("model", "widht", 8, "did you mean 'width'"),
                                       ("model", "heads", 3, "multiple of model.heads"),
                                       ("model", "tokens", "mv", "model.tokens"),
                                       ("compact", "momentum", 1.0, "compact.momentum")]:
        c = tiny_config()
        with c.unlocked():
            c[section][key] = value
        with pytest.raises(ConfigError, match=match):
            validate(c, method)


@pytest.mark.parametrize("baseline", [False, True])
def test_face_word_starts_the_trunk_from_a_face_encoder(tmp_path, baseline):
    """``face=DIR``: the per-frame trunk (STT: stem + layer1..3; baseline: all of it) starts as the face
    encoder's; everything else keeps its fresh initialisation."""
    from configs.stt import dfew
    from fer_jax.core import init_from
    from fer_jax.identity.flax_backbone import FaceEmbedder, save_params

    face = FaceEmbedder("tiny", 16, 32, rngs=nnx.Rngs(7))
    save_params(face, str(tmp_path / "enc" / "params"))
    config = dfew.get_config(f"tiny,random{',baseline' if baseline else ''},face={tmp_path / 'enc'}")
    method = get_method(config.method)
    run = validate(config, method)
    fresh = method.create(run, nnx.Rngs(0))
    state = method.create(run, nnx.Rngs(0))
    assert init_from.apply(config, state)["face"] == (36 if baseline else 27)  # stem 3 + stages 6 + 9 + 9 (+ 9)
    trunk, src = state.net.trunk, face.trunk
    np.testing.assert_array_equal(trunk.stem.kernel[...], src.stem.kernel[...])
    np.testing.assert_array_equal(trunk.stages[2][0].conv2.kernel[...], src.stages[2][0].conv2.kernel[...])
    assert len(trunk.stages) == (4 if baseline else 3)
    np.testing.assert_array_equal(state.net.head.kernel[...], fresh.net.head.kernel[...])
    assert not np.array_equal(trunk.stem.kernel[...], fresh.net.trunk.stem.kernel[...])
