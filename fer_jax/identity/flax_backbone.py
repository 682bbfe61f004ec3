"""A Flax face-identity encoder: the embedded stand-in for a real face-recognition network.

Pre-trained by ``fer_jax.identity.pretrain`` (ArcFace margin loss) on SynthFace's reserved
identities, saved as ``<dir>/identity_encoder.json`` (architecture, dim, input size,
fingerprint) + ``<dir>/params`` (an orbax checkpoint of the parameters as a pure dict), and
loaded here without any network access. The JSON is written last, so a directory without it is
not a checkpoint.

The network is a ResNet trunk (``fer_jax.models``) → linear projection → L2 normalisation.
Inputs are uint8 crops, resized bilinearly to the trained input size and scaled to [−0.5, 0.5].
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx, traverse_util

from fer_jax.models import make_resnet

META_FILE = "identity_encoder.json"
PARAMS_DIR = "params"


class FaceEmbedder(nnx.Module):
    """float images [N, S, S, 3] in [0, 1] -> unit-norm embeddings [N, dim]."""

    def __init__(self, arch: str = "tiny", width: int | None = None, dim: int = 128, stem: str = "imagenet", *, rngs: nnx.Rngs):
        self.trunk = make_resnet(arch, 3, width, stem, rngs=rngs)
        self.proj = nnx.Linear(self.trunk.out_dim, dim, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        z = self.proj(self.trunk(x - 0.5))
        return z / jnp.sqrt(jnp.sum(z * z, axis=-1, keepdims=True) + 1e-12)


def build_embedder(meta: dict[str, Any], seed: int = 0) -> FaceEmbedder:
    return FaceEmbedder(meta["arch"], meta["width"], meta["dim"], meta.get("stem", "imagenet"), rngs=nnx.Rngs(seed))


def check_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"{what}: want uint8 [N, H, W, 3], got {images.dtype}{list(images.shape)}")
    return images


def to_input(images: jax.Array, size: int) -> jax.Array:
    """uint8 [N, H, W, 3] -> float32 [N, size, size, 3] in [0, 1]."""
    x = images.astype(jnp.float32) / 255.0
    if x.shape[1:3] != (size, size):
        x = jax.image.resize(x, (x.shape[0], size, size, 3), method="bilinear")
    return x


def save_params(model: nnx.Module, path: str) -> None:
    """Parameters as a pure dict (what any orbax version reads back)."""
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.abspath(path), nnx.to_pure_dict(nnx.state(model, nnx.Param)))
        ckptr.wait_until_finished()


def _check_like(raw: Any, template: Any) -> None:
    """Raise ValueError naming the first array of ``raw`` (restored without a target tree, so integer keys
    come back as strings) that is missing from, extra to, or shaped unlike ``template``'s."""
    flat, want = ({"/".join(map(str, k)): v for k, v in traverse_util.flatten_dict(t).items()} for t in (raw, template))
    odd = sorted(set(flat) ^ set(want))
    if odd:
        raise ValueError(f"{odd[0]}: {'not in the checkpoint' if odd[0] in want else 'not in the model'}")
    for key, b in want.items():
        a = np.asarray(flat[key])
        if a.shape != b.shape or a.dtype != b.dtype:
            raise ValueError(f"{key}: {a.dtype}{list(a.shape)} in the checkpoint, {b.dtype}{list(b.shape)} in the model")


class FlaxBackbone:
    """``embed(uint8 [N, H, W, 3]) -> float32 [N, dim]`` (L2-normalised), from a pre-trained checkpoint."""

    def __init__(self, model: FaceEmbedder, meta: dict[str, Any], directory: str, batch_size: int = 256):
        self.model, self.meta, self.directory = model, meta, directory
        self.dim = int(meta["dim"])
        self.input_size = int(meta["input_size"])
        self.name = f"flax-{meta['arch']}-w{meta['width']}-d{self.dim}-{meta.get('fingerprint', 'unknown')}"
        self.batch_size = batch_size
        graphdef, state = nnx.split(model)
        size = self.input_size
        self._forward = jax.jit(lambda s, imgs: nnx.merge(graphdef, s)(to_input(imgs, size)))
        self._state = state

    @classmethod
    def from_checkpoint(cls, directory: str) -> "FlaxBackbone":
        meta_path = os.path.join(directory, META_FILE)
        if not os.path.isfile(meta_path):
            raise FileNotFoundError(f"{directory}: not an identity-encoder checkpoint (no {META_FILE}); "
                                    "create one with fer_jax.identity.pretrain.pretrain_identity_encoder")
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            for key in ("arch", "width", "dim", "input_size"):
                if key not in meta:
                    raise ValueError(f"missing field {key!r}")
        except (json.JSONDecodeError, ValueError) as e:
            raise ValueError(f"{meta_path}: unreadable identity-encoder metadata: {e}") from e
        model = build_embedder(meta)
        template = nnx.to_pure_dict(nnx.state(model, nnx.Param))
        try:
            # No target tree: a target without the saving machine's sharding makes some orbax versions
            # refuse a checkpoint written on another device kind ("Topology mismatch"); read host arrays
            # and check them against the model instead.
            with ocp.StandardCheckpointer() as ckptr:
                restored = ckptr.restore(os.path.abspath(os.path.join(directory, PARAMS_DIR)))
            _check_like(restored, template)
        except Exception as e:  # orbax raises several types; name the checkpoint either way
            raise ValueError(f"{directory}: cannot restore identity-encoder parameters: {e}") from e
        params = nnx.state(model, nnx.Param)
        nnx.replace_by_pure_dict(params, restored)  # maps the string keys back to the model's integer ones
        nnx.update(model, params)
        return cls(model, meta, directory)

    def embed(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        out = [np.asarray(self._forward(self._state, images[i : i + self.batch_size]))
               for i in range(0, len(images), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)
