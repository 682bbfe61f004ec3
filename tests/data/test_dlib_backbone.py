"""dlib's real 128-D face-recognition network on real faces (scikit-image's LFW subset)."""

import numpy as np
from PIL import Image
from skimage import data

from fer_jax.identity import get_backbone


def faces(n: int, size: int = 100) -> np.ndarray:
    """The first ``n`` LFW faces (25x25 grey floats) as uint8 RGB crops of ``size`` px."""
    imgs = data.lfw_subset()[:n]
    out = [np.asarray(Image.fromarray((im * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)) for im in imgs]
    return np.repeat(np.stack(out)[..., None], 3, axis=-1)


def test_dlib_embeddings_are_unit_deterministic_and_identity_like():
    bb = get_backbone("dlib")
    assert bb.name == "dlib-resnet-128" and bb.dim == 128
    x = faces(12)
    e = bb.embed(x)
    assert e.shape == (12, 128) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(e, bb.embed(x))
    # the same face shifted by 3 px and brightened stays close; different faces are far apart
    moved = np.clip(np.roll(x, 3, axis=2).astype(np.int16) + 20, 0, 255).astype(np.uint8)
    same = np.linalg.norm(e - bb.embed(moved), axis=1)
    d = np.linalg.norm(e[:, None] - e[None], axis=-1)
    off = ~np.eye(len(e), dtype=bool)
    nearest_other = np.where(off, d, np.inf).min(1)
    assert np.all(same < nearest_other), (same, nearest_other)  # every copy is nearer than any other face
    assert same.mean() < 0.25 * d[off].mean(), (same.mean(), d[off].mean())
