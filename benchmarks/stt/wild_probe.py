"""Where is the expression in a SynthFace-wild build, and how fast can a frame CNN find it? (STT README)

Reads the train and test splits of a ``--store-frames`` synthface build and prints one JSON line per probe:

* ``pixels``: logistic regression on the apex frame's pixels, and on apex − first frame (is it there,
  linearly?);
* ``cnn``: the baseline's per-frame trunk (``tiny`` ResNet, width 16) + linear head trained from scratch
  (or from a face encoder's trunk, ``--face DIR``) with AdamW, batch 32, horizontal flips, on either the
  apex frame alone (``apex``) or the mean feature of the 8 frames the baseline sees at evaluation
  (4 segment centres × 2 consecutive frames, ``clip``); train CE per 100 steps and test accuracy. It is
  the ``rgb_baseline`` method (that network) trained by the shared trainer from in-memory arrays; each
  run keeps a workdir under ``--workdir`` (default: a temporary directory).

    python benchmarks/stt/wild_probe.py --data-dir D --probes pixels cnn:apex cnn:clip --steps 600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def load(data_dir: str, split: str) -> dict[str, np.ndarray]:
    """``apex`` [N, S, S, 3], ``first`` [N, S, S, 3], ``clip`` [N, 8, S, S, 3] in [0, 1] and ``label`` [N]."""
    import glob

    import tensorflow as tf
    import tensorflow_datasets as tfds

    builds = sorted(glob.glob(os.path.join(data_dir, "synthface", "*_frames_*", "*", "dataset_info.json")))
    if len(builds) != 1:
        raise SystemExit(f"want one synthface build with frames under {data_dir}, found {len(builds)}")
    builder = tfds.builder_from_directory(os.path.dirname(builds[0]))
    out = {"apex": [], "first": [], "clip": [], "label": []}
    for ex in tfds.as_numpy(builder.as_dataset(split=split)):
        frames = ex["frames"]
        if frames.ndim == 1:  # stored as JPEG strings
            frames = np.stack([tf.io.decode_jpeg(f).numpy() for f in frames])
        n, apex = len(frames), int(np.clip(ex["apex_index"], 0, len(frames) - 1))
        pick = [min(n - 1, int((k + 0.5) * n / 4) + j) for k in range(4) for j in (0, 1)]
        out["apex"].append(frames[apex]), out["first"].append(frames[0]), out["clip"].append(frames[pick])
        out["label"].append(int(ex["label"]))
    arrays = {k: np.stack(v) for k, v in out.items()}
    for k in ("apex", "first", "clip"):
        arrays[k] = arrays[k].astype(np.float32) / 255.0
    return arrays


def pixel_probe(tr: dict, te: dict) -> list[dict]:
    from sklearn.linear_model import LogisticRegression

    rows = []
    for name, f in (("apex pixels", lambda d: d["apex"]), ("apex - first", lambda d: d["apex"] - d["first"])):
        a, b = f(tr).reshape(len(tr["label"]), -1), f(te).reshape(len(te["label"]), -1)
        clf = LogisticRegression(C=0.01, max_iter=300).fit(a, tr["label"])
        rows.append({"probe": name, "train_acc": round(clf.score(a, tr["label"]), 3),
                     "test_acc": round(clf.score(b, te["label"]), 3)})
    return rows


class FlipIterator:
    """An ``ArrayIterator`` whose batches are flipped horizontally as a whole with probability 1/2 (the probe's
    augmentation). The coin is drawn from (seed, epoch, position), so the iterator's state still says
    everything: a resumed run sees the same batches."""

    def __init__(self, arrays: dict[str, np.ndarray], batch: int, seed: int):
        from fer_jax.core.array_iterator import ArrayIterator

        self.inner, self.seed = ArrayIterator(arrays, batch, seed=seed), seed

    def get_state(self) -> dict[str, int]:
        return self.inner.get_state()

    def set_state(self, state) -> None:
        self.inner.set_state(state)

    def __iter__(self) -> "FlipIterator":
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        state = self.inner.get_state()
        flip = np.random.default_rng([self.seed, state["epoch"], state["position"]]).random() < 0.5
        batch = next(self.inner)
        if flip:
            batch["frames"] = batch["frames"][..., ::-1, :]
        return batch


def cnn_config(size: int, frames: int, steps: int, lr: float, face: str | None, seed: int,
               width: int = 16, stem: str = "imagenet"):
    """The ``rgb_baseline`` method as the probe's network: the baseline's per-frame trunk (``tiny`` ResNet,
    width 16) + linear head on the mean feature over ``frames`` (1: the apex frame alone), AdamW at a
    constant ``lr`` (weight decay 1e-4, global-norm clip 1), batch 32; ``face``: the trunk starts from an
    identity encoder directory's ``params``."""
    import ml_collections

    c = ml_collections.ConfigDict()
    c.method, c.seed, c.num_classes, c.total_steps = "rgb_baseline", seed, 7, steps
    c.log_every, c.eval_every, c.ckpt_every, c.keep_ckpts = 1, 0, steps, 1
    c.progress_bar, c.tensorboard = False, False
    c.model = ml_collections.ConfigDict(dict(encoder="tiny", width=width, stem=stem, dtype="float32"))
    c.optim = ml_collections.ConfigDict(dict(name="adamw", lr=lr, weight_decay=1e-4, schedule="constant",
                                             warmup_steps=0, grad_clip=1.0))
    c.input = ml_collections.ConfigDict(dict(dataset="random", batch_size=32, eval_batch_size=64, size=size,
                                             frames=frames))
    if face:
        c.init_from = ml_collections.ConfigDict({"face": dict(source=os.path.join(face, "params"),
                                                              load={"net/trunk": "trunk"})})
    return c


def cnn_probe(tr: dict, te: dict, view: str, steps: int, lr: float, face: str | None, seed: int,
              workdir: str, width: int = 16, stem: str = "imagenet") -> dict:
    """The probe's network trained by the shared trainer (``fer_jax.train.trainer.train``) on the ``view``
    arrays; test accuracy = the trainer's final evaluation on the test split (WAR)."""
    from fer_jax.core.array_iterator import ArrayIterator
    from fer_jax.train.trainer import train

    def frames(d):  # [N, T, S, S, 3]: the apex frame is a clip of one frame
        return d[view][:, None] if view == "apex" else d[view]

    train_arrays = {"frames": frames(tr), "label": tr["label"].astype(np.int32)}
    test_arrays = {"frames": frames(te), "label": te["label"].astype(np.int32)}
    c = cnn_config(tr[view].shape[-2], train_arrays["frames"].shape[1], steps, lr, face, seed, width, stem)
    run_dir = os.path.join(workdir, f"cnn_{view}_seed{seed}" + ("_face" if face else ""))
    t0 = time.perf_counter()
    out = train(c, run_dir, train_iter=FlipIterator(train_arrays, int(c.input.batch_size), seed),
                eval_iter_fn=lambda: ArrayIterator(test_arrays, int(c.input.eval_batch_size), train=False))
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        losses = [r["loss/ce"] for r in map(json.loads, f) if r["split"] == "train"]
    return {"probe": f"cnn:{view}", "face_init": bool(face), "lr": lr, "seed": seed, "width": c.model.width,
            "stem": c.model.stem,
            "train_ce_per_100": [round(float(np.mean(losses[i:i + 100])), 3) for i in range(0, steps, 100)],
            "test_acc": round(float(out["val"]["val/war"]), 3), "seconds": round(time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="TFDS data_dir with one synthface build with frames")
    p.add_argument("--probes", nargs="+", default=["pixels", "cnn:apex", "cnn:clip"])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--face", default=None, help="identity encoder directory: start the trunk from it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=16, help="the trunk's width")
    p.add_argument("--stem", default="imagenet", choices=("imagenet", "small"))
    p.add_argument("--workdir", default=None, help="where the cnn runs keep their workdirs (default: a temporary "
                   "directory, removed at the end)")
    a = p.parse_args(argv)
    tr, te = load(a.data_dir, "train"), load(a.data_dir, "test")
    print(json.dumps({"train_clips": len(tr["label"]), "test_clips": len(te["label"]), "size": tr["apex"].shape[1]}))
    with tempfile.TemporaryDirectory() as tmp:
        for probe in a.probes:
            if probe == "pixels":
                rows = pixel_probe(tr, te)
            elif probe in ("cnn:apex", "cnn:clip"):
                rows = [cnn_probe(tr, te, probe.split(":")[1], a.steps, a.lr, a.face, a.seed, a.workdir or tmp,
                                  a.width, a.stem)]
            else:
                raise SystemExit(f"unknown probe {probe!r}: pixels, cnn:apex or cnn:clip")
            for row in rows:
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
