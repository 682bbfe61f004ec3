"""The ``stylegan2`` method through the shared trainer: a tiny generator trains with both lazy
regularisers firing, losses stay finite, and a run resumed from its checkpoint ends in exactly the
state of an uninterrupted one (same batches, same per-step keys)."""

import json
import os

import jax
import numpy as np
import pytest
from flax import nnx

from configs.stylegan2.synthface import get_config
from data_pipelines.synthface_stills import render_stills
from fer_jax.core.array_iterator import ArrayIterator
from fer_jax.core.settings import ConfigError, parse
from fer_jax.methods.stylegan2.method import Ema, StyleGAN2, samples
from fer_jax.train.trainer import train

STEPS = 4


def _config(steps=STEPS):
    c = get_config(f"tiny,size=16,steps={steps},batch=4")
    c.model.update(style_dim=16, n_mlp=1, channel_multiplier=0.0625, channel_max=16)
    c.gan.update(d_reg_every=2, g_reg_every=2, image_key="image")  # both regularisers fire in 4 steps
    c.ckpt_every, c.log_every, c.progress_bar, c.tensorboard, c.async_checkpoints = 2, 1, False, False, False
    return c


@pytest.fixture(scope="module")
def stills():
    images = render_stills(2, 32)["image"].astype(np.float32) / 255.0  # SynthFace renders >= 32 px
    return {"image": images.reshape(-1, 16, 2, 16, 2, 3).mean(axis=(2, 4))}


pytestmark = pytest.mark.usefixtures("persistent_compile_cache")  # the runs compile the same step


def _run(workdir, stills, steps=STEPS):
    it = ArrayIterator(stills, 4, seed=0)
    return train(_config(steps), str(workdir), train_iter=it)


def _metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows if r.get("split") == "train"]


@pytest.mark.slow
def test_trains_with_regularisers_and_resumes_exactly(tmp_path, stills):
    ref = _run(tmp_path / "ref", stills)
    rows = _metrics(tmp_path / "ref")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert all(np.isfinite(v) for k, v in r.items() if k.startswith("loss")), r
    assert rows[0]["loss/r1"] > 0 and rows[2]["loss/r1"] > 0 and rows[1]["loss/r1"] == 0  # steps 0, 2: R1
    assert rows[0]["loss/path"] > 0 and rows[3]["loss/path"] == 0
    assert rows[-1]["path_length_mean"] > 0

    model = ref["model"]
    g, g_ema = nnx.to_pure_dict(nnx.state(model.g, nnx.Param)), nnx.to_pure_dict(nnx.state(model.g_ema, Ema))
    moved = [float(np.abs(a - b).max()) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ema))]
    assert max(moved) > 0  # the EMA lags the trained generator
    assert len(jax.tree.leaves(nnx.state(model.g_ema, nnx.Param))) == 0  # EMA weights are not Params

    _run(tmp_path / "resumed", stills, steps=2)
    resumed = _run(tmp_path / "resumed", stills)
    assert _metrics(tmp_path / "resumed") == rows
    want, got = jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(resumed["model"]))
    for a, b in zip(want, got):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    images = np.asarray(samples(model.g_ema, seed=0, n=4))
    assert images.shape == (4, 16, 16, 3) and np.isfinite(images).all()


def test_config_errors_and_input_spec():
    c = get_config("tiny")
    method = StyleGAN2()
    assert method.input_spec(parse(c, method))["apex_frame"].shape == (32, 32, 3)
    c.gan.r_one = 1.0
    with pytest.raises(ConfigError, match="gan.r_one"):
        method.create(parse(c, method), nnx.Rngs(0))
    c = get_config("tiny")
    c.input.size = 64
    with pytest.raises(ConfigError, match="input.size 64 must equal model.size 32"):
        method.create(parse(c, method), nnx.Rngs(0))
    c = get_config("tiny,size=48")
    with pytest.raises(ConfigError, match="power of two"):
        method.create(parse(c, method), nnx.Rngs(0))
