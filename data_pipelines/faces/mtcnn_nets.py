"""MTCNN's parts (Zhang et al. 2016) in JAX / Flax NNX: P-Net, R-Net, O-Net, their weights, torch's ``area``
resampling and the NMS variants ``facenet_pytorch`` uses; the pipeline that joins them is ``faces.mtcnn``.

Weights: ``facenet_pytorch/data/{pnet,rnet,onet}.pt`` (MIT licence), read by ``faces.torch_weights`` without
torch; found with the import system, never copied into this repository. Convolutions and matmuls run at
``HIGHEST`` precision: on a GPU the default (TF32) moves scores near a threshold across it.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

HIGHEST = jax.lax.Precision.HIGHEST


# ----------------------------------------------------------------------------------------------- networks
class PReLU(nnx.Module):
    def __init__(self, n: int):
        self.alpha = nnx.Param(jnp.full((n,), 0.25, jnp.float32))

    def __call__(self, x: jax.Array) -> jax.Array:
        return jnp.where(x >= 0, x, self.alpha[...] * x)


def _conv(cin: int, cout: int, k: int, rngs: nnx.Rngs) -> nnx.Conv:
    return nnx.Conv(cin, cout, kernel_size=(k, k), padding="VALID", precision=HIGHEST, rngs=rngs)


def _pool(x, k: int, s: int):
    """torch's ``MaxPool2d(k, s, ceil_mode=True)`` on NHWC: the last window may hang over the edge."""
    pads = [(0, (math.ceil((n - k) / s)) * s + k - n) for n in x.shape[1:3]]
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, k, k, 1), (1, s, s, 1), [(0, 0), *pads, (0, 0)])


def _flatten_torch(x):
    """NHWC -> [N, W*H*C] in the order facenet's ``permute(0, 3, 2, 1)`` flattens NCHW."""
    return x.transpose(0, 2, 1, 3).reshape(x.shape[0], -1)


class PNet(nnx.Module):
    """Fully convolutional: [B, H, W, 3] -> (regression [B, h, w, 4], face probability [B, h, w])."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1, self.prelu1 = _conv(3, 10, 3, rngs), PReLU(10)
        self.conv2, self.prelu2 = _conv(10, 16, 3, rngs), PReLU(16)
        self.conv3, self.prelu3 = _conv(16, 32, 3, rngs), PReLU(32)
        self.conv4_1, self.conv4_2 = _conv(32, 2, 1, rngs), _conv(32, 4, 1, rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = _pool(self.prelu1(self.conv1(x)), 2, 2)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), jax.nn.softmax(self.conv4_1(x), axis=-1)[..., 1]


class RNet(nnx.Module):
    """[N, 24, 24, 3] -> (regression [N, 4], face probability [N])."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1, self.prelu1 = _conv(3, 28, 3, rngs), PReLU(28)
        self.conv2, self.prelu2 = _conv(28, 48, 3, rngs), PReLU(48)
        self.conv3, self.prelu3 = _conv(48, 64, 2, rngs), PReLU(64)
        self.dense4, self.prelu4 = nnx.Linear(576, 128, precision=HIGHEST, rngs=rngs), PReLU(128)
        self.dense5_1 = nnx.Linear(128, 2, precision=HIGHEST, rngs=rngs)
        self.dense5_2 = nnx.Linear(128, 4, precision=HIGHEST, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = _pool(self.prelu1(self.conv1(x)), 3, 2)
        x = _pool(self.prelu2(self.conv2(x)), 3, 2)
        x = self.prelu4(self.dense4(_flatten_torch(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), jax.nn.softmax(self.dense5_1(x), axis=-1)[:, 1]


class ONet(nnx.Module):
    """[N, 48, 48, 3] -> (regression [N, 4], landmarks [N, 10] (5 x then 5 y, box units), probability [N])."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1, self.prelu1 = _conv(3, 32, 3, rngs), PReLU(32)
        self.conv2, self.prelu2 = _conv(32, 64, 3, rngs), PReLU(64)
        self.conv3, self.prelu3 = _conv(64, 64, 3, rngs), PReLU(64)
        self.conv4, self.prelu4 = _conv(64, 128, 2, rngs), PReLU(128)
        self.dense5, self.prelu5 = nnx.Linear(1152, 256, precision=HIGHEST, rngs=rngs), PReLU(256)
        self.dense6_1 = nnx.Linear(256, 2, precision=HIGHEST, rngs=rngs)
        self.dense6_2 = nnx.Linear(256, 4, precision=HIGHEST, rngs=rngs)
        self.dense6_3 = nnx.Linear(256, 10, precision=HIGHEST, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        x = _pool(self.prelu1(self.conv1(x)), 3, 2)
        x = _pool(self.prelu2(self.conv2(x)), 3, 2)
        x = _pool(self.prelu3(self.conv3(x)), 2, 2)
        x = self.prelu5(self.dense5(_flatten_torch(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), jax.nn.softmax(self.dense6_1(x), axis=-1)[:, 1]


def load_net(cls: type, state: dict[str, np.ndarray], path: str) -> nnx.Module:
    """A ``cls`` network (PNet, RNet, ONet) holding a torch state dict (conv OIHW -> HWIO, linear [out, in] ->
    [in, out]); every tensor must be used and every shape must match, else ``ValueError`` naming the file.
    Built abstractly (``nnx.eval_shape``) and filled: a random init would compile one program per shape."""
    graphdef, params = nnx.split(nnx.eval_shape(lambda: cls(nnx.Rngs(0))))
    pure, used = nnx.to_pure_dict(params), set()
    for layer, leaves in pure.items():
        for kind, want in leaves.items():
            src = f"{layer}.{'weight' if kind in ('kernel', 'alpha') else 'bias'}"
            if src not in state:
                raise ValueError(f"{path}: no tensor {src}")
            w = state[src]
            w = w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T if w.ndim == 2 else w
            if w.shape != tuple(want.shape):
                raise ValueError(f"{path}: {src} has shape {w.shape}, the network wants {tuple(want.shape)}")
            leaves[kind] = jnp.asarray(np.ascontiguousarray(w, np.float32))
            used.add(src)
    if set(state) - used:
        raise ValueError(f"{path}: unused tensors {sorted(set(state) - used)}")
    nnx.replace_by_pure_dict(params, pure)
    return nnx.merge(graphdef, params)


# ------------------------------------------------------------------------------------ resampling and NMS
@functools.lru_cache(maxsize=256)
def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """float32 [n_out, n_in]: torch's ``interpolate(mode="area")`` along one axis (output i averages the input
    from floor(i * n_in / n_out) to ceil((i + 1) * n_in / n_out))."""
    i = np.arange(n_out)
    start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    j = np.arange(n_in)
    inside = (j[None] >= start[:, None]) & (j[None] < end[:, None])
    return (inside / (end - start)[:, None]).astype(np.float32)


def resample(images: np.ndarray | jax.Array, size: tuple[int, int]) -> np.ndarray | jax.Array:
    """[B, H, W, C] -> [B, h, w, C] with torch's area interpolation (two matmuls; works for numpy or jax)."""
    ay, ax = area_matrix(images.shape[1], size[0]), area_matrix(images.shape[2], size[1])
    if isinstance(images, np.ndarray):
        return np.einsum("yh,bhwc,xw->byxc", ay, images.astype(np.float32), ax, optimize=True)
    x = jnp.einsum("yh,bhwc->bywc", ay, images, precision=HIGHEST)
    return jnp.einsum("xw,bywc->byxc", ax, x, precision=HIGHEST)


def area_windows(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each output's source window in torch's ``area`` interpolation."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def summed_area(frames: jax.Array) -> jax.Array:
    """int32 [B, H + 1, W + 1, C] summed-area tables of uint8 frames (a zero row and column first); exact while
    H x W x 255 < 2^31 (:func:`fits_table`)."""
    table = jnp.cumsum(jnp.cumsum(frames.astype(jnp.int32), axis=1), axis=2)
    return jnp.pad(table, ((0, 0), (1, 0), (1, 0), (0, 0)))


def fits_table(h: int, w: int) -> bool:
    return h * w * 255 < 2**31 - 1


def resample_table(table: jax.Array, size: tuple[int, int]) -> jax.Array:
    """torch's area interpolation to ``size`` from :func:`summed_area` tables: exact window sums from four
    lookups per output pixel, O(output) work per pyramid scale instead of a dense matmul over the frame."""
    ys, ye = area_windows(table.shape[1] - 1, size[0])
    xs, xe = area_windows(table.shape[2] - 1, size[1])
    rows = table[:, ye] - table[:, ys]
    sums = rows[:, :, xe] - rows[:, :, xs]
    area = ((ye - ys)[:, None] * (xe - xs)[None, :]).astype(np.float32)
    return sums.astype(jnp.float32) / area[None, :, :, None]


def _iou_matrix(b):
    """[K, 4] -> [K, K] IoU with torchvision's areas ((x1 - x0) * (y1 - y0), no +1)."""
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = jnp.clip(jnp.minimum(b[:, None, 2], b[None, :, 2]) - jnp.maximum(b[:, None, 0], b[None, :, 0]), 0)
    h = jnp.clip(jnp.minimum(b[:, None, 3], b[None, :, 3]) - jnp.maximum(b[:, None, 1], b[None, :, 1]), 0)
    inter = w * h
    return inter / jnp.maximum(area[:, None] + area[None] - inter, 1e-12)


def nms_sorted(boxes: jax.Array, valid: jax.Array, threshold: float) -> jax.Array:
    """Greedy NMS on [K, 4] boxes already sorted by score (descending): keep mask [K] (masked boxes
    neither survive nor suppress)."""
    iou = _iou_matrix(boxes)
    k = boxes.shape[0]
    ids = jnp.arange(k)

    def body(i, keep):
        hit = jnp.any(keep & (iou[i] > threshold) & (ids < i))
        return keep.at[i].set(keep[i] & ~hit)

    return jax.lax.fori_loop(0, k, body, valid)


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Kept indices, best first. ``union``: torchvision's IoU; ``min``: facenet's O-Net rule (overlap over
    the smaller area, areas with the +1 pixel convention)."""
    order = np.argsort(-scores, kind="stable")
    plus = 1.0 if mode == "min" else 0.0
    area = (boxes[:, 2] - boxes[:, 0] + plus) * (boxes[:, 3] - boxes[:, 1] + plus)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]) + plus)
        h = np.maximum(0.0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]) + plus)
        inter = w * h
        over = inter / (np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter)
        order = rest[over <= threshold]
    return np.array(keep, np.int64)


def rerec(boxes: np.ndarray | jax.Array) -> np.ndarray | jax.Array:
    """Boxes [..., >= 4] made square around their centre (side = the longer side)."""
    w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    side = np.maximum(w, h) if isinstance(boxes, np.ndarray) else jnp.maximum(w, h)
    x0, y0 = boxes[..., 0] + w * 0.5 - side * 0.5, boxes[..., 1] + h * 0.5 - side * 0.5
    stack = np.stack if isinstance(boxes, np.ndarray) else jnp.stack
    return stack([x0, y0, x0 + side, y0 + side], -1)


def pyramid(h: int, w: int, min_face: float = 20.0, factor: float = 0.709) -> tuple[float, ...]:
    """The P-Net scales for an h x w frame (facenet's loop, in the same floating-point steps)."""
    m = 12.0 / min_face
    minl, scale, scales = min(h, w) * m, m, []
    while minl >= 12:
        scales.append(scale)
        scale, minl = scale * factor, minl * factor
    return tuple(scales)
