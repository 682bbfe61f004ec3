"""The analytic model-FLOP count behind the benchmarks' MFU figures."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from benchmarks.bench_train import resnet_forward_flops, step_flops
from fer_jax.models import make_resnet


def test_resnet18_at_224_is_the_published_1_8_gmacs():
    assert resnet_forward_flops("resnet18", 64, 224) / 2 == pytest.approx(1.82e9, rel=0.01)
    assert step_flops("resnet18", 64, 112, 8, 3) == 4 * 24 * resnet_forward_flops("resnet18", 64, 112)


@pytest.mark.parametrize("arch,width,size", [("tiny", 16, 64), ("resnet18", 8, 48)])
def test_count_matches_xla_cost_analysis_of_the_forward_pass(arch, width, size):
    net = make_resnet(arch, 3, width, "imagenet", rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(net)
    fwd = jax.jit(lambda p, x: nnx.merge(graphdef, p)(x))
    cost = fwd.lower(params, jnp.zeros((2, size, size, 3))).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    # XLA counts only in-image taps, plus norms, ReLUs and pooling (a few % at these tiny widths).
    counted = 2 * resnet_forward_flops(arch, width, size, padded_taps=False)
    assert counted == pytest.approx(cost["flops"], rel=0.06)
    assert resnet_forward_flops(arch, width, size) > resnet_forward_flops(arch, width, size, padded_taps=False)
