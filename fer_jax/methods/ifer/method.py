"""The ``ifer`` method: IFER's ASIT inversion encoder and its feature-modulation FER head, on the shared trainer.

Two stages, two configs linked by ``init_from`` (``configs/ifer/``):

* ``ifer.stage = "inversion"``: the encoder learns to invert a **frozen** StyleGAN2 decoder (``Frozen``:
  loaded by ``init_from`` from a ``stylegan2`` workdir's ``g_ema`` or a ``convert-stylegan2`` directory,
  never optimised, never checkpointed; LPIPS and the identity encoder are frozen too). One jitted step:
  the encoder update (1.0·L2 + 0.8·LPIPS + 0.1·(1 − cos ID) + 1e-4·L_adv + 0.01·L_align, the adversarial
  term *with* its gradient into the encoder), then the inversion discriminator's update on the same
  reconstructions (detached), then its EMA key network.
* ``ifer.stage = "fer"``: encoder (from the inversion run) + FER head, cross-entropy on label-smoothed,
  mixup/cutmix targets with AdamW; ``fer.finetune`` trains the encoder too, else the head alone. Without
  ``init_from`` the same network trains from scratch (ablation b); ``model.head = "linear"`` is ablation a.

Choices, and why:

* **Encoder phase first, then the discriminator on the same x̂**: one decoder pass per step (the decoder
  is the costliest network in the step); the discriminator sees reconstructions one update old, as a
  GAN's D does in rosinality's loop.
* **The decoder's average latent** is computed inside the first step (``jax.lax.cond``: later steps skip
  it) as the mean of ``inversion.latent_avg_samples`` mapped z from the fixed key 0, and kept in the
  encoder (``LatentAvg``): it is checkpointed with it, so resume, evaluation, serving and the FER stage
  (which loads the encoder and has no decoder) all see the same codes. ``init_from`` runs after
  ``create``, so it cannot be computed when the state is built.
* **Fixed noise maps** in the decoder: a reconstruction is a function of the image alone (evaluation,
  ``fer-jax invert``), and the encoder is not asked to explain per-step noise.
* **Images in [-1, 1]** (the decoder's range); LPIPS on images resized up to ``inversion.lpips_min_size``;
  the identity encoder sees [0, 1] images at its own input size, and its embedding of x is the target
  (no gradient).
* **Alignment target** (``inversion.align_target``): ``random_z`` (the default, as released): the decoder's
  features of a batch of random-z generations (fresh z and noise maps, no structure code, no gradient),
  so the encoder's branches are asked to arrange a batch of real faces as the decoder arranges its own
  samples, a distribution prior; ``reconstruction``: the decoder's features of x̂ itself, a per-image match
  (the pre-release choice, measured in the README).
* **Randomness** from ``step_key(seed, step, stream)``: mixup/cutmix (``"mix"``), GC ViT's stochastic depth
  (``"drop_path"``), the alignment's random z (``"align"``): exact resume, 1 device = N.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from fer_jax.core import init_from
from fer_jax.core.frozen import freeze
from fer_jax.core.method import Feature, MethodBase, ServingSpec
from fer_jax.core.settings import ConfigError, RunSettings
from fer_jax.methods.ifer import losses
from fer_jax.methods.ifer.model import AsitEncoder, Classifier, Embedder, LinearHead, ModulationHead, cosine
from fer_jax.methods.ifer.settings import DecoderSettings, FerSettings, IferSettings, InversionSettings, ModelSettings
from fer_jax.methods.stylegan2.method import Ema, as_ema
from fer_jax.models.lpips import LPIPS
from fer_jax.models.stylegan2 import Generator, channel_table
from fer_jax.train.optim import OptimSettings, guarded_update, make_tx
from fer_jax.train.rng import step_key

SETTINGS = {"ifer": IferSettings, "model": ModelSettings, "decoder": DecoderSettings, "inversion": InversionSettings,
            "fer": FerSettings, "optim": OptimSettings, "disc_optim": OptimSettings}
LATENT_AVG_KEY = 0  # the fixed key of the decoder's mean latent


@dataclasses.dataclass(frozen=True)
class Hparams:
    """What the steps read, static (part of the traced graph, not of the checkpoint)."""

    stage: str
    image_key: str
    inversion: InversionSettings
    fer: FerSettings
    seed: int
    num_classes: int
    identity_size: int


def identity_network(spec: str, seed: int) -> tuple[nnx.Module | None, int]:
    """The frozen face-recognition network of ``inversion.identity_encoder`` and its input size."""
    from fer_jax.identity.flax_backbone import FaceEmbedder, FlaxBackbone

    if not spec:
        return None, 0
    if spec == "random":
        return freeze(FaceEmbedder("tiny", 8, 32, rngs=nnx.Rngs(seed))), 32
    backbone = FlaxBackbone.from_checkpoint(spec)
    return freeze(backbone.model), backbone.input_size


def decoder_from_init(config: ml_collections.ConfigDict) -> bool:
    return any(dst.split("/")[0] == "decoder" for e in init_from.entries(config).values() for dst in e.load)


class IferState(nnx.Module):
    """Inversion: encoder, frozen decoder/LPIPS/identity, discriminator + EMA key, two optimizers.
    FER: the classifier (encoder + head) and its optimizer."""

    def __init__(self, run: RunSettings, rngs: nnx.Rngs):
        s = run.sections
        st, m, dec, inv = s["ifer"], s["model"], s["decoder"], s["inversion"]
        stated = "size" in (run.config.get("input") or {})  # a config that leaves input.size out: no check
        if stated and run.input.size != dec.size:
            raise ConfigError(f"input.size {run.input.size} must equal decoder.size {dec.size} (the decoder's "
                              "resolution)")
        ch = channel_table(dec.size, dec.channel_multiplier, dec.channel_max)
        n_latent = 2 * int(round(math.log2(dec.size))) - 2
        seed, total, num_classes = run.train.seed, run.train.total_steps, run.train.num_classes
        try:
            encoder = AsitEncoder(m.gcvit(), dec.size, n_latent, dec.style_dim, ch[4], m.fpn_dim, m.map2style,
                                  rngs=rngs)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        id_size = 0
        if st.stage == "inversion":
            if not inv.random_decoder and not decoder_from_init(run.config):
                raise ConfigError("the inversion stage needs the trained decoder: init_from an entry loading "
                                  "'decoder' (e.g. load={'decoder': 'g_ema'} from a stylegan2 workdir), or "
                                  "inversion.random_decoder = True for smoke runs")
            if inv.identity > 0 and not inv.identity_encoder:
                raise ConfigError("inversion.identity > 0 needs inversion.identity_encoder (a checkpoint directory "
                                  "of fer_jax.identity.pretrain), or set inversion.identity = 0")
            self.encoder = encoder
            self.decoder = freeze(Generator(dec.size, dec.style_dim, dec.n_mlp, dec.channel_multiplier,
                                            dec.channel_max, lr_mlp=dec.lr_mlp, rngs=rngs))
            self.lpips = LPIPS()
            self.identity, id_size = identity_network(inv.identity_encoder, seed)
            self.disc = Embedder(dec.size, dec.channel_multiplier, dec.channel_max, inv.disc_embed, rngs=rngs)
            key = nnx.clone(self.disc)  # own buffers: the trainer donates the state, no leaf may alias another
            nnx.update(key, jax.tree.map(lambda x: jnp.array(x, copy=True), nnx.state(key)))
            self.disc_key = as_ema(key)
            self.opt = nnx.Optimizer(self.encoder, make_tx(s["optim"], total), wrt=nnx.Param)
            self.disc_opt = nnx.Optimizer(self.disc, make_tx(s["disc_optim"], total), wrt=nnx.Param)
        else:
            if num_classes < 2:
                raise ConfigError(f"the fer stage needs num_classes >= 2, got {num_classes}")
            head = (ModulationHead(ch[4], dec.style_dim, m.head_width or ch[4], num_classes, rngs=rngs)
                    if m.head == "modulation" else LinearHead(dec.style_dim, num_classes, rngs=rngs))
            self.net = Classifier(encoder, head)
            self.opt = nnx.Optimizer(self.net if s["fer"].finetune else self.net.head, make_tx(s["optim"], total),
                                     wrt=nnx.Param)
        self.hparams = Hparams(st.stage, st.image_key, inv, s["fer"], seed, num_classes, id_size)


# --- inversion ----------------------------------------------------------------------------------


def images(batch: dict, key: str) -> jax.Array:
    """The batch's images in [-1, 1]."""
    return batch[key].astype(jnp.float32) * 2.0 - 1.0


def ensure_latent_avg(state: IferState) -> None:
    """Compute the decoder's mean latent once (first step), keep it in the encoder."""
    enc, n = state.encoder, state.hparams.inversion.latent_avg_samples
    compute = lambda: state.decoder.mean_latent(jax.random.key(LATENT_AVG_KEY), n)[0]  # noqa: E731
    enc.latent_avg[...] = jax.lax.cond(enc.avg_ready[...] > 0, lambda: enc.latent_avg[...], compute)
    enc.avg_ready[...] = jnp.ones((), jnp.float32)


def lpips_distance(lpips: LPIPS, a: jax.Array, b: jax.Array, min_size: int) -> jax.Array:
    """Per-example LPIPS, both batches resized up to ``min_size`` first when smaller."""
    if a.shape[1] < min_size:
        shape = (a.shape[0], min_size, min_size, 3)
        a, b = jax.image.resize(a, shape, "bilinear"), jax.image.resize(b, shape, "bilinear")
    return lpips(a, b)


def identity_embedding(net: nnx.Module, x: jax.Array, size: int) -> jax.Array:
    x01 = (x + 1.0) / 2.0
    if x01.shape[1] != size:
        x01 = jax.image.resize(x01, (x01.shape[0], size, size, 3), "bilinear")
    return net(x01)


def reconstruct(state: IferState, encoder: AsitEncoder, x: jax.Array, key: jax.Array | None = None):
    """(x̂, encoder FPN features, the decoder's features of x̂ at the same resolutions); ``key``: stochastic
    depth (training)."""
    wplus, structure, feats = encoder(x, key)
    x_hat, gen = state.decoder.synthesis(wplus, None, structure, return_features=True)
    return x_hat, feats, [gen[f.shape[1]] for f in feats]


def prior_features(state: IferState, batch: int, resolutions: list[int], key: jax.Array) -> list[jax.Array]:
    """The decoder's features of ``batch`` random-z generations (fresh noise maps, the learned constant
    input), at ``resolutions``, without gradient: the released alignment's target."""
    dec = state.decoder
    kz, kn = jax.random.split(key)
    wplus = dec.to_wplus(dec.mapping(jax.random.normal(kz, (batch, dec.style_dim))))
    _, gen = dec.synthesis(wplus, dec.random_noise(kn, batch), None, return_features=True)
    return [jax.lax.stop_gradient(gen[r]) for r in resolutions]


def reconstructions(model, images01: np.ndarray) -> np.ndarray:
    """The inversion state's reconstructions of [N, S, S, 3] images in [0, 1], in [0, 1]."""
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, x):
        m = nnx.merge(graphdef, state)
        return (reconstruct(m, m.encoder, x * 2.0 - 1.0)[0] + 1.0) / 2.0

    return np.asarray(run(state, jnp.asarray(images01, jnp.float32)))


def encoder_terms(state: IferState, encoder: AsitEncoder, x: jax.Array, step: jax.Array | int
                  ) -> tuple[dict[str, jax.Array], jax.Array]:
    """Every unweighted term of the encoder's loss at update ``step``, and x̂. The discriminator is read, not
    differentiated by the caller (its parameters are outside the differentiated tree), but x̂ is: L_adv
    reaches the encoder."""
    hp, seed = state.hparams.inversion, state.hparams.seed
    x_hat, feats, gen_feats = reconstruct(state, encoder, x, step_key(seed, step, "drop_path"))
    if hp.align_target == "random_z":
        gen_feats = prior_features(state, x.shape[0], [f.shape[1] for f in feats], step_key(seed, step, "align"))
    terms = {"l2": jnp.mean((x_hat - x) ** 2),
             "lpips": jnp.mean(lpips_distance(state.lpips, x_hat, x, hp.lpips_min_size)),
             "align": losses.alignment(feats, gen_feats, hp.align_temperature)}
    if state.identity is not None:
        size = state.hparams.identity_size
        target = jax.lax.stop_gradient(identity_embedding(state.identity, x, size))
        terms["identity"] = jnp.mean(1.0 - cosine(identity_embedding(state.identity, x_hat, size), target))
    else:
        terms["identity"] = jnp.zeros((), jnp.float32)
    key = jax.lax.stop_gradient(state.disc_key(x))
    terms["adv"] = losses.adversarial_loss(cosine(state.disc(x_hat), key))
    return terms, x_hat


WEIGHTS = {"l2": "l2", "lpips": "lpips", "identity": "identity", "adv": "adversarial", "align": "alignment"}


def weighted(terms: dict[str, jax.Array], hp: InversionSettings) -> jax.Array:
    return sum(getattr(hp, WEIGHTS[k]) * v for k, v in terms.items())


def inversion_step(state: IferState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
    hp = state.hparams
    x = images(batch, hp.image_key)
    ensure_latent_avg(state)
    graphdef, params, rest = nnx.split(state.encoder, nnx.Param, ...)

    def loss_fn(p):
        terms, x_hat = encoder_terms(state, nnx.merge(graphdef, p, rest), x, step)
        return weighted(terms, hp.inversion), (terms, x_hat)

    (loss, (terms, x_hat)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    guarded_update(state.encoder, state.opt, loss, grads)

    x_hat = jax.lax.stop_gradient(x_hat)
    key = jax.lax.stop_gradient(state.disc_key(x))
    d_graph, d_params, d_rest = nnx.split(state.disc, nnx.Param, ...)

    def d_loss_fn(p):
        q = nnx.merge(d_graph, p, d_rest)(jnp.concatenate([x, x_hat]))
        d_real, d_fake = jnp.split(cosine(q, jnp.concatenate([key, key])), 2)
        return losses.disc_loss(d_real, d_fake), (jnp.mean(d_real), jnp.mean(d_fake))

    (d_loss, (d_real, d_fake)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(d_params)
    guarded_update(state.disc, state.disc_opt, d_loss, d_grads)
    update_key(state)
    return {"loss/total": loss, **{f"loss/{k}": v for k, v in terms.items()}, "loss/disc": d_loss,
            "d/real": d_real, "d/fake": d_fake}


def update_key(state: IferState) -> None:
    """key ← m·key + (1 − m)·query (MoCo's momentum encoder)."""
    m = state.hparams.inversion.key_momentum
    ema = nnx.state(state.disc_key, Ema)
    new = jax.tree.map(lambda e, p: m * e + (1 - m) * p, nnx.to_pure_dict(ema),
                       nnx.to_pure_dict(nnx.state(state.disc, nnx.Param)))
    nnx.replace_by_pure_dict(ema, new)
    nnx.update(state.disc_key, ema)


# --- FER ------------------------------------------------------------------------------------------


def fer_step(state: IferState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
    hp, f = state.hparams, state.hparams.fer
    x, labels = images(batch, hp.image_key), batch["label"]
    x = losses.color_jitter(step_key(hp.seed, step, "jitter"), x, f.color_jitter)
    targets = losses.smooth_labels(labels, hp.num_classes, f.label_smoothing)
    x, targets, lam = losses.mix_batch(step_key(hp.seed, step, "mix"), x, targets, mixup=f.mixup, cutmix=f.cutmix,
                                       mix_prob=f.mix_prob, switch_prob=f.switch_prob)
    if f.finetune:
        target, key = state.net, step_key(hp.seed, step, "drop_path")
        loss_fn = lambda net: jnp.mean(optax.softmax_cross_entropy(net(x, key), targets))  # noqa: E731
    else:
        target = state.net.head
        codes = jax.lax.stop_gradient(state.net.codes(x))
        loss_fn = lambda head: jnp.mean(optax.softmax_cross_entropy(head(*codes), targets))  # noqa: E731
    loss, grads = nnx.value_and_grad(loss_fn)(target)
    guarded_update(target, state.opt, loss, grads)
    return {"loss/ce": loss, "mix/lambda": lam}


class Ifer(MethodBase):
    """The ``ifer`` Method (see ``fer_jax.core.method.Method``). Evaluation: ``classification`` of the
    FER stage's logits; the inversion configs name the ``reconstruction`` evaluator in ``evals``."""

    name = "ifer"
    settings = SETTINGS
    evaluators = ("classification",)

    def input_spec(self, run: RunSettings) -> dict[str, Feature]:
        """The images ``[S, S, 3]`` in [0, 1] (``ifer.image_key``), and the label in the fer stage."""
        st, size = run.sections["ifer"], run.sections["decoder"].size
        if st.stage == "inversion":
            return {st.image_key: Feature((size, size, 3), role="identity_signal")}
        return {st.image_key: Feature((size, size, 3)), "label": Feature((), "int32", "label")}

    def create(self, run: RunSettings, rngs: nnx.Rngs) -> IferState:
        return IferState(run, rngs)

    def train_step(self, state: IferState, batch: dict, step: jax.Array) -> dict[str, jax.Array]:
        if state.hparams.stage == "inversion":
            return inversion_step(state, batch, step)
        return fer_step(state, batch, step)

    def eval_step(self, state: IferState, batch: dict) -> dict[str, jax.Array]:
        """fer: ``logits``; inversion: per-example ``recon_mse`` (pixels in [0, 1]) and ``recon_lpips``."""
        hp = state.hparams
        x = images(batch, hp.image_key)
        if hp.stage == "fer":
            return {"logits": state.net(x)}
        x_hat, _, _ = reconstruct(state, state.encoder, x)
        mse = jnp.mean(((x_hat - x) / 2.0) ** 2, axis=(1, 2, 3))
        return {"recon_mse": mse, "recon_lpips": lpips_distance(state.lpips, x_hat, x, hp.inversion.lpips_min_size)}

    def predictor(self, state: IferState) -> nnx.Module:
        return state.net if state.hparams.stage == "fer" else state.encoder

    def serving_spec(self, run: RunSettings) -> ServingSpec:
        """One face image [S, S, 3] in [0, 1] -> class probabilities (the fer stage only)."""
        if run.sections["ifer"].stage != "fer":
            raise NotImplementedError("an ifer inversion workdir serves no classes: use `fer-jax invert IMG`")
        size = run.sections["decoder"].size
        return ServingSpec({"image": Feature((size, size, 3))}, "image", "probabilities", run.train.class_names,
                           {"size": size})

    def serve(self, predictor: Classifier, inputs: dict) -> jax.Array:
        return jax.nn.softmax(predictor(inputs["image"].astype(jnp.float32) * 2.0 - 1.0), axis=-1)
