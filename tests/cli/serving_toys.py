"""Two tiny non-MI-FER methods for the serving tests: a still-image classifier and a frames regressor.

``ToyImageClassifier``: image [S, S, 3] -> MLP -> class probabilities (input group ``image``).
``ToyFramesRegressor``: frames [T, S, S, 3] -> per-frame MLP features averaged over time -> named
values, e.g. AU intensities (input group ``frames``; ``config.toy.output = "embedding"`` serves the
L2-normalised pooled features instead). Both train with Adam from in-memory arrays.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase, ServingSpec

HIDDEN = 8


class Mlp(nnx.Module):
    def __init__(self, din: int, dout: int, rngs: nnx.Rngs):
        self.body = nnx.Linear(din, HIDDEN, rngs=rngs)
        self.head = nnx.Linear(HIDDEN, dout, rngs=rngs)

    def features(self, x):  # x [N, ...] -> [N, HIDDEN]
        return jnp.tanh(self.body(x.reshape(x.shape[0], -1)))

    def __call__(self, x):
        return self.head(self.features(x))


class FrameMlp(Mlp):
    def features(self, frames):  # [B, T, S, S, 3] -> mean over T of per-frame features
        b, t = frames.shape[:2]
        return super().features(frames.reshape((b * t,) + frames.shape[2:])).reshape(b, t, -1).mean(1)


class ToyState(nnx.Module):
    def __init__(self, net: nnx.Module):
        self.net = net
        self.opt = nnx.Optimizer(net, optax.adam(1e-2), wrt=nnx.Param)


class ToyImageClassifier(MethodBase):
    name = "toy_image"

    def input_spec(self, run):
        s = run.input.size
        return {"image": Feature((s, s, 3)), "label": Feature((), "int32", "label")}

    def serving_spec(self, run):
        s = run.input.size
        return ServingSpec({"image": Feature((s, s, 3))}, "image", "probabilities", run.train.class_names,
                           {"size": s})

    def serve(self, predictor, inputs):
        return jax.nn.softmax(predictor(inputs["image"]), axis=-1)

    def create(self, run, rngs):
        s = run.input.size
        return ToyState(Mlp(s * s * 3, run.train.num_classes, rngs))

    def train_step(self, state, batch, step):
        def loss(net):
            return optax.softmax_cross_entropy_with_integer_labels(net(batch["image"]), batch["label"]).mean()

        value, grads = nnx.value_and_grad(loss)(state.net)
        state.opt.update(state.net, grads)
        return {"loss/ce": value}

    def eval_step(self, state, batch):
        return {"logits": state.net(batch["image"])}

    def predictor(self, state):
        return state.net


@dataclasses.dataclass(frozen=True)
class ToyFramesSettings:
    output: str = "values"  # or "embedding"


class NoServing(ToyImageClassifier):
    """The image classifier without a serving spec (MethodBase's default: it cannot be served)."""

    serving_spec = MethodBase.serving_spec


class ToyFramesRegressor(MethodBase):
    name = "toy_frames"
    settings = {"toy": ToyFramesSettings}
    evaluators = ()

    def input_spec(self, run):
        s, t = run.input.size, run.input.frames
        return {"frames": Feature((t, s, s, 3)), "au": Feature((len(run.train.target_names),), role="target")}

    def serving_spec(self, run):
        s, t = run.input.size, run.input.frames
        output = run.toy.output
        return ServingSpec({"frames": Feature((t, s, s, 3))}, "frames", output,
                           run.train.target_names if output == "values" else (),
                           {"size": s, "frames": t, "window": 6})

    def serve(self, predictor, inputs):
        if self.output == "embedding":
            f = predictor.features(inputs["frames"])
            return f / jnp.linalg.norm(f, axis=-1, keepdims=True)
        return predictor(inputs["frames"])

    def create(self, run, rngs):
        s = run.input.size
        self.output = run.toy.output
        return ToyState(FrameMlp(s * s * 3, len(run.train.target_names), rngs))

    def train_step(self, state, batch, step):
        def loss(net):
            return jnp.mean((net(batch["frames"]) - batch["au"]) ** 2)

        value, grads = nnx.value_and_grad(loss)(state.net)
        state.opt.update(state.net, grads)
        return {"loss/mse": value}

    def eval_step(self, state, batch):
        return {"predictions": state.net(batch["frames"])}

    def predictor(self, state):
        return state.net
