"""``fer-jax invert IMG... --workdir W --out PNG``: an IFER inversion workdir's reconstruction of face images.

Each image is centre-cropped to a square and resized to the decoder's size (as the still-image builders
and ``fer-jax predict`` do), encoded by the ASIT encoder and decoded by the frozen StyleGAN2 decoder (fixed
noise maps); the PNG holds one row per image: input | reconstruction, scaled up ×``--scale`` (nearest).
The per-image MSE (pixels in [0, 1]) is printed. Exit 0 on success, 1 when an image cannot be read, 2 for
usage errors (no workdir, no checkpoint, a workdir that is not an IFER inversion run).
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax invert", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", metavar="IMG")
    p.add_argument("--workdir", required=True, help="an IFER inversion-stage training workdir")
    p.add_argument("--out", required=True, help="the PNG to write (atomically)")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--scale", type=int, default=0, help="upscaling factor (default: to >= 128 px per image)")
    return p


def side_by_side(inputs: np.ndarray, recons: np.ndarray, scale: int) -> np.ndarray:
    """uint8 [N·S·scale, 2·S·scale, 3]: row i = input i | reconstruction i (both [N, S, S, 3] in [0, 1])."""
    rows = [np.concatenate([a, b], axis=1) for a, b in zip(np.clip(inputs, 0, 1), np.clip(recons, 0, 1))]
    img = (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)
    return img.repeat(scale, axis=0).repeat(scale, axis=1)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from data_pipelines.atomic import atomic_write
    from data_pipelines.common.sources import SourceError, read_image, square_resize
    from fer_jax.serving.predictor import restore

    if not os.path.isfile(os.path.join(args.workdir, "config.json")):
        print(f"fer-jax invert: {args.workdir}: no config.json; is it a training workdir?", file=sys.stderr)
        return 2
    try:
        restored = restore(args.workdir, args.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        print(f"fer-jax invert: {args.workdir}: {e}", file=sys.stderr)
        return 2
    if getattr(restored.state, "hparams", None) is None or restored.state.hparams.stage != "inversion":
        print(f"fer-jax invert: {args.workdir} is not an IFER inversion run (method {restored.config.method!r})",
              file=sys.stderr)
        return 2
    from fer_jax.methods.ifer.method import reconstructions

    size = restored.run.sections["decoder"].size
    images, paths, failed = [], [], 0
    for path in args.images:
        try:
            images.append(square_resize(read_image(path), size).astype(np.float32) / 255.0)
            paths.append(path)
        except (SourceError, OSError) as e:
            print(f"fer-jax invert: {path}: {e}", file=sys.stderr)
            failed += 1
    if not images:
        return 1
    x = np.stack(images)
    recon = reconstructions(restored.state, x)
    for path, mse in zip(paths, np.mean((recon - x) ** 2, axis=(1, 2, 3))):
        print(f"{path}: mse {float(mse):.5f}")
    from PIL import Image

    scale = args.scale or max(1, -(-128 // size))
    buf = io.BytesIO()
    Image.fromarray(side_by_side(x, recon, scale)).save(buf, format="PNG")
    atomic_write(args.out, buf.getvalue())
    return 1 if failed else 0
