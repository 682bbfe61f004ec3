"""Train IFER's stages on images held in memory: SynthFace stills rendered on the fly, or a folder of faces.

    python benchmarks/ifer/stills_run.py inversion --workdir W \
        --config configs/ifer/synthface_inversion.py:tiny,decoder=SG,identity=ID
    python benchmarks/ifer/stills_run.py inversion --workdir W --folder FACES \
        --config configs/ifer/faces_inversion.py:decoder=SG,identity=ID
    python benchmarks/ifer/stills_run.py fer --workdir W --config configs/ifer/synthface_fer.py:tiny,inversion=W_INV

Stills: ``data_pipelines.synthface_stills.render_stills`` at the config's size. Inversion trains on identities
``[0, --identities)`` and evaluates reconstruction (MSE, LPIPS) on the next ``--heldout`` identities every
``eval_every`` steps; it writes ``recon_grid.png`` (rows of held-out inputs over their reconstructions).
FER trains on the labelled stills of identities ``[--fer-start, --fer-start + --fer-train)`` and evaluates
on the ``--fer-test`` identities after them: identities neither the decoder, the encoder nor the classifier
saw. With ``--fer-val N`` the trainer's evaluations use the N identities after the test ones instead (for
choosing settings), and the final model is evaluated once on the test identities (``"test"`` in the JSON).
A folder: every image, centre-cropped square and resized; a tenth (by sorted name) held out.
Results: ``<workdir>/stills_run.json`` (the last evaluation and the config).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def load_config(spec: str):
    """``path/to/config.py[:variant]`` -> its ``get_config(variant)``."""
    import importlib.util

    path, _, arg = spec.partition(":")
    module_spec = importlib.util.spec_from_file_location("ifer_run_config", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg or None)


def folder_images(folder: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) uint8 images of a folder (sorted names; every tenth file held out)."""
    from data_pipelines.common.sources import read_image, square_resize

    names = sorted(os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if len(names) < 2:
        raise SystemExit(f"{folder}: fewer than two images")
    images = np.stack([square_resize(read_image(p), size) for p in names])
    held = np.arange(len(images)) % 10 == 9
    return images[~held], images[held]


def grid_png(top: np.ndarray, bottom: np.ndarray, path: str) -> None:
    """Two rows of [N, S, S, 3] images in [0, 1] (inputs over reconstructions), ×4 nearest upscaling."""
    from PIL import Image

    rows = [np.concatenate(list(np.clip(r, 0, 1)), axis=1) for r in (top, bottom)]
    img = (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)
    Image.fromarray(img).resize((img.shape[1] * 4, img.shape[0] * 4), Image.NEAREST).save(path)


def evaluate_final(model, config, batches) -> dict[str, float]:
    """One pass of ``batches`` through the trainer's ``val`` evaluation (same evaluators and options) with
    the trained ``model``, reported as ``test/<metric>``."""
    import jax
    from flax import nnx

    from fer_jax.core.parallel import make_mesh, replicated
    from fer_jax.core.registry import get_method
    from fer_jax.evaluate import runner
    from fer_jax.train.config_check import validate

    graphdef, state = nnx.split(model)
    mesh = make_mesh()
    method = get_method(config.method)
    evals = runner.Evaluations(validate(config, method), method, graphdef, mesh, iter_fns={"val": lambda: batches})
    _, report = evals.run("val", jax.device_put(state, replicated(mesh)))
    return runner.scalar_metrics("test", report)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=("inversion", "fer"))
    p.add_argument("--workdir", required=True)
    p.add_argument("--config", required=True, help="config file[:variant] (configs/ifer/...)")
    p.add_argument("--folder", default=None, help="inversion on the images of this folder instead of stills")
    p.add_argument("--identities", type=int, default=200, help="inversion: training identities")
    p.add_argument("--heldout", type=int, default=16, help="inversion: held-out identities")
    p.add_argument("--fer-start", type=int, default=216)
    p.add_argument("--fer-train", type=int, default=40)
    p.add_argument("--fer-test", type=int, default=30)
    p.add_argument("--fer-val", type=int, default=0,
                   help="FER: validation identities after the test ones (0: the trainer evaluates on the test ones)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (Python literal), e.g. --set eval_every=100")
    args = p.parse_args(argv)

    from data_pipelines.synthface_stills import render_stills
    from fer_jax.core.array_iterator import ArrayIterator
    from fer_jax.core.settings import apply_overrides
    from fer_jax.methods.ifer.method import reconstructions
    from fer_jax.train.trainer import train

    c = load_config(args.config)
    apply_overrides(c, args.set)
    size, key = int(c.decoder.size), str(c.ifer.image_key)
    t0 = time.perf_counter()
    if args.stage == "inversion":
        if args.folder:
            train_imgs, held_imgs = folder_images(args.folder, size)
            train_arr, held_arr = {key: train_imgs}, {key: held_imgs}
        else:
            train_arr = {key: render_stills(args.identities, size)["image"]}
            held_arr = {key: render_stills(args.heldout, size, start=args.identities)["image"]}
    else:
        tr = render_stills(args.fer_train, size, start=args.fer_start)
        te = render_stills(args.fer_test, size, start=args.fer_start + args.fer_train)
        train_arr, held_arr = {key: tr["image"], "label": tr["label"]}, {key: te["image"], "label": te["label"]}
        if args.fer_val:
            va = render_stills(args.fer_val, size, start=args.fer_start + args.fer_train + args.fer_test)
            test_arr, held_arr = held_arr, {key: va["image"], "label": va["label"]}
    to01 = lambda a: {k: (v.astype(np.float32) / 255.0 if v.dtype == np.uint8 else v) for k, v in a.items()}  # noqa: E731
    train_arr, held_arr = to01(train_arr), to01(held_arr)
    test_arr = to01(test_arr) if args.stage == "fer" and args.fer_val else None
    render_s = time.perf_counter() - t0
    batch, eval_batch = int(c.input.batch_size), int(c.input.get("eval_batch_size") or c.input.batch_size)
    it = ArrayIterator(train_arr, batch, seed=int(c.seed))
    out = train(c, args.workdir, train_iter=it, eval_iter_fn=lambda: ArrayIterator(held_arr, eval_batch, train=False))
    report = {"stage": args.stage, "render_s": round(render_s, 1), "train_images": len(train_arr[key]),
              "heldout_images": len(held_arr[key]), "step": out["step"], "val": out["val"], "train": out["train"],
              "seconds": round(time.perf_counter() - t0, 1), "config": c.to_dict()}
    if test_arr is not None:
        report["test"] = evaluate_final(out["model"], c, ArrayIterator(test_arr, eval_batch, train=False))
    if args.stage == "inversion":
        sample = held_arr[key][:: max(len(held_arr[key]) // 8, 1)][:8]
        grid_png(sample, reconstructions(out["model"], sample), os.path.join(args.workdir, "recon_grid.png"))
    with open(os.path.join(args.workdir, "stills_run.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(json.dumps({k: v for k, v in report.items() if k != "config"}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
