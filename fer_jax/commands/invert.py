"""``fer-jax invert IMG... --workdir W --out PNG``: an IFER inversion workdir's reconstruction of face images.

Each image's largest face (``--detector``: MTCNN by default when installed, see ``data_pipelines/faces``) is
cropped to a square framed as the workdir's training data framed faces (``fer-jax predict``'s framing: a
SynthFace frame's for SynthFace runs) and resized to the decoder's size; an image without a face is reported
and skipped. ``--faces off`` takes the centre square instead (as the still-image builders do). It is encoded
by the ASIT encoder and decoded by the frozen StyleGAN2 decoder (fixed noise maps); the PNG holds one row per
image: input | reconstruction, scaled up x``--scale`` (nearest). The per-image MSE (pixels in [0, 1]) is
printed. Exit 0 on success, 1 when an image cannot be read or holds no face, 2 for usage errors (no workdir,
no checkpoint, a workdir that is not an IFER inversion run).
"""

from __future__ import annotations

import argparse
import io
import os
import sys

import numpy as np

from data_pipelines.faces.detect import DETECTOR_HELP, DETECTORS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-jax invert", description=__doc__.split("\n\n")[0])
    p.add_argument("images", nargs="+", metavar="IMG")
    p.add_argument("--workdir", required=True, help="an IFER inversion-stage training workdir")
    p.add_argument("--out", required=True, help="the PNG to write (atomically)")
    p.add_argument("--checkpoint", choices=("best", "latest"), default="best")
    p.add_argument("--scale", type=int, default=0, help="upscaling factor (default: to >= 128 px per image)")
    p.add_argument("--faces", choices=("on", "off"), default="on",
                   help="crop each image's largest face (default) or its centre square (off)")
    p.add_argument("--detector", choices=("auto", *DETECTORS), default="auto", help=DETECTOR_HELP)
    return p


def face_square(image: np.ndarray, face, detector, size: int) -> np.ndarray | None:
    """uint8 [size, size, 3]: the largest face of ``image`` framed by ``face`` (a ``FaceSettings``), or None."""
    from data_pipelines.faces import face_crop, reframed
    from fer_jax.serving.face_inputs import framing_margin

    found = detector(image)
    if not found:
        return None
    d = max(found, key=lambda d: d.side)
    box = reframed(np.array([*d.centre, d.side]), face.crop_shift)
    return face_crop(image, box, size, framing_margin(face, 1.3))


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
    face = detector = None
    if args.faces == "on":
        from data_pipelines.faces import FaceSettings
        from fer_jax.serving.face_inputs import face_framing

        try:
            face = FaceSettings(detector=args.detector, **face_framing(restored.run.input)).resolved()
        except ImportError as e:  # --detector mtcnn without its weights: the message names the package
            print(f"fer-jax invert: {e}", file=sys.stderr)
            return 2
        detector = face.make_detector()
    images, paths, failed = [], [], 0
    for path in args.images:
        try:
            image = read_image(path)
        except (SourceError, OSError) as e:
            print(f"fer-jax invert: {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        crop = square_resize(image, size) if face is None else face_square(image, face, detector, size)
        if crop is None:
            print(f"fer-jax invert: {path}: no face found (--faces off inverts the centre square)", file=sys.stderr)
            failed += 1
            continue
        images.append(crop.astype(np.float32) / 255.0)
        paths.append(path)
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
