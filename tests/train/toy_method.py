"""A tiny Method for testing the shared trainer without any real model.

A 2-layer MLP classifier over segment-averaged residuals, plus an auxiliary head that predicts the
identity embedding from the hidden features. Like MI-FER's min-min game, ONE jitted step runs two
optimizers over disjoint parameters in turn: first the auxiliary head (``loss/aux``), then the
classifier body and head (``loss/ce`` + a small term pushing the auxiliary loss up).

Test knobs (``config.toy``): ``dropout`` (rate on the hidden features, keys by ``fer_jax.train.rng``),
``lr`` (the classifier's), ``nan_at_step`` (0-based update index from which ``loss/ce`` is NaN),
``sleep`` (seconds slept per step via a host callback, to give a kill -9 test time to strike).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase, ServingSpec
from fer_jax.train.rng import step_key


@dataclasses.dataclass(frozen=True)
class ToySettings:
    hidden: int = 16
    nan_at_step: int = -1
    sleep: float = 0.0
    dropout: float = 0.0  # on the hidden features in training, keys by fer_jax.train.rng
    lr: float = 1e-2  # the classifier's Adam


class ToyState(nnx.Module):
    def __init__(self, run, rngs: nnx.Rngs):
        s, hidden = run.input.size, run.toy.hidden
        dim = run.input.random.identity_dim
        self.body = nnx.Linear(s * s * 3, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, run.train.num_classes, rngs=rngs)
        self.aux = nnx.Linear(hidden, dim, rngs=rngs)
        lr = run.toy.lr
        self.classifier_opt = nnx.Optimizer(self, optax.adam(lr), wrt=nnx.All(nnx.Param, nnx.Not(nnx.PathContains("aux"))))
        self.aux_opt = nnx.Optimizer(self, optax.sgd(1e-1), wrt=nnx.All(nnx.Param, nnx.PathContains("aux")))

    def features(self, batch):
        x = batch["residuals"].mean(axis=1).reshape(batch["residuals"].shape[0], -1)
        return jax.nn.relu(self.body(x))


class ToyMethod(MethodBase):
    name = "toy"
    settings = {"toy": ToySettings}

    def input_spec(self, run):
        s, k = run.input.size, run.input.segments
        return {"residuals": Feature((k, s, s, 3)), "identity_embedding": Feature(
            (run.input.random.identity_dim,), role="embedding"), "label": Feature((), "int32", "label"),
            "identity": Feature((), "int32", "identity")}

    def serving_spec(self, run):
        s, k = run.input.size, run.input.segments
        return ServingSpec({"residuals": Feature((k, s, s, 3))}, "compressed", "probabilities",
                           run.train.class_names, {"size": s, "segments": k})

    def serve(self, predictor, inputs):
        return jax.nn.softmax(predictor.head(predictor.features(inputs)), axis=-1)

    def create(self, run, rngs):
        self.run = run
        return ToyState(run, rngs)

    def train_step(self, state, batch, step):
        toy = self.run.toy
        if toy.sleep:
            jax.debug.callback(lambda: time.sleep(toy.sleep))
        target = batch["identity_embedding"]

        def aux_loss(aux, feats):
            return jnp.mean((aux(feats) - target) ** 2)

        feats = jax.lax.stop_gradient(state.features(batch))
        la, grads = nnx.value_and_grad(aux_loss)(state.aux, feats)
        state.aux_opt.update(state, nnx.State({"aux": grads}))

        def cls_loss(model):
            f = model.features(batch)
            rate = toy.dropout
            if rate > 0:  # the one randomness rule: keys from (seed, step, stream), nothing carried
                keep = jax.random.bernoulli(step_key(self.run.train.seed, step, "dropout"), 1 - rate, f.shape)
                f = jnp.where(keep, f / (1 - rate), 0.0)
            logits = model.head(f)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
            return ce - 0.01 * jnp.mean((model.aux(f) - target) ** 2), (ce, logits)

        diff = nnx.DiffState(0, nnx.All(nnx.Param, nnx.Not(nnx.PathContains("aux"))))
        (_, (ce, logits)), grads = nnx.value_and_grad(cls_loss, argnums=diff, has_aux=True)(state)
        state.classifier_opt.update(state, grads)
        nan_at = toy.nan_at_step
        if nan_at >= 0:
            ce = jnp.where(step >= nan_at, jnp.nan, ce)
        acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return {"loss/ce": ce, "loss/aux": la, "accuracy": acc}

    def eval_step(self, state, batch):
        f = state.features(batch)
        return {"logits": state.head(f), "features": f}

    def predictor(self, state):
        return state
