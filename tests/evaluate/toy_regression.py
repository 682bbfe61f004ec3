"""A tiny regression Method (AU-intensity-like) for testing evaluation through the shared trainer.

Per-frame linear regression of ``targets`` [T, A] from ``x`` [T, F]; the loss and the evaluation skip
targets where ``target_mask`` is 0 (coded -1, as the AU data path codes them). ``eval_step`` gives
``predictions``, ``targets`` and ``target_mask`` per example, which is what the ``regression``
evaluator reads. Runs on the ``random`` dataset (built from ``input_spec``) or on :func:`arrays`.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from fer_jax.core.method import Feature, MethodBase


@dataclasses.dataclass(frozen=True)
class ToyRegressionSettings:
    frames: int = 4
    features: int = 16


class ToyRegressor(nnx.Module):
    def __init__(self, features: int, targets: int, rngs: nnx.Rngs):
        self.linear = nnx.Linear(features, targets, rngs=rngs)
        self.opt = nnx.Optimizer(self, optax.adam(5e-2), wrt=nnx.Param)


class ToyRegression(MethodBase):
    name = "toy_regression"
    evaluators = ("regression",)
    settings = {"toy": ToyRegressionSettings}

    def input_spec(self, run):
        t, f, a = run.toy.frames, run.toy.features, len(run.train.target_names)
        return {"x": Feature((t, f)), "targets": Feature((t, a), role="target"),
                "target_mask": Feature((t, a), role="target_mask"), "label": Feature((), "int32", "label")}

    def create(self, run, rngs):
        return ToyRegressor(run.toy.features, len(run.train.target_names), rngs)

    def train_step(self, state, batch, step):
        mask = batch["target_mask"]

        def loss_fn(model):
            err = (model.linear(batch["x"]) - batch["targets"]) ** 2
            return jnp.sum(err * mask) / jnp.maximum(jnp.sum(mask), 1.0)

        loss, grads = nnx.value_and_grad(loss_fn)(state)
        state.opt.update(state, grads)
        return {"loss/mse": loss}

    def eval_step(self, state, batch):
        return {"predictions": state.linear(batch["x"]), "targets": batch["targets"],
                "target_mask": batch["target_mask"]}

    def predictor(self, state):
        return state


def config(**overrides) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(dict(
        method="toy_regression:ToyRegression", seed=0, total_steps=30, log_every=10, eval_every=15,
        ckpt_every=15, keep_ckpts=1, best_metric="val/icc_mean", best_mode="max", progress_bar=False,
        tensorboard=False, num_classes=3, target_names=("AU01", "AU02", "AU04"),
        toy=dict(frames=4, features=16), input=dict(dataset="random", split_train="train", split_val="val",
                                                    batch_size=8, eval_batch_size=8,
                                                    random=dict(num_train=48, num_val=20))))
    c.update(overrides)
    return c


def arrays(n: int, seed: int, coded: float = 0.7) -> dict[str, np.ndarray]:
    """In memory: ``x`` [n, T, F], ``targets`` = a fixed linear map of x + noise, -1 where not coded
    (``target_mask`` 0), ``label`` 0."""
    rng = np.random.default_rng(seed)
    c = config()
    x = rng.normal(size=(n, c.toy.frames, c.toy.features)).astype(np.float32)
    w = np.random.default_rng(123).normal(size=(c.toy.features, len(c.target_names)))
    y = (x @ w + 0.3 * rng.normal(size=(n, c.toy.frames, len(c.target_names))) + 2.5).astype(np.float32)
    mask = (rng.uniform(size=y.shape) < coded).astype(np.float32)
    return {"x": x, "targets": np.where(mask > 0, np.clip(y, 0, 5), -1.0).astype(np.float32), "target_mask": mask,
            "label": np.zeros(n, np.int32)}
