"""Convert a rosinality StyleGAN2 checkpoint (``.pt`` with ``g_ema`` / ``g`` / ``d`` state dicts) into a
weights directory that ``init_from`` loads (``fer_jax.core.init_from.save_weights``).

    fer-jax convert-stylegan2 550000.pt weights/ffhq256
    c.init_from = {"decoder": dict(source="weights/ffhq256", load={"decoder": "g_ema"})}

The directory holds ``g_ema``, ``g``, ``d`` (those present in the file), ``latent_avg`` when the file
has one (checkpoints converted from the official TF release do), and ``arch`` (size, style_dim, n_mlp,
channel_multiplier, channel_max) so :func:`load_generator` can rebuild the network. The architecture
is read from the tensors' shapes; ``size`` / ``channel_multiplier`` given by the user are checked
against it. Layout changes: linear [out, in] -> [in, out]; conv [out, in, k, k] -> [k, k, in, out];
NCHW constants -> NHWC. Blur kernels (buffers) are checked, not stored. No weights are downloaded.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from typing import Any, Mapping

import jax
import numpy as np
from flax import nnx

from fer_jax.core.init_from import InitFrom, read_source, save_weights
from fer_jax.models.stylegan2.discriminator import Discriminator
from fer_jax.models.stylegan2.generator import Generator, channel_table

NETS = ("g_ema", "g", "d")


class ConversionError(ValueError):
    """The checkpoint cannot be converted; the message names the file and the reason."""

    def __init__(self, source: str, reason: str):
        self.source, self.reason = source, reason
        super().__init__(f"{source}: {reason}")


def load_checkpoint(path: str, *, trusted: bool = False) -> dict:
    """``torch.load`` of a rosinality ``.pt`` on CPU -> {name: {key: numpy array}} for g_ema/g/d (+ latent_avg).

    ``weights_only`` loading (argparse ``args`` allowed) unless ``trusted`` (full unpickling)."""
    import argparse as _argparse

    import torch

    if not os.path.isfile(path):
        raise ConversionError(path, "no such file")
    try:
        if trusted:
            raw = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals([_argparse.Namespace]):
                raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise ConversionError(path, f"torch.load failed ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                              "a file you trust can be loaded with --trusted") from e
    if not isinstance(raw, Mapping) or not any(k in raw for k in NETS):
        keys = sorted(raw)[:8] if isinstance(raw, Mapping) else type(raw).__name__
        raise ConversionError(path, f"not a rosinality checkpoint: expected keys among {NETS}, found {keys}")
    out: dict[str, Any] = {}
    for name in NETS:
        if name in raw:
            out[name] = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in raw[name].items()}
    if raw.get("latent_avg") is not None:
        out["latent_avg"] = np.asarray(raw["latent_avg"].detach().cpu().numpy(), np.float32).reshape(1, -1)
    return out


def infer_arch(sd: Mapping[str, np.ndarray], source: str) -> dict:
    """Generator architecture from its state dict's shapes."""
    styles = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    if not styles or "input.input" not in sd:
        raise ConversionError(source, "generator state dict lacks style.*.weight / input.input")
    n_rgb = len({k.split(".")[1] for k in sd if k.startswith("to_rgbs.")})
    size = 2 ** (n_rgb + 2)
    table = {4: int(sd["input.input"].shape[1])}
    for j in range(n_rgb):
        table[2 ** (j + 3)] = int(sd[f"convs.{2 * j}.conv.weight"].shape[1])
    return dict(size=size, style_dim=int(sd["style.1.weight"].shape[0]), n_mlp=len(styles),
                **_table_params(table, size, source))


def _table_params(table: Mapping[int, int], size: int, source: str) -> dict:
    """(channel_multiplier, channel_max) reproducing ``table`` (resolution -> channels)."""
    cmax = max(table.values())
    cm = table[size] * size / 16384 if table[size] < cmax else cmax * size / 16384
    if channel_table(size, cm, cmax) != dict(table):
        raise ConversionError(source, f"channel widths {dict(table)} do not follow StyleGAN2's table "
                              "min(channel_max, 16384·multiplier / resolution)")
    return dict(channel_multiplier=cm, channel_max=cmax)


def _check_user_arch(arch: dict, source: str, size: int | None, channel_multiplier: float | None) -> None:
    if size is not None and size != arch["size"]:
        raise ConversionError(source, f"--size {size} given but the checkpoint is a {arch['size']} px generator")
    if channel_multiplier is not None and arch["size"] >= 64 and channel_multiplier != arch["channel_multiplier"]:
        raise ConversionError(source, f"--channel-multiplier {channel_multiplier} given but the checkpoint's "
                              f"widths imply {arch['channel_multiplier']:g}")


def _torch_value(v: np.ndarray) -> np.ndarray:
    """Torch layout -> this package's (see module docstring), by rank."""
    if v.ndim == 5:  # modulated conv [1, out, in, k, k]
        return v[0].transpose(2, 3, 1, 0)
    if v.ndim == 2:
        return v.T
    return v


def _gen_key(path: tuple) -> str:
    parts = [str(p) for p in path]
    if parts == ["input"]:
        return "input.input"  # rosinality's ConstantInput module
    if parts[0] == "style":
        parts[1] = str(int(parts[1]) + 1)  # torch index 0 is the PixelNorm
    return ".".join(parts)


def _disc_key(path: tuple) -> str:
    parts = [str(p) for p in path]
    for i, p in enumerate(parts):
        if p in ("conv", "act") and i > 0:  # a ConvLayer: nn.Sequential([Blur,] EqualConv2d, FusedLeakyReLU)
            offset = 1 if parts[i - 1] in ("conv2", "skip") else 0
            parts[i] = str(offset + (p == "act"))
    return ".".join(parts)


def _convert_net(sd: Mapping[str, np.ndarray], module: nnx.Module, key_of, name: str, source: str) -> dict:
    """Fill ``module``'s pure state (Params and Buffers) from torch state dict ``sd``."""
    pure = nnx.to_pure_dict(nnx.state(module))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(pure)
    out, used = [], set()
    for path, want in leaves:
        parts = tuple(getattr(k, "key", getattr(k, "idx", k)) for k in path)
        key = key_of(parts)
        if key not in sd:
            raise ConversionError(source, f"{name}: missing key {key!r} (a {module.__class__.__name__} of this "
                                  "architecture needs it)")
        v = np.asarray(sd[key], np.float32)
        if v.ndim == 4:
            v = v.transpose(2, 3, 1, 0) if key.endswith("weight") else v.transpose(0, 2, 3, 1)
        else:
            v = _torch_value(v)
        if v.shape != tuple(want.shape):
            raise ConversionError(source, f"{name}: {key!r} has shape {tuple(sd[key].shape)}, which converts to "
                                  f"{v.shape}; the inferred architecture needs {tuple(want.shape)}")
        out.append(v)
        used.add(key)
    extra = sorted(k for k in sd if k not in used and not k.endswith(".kernel"))
    if extra:
        raise ConversionError(source, f"{name}: unexpected keys {extra[:5]} (not a StyleGAN2 of this layout)")
    return _str_keys(jax.tree_util.tree_unflatten(treedef, out))


def _str_keys(tree: Any) -> Any:
    return {str(k): _str_keys(v) for k, v in tree.items()} if isinstance(tree, Mapping) else tree


def convert(ckpt: Mapping[str, Any], source: str = "<checkpoint>", *, size: int | None = None,
            channel_multiplier: float | None = None) -> dict:
    """Loaded checkpoint (:func:`load_checkpoint`) -> the weights tree (see the module docstring)."""
    g_sd = ckpt.get("g_ema", ckpt.get("g"))
    tree: dict[str, Any] = {}
    arch = None
    if g_sd is not None:
        arch = infer_arch(g_sd, source)
        _check_user_arch(arch, source, size, channel_multiplier)
        for name in ("g_ema", "g"):
            if name in ckpt:
                gen = nnx.eval_shape(lambda: Generator(**arch, rngs=nnx.Rngs(0)))
                tree[name] = _convert_net(ckpt[name], gen, _gen_key, name, source)
    if "d" in ckpt:
        d_sd = ckpt["d"]
        if "convs.0.0.weight" not in d_sd:
            raise ConversionError(source, "d: missing key 'convs.0.0.weight'")
        d_size = 2 ** (len({k.split(".")[1] for k in d_sd if k.startswith("convs.")}) + 1)
        if arch is not None and d_size != arch["size"]:
            raise ConversionError(source, f"d is a {d_size} px discriminator but the generator is {arch['size']} px")
        table = {d_size: int(d_sd["convs.0.0.weight"].shape[0])}
        for i in range(1, int(math.log2(d_size)) - 1):
            table[d_size // 2 ** i] = int(d_sd[f"convs.{i}.conv2.1.weight"].shape[0])
        d_arch = _table_params(table, d_size, source)
        if arch is None:
            arch = dict(size=d_size, **d_arch)
        disc = nnx.eval_shape(lambda: Discriminator(d_size, **d_arch, rngs=nnx.Rngs(0)))
        tree["d"] = _convert_net(d_sd, disc, _disc_key, "d", source)
    if "latent_avg" in ckpt:
        tree["latent_avg"] = np.asarray(ckpt["latent_avg"], np.float32)
    tree["arch"] = {k: np.asarray(v, np.float32 if k == "channel_multiplier" else np.int32) for k, v in arch.items()}
    return tree


def read_arch(tree: Mapping[str, Any]) -> dict:
    a = tree["arch"]
    out = {k: int(np.asarray(v)) for k, v in a.items() if k != "channel_multiplier"}
    out["channel_multiplier"] = float(np.asarray(a["channel_multiplier"]))
    return out


def load_generator(weights_dir: str, which: str = "g_ema") -> Generator:
    """The generator ``which`` of a converted weights directory, rebuilt from its ``arch``."""
    tree = read_source(InitFrom(source=weights_dir, load={which: which}))
    if which not in tree:
        raise ConversionError(weights_dir, f"no {which!r} in the weights directory; there: {sorted(tree)}")
    gen = Generator(**read_arch(tree), rngs=nnx.Rngs(0))
    state = nnx.state(gen)
    nnx.replace_by_pure_dict(state, _int_keys(nnx.to_pure_dict(state), tree[which]))
    nnx.update(gen, state)
    return gen


def _int_keys(like: Any, tree: Any) -> Any:
    """``tree`` (string keys, as saved) with the key types of ``like`` (NNX lists use ints)."""
    if not isinstance(like, Mapping):
        return np.asarray(tree)
    return {k: _int_keys(v, tree[str(k)]) for k, v in like.items()}


def main(argv: list[str]) -> int:
    """``fer-jax convert-stylegan2 IN.pt OUT_DIR [--size N] [--channel-multiplier M] [--trusted]``."""
    parser = argparse.ArgumentParser(prog="fer-jax convert-stylegan2", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="rosinality .pt file (torch.save of g_ema / g / d state dicts)")
    parser.add_argument("out_dir", help="weights directory to write (must not exist)")
    parser.add_argument("--size", type=int, default=None, help="expected resolution (checked)")
    parser.add_argument("--channel-multiplier", type=float, default=None, help="expected multiplier (checked)")
    parser.add_argument("--trusted", action="store_true", help="full unpickling (only for files you trust)")
    args = parser.parse_args(argv)
    if os.path.exists(args.out_dir):
        print(f"convert-stylegan2: {args.out_dir} exists; choose a new directory")
        return 2
    try:
        tree = convert(load_checkpoint(args.checkpoint, trusted=args.trusted), args.checkpoint, size=args.size,
                       channel_multiplier=args.channel_multiplier)
    except ConversionError as e:
        print(f"convert-stylegan2: {e}")
        return 1
    save_weights(args.out_dir, tree)
    nets = [k for k in NETS + ("latent_avg",) if k in tree]
    print(f"wrote {args.out_dir}: {', '.join(nets)}; arch {read_arch(tree)}")
    return 0
