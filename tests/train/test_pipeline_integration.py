"""The trainer on the real tf.data pipeline (the input-pipeline tests' toy TFDS dataset): a run
stopped at step 3 and continued to step 6 reproduces an uninterrupted 6-step run, evaluations
included, so the pipeline's iterator state round-trips through the trainer's checkpoints."""

import logging
import os
import sys

import ml_collections
import pytest
import toy_config
from train_helpers import read_metrics, without_timing

from fer_jax.train.trainer import train

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data"))
toy_dataset = pytest.importorskip("toy_dataset")  # tests/data/toy_dataset.py, skipped only if absent


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tfds"))
    toy_dataset.build_toy(d)
    return d


def _config(data_dir, total_steps):
    c = toy_config.get_config()
    c.input = ml_collections.ConfigDict(dict(
        toy_dataset.input_cfg(data_dir, batch_size=4, eval_batch_size=4),
        split_train="train", split_val="val", random=dict(identity_dim=8)))
    c.num_classes, c.class_names = 3, ("a", "b", "c")
    c.total_steps, c.ckpt_every, c.eval_every = total_steps, 3, 3
    return c


def test_pipeline_resume_reproduces_uninterrupted_run(data_dir, tmp_path, caplog):
    ref, split = str(tmp_path / "ref"), str(tmp_path / "split")
    train(_config(data_dir, 6), ref)
    train(_config(data_dir, 3), split)
    caplog.set_level(logging.INFO, logger="fer_jax")
    result = train(_config(data_dir, 6), split)
    assert "resumed from step 3" in caplog.text
    want, got = without_timing(read_metrics(ref, None)), without_timing(read_metrics(split, None))
    assert [(r["step"], r["split"]) for r in want] == [(s, "train") for s in (1, 2, 3)] + [(3, "val")] + \
        [(s, "train") for s in (4, 5, 6)] + [(6, "val")]
    assert got == want
    assert result["val"]["val/num_examples"] == toy_dataset.ToyClips.N["val"]  # padding dropped
