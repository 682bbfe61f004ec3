"""The inversion stage through the shared trainer (test size, random images, random frozen decoder): a run
resumed from its checkpoint ends in exactly the state of an uninterrupted one, the checkpoints hold neither
the frozen decoder, LPIPS nor the identity network (they are rebuilt on restore), and the decoder's mean
latent is computed once and kept with the encoder."""

import os

import jax
import numpy as np
import pytest
from flax import nnx
from ifer_helpers import inversion_config, read_metrics

from fer_jax.core.checkpointing import Checkpoints
from fer_jax.core.frozen import Frozen
from fer_jax.train.trainer import train

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("persistent_compile_cache")]  # the runs compile one step
STEPS = 3


def _config(steps=STEPS):
    return inversion_config(**{"total_steps": steps, "ckpt_every": 1, "eval_every": 0, "best_metric": ""})


def _bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def test_resume_is_exact_and_frozen_parts_stay_out_of_checkpoints(tmp_path):
    ref = train(_config(), str(tmp_path / "ref"))
    rows = read_metrics(str(tmp_path / "ref"))
    assert [r["step"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert all(np.isfinite(v) for k, v in r.items() if k.startswith("loss")), r
        assert r["loss/adv"] > 0 and r["loss/identity"] > 0 and r["loss/align"] >= 0
    model = ref["model"]
    assert float(model.encoder.avg_ready[...]) == 1.0
    want_avg = model.decoder.mean_latent(jax.random.key(0), 256)[0]
    np.testing.assert_allclose(np.asarray(model.encoder.latent_avg[...]), np.asarray(want_avg), rtol=1e-5, atol=1e-6)

    train(_config(steps=1), str(tmp_path / "resumed"))
    resumed = train(_config(), str(tmp_path / "resumed"))
    assert read_metrics(str(tmp_path / "resumed")) == rows
    for a, b in zip(jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(resumed["model"]))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    ck = Checkpoints(str(tmp_path / "ref"), every=1, keep=1, read_only=True)
    try:
        raw = ck.restore_raw("latest")
    finally:
        ck.close()
    saved = set(raw["state"] if "state" in raw else raw)
    assert {"encoder", "disc", "disc_key", "opt", "disc_opt"} <= saved
    assert not saved & {"decoder", "lpips", "identity"}
    frozen = sum(x.nbytes for x in jax.tree.leaves(nnx.state(model, Frozen)))
    step_dir = os.path.join(str(tmp_path / "ref"), "checkpoints", "3")
    assert _bytes(step_dir) < frozen / 4  # the 9.7 MB of LPIPS weights alone dwarf the trained state
