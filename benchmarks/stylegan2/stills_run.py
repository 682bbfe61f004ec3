"""Train the ``tiny`` StyleGAN2 on SynthFace stills rendered in memory, then measure it without FID.

    python benchmarks/stylegan2/stills_run.py --workdir /tmp/sg_tiny --steps 2000 --identities 40

Data: ``data_pipelines.synthface_stills.render_stills`` (apex frame of a lab clip per identity and
expression) at ``--size``; identities ``[0, n)`` train, the next ``--heldout`` identities are held out.
Measures, written to ``<workdir>/stills_run.json`` and PNGs beside it:

* ``samples.png``: 8×8 EMA-generator samples from fixed latents (``samples(g_ema, seed=0)``), fixed noise
  (``samples_g.png``: the same from the trained, non-averaged generator); ``real.png``: 64 training stills.
* nearest-training-image LPIPS (AlexNet; images upsampled ×2 with bilinear filtering, AlexNet's
  receptive fields being too large for 32 px): for each sample, its smallest LPIPS to any training still.
  Read against the same number for held-out real stills (what a new face of this distribution scores)
  and for the untrained generator (step 0): samples near the held-out figure look like new faces, far
  below it like copies of training images, near the untrained one like noise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from configs.stylegan2.synthface import get_config  # noqa: E402
from data_pipelines.synthface_stills import render_stills  # noqa: E402
from fer_jax.core.array_iterator import ArrayIterator  # noqa: E402
from fer_jax.core.settings import parse  # noqa: E402
from fer_jax.methods.stylegan2.method import StyleGAN2, samples  # noqa: E402
from fer_jax.models.lpips import LPIPS  # noqa: E402
from fer_jax.train.trainer import train  # noqa: E402


def grid_png(images: np.ndarray, path: str, cols: int = 8) -> None:
    """[N, S, S, 3] in [-1, 1] -> one PNG grid."""
    from PIL import Image

    x = np.clip((np.asarray(images) + 1) * 127.5, 0, 255).astype(np.uint8)
    n, s = x.shape[0], x.shape[1]
    rows = -(-n // cols)
    canvas = np.zeros((rows * s, cols * s, 3), np.uint8)
    for i, img in enumerate(x):
        canvas[(i // cols) * s:(i // cols + 1) * s, (i % cols) * s:(i % cols + 1) * s] = img
    Image.fromarray(canvas).resize((cols * s * 2, rows * s * 2), Image.NEAREST).save(path)


def nearest_lpips(lpips: LPIPS, queries: np.ndarray, train_set: np.ndarray, chunk: int = 64) -> np.ndarray:
    """For each query, min LPIPS to any training image (both [-1, 1], upsampled ×2); the training
    set's features are computed once."""
    up = lambda x: jax.image.resize(x, (x.shape[0], 2 * x.shape[1], 2 * x.shape[2], 3), "bilinear")  # noqa: E731
    feats = jax.jit(lambda x: lpips.unit_features(up(x)))
    train_f = feats(jnp.asarray(train_set, jnp.float32))

    @jax.jit
    def nearest(q):  # q: [chunk, S, S, 3] -> [chunk]
        qf = feats(q)
        return jax.lax.map(lambda i: jnp.min(lpips.feature_distance([f[i][None] for f in qf], train_f)),
                           jnp.arange(q.shape[0]))

    q = np.asarray(queries, np.float32)
    pad = (-len(q)) % chunk
    q = np.concatenate([q, np.repeat(q[:1], pad, 0)]) if pad else q
    out = [np.asarray(nearest(jnp.asarray(q[i:i + chunk]))) for i in range(0, len(q), chunk)]
    return np.concatenate(out)[:len(queries)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--heldout", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=64)
    args = p.parse_args(argv)

    os.makedirs(args.workdir, exist_ok=True)
    t0 = time.perf_counter()
    train_imgs = render_stills(args.identities, args.size)["image"].astype(np.float32) / 127.5 - 1
    held = render_stills(args.heldout, args.size, start=args.identities)["image"].astype(np.float32) / 127.5 - 1
    render_s = time.perf_counter() - t0

    c = get_config(f"tiny,size={args.size},steps={args.steps},batch={args.batch},seed={args.seed}")
    c.gan.image_key = "image"
    c.progress_bar, c.tensorboard = False, False
    c.ckpt_every = max(args.steps // 4, 1)
    method = StyleGAN2()
    untrained = method.create(parse(c, method), nnx.Rngs(args.seed)).g_ema
    iterator = ArrayIterator({"image": (train_imgs + 1) / 2}, args.batch, seed=args.seed)
    t0 = time.perf_counter()
    out = train(c, args.workdir, train_iter=iterator)
    train_s = time.perf_counter() - t0

    fakes = np.asarray(samples(out["model"].g_ema, seed=0, n=args.samples))
    grid_png(fakes, os.path.join(args.workdir, "samples.png"))
    grid_png(np.asarray(samples(out["model"].g, seed=0, n=args.samples)), os.path.join(args.workdir, "samples_g.png"))
    grid_png(train_imgs[:: max(len(train_imgs) // 64, 1)][:64], os.path.join(args.workdir, "real.png"))
    lpips = LPIPS()
    rng = np.random.default_rng(0)
    n = min(args.samples, len(held))
    report = {
        "steps": args.steps, "batch": args.batch, "size": args.size, "identities": args.identities,
        "train_images": len(train_imgs), "render_s": round(render_s, 1), "train_s": round(train_s, 1),
        "final_train_metrics": out["train"],
        "nearest_lpips": {
            "samples": float(nearest_lpips(lpips, fakes, train_imgs).mean()),
            "heldout_real": float(nearest_lpips(lpips, held[rng.choice(len(held), n, replace=False)],
                                                train_imgs).mean()),
            "untrained": float(nearest_lpips(lpips, np.asarray(samples(untrained, seed=0, n=n)), train_imgs).mean()),
        },
        "config": c.to_dict(),
    }
    with open(os.path.join(args.workdir, "stills_run.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
