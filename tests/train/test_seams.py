"""The trainer's seams every method relies on: the config check (unknown keys are errors), starting
from another run (``init_from``), frozen sub-modules kept out of checkpoints, and the per-step
randomness rule. Each runs the real trainer on the toy method (random data, a few steps)."""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import toy_config
from flax import nnx

from fer_jax.core import init_from
from fer_jax.core.frozen import Frozen, freeze
from fer_jax.core.method import Feature, MethodBase
from fer_jax.core.settings import ConfigError, apply_overrides, parse
from fer_jax.core.workdir import restore
from fer_jax.train.rng import step_key, step_rngs
from fer_jax.train.trainer import train


def _config(**top):
    c = toy_config.get_config()
    c.method = "toy_method:ToyMethod"
    c.total_steps, c.eval_every, c.ckpt_every = 4, 4, 4
    for k, v in top.items():
        setattr(c, k, v)
    return c


# --- the config check ------------------------------------------------------------------------------


@pytest.mark.parametrize("where, key, message", [
    ("", "totl_steps", "unknown config key totl_steps (did you mean 'total_steps'?)"),
    ("toy", "hiden", "unknown config key toy.hiden (did you mean 'hidden'?)"),
    ("init_from", "x", "unknown config key init_from.x.sorce (did you mean 'source'?)"),
    ("input", "batch_sise", "unknown config key input.batch_sise (did you mean 'batch_size'?)"),
    ("evals", "test", "unknown config key evals.test.splt (did you mean 'split'?)"),
])
def test_a_misspelt_key_stops_the_run_before_anything_is_built(tmp_path, where, key, message):
    c = _config()
    if where == "":
        c[key] = 3
    elif where == "toy":
        c.toy[key] = 3
    elif where == "input":
        c.input[key] = 3
    elif where == "evals":
        c.evals = {key: dict(splt="val")}
    else:
        c.init_from = {key: dict(sorce="x", load={"a": "a"})}
    with pytest.raises(ConfigError) as e:
        train(c, str(tmp_path / "wd"))
    assert message in str(e.value)
    assert not os.path.exists(tmp_path / "wd")  # nothing was written



def test_overrides_set_typed_values_and_name_an_unknown_key():
    """``apply_overrides`` (``stills_run --set``, ``fer-jax demo --set``) is the Python twin of
    ``fer-jax train --config.KEY=VALUE``: literals are parsed, other text stays a string, and a key the
    config lacks is an error naming it (not a new field that nothing reads)."""
    c = _config()
    apply_overrides(c, ["total_steps=7", "toy.hidden=5", "input.dataset=random"])
    assert (c.total_steps, c.toy.hidden, c.input.dataset) == (7, 5, "random")
    for item, message in (("toy.hiden=5", "unknown config key toy.hiden (did you mean 'hidden'?)"),
                          ("tyo.hidden=5", "unknown config key tyo"), ("total_steps", "KEY=VALUE")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            apply_overrides(c, [item])
    assert c.toy.hidden == 5 and "hiden" not in c.toy

# --- init_from: a two-stage run --------------------------------------------------------------------


def _params(module, name):
    return {k: np.asarray(v[...]) for k, v in vars(getattr(module, name)).items() if isinstance(v, nnx.Param)}


def test_stage_two_starts_from_stage_one_via_init_from(tmp_path):
    stage1 = train(_config(), str(tmp_path / "stage1"))["model"]
    c = _config(seed=7)  # another seed: without init_from its body would differ
    c.toy.lr = 0.0  # the classifier body does not move in stage 2, so what it starts from is visible
    c.init_from = {"stage1": dict(source=str(tmp_path / "stage1"), checkpoint="latest", load={"body": "body"})}
    stage2 = train(c, str(tmp_path / "stage2"))["model"]
    for k, v in _params(stage1, "body").items():
        np.testing.assert_array_equal(_params(stage2, "body")[k], v)
    fresh = train(_config(seed=7), str(tmp_path / "fresh"))["model"]
    assert not np.allclose(_params(fresh, "body")["kernel"], _params(stage1, "body")["kernel"])

    # A resumed stage 2 takes its state from its own checkpoint: stage 1 may be gone by then.
    import shutil

    shutil.copytree(tmp_path / "stage1", tmp_path / "stage1_copy")
    shutil.rmtree(tmp_path / "stage1")
    c.total_steps = 6
    resumed = train(c, str(tmp_path / "stage2"))
    assert resumed["step"] == 6
    np.testing.assert_array_equal(_params(resumed["model"], "body")["kernel"], _params(stage2, "body")["kernel"])
    # A wrong mapping is an error naming both sides, before training.
    bad = _config()
    bad.init_from = {"s": dict(source=str(tmp_path / "stage1_copy"), load={"body": "head"})}
    with pytest.raises(ValueError, match=r"body/\w+ has shape \(\d+,?\d*\) here, .* in the source"):
        train(bad, str(tmp_path / "bad"))
    missing = _config()
    missing.init_from = {"s": dict(source=str(tmp_path / "nowhere"), load={"body": "body"})}
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(missing, str(tmp_path / "missing"))


def test_init_from_reads_a_weights_directory(tmp_path):
    weights = {"encoder": {"kernel": np.full((48, 16), 0.5, np.float32), "bias": np.ones(16, np.float32)}}
    init_from.save_weights(str(tmp_path / "converted"), weights)
    c = _config()
    c.init_from = {"w": dict(source=str(tmp_path / "converted"), load={"body": "encoder"})}
    method = toy_method()
    model = method.create(parse(c, method), nnx.Rngs(0))
    assert init_from.apply(c, model) == {"w": 2}
    np.testing.assert_array_equal(np.asarray(model.body.kernel[...]), weights["encoder"]["kernel"])


def toy_method():
    from toy_method import ToyMethod

    return ToyMethod()


# --- frozen sub-modules ----------------------------------------------------------------------------


class TeacherState(nnx.Module):
    """A student trained to match a frozen 1024x1024 teacher (4 MiB of float32)."""

    def __init__(self, run, rngs):
        s, k = run.input.size, run.input.segments
        self.proj = nnx.Linear(k * s * s * 3, 1024, rngs=rngs)
        self.teacher = freeze(nnx.Linear(1024, 1024, rngs=nnx.Rngs(123)))  # stands for shipped weights
        self.student = nnx.Linear(1024, 1024, rngs=rngs)
        self.head = nnx.Linear(1024, run.train.num_classes, rngs=rngs)
        self.opt = nnx.Optimizer(self, optax.adam(1e-3), wrt=nnx.Param)

    def __call__(self, x):
        return self.proj(x.reshape(x.shape[0], -1))


class TeacherMethod(MethodBase):
    name = "teacher"

    def create(self, run, rngs):
        return TeacherState(run, rngs)

    def input_spec(self, run):
        s, k = run.input.size, run.input.segments
        return {"residuals": Feature((k, s, s, 3)), "label": Feature((), "int32", "label")}

    def train_step(self, state, batch, step):
        def loss_fn(m):
            h = jax.nn.relu(m(batch["residuals"]))
            match = jnp.mean((m.student(h) - m.teacher(h)) ** 2)
            ce = optax.softmax_cross_entropy_with_integer_labels(m.head(h), batch["label"]).mean()
            return match + ce

        loss, grads = nnx.value_and_grad(loss_fn)(state)
        state.opt.update(state, grads)
        return {"loss": loss}

    def eval_step(self, state, batch):
        h = jax.nn.relu(state(batch["residuals"]))
        return {"logits": state.head(h), "features": h}

    def predictor(self, state):
        return state


def _bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def test_frozen_submodule_is_neither_trained_nor_checkpointed(tmp_path):
    c = _config(method="test_seams:TeacherMethod", best_metric="")
    del c["toy"]  # a section of the toy method, not of this one: it would be an unknown key
    c.input.size = 8
    model = train(c, str(tmp_path / "wd"))["model"]
    teacher0 = np.asarray(nnx.Linear(1024, 1024, rngs=nnx.Rngs(123)).kernel[...])
    np.testing.assert_array_equal(np.asarray(model.teacher.kernel[...]), teacher0)  # never updated
    assert isinstance(model.teacher.kernel, Frozen)
    # On disk: the checkpoint holds the student (4 MiB) + its Adam moments (8 MiB), not the teacher.
    ckpt = tmp_path / "wd" / "checkpoints" / "4"
    trained = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))) * 4
    assert _bytes(ckpt) < 3 * trained + 2**20  # params + two moments, + metadata; the teacher would add 4 MiB
    assert _bytes(ckpt) > 3 * trained * 0.5  # (the checkpoint is not empty either)
    # And it comes back on restore, from where create() loads it.
    restored = restore(str(tmp_path / "wd"), "latest")
    np.testing.assert_array_equal(np.asarray(restored.state.teacher.kernel[...]), teacher0)
    np.testing.assert_array_equal(np.asarray(restored.state.student.kernel[...]),
                                  np.asarray(model.student.kernel[...]))


# --- randomness ------------------------------------------------------------------------------------


def test_step_keys_depend_on_seed_step_and_stream_only():
    a = jax.random.uniform(step_key(0, 5, "dropout"), (4,))
    np.testing.assert_array_equal(a, jax.random.uniform(step_key(0, 5, "dropout"), (4,)))
    for other in (step_key(1, 5, "dropout"), step_key(0, 6, "dropout"), step_key(0, 5, "augment")):
        assert not np.allclose(a, jax.random.uniform(other, (4,)))
    rngs = step_rngs(0, 5, "dropout", "augment")  # for modules that take nnx.Rngs: streams stay apart
    assert not np.allclose(jax.random.uniform(rngs.dropout(), (4,)), jax.random.uniform(rngs.augment(), (4,)))
    # Under jit with a traced step, the same key as on the host.
    traced = jax.jit(lambda s: jax.random.uniform(step_key(0, s, "dropout"), (4,)))(jnp.int32(5))
    np.testing.assert_array_equal(traced, a)
