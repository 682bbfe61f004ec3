"""The PyTorch reference of ``bench_train.py`` is the same network and step as fer-jax's MI-FER.

Same parameter count (ResNet-18 width 64 and the tiny test variant), and with fer-jax's weights copied
in, the same logits, z_exp, CLUB estimate and estimator loss: the throughput comparison compares the
same computation.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="benchmark extra: pip install torch")

import jax  # noqa: E402
from flax import nnx  # noqa: E402

from benchmarks.bench_train import make_batch, mifer_config  # noqa: E402
from benchmarks.mi_fer.torch_reference import TorchMiFer, param_count  # noqa: E402
from fer_jax.core.registry import get_method  # noqa: E402
from fer_jax.core.settings import parse  # noqa: E402
from fer_jax.methods.mi_fer.club import club_estimate, estimator_loss  # noqa: E402


def jax_state(arch, width):
    method = get_method("mi_fer")
    return method.create(parse(mifer_config(arch, width, "float32"), method), nnx.Rngs(0))


def n_params(module) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize("arch,width", [("resnet18", 64), ("tiny", 8)])
def test_same_parameter_count(arch, width):
    st = nnx.eval_shape(lambda: jax_state(arch, width))  # shapes only: no initialisation work
    ref = TorchMiFer(arch, width)
    assert param_count(ref.net) == n_params(st.net) > 0
    assert param_count(ref.club) == n_params(st.estimator) > 0


def _t(x):
    return torch.from_numpy(np.array(x, np.float32))


def _copy_norm(tn, jn):
    tn.weight.data, tn.bias.data = _t(jn.scale[...]), _t(jn.bias[...])


def _copy_conv(tc, jc):
    tc.weight.data = _t(np.transpose(np.asarray(jc.kernel[...]), (3, 2, 0, 1)))  # HWIO -> OIHW


def _copy_linear(tl, jl):
    tl.weight.data = _t(np.asarray(jl.kernel[...]).T)
    if tl.bias is not None:
        tl.bias.data = _t(jl.bias[...])


def copy_weights(ref: TorchMiFer, st) -> None:
    trunk, jr = ref.net.trunk, st.net.encoder.residual_net
    _copy_conv(trunk.stem, jr.stem)
    _copy_norm(trunk.stem_norm, jr.stem_norm)
    jblocks = [b for stage in jr.stages for b in stage]
    assert len(jblocks) == len(trunk.blocks)
    for tb, jb in zip(trunk.blocks, jblocks):
        _copy_conv(tb.conv1, jb.conv1), _copy_norm(tb.norm1, jb.norm1)
        _copy_conv(tb.conv2, jb.conv2), _copy_norm(tb.norm2, jb.norm2)
        assert (tb.proj is None) == (jb.proj is None)
        if tb.proj is not None:
            _copy_conv(tb.proj[0], jb.proj), _copy_norm(tb.proj[1], jb.proj_norm)
    _copy_linear(ref.net.proj, st.net.encoder.proj)
    _copy_linear(ref.net.head, st.net.head)
    for name in ("mu_skip", "mu_hidden", "mu_out"):
        _copy_linear(getattr(ref.club, name), getattr(st.estimator, name))
    _copy_linear(ref.club.lv_hidden, st.estimator.logvar_hidden)
    _copy_linear(ref.club.lv_out, st.estimator.logvar_out)


def test_same_outputs_with_copied_weights():
    st = jax_state("tiny", 8)
    r = np.random.default_rng(1)
    for module in (st.net, st.estimator):  # non-trivial norms (the zero-initialised scales would hide errors)
        leaves = nnx.state(module, nnx.Param)
        nnx.update(module, jax.tree.map(lambda x: x + 0.1 * r.standard_normal(x.shape).astype(np.float32), leaves))
    ref = TorchMiFer("tiny", 8)
    copy_weights(ref, st)
    batch = make_batch(4, 2, 32, seed=2)
    logits, z = st.net(batch["residuals"])
    with torch.no_grad():
        tl, tz = ref.net(_t(batch["residuals"]))
        t_club = ref.club.estimate(tz, _t(batch["identity_embedding"]))
        t_est = ref.club.loss(tz, _t(batch["identity_embedding"]))
    assert logits.shape == tuple(tl.shape) == (4, 7) and z.shape == tuple(tz.shape) == (4, 128)
    np.testing.assert_allclose(np.asarray(z), tz.numpy(), rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(np.asarray(logits), tl.numpy(), rtol=2e-3, atol=2e-4)
    j_club = club_estimate(st.estimator, z, batch["identity_embedding"], None, "club")
    j_est = estimator_loss(st.estimator, z, batch["identity_embedding"])
    np.testing.assert_allclose(float(j_club), float(t_club), rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(float(j_est), float(t_est), rtol=2e-3, atol=1e-3)


def test_torch_step_updates_both_players_and_stays_finite():
    ref = TorchMiFer("tiny", 8)
    before_net = [p.detach().clone() for p in ref.net.parameters()]
    before_club = [p.detach().clone() for p in ref.club.parameters()]
    b = {k: torch.from_numpy(v) for k, v in make_batch(4, 2, 32).items()}
    b["label"] = b["label"].long()
    out = ref.step(b, 0.1)
    assert all(np.isfinite(float(v)) for v in out.values())
    assert any(not torch.equal(a, p) for a, p in zip(before_net, ref.net.parameters()))
    assert all(not torch.equal(a, p) for a, p in zip(before_club, ref.club.parameters()))
