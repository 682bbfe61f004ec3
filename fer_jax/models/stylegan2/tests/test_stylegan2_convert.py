"""Converter parity: a PyTorch StyleGAN2 with random weights in rosinality's key layout
(``benchmarks/stylegan2/torch_reference.py``) -> ``torch.save`` -> ``fer-jax convert-stylegan2`` -> the Flax
generator and discriminator give the same outputs for the same W+ and noise (fp32).

Sizes: 64 px and 256 px with reduced widths (``channel_max`` 64 / 32) so a 2-core CPU runs them in
seconds; the full-width 256 px check is ``benchmarks/stylegan2/bench_parity_speed.py --parity``.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the converter needs torch (benchmark extra)")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
from flax import nnx  # noqa: E402

from benchmarks.stylegan2 import torch_reference as ref  # noqa: E402
from fer_jax import cli  # noqa: E402
from fer_jax.core import init_from  # noqa: E402
from fer_jax.core.init_from import InitFrom, read_source  # noqa: E402
from fer_jax.models.stylegan2 import Generator, convert  # noqa: E402
from fer_jax.models.stylegan2.discriminator import Discriminator  # noqa: E402

TOL = 1e-4  # fp32, images of std ~1


def _save_torch(path, size, cm, cmax, style_dim=64, n_mlp=3, seed=0):
    torch.manual_seed(seed)
    g = ref.randomize(ref.Generator(size, style_dim, n_mlp, cm, cmax), seed)
    g_ema = ref.randomize(ref.Generator(size, style_dim, n_mlp, cm, cmax), seed + 1)
    d = ref.randomize(ref.Discriminator(size, cm, cmax), seed + 2)
    torch.save({"g": g.state_dict(), "g_ema": g_ema.state_dict(), "d": d.state_dict(),
                "latent_avg": torch.randn(style_dim)}, path)
    return g, g_ema, d


@pytest.mark.parametrize("size,cm,cmax", [(64, 0.5, 64), pytest.param(256, 0.25, 32, marks=pytest.mark.slow)])
def test_converted_generator_and_discriminator_match_torch(tmp_path, size, cm, cmax):
    pt, out = str(tmp_path / "ckpt.pt"), str(tmp_path / "weights")
    _, g_ema, d = _save_torch(pt, size, cm, cmax)
    assert cli.main(["convert-stylegan2", pt, out]) == 0

    gen = convert.load_generator(out, "g_ema")
    assert (gen.size, gen.n_latent) == (size, 2 * int(np.log2(size)) - 2)
    rng = np.random.default_rng(0)
    wplus = rng.normal(size=(2, gen.n_latent, 64)).astype(np.float32)
    sizes = [2 ** ((i + 5) // 2) for i in range(gen.num_layers)]
    noise = [rng.normal(size=(2, r, r, 1)).astype(np.float32) for r in sizes]
    with torch.no_grad():
        want = g_ema(torch.from_numpy(wplus), [torch.from_numpy(n.transpose(0, 3, 1, 2)) for n in noise])
        want = want.numpy().transpose(0, 2, 3, 1)
        want_fixed = g_ema(torch.from_numpy(wplus)).numpy().transpose(0, 2, 3, 1)
    got = np.asarray(gen(jnp.asarray(wplus), input_is_latent=True, noise=[jnp.asarray(n) for n in noise]))
    got_fixed = np.asarray(gen(jnp.asarray(wplus), input_is_latent=True))  # the converted constant noise
    assert want.std() > 0.1
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    np.testing.assert_allclose(got_fixed, want_fixed, atol=TOL, rtol=0)

    z = rng.normal(size=(2, 64)).astype(np.float32)  # the mapping network (style.*) too
    with torch.no_grad():
        w_t = g_ema.style(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(np.asarray(gen.mapping(jnp.asarray(z))), w_t, atol=TOL, rtol=1e-5)

    tree = read_source(InitFrom(source=out, load={"d": "d"}))
    assert set(tree) == {"g", "g_ema", "d", "latent_avg", "arch"}
    disc = Discriminator(size, cm, cmax, rngs=nnx.Rngs(0))
    _load_pure(disc, tree["d"])
    images = rng.normal(size=(4, size, size, 3)).astype(np.float32)
    with torch.no_grad():
        want_d = d(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(np.asarray(disc(jnp.asarray(images))), want_d, atol=TOL, rtol=1e-5)


def _load_pure(module, saved):
    state = nnx.state(module)
    nnx.replace_by_pure_dict(state, convert._int_keys(nnx.to_pure_dict(state), saved))
    nnx.update(module, state)


def test_wrong_size_and_keys_are_clear_errors(tmp_path):
    pt = str(tmp_path / "ckpt.pt")
    g, _, _ = _save_torch(pt, 32, 0.125, 16, style_dim=16, n_mlp=1)
    with pytest.raises(convert.ConversionError, match="--size 256 given but the checkpoint is a 32 px"):
        convert.convert(convert.load_checkpoint(pt), pt, size=256)
    sd = {k: v.numpy() for k, v in g.state_dict().items()}
    del sd["convs.1.noise.weight"]
    with pytest.raises(convert.ConversionError, match=r"g: missing key 'convs.1.noise.weight'"):
        convert.convert({"g": sd}, "x.pt")
    sd = {k: v.numpy() for k, v in g.state_dict().items()}
    sd["convs.0.conv.modulation.weight"] = sd["convs.0.conv.modulation.weight"][:, :8]
    with pytest.raises(convert.ConversionError, match="convs.0.conv.modulation.weight' has shape"):
        convert.convert({"g": sd}, "x.pt")
    sd = dict(sd, **{"extra.weight": np.zeros(3)})
    with pytest.raises(convert.ConversionError, match="not a StyleGAN2|has shape"):
        convert.convert({"g": sd}, "x.pt")
    torch.save({"model": {}}, str(tmp_path / "other.pt"))
    with pytest.raises(convert.ConversionError, match="not a rosinality checkpoint"):
        convert.load_checkpoint(str(tmp_path / "other.pt"))
    assert cli.main(["convert-stylegan2", str(tmp_path / "missing.pt"), str(tmp_path / "o")]) == 1


def test_init_from_loads_converted_generator(tmp_path):
    """The seam IFER uses: ``init_from`` maps the converted ``g_ema`` into a module's sub-tree."""

    pt, out = str(tmp_path / "ckpt.pt"), str(tmp_path / "w")
    _save_torch(pt, 16, 0.125, 16, style_dim=16, n_mlp=1)
    init_from.save_weights(out, convert.convert(convert.load_checkpoint(pt), pt))

    class Holder(nnx.Module):
        def __init__(self):
            self.decoder = Generator(16, 16, 1, 0.125, 16, rngs=nnx.Rngs(3))

    holder = Holder()
    cfg = ml_collections.ConfigDict({"init_from": {"gan": {"source": out, "load": {"decoder": "g_ema"}}}})
    assert init_from.apply(cfg, holder)["gan"] > 0
    want = convert.load_generator(out)
    w = jax.random.normal(jax.random.key(0), (1, 16))
    np.testing.assert_array_equal(np.asarray(holder.decoder(w)), np.asarray(want(w)))
