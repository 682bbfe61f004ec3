"""Toy methods that read one signal key other than residuals: a still-image classifier (``image``) and a
decoded-frame classifier (``frames``). Each averages its input over every axis but the colour one and
classifies the colour means with a small MLP: enough to fit the class-coloured fixtures of
tests/data/input_fixtures.py through the shared trainer and tf.data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase


class ColourMLP(nnx.Module):
    def __init__(self, num_classes: int, rngs: nnx.Rngs):
        self.body = nnx.Linear(3, 16, rngs=rngs)
        self.head = nnx.Linear(16, num_classes, rngs=rngs)
        self.opt = nnx.Optimizer(self, optax.adam(3e-2), wrt=nnx.Param)

    def __call__(self, x: jax.Array) -> jax.Array:
        means = x.reshape(x.shape[0], -1, 3).mean(1)
        return self.head(jax.nn.relu(self.body(4.0 * (means - 0.5))))


class _ColourMethod(MethodBase):
    key = ""

    def signal(self, run) -> Feature:
        raise NotImplementedError

    def input_spec(self, run):
        return {self.key: self.signal(run), "label": Feature((), "int32", "label")}

    def create(self, run, rngs):
        return ColourMLP(run.train.num_classes, rngs)

    def train_step(self, state, batch, step):
        def loss_fn(model):
            logits = model(batch[self.key])
            return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean(), logits

        (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(state)
        state.opt.update(state, grads)
        return {"loss/ce": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["label"])}

    def eval_step(self, state, batch):
        return {"logits": state(batch[self.key])}

    def predictor(self, state):
        return state


class ImageToy(_ColourMethod):
    name, key = "image_toy", "image"

    def signal(self, run):
        s = run.input.size
        return Feature((s, s, 3))


class FramesToy(_ColourMethod):
    name, key = "frames_toy", "frames"

    def signal(self, run):
        s, t = run.input.size, run.input.segments * run.input.frames_per_segment
        return Feature((t, s, s, 3))
