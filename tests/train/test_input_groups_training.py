"""The shared trainer on feature groups other than the compressed one: a still-image and a decoded-frame
toy method trained through tf.data on fixtures built with the real builders, and the ``random``
dataset built from a method's input spec."""

import os
import sys

import ml_collections
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "data"))  # builder fixtures live in tests/data

from fer_jax.core.data import make_iterator, random_arrays  # noqa: E402
from fer_jax.core.method import Feature  # noqa: E402
from fer_jax.core.settings import parse  # noqa: E402


def config(method: str, data_dir: str, dataset: str, split_val: str, **input_kw) -> ml_collections.ConfigDict:
    import input_fixtures as fx

    c = ml_collections.ConfigDict()
    c.method = f"input_group_methods:{method}"
    c.seed, c.num_classes, c.class_names = 0, fx.CLASSES, ("r", "g", "b")
    c.total_steps, c.log_every, c.eval_every, c.ckpt_every, c.keep_ckpts = 24, 1, 0, 100, 1
    c.progress_bar, c.tensorboard, c.async_checkpoints = False, False, False
    c.input = ml_collections.ConfigDict(fx.input_cfg(data_dir, dataset, split_train="train", split_val=split_val,
                                                            **input_kw))
    return c


@pytest.mark.parametrize("method,dataset,split_val,kw", [
    ("ImageToy", "rafdb", "test", {}),
    ("FramesToy", "synthface", "val", dict(segments=2, frames_per_segment=2)),
])
def test_trainer_through_tf_data(tmp_path, method, dataset, split_val, kw):
    import input_fixtures as fx

    from fer_jax.train.trainer import train

    data = str(tmp_path / "tfds")
    if dataset == "rafdb":
        fx.build_stills(data, str(tmp_path / "raf"))
    else:
        fx.build_synth(data, str(tmp_path / "source"), store_frames=True)
    out = train(config(method, data, dataset, split_val, **kw), str(tmp_path / "work"))
    assert out["step"] == 24
    assert np.isfinite(out["train"]["loss/ce"]) and out["train"]["loss/ce"] < np.log(fx.CLASSES)
    assert out["val"]["val/num_examples"] == 6 and out["val"]["val/uar"] == 1.0  # classes differ by colour


def test_random_batches_follow_the_spec():
    spec = {"frames": Feature((4, 8, 8, 3)), "iframe": Feature((8, 8, 3), role="identity_signal"),
            "au_intensity": Feature((4, 5), role="target"), "au_mask": Feature((4, 5), role="target_mask"),
            "identity_embedding": Feature((6,), role="embedding"), "has_apex": Feature((), role="weight"),
            "label": Feature((), "int32", "label"), "identity": Feature((), "int32", "identity")}
    settings = dict(dataset="random", size=8, random=dict(num_train=200, num_identities=4))
    a = random_arrays(settings, 3, "train", seed=0, spec=spec)
    assert {k: (v.shape[1:], str(v.dtype)) for k, v in a.items()} == {
        k: (f.shape, f.dtype) for k, f in spec.items()}
    lab, ident = a["label"], a["identity"]
    # class structure: the class-mean frame explains most of the signal; targets are a function of the class
    means = np.stack([a["frames"][lab == c].mean(0) for c in range(3)])
    assert np.corrcoef(means[lab].ravel(), a["frames"].ravel())[0, 1] > 0.5
    coded = a["au_mask"] > 0
    assert 0.8 < coded.mean() < 1.0 and (a["au_intensity"][~coded] == -1).all()
    assert (a["au_intensity"][coded] >= 0).all()
    same = (lab[:, None] == lab[None]) & coded[:, None].all(axis=(2, 3)) & coded[None].all(axis=(2, 3))
    i, j = np.argwhere(same & ~np.eye(len(lab), dtype=bool))[0]
    np.testing.assert_allclose(a["au_intensity"][i], a["au_intensity"][j], atol=1.0)
    # identity structure: embeddings are unit vectors, closer within an identity than across
    emb = a["identity_embedding"]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=-1), 1.0, rtol=1e-5)
    sim = emb @ emb.T
    assert sim[ident[:, None] == ident[None]].mean() > sim[ident[:, None] != ident[None]].mean() + 0.5
    assert (a["has_apex"] == 1).all()
    # the iterator serves exactly the spec's keys (plus mask)
    c = ml_collections.ConfigDict(dict(method="data_only", seed=0, num_classes=3, input=dict(settings, batch_size=8)))
    run = parse(c, None)  # no method: no sections
    assert set(next(make_iterator(run, "train", train=True, seed=0, spec=spec))) == set(spec) | {"mask"}
    default = next(make_iterator(run, "train", train=True, seed=0))
    assert {"residuals", "motion_vectors", "iframe", "identity_embedding", "label", "identity"} <= set(default)
