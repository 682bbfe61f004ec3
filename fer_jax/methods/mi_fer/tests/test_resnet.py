"""The shared ResNet family: shapes, parameter count, stems, dtype, and the group-norm choice."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fer_jax.models import make_resnet


def n_params(m):
    return sum(x.size for x in jax.tree.leaves(nnx.as_pure(nnx.state(m, nnx.Param))))


def test_resnet18_matches_torchvision_size_and_gives_stt_tokens():
    m = nnx.eval_shape(lambda: make_resnet("resnet18", rngs=nnx.Rngs(0)))
    # torchvision resnet18 (11,689,512) minus its 1000-way fc (513,000); GroupNorm has BN's affine params
    assert n_params(m) == 11_176_512
    assert m.stage_dims() == [64, 128, 256, 512]
    x = jax.ShapeDtypeStruct((2, 112, 112, 3), jnp.float32)
    fmap = nnx.eval_shape(lambda mod, v: mod.feature_map(v, num_stages=3), m, x)
    assert fmap.shape == (2, 7, 7, 256)  # STT's 256×7×7 tokens per 112² frame
    assert nnx.eval_shape(lambda mod, v: mod(v), m, x).shape == (2, 512)


def test_tiny_small_stem_keeps_the_resolution_of_motion_vector_fields():
    m = nnx.eval_shape(lambda: make_resnet("tiny", in_channels=2, width=8, stem="small", rngs=nnx.Rngs(0)))
    x = jax.ShapeDtypeStruct((3, 8, 8, 2), jnp.float32)
    assert nnx.eval_shape(lambda mod, v: mod.feature_map(v, 1), m, x).shape == (3, 8, 8, 8)
    assert nnx.eval_shape(lambda mod, v: mod(v), m, x).shape == (3, 64)


def test_deep_stages_on_small_inputs_do_not_collapse_to_zero():
    """With one channel per group a 1×1 map normalises to 0; ≥ 4 channels per group keeps signal."""
    m = make_resnet("tiny", width=8, rngs=nnx.Rngs(0))  # imagenet stem: 16² input -> 1×1 at stage 3
    x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
    out = np.asarray(nnx.jit(lambda mod, v: mod(v))(m, x))
    assert np.abs(out).max() > 0.1
    assert not np.allclose(out[0], out[1])


def test_unknown_arch_and_stem_are_rejected():
    with pytest.raises(ValueError, match="unknown encoder"):
        make_resnet("resnet19", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="stem"):
        make_resnet("tiny", stem="huge", rngs=nnx.Rngs(0))
