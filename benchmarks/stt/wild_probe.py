"""Where is the expression in a SynthFace-wild build, and how fast can a frame CNN find it? (STT README)

Reads the train and test splits of a ``--store-frames`` synthface build and prints one JSON line per probe:

* ``pixels``: logistic regression on the apex frame's pixels, and on apex − first frame (is it there,
  linearly?);
* ``cnn``: the baseline's per-frame trunk (``tiny`` ResNet, width 16) + linear head trained from scratch
  (or from a face encoder's trunk, ``--face DIR``) with AdamW, batch 32, horizontal flips, on either the
  apex frame alone (``apex``) or the mean feature of the 8 frames the baseline sees at evaluation
  (4 segment centres × 2 consecutive frames, ``clip``); train CE per 100 steps and test accuracy.

    python benchmarks/stt/wild_probe.py --data-dir D --probes pixels cnn:apex cnn:clip --steps 600
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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


def cnn_probe(tr: dict, te: dict, view: str, steps: int, lr: float, face: str | None, seed: int) -> dict:
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from fer_jax.models.resnet import make_resnet

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.trunk = make_resnet("tiny", 3, 16, "imagenet", rngs=rngs)
            self.head = nnx.Linear(self.trunk.out_dim, 7, rngs=rngs)

        def __call__(self, x):  # [B, S, S, 3] or [B, T, S, S, 3] (mean feature over T)
            lead = x.shape[:-3]
            f = self.trunk(x.reshape((-1,) + x.shape[-3:])).reshape(lead + (-1,))
            return self.head(f.mean(axis=1) if x.ndim == 5 else f)

    net = Net(nnx.Rngs(seed))
    if face:
        import orbax.checkpoint as ocp

        tree = ocp.StandardCheckpointer().restore(os.path.abspath(os.path.join(face, "params")))
        state = nnx.state(net.trunk, nnx.Param)
        nnx.replace_by_pure_dict(state, tree["trunk"])
        nnx.update(net.trunk, state)
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(lr, weight_decay=1e-4))
    opt = nnx.Optimizer(net, tx, wrt=nnx.Param)

    @nnx.jit
    def step(net, opt, x, y):
        loss, grads = nnx.value_and_grad(lambda n: optax.softmax_cross_entropy_with_integer_labels(n(x), y).mean())(net)
        opt.update(net, grads)
        return loss

    rng, losses, t0 = np.random.default_rng(seed), [], time.perf_counter()
    x_all, y_all = tr[view], tr["label"]
    for _ in range(steps):
        idx = rng.choice(len(y_all), 32, replace=False)
        x = x_all[idx][..., ::-1, :] if rng.random() < 0.5 else x_all[idx]
        losses.append(float(step(net, opt, jnp.asarray(x), jnp.asarray(y_all[idx]))))
    pred = np.concatenate([np.asarray(net(jnp.asarray(te[view][i:i + 64])).argmax(-1))
                           for i in range(0, len(te["label"]), 64)])
    return {"probe": f"cnn:{view}", "face_init": bool(face), "lr": lr, "seed": seed,
            "train_ce_per_100": [round(float(np.mean(losses[i:i + 100])), 3) for i in range(0, steps, 100)],
            "test_acc": round(float(np.mean(pred == te["label"])), 3), "seconds": round(time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True, help="TFDS data_dir with one synthface build with frames")
    p.add_argument("--probes", nargs="+", default=["pixels", "cnn:apex", "cnn:clip"])
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--face", default=None, help="identity encoder directory: start the trunk from it")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    tr, te = load(a.data_dir, "train"), load(a.data_dir, "test")
    print(json.dumps({"train_clips": len(tr["label"]), "test_clips": len(te["label"]), "size": tr["apex"].shape[1]}))
    for probe in a.probes:
        if probe == "pixels":
            rows = pixel_probe(tr, te)
        elif probe in ("cnn:apex", "cnn:clip"):
            rows = [cnn_probe(tr, te, probe.split(":")[1], a.steps, a.lr, a.face, a.seed)]
        else:
            raise SystemExit(f"unknown probe {probe!r}: pixels, cnn:apex or cnn:clip")
        for row in rows:
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
