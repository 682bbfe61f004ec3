"""The ``stylegan2`` method: train IFER's decoder (or any StyleGAN2) on your own faces with the shared trainer.

One jitted step alternates the two players as rosinality's ``train.py`` does: a discriminator update
(non-saturating logistic loss, + lazy R1 on real images every ``gan.d_reg_every`` steps), then a
generator update (non-saturating loss, + lazy path-length regularisation every ``gan.g_reg_every``
steps), then the EMA generator. Two ``nnx.Optimizer``s over disjoint parameter sets (``state.g``,
``state.d``); ``state.g_ema`` holds the EMA weights as :class:`Ema` variables (saved, never optimized).

Choices, and why:

* **Lazy regularisers with ``jax.lax.cond``**: both branches are compiled once; the regulariser's
  double backward runs only on its steps, as in the paper. On a regularisation step its gradient
  (already multiplied by the interval k, as rosinality does) is *added* to the main loss's gradient
  and one Adam step is taken, where rosinality takes a second optimizer step; Adam's lr and betas
  are scaled by k/(k+1) as in the paper (``GanSettings.adam``).
* **Randomness** (latents, mixing cut, per-layer noise, flips, the path-length image noise) comes from
  ``fer_jax.train.rng.step_key(seed, step, stream)`` only: exact resume, same draws on any mesh.
* **EMA rate from the real batch**: β = 0.5^(batch / (1000 · ema_kimg)) (rosinality fixes batch 32 in
  this formula); the noise strengths are averaged too, the constant noise maps are g's at creation.
* **Images in [-1, 1]**: the data path serves [0, 1]; ×2 − 1 here, as the generator's output range.
* Evaluation computes nothing by default (``evaluators = ()``): a GAN's measures (sample grids,
  nearest-training-image LPIPS) are in ``benchmarks/stylegan2/stills_run.py`` and the README.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase
from fer_jax.core.settings import ConfigError, RunSettings
from fer_jax.methods.stylegan2.settings import GanSettings, ModelSettings
from fer_jax.models.stylegan2 import Discriminator, Generator
from fer_jax.train.optim import guarded_update
from fer_jax.train.rng import step_key

SETTINGS = {"model": ModelSettings, "gan": GanSettings}


class Ema(nnx.Variable):
    """An exponential moving average of a generator parameter: saved with the state, never optimized."""


class PathMean(nnx.Variable):
    """The running mean of the path lengths (the path-length regulariser's target)."""


def as_ema(module: nnx.Module) -> nnx.Module:
    """Turn every ``nnx.Param`` of ``module`` into :class:`Ema`, in place."""
    for path, node in list(nnx.iter_graph(module)):
        if type(node) is not nnx.Param:
            continue
        parent = module
        for part in path[:-1]:
            parent = parent[part] if isinstance(parent, (nnx.List, nnx.Dict)) else getattr(parent, part)
        if isinstance(parent, (nnx.List, nnx.Dict)):
            parent[path[-1]] = Ema(node.get_value())
        else:
            setattr(parent, path[-1], Ema(node.get_value()))
    return module


@dataclasses.dataclass(frozen=True)
class Hparams:
    gan: GanSettings
    seed: int
    ema_beta: float


def _adam(lr: float, b1: float, b2: float) -> optax.GradientTransformation:
    return optax.adam(lr, b1=b1, b2=b2, eps=1e-8)


class StyleGAN2State(nnx.Module):
    """Generator, discriminator, EMA generator, the path-length mean and the two optimizers."""

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        m, gan = run.sections["model"], run.sections["gan"]
        stated = "size" in (run.config.get("input") or {})  # a config that leaves input.size out: no check
        if stated and run.input.size != m.size:
            raise ConfigError(f"input.size {run.input.size} must equal model.size {m.size} (the networks' resolution)")
        batch = run.input.batch_size
        self.g = Generator(m.size, m.style_dim, m.n_mlp, m.channel_multiplier, m.channel_max, lr_mlp=m.lr_mlp,
                           rngs=rngs)
        self.d = Discriminator(m.size, m.channel_multiplier, m.channel_max, rngs=rngs)
        g_ema = nnx.clone(self.g)  # its own buffers: the trainer donates the state, no leaf may alias another
        nnx.update(g_ema, jax.tree.map(lambda x: jnp.array(x, copy=True), nnx.state(g_ema)))
        self.g_ema = as_ema(g_ema)
        self.path_mean = PathMean(jnp.zeros((), jnp.float32))
        beta = 0.5 ** (batch / (1000.0 * gan.ema_kimg)) if gan.ema_kimg > 0 else 0.0
        self.hparams = Hparams(gan, run.train.seed, float(beta))
        self.g_opt = nnx.Optimizer(self.g, _adam(*gan.adam(gan.g_reg_every, gan.use_path)), wrt=nnx.Param)
        self.d_opt = nnx.Optimizer(self.d, _adam(*gan.adam(gan.d_reg_every, gan.use_r1)), wrt=nnx.Param)


# --- losses -------------------------------------------------------------------------------------


def latents(g: Generator, hp: Hparams, step: jax.Array, batch: int, stream: str) -> tuple[jax.Array, list]:
    """Mixed W+ codes and fresh noise for ``batch`` fakes: with probability ``gan.mixing`` the codes
    switch from z1's w to z2's w at a random layer in [1, n_latent)."""
    key = step_key(hp.seed, step, stream)
    kz, kmix, kcut, knoise = jax.random.split(key, 4)
    z = jax.random.normal(kz, (2, batch, g.style_dim))
    w = g.mapping(z)
    cut = jax.random.randint(kcut, (), 1, g.n_latent)
    cut = jnp.where(jax.random.uniform(kmix) < hp.gan.mixing, cut, g.n_latent)
    return g.mix(w[0], w[1], cut), g.random_noise(knoise, batch)


def _split(module: nnx.Module):
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)
    return graphdef, params, rest


def _zeros_like(tree: Any) -> Any:
    return jax.tree.map(jnp.zeros_like, tree)


def d_phase(state: StyleGAN2State, real: jax.Array, step: jax.Array) -> dict[str, jax.Array]:
    hp = state.hparams
    b = real.shape[0]
    wplus, noise = latents(state.g, hp, step, b, "d_latents")
    fake = jax.lax.stop_gradient(state.g.synthesis(wplus, noise))
    graphdef, params, rest = _split(state.d)

    def loss_fn(p):
        d = nnx.merge(graphdef, p, rest)
        real_pred, fake_pred = d(real), d(fake)
        loss = jnp.mean(jax.nn.softplus(fake_pred)) + jnp.mean(jax.nn.softplus(-real_pred))
        return loss, (jnp.mean(real_pred), jnp.mean(fake_pred))

    (loss, (real_score, fake_score)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)

    def r1(p):
        def penalty(p):
            d = nnx.merge(graphdef, p, rest)
            g = jax.grad(lambda x: jnp.sum(d(x)))(real)
            r1_loss = jnp.mean(jnp.sum(jnp.square(g).reshape(b, -1), axis=1))
            return hp.gan.r1 / 2 * r1_loss * hp.gan.d_reg_every, r1_loss

        (_, value), grad = jax.value_and_grad(penalty, has_aux=True)(p)
        return value, grad

    r1_value = jnp.zeros((), jnp.float32)
    if hp.gan.use_r1:
        due = step % hp.gan.d_reg_every == 0
        r1_value, r1_grads = jax.lax.cond(due, r1, lambda p: (jnp.zeros((), jnp.float32), _zeros_like(p)), params)
        grads = jax.tree.map(jnp.add, grads, r1_grads)
    guarded_update(state.d, state.d_opt, loss + r1_value, grads)
    return {"loss/d": loss, "loss/r1": r1_value, "d/real_score": real_score, "d/fake_score": fake_score}


def g_phase(state: StyleGAN2State, b: int, step: jax.Array) -> dict[str, jax.Array]:
    hp = state.hparams
    graphdef, params, rest = _split(state.g)
    d = state.d

    def loss_fn(p):
        g = nnx.merge(graphdef, p, rest)
        wplus, noise = latents(g, hp, step, b, "g_latents")
        return jnp.mean(jax.nn.softplus(-d(g.synthesis(wplus, noise))))

    loss, grads = jax.value_and_grad(loss_fn)(params)

    def path(p, path_mean):
        pb = max(1, b // hp.gan.path_batch_shrink)

        def penalty(p):
            g = nnx.merge(graphdef, p, rest)
            wplus, noise = latents(g, hp, step, pb, "path_latents")
            s = g.size
            img_noise = jax.random.normal(step_key(hp.seed, step, "path_noise"), (pb, s, s, 3)) / s
            grad = jax.grad(lambda wp: jnp.sum(g.synthesis(wp, noise) * img_noise))(wplus)
            lengths = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grad), axis=2), axis=1))
            new_mean = path_mean + hp.gan.path_decay * (jnp.mean(lengths) - path_mean)
            pen = jnp.mean(jnp.square(lengths - new_mean))
            return hp.gan.path_regularize * hp.gan.g_reg_every * pen, (pen, jax.lax.stop_gradient(new_mean))

        (_, (pen, new_mean)), grad = jax.value_and_grad(penalty, has_aux=True)(p)
        return pen, new_mean, grad

    pen, path_mean = jnp.zeros((), jnp.float32), state.path_mean[...]
    weighted = jnp.zeros((), jnp.float32)
    if hp.gan.use_path:
        due = step % hp.gan.g_reg_every == 0
        skip = lambda p, m: (jnp.zeros((), jnp.float32), m, _zeros_like(p))  # noqa: E731
        pen, path_mean, p_grads = jax.lax.cond(due, path, skip, params, path_mean)
        grads = jax.tree.map(jnp.add, grads, p_grads)
        weighted = hp.gan.path_regularize * hp.gan.g_reg_every * pen
    ok = guarded_update(state.g, state.g_opt, loss + weighted, grads)
    state.path_mean[...] = jnp.where(ok, path_mean, state.path_mean[...])
    return {"loss/g": loss, "loss/path": pen, "path_length_mean": state.path_mean[...]}


def update_ema(state: StyleGAN2State) -> None:
    """g_ema ← β·g_ema + (1 − β)·g, over the generator's parameters."""
    beta = state.hparams.ema_beta
    ema = nnx.state(state.g_ema, Ema)
    new = jax.tree.map(lambda e, p: beta * e + (1 - beta) * p, nnx.to_pure_dict(ema),
                       nnx.to_pure_dict(nnx.state(state.g, nnx.Param)))
    nnx.replace_by_pure_dict(ema, new)
    nnx.update(state.g_ema, ema)


def real_images(state: StyleGAN2State, batch: dict, step: jax.Array) -> jax.Array:
    """The batch's images in [-1, 1], randomly mirrored when ``gan.flip``."""
    hp = state.hparams
    x = batch[hp.gan.image_key].astype(jnp.float32) * 2.0 - 1.0
    if hp.gan.flip:
        flip = jax.random.bernoulli(step_key(hp.seed, step, "flip"), 0.5, (x.shape[0], 1, 1, 1))
        x = jnp.where(flip, x[:, :, ::-1], x)
    return x


def samples(g: Generator, seed: int, n: int, truncation: float = 1.0) -> jax.Array:
    """``n`` images [n, S, S, 3] in [-1, 1] from fixed latents ``key(seed)`` and the fixed noise maps."""
    z = jax.random.normal(jax.random.key(seed), (n, g.style_dim))
    avg = g.mean_latent(jax.random.key(seed + 1)) if truncation < 1 else None
    return g(z, truncation=truncation, truncation_latent=avg)


class StyleGAN2(MethodBase):
    """The ``stylegan2`` Method (see ``fer_jax.core.method.Method``)."""

    name = "stylegan2"
    settings = SETTINGS
    evaluators = ()

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        """The training images only: ``gan.image_key`` [S, S, 3] in [0, 1]."""
        size = run.sections["model"].size
        return {run.sections["gan"].image_key: Feature((size, size, 3), role="identity_signal")}

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> StyleGAN2State:
        return StyleGAN2State(run, rngs)

    def train_step(self, state: StyleGAN2State, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        real = real_images(state, batch, step)
        metrics = d_phase(state, real, step)
        metrics.update(g_phase(state, real.shape[0], step))
        update_ema(state)
        return metrics

    def eval_step(self, state: StyleGAN2State, batch: dict) -> dict[str, jax.Array]:
        """The discriminator's logit of each real image (no evaluator reads it by default)."""
        x = batch[state.hparams.gan.image_key].astype(jnp.float32) * 2.0 - 1.0
        return {"d_logit": state.d(x)[:, 0]}

    def predictor(self, state: StyleGAN2State) -> Generator:
        return state.g_ema
