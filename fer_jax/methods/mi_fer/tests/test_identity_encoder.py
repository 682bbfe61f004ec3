"""ArcFace pre-training of the Flax identity encoder, its checkpoint, and nearest-neighbour retrieval."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest

from fer_jax.identity import get_backbone
from fer_jax.identity.flax_backbone import META_FILE, FlaxBackbone
from fer_jax.identity.pretrain import arcface_logits, pretrain_identity_encoder

S = 24


def synthetic_identities(n_ids: int, per_id: int, seed: int):
    """Each identity: a background colour, a shape (disc/square/bar) and its colour; each image
    jitters position, size, brightness and adds noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:S, :S]
    images, ids = [], []
    for i in range(n_ids):
        bg, fg = rng.integers(30, 226, 3), rng.integers(30, 226, 3)
        kind = i % 3
        for _ in range(per_id):
            cy, cx = S / 2 + rng.uniform(-3, 3, 2)
            r = rng.uniform(5, 7)
            if kind == 0:
                m = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
            elif kind == 1:
                m = (abs(yy - cy) < r * 0.8) & (abs(xx - cx) < r * 0.8)
            else:
                m = (abs(yy - cy) < r * 0.4) & (abs(xx - cx) < r * 1.2)
            img = np.where(m[..., None], fg, bg) * rng.uniform(0.85, 1.15) + rng.normal(0, 8, (S, S, 3))
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            ids.append(i)
    return np.stack(images), np.asarray(ids, np.int32)


def test_arcface_margin_lowers_only_the_true_class_logit():
    z = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    centres = jnp.array([[1.0, 0.0], [0.0, 1.0]])  # class c along axis c
    plain = arcface_logits(z, centres, jnp.array([0, 1]), scale=10.0, margin=0.0)
    margin = arcface_logits(z, centres, jnp.array([0, 1]), scale=10.0, margin=0.5)
    np.testing.assert_allclose(np.diag(margin), 10 * np.cos(0.5), rtol=1e-5)
    np.testing.assert_allclose(margin[0, 1], plain[0, 1], atol=1e-6)


@pytest.mark.slow
def test_pretrained_encoder_retrieves_identity_far_above_chance(tmp_path):
    n_ids = 8
    images, ids = synthetic_identities(n_ids, 12, seed=0)
    train = np.arange(len(ids)) % 12 < 8  # 8 images per identity train, 4 held out
    out = tmp_path / "id_enc"
    metrics = pretrain_identity_encoder(images[train], ids[train], str(out), steps=100, seed=0,
                                        width=8, dim=32, batch_size=32, lr=3e-3)
    assert metrics["loss_last"] < metrics["loss_first"]
    meta = json.loads((out / META_FILE).read_text())
    assert meta["dim"] == 32 and meta["input_size"] == S and meta["n_identities"] == n_ids
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left behind

    backbone = get_backbone(f"flax:{out}")
    assert isinstance(backbone, FlaxBackbone) and backbone.dim == 32 and meta["fingerprint"] in backbone.name
    gallery, query = backbone.embed(images[train]), backbone.embed(images[~train])
    assert gallery.dtype == np.float32 and gallery.shape == (train.sum(), 32)
    np.testing.assert_allclose(np.linalg.norm(query, axis=1), 1.0, rtol=1e-5)
    nearest = ids[train][np.argmax(query @ gallery.T, axis=1)]
    accuracy = float(np.mean(nearest == ids[~train]))
    print(f"nearest-neighbour identity retrieval on held-out images: {accuracy:.3f} (chance 0.125)")
    assert accuracy >= 0.75, accuracy  # chance is 1/8
    # other input sizes are resized to the trained one; the same images embed the same way
    big = np.repeat(np.repeat(images[~train][:4], 2, axis=1), 2, axis=2)
    assert backbone.embed(big).shape == (4, 32)
    again = FlaxBackbone.from_checkpoint(str(out)).embed(images[~train][:4])
    np.testing.assert_allclose(again, query[:4], rtol=1e-5, atol=1e-6)
    # re-running into the same directory replaces the checkpoint in place
    pretrain_identity_encoder(images[train], ids[train], str(out), steps=2, seed=1, width=8, dim=32)
    assert json.loads((out / META_FILE).read_text())["seed"] == 1


def test_bad_inputs_and_missing_checkpoints_are_reported(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        pretrain_identity_encoder(np.zeros((4, 8, 8, 3), np.float32), np.arange(4), str(tmp_path / "a"), steps=1)
    with pytest.raises(ValueError, match=">= 2 identities"):
        pretrain_identity_encoder(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4), str(tmp_path / "a"), steps=1)
    with pytest.raises(FileNotFoundError, match="not an identity-encoder checkpoint"):
        FlaxBackbone.from_checkpoint(str(tmp_path))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="refusing"):
        pretrain_identity_encoder(np.zeros((4, 8, 8, 3), np.uint8), np.arange(4) % 2, str(tmp_path / "other"), steps=1)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / META_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        FlaxBackbone.from_checkpoint(str(tmp_path / "bad"))


def test_parameters_of_another_shape_are_named(tmp_path):
    """The checkpoint is read as host arrays (no target tree: portable across device kinds) and then
    checked against the model its metadata describes; a mismatch names the checkpoint and the array."""
    import orbax.checkpoint as ocp
    from flax import nnx

    from fer_jax.identity.flax_backbone import PARAMS_DIR, build_embedder

    meta = {"arch": "tiny", "width": 8, "dim": 32, "input_size": S}
    other = build_embedder(dict(meta, dim=16))
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(str(tmp_path / PARAMS_DIR), nnx.to_pure_dict(nnx.state(other, nnx.Param)))
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"cannot restore identity-encoder parameters: .*\[32\] in the model"):
        FlaxBackbone.from_checkpoint(str(tmp_path))
    (tmp_path / META_FILE).write_text(json.dumps(dict(meta, dim=16)))
    assert FlaxBackbone.from_checkpoint(str(tmp_path)).dim == 16
