"""Issue 17's diagnostics: which residual frames carry expression, and can the demo's
encoder fit them? Results: ``fer_jax/methods/mi_fer/README.md``, "Why the encoder underfitted".

    python benchmarks/mi_fer/frame_diagnostics.py dump TFDS_VERSION_DIR OUT_DIR
    python benchmarks/mi_fer/frame_diagnostics.py probe OUT_DIR
    python benchmarks/mi_fer/frame_diagnostics.py cnn OUT_DIR '{"slots": [7, 21]}'

``dump`` writes the train/test splits of a built SynthFace set (``runs/demo/tfds/synthface/<config>/1.1.0``)
as ``OUT_DIR/{train,test}.npz``. ``probe``: logistic regression (C = 0.05, standardised) on 2×-pooled
residual pixels of chosen P-frame slots (slot s of GOP g is frame 12 g + s + 1). ``cnn``: the demo's
encoder (tiny ResNet, width 16, z 32, linear head) alone, batch 16, 300 steps, AdamW 1e-3 cosine, clip 1,
on fixed slots or (``"rand": 1``) one random slot per TSN segment (evaluated at the segment centres);
options ``scale``, ``tf`` (log | clip), ``aug`` (+ ``shift`` cells, ``flip``), ``pool`` (max), ``emul``
(residuals made relative to frame 0 by adding earlier GOP ends: one GOP per clip).
"""

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def dump(version_dir: str, out: str) -> None:
    from data_pipelines.tf_compat import import_tfds

    tfds = import_tfds()
    b = tfds.builder_from_directory(version_dir)
    for split in ("train", "test"):
        keys = ("residuals", "frame_types", "label", "subject", "apex_frame", "iframes")
        cols = {k: [] for k in keys}
        for ex in tfds.as_numpy(b.as_dataset(split=split)):
            for k in keys:
                cols[k].append(ex[k])
        np.savez(f"{out}/{split}.npz", res=np.stack(cols["residuals"]), ft=np.stack(cols["frame_types"]),
                 label=np.array(cols["label"]), subject=np.array(cols["subject"]), apex=np.stack(cols["apex_frame"]),
                 iframes=np.stack(cols["iframes"]))


def probe(out: str) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    tr, te = np.load(f"{out}/train.npz"), np.load(f"{out}/test.npz")

    def pool(x, p=2):
        n, s, _, c = x.shape
        return x.reshape(n, s // p, p, s // p, p, c).mean((2, 4)).reshape(n, -1)

    def frames(slots):
        return lambda d: np.concatenate([pool(d["res"][:, k].astype(np.float32)) for k in slots], 1)

    variants = {f"slot {k}": frames([k]) for k in (7, 10, 21, 28)}
    variants.update({"slots 7+21": frames([7, 21]), "slots 10+21+28": frames([10, 21, 28]),
                     "res 10 + res 21": lambda d: pool(d["res"][:, 10].astype(np.float32) + d["res"][:, 21]),
                     "apex frame": lambda d: pool(d["apex"].astype(np.float32)),
                     "apex - iframe 0": lambda d: pool(d["apex"].astype(np.float32) - d["iframes"][:, 0])})
    for name, f in variants.items():
        xtr, xte = f(tr), f(te)
        sc = StandardScaler().fit(xtr)
        clf = LogisticRegression(C=0.05, max_iter=300).fit(sc.transform(xtr), tr["label"])
        print(f"{name}: test {clf.score(sc.transform(xte), te['label']):.3f}", flush=True)


def cnn(out: str, args: dict) -> None:
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from fer_jax.methods.mi_fer.model import ExpressionEncoder, MiFerNet

    slots, scale, steps = args.get("slots", [7, 21]), args.get("scale", 1 / 255), args.get("steps", 300)
    rand, tf_, aug = args.get("rand", 0), args.get("tf", "none"), args.get("aug", 0)
    tr, te = dict(np.load(f"{out}/train.npz")), dict(np.load(f"{out}/test.npz"))
    if args.get("emul"):
        for d in (tr, te):
            r = d["res"].astype(np.int32)
            r[:, 11:22] += r[:, 10:11]
            r[:, 22:] += r[:, 10:11] + r[:, 21:22]
            d["res"] = r
    rng = np.random.default_rng(0)
    n_valid = int((tr["ft"][0][:, 1:] == 2).sum())

    def transform(x):
        if tf_ == "log":
            return np.sign(x) * np.log1p(np.abs(x) / 2.0)
        if tf_ == "clip":
            return np.clip(x, -16, 16) / 16
        return x * scale

    def augment(x):
        out_ = np.empty_like(x)
        m = args.get("shift", 2)
        for i in range(len(x)):
            xi = x[i][:, :, ::-1] if (args.get("flip", 1) and rng.random() < 0.5) else x[i]
            dy, dx = (rng.integers(-m, m + 1, size=2) * 4) if m else (0, 0)
            out_[i] = np.roll(xi, (dy, dx), axis=(1, 2))
        return out_

    k = len(slots)
    bounds = [int(np.floor(j * n_valid / k)) for j in range(k + 1)]
    if rand:
        slots = [bounds[j] + max(bounds[j + 1] - bounds[j], 1) // 2 for j in range(k)]
    if args.get("pool") == "max":
        def call(self, residuals, motion_vectors=None):
            b, kk = residuals.shape[:2]
            feats = self.residual_net(residuals.reshape((b * kk,) + residuals.shape[2:]))
            return self.proj(feats.reshape(b, kk, -1).max(axis=1)).astype(jnp.float32)
        ExpressionEncoder.__call__ = call
    net = MiFerNet(7, ExpressionEncoder("tiny", args.get("width", 16), 32, rngs=nnx.Rngs(0)), None, rngs=nnx.Rngs(1))
    sched = optax.warmup_cosine_decay_schedule(0, args.get("lr", 1e-3), min(20, steps // 2), steps)
    opt = nnx.Optimizer(net, optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(sched, weight_decay=1e-4)),
                        wrt=nnx.Param)

    @nnx.jit
    def step(net, opt, x, y):
        def lf(net):
            return optax.softmax_cross_entropy_with_integer_labels(net(x)[0], y).mean()
        loss, g = nnx.value_and_grad(lf)(net)
        opt.update(net, g)
        return loss

    @nnx.jit
    def pred(net, x):
        return net(x)[0].argmax(-1)

    def accuracy(d):
        x = transform(d["res"][:, slots].astype(np.float32))
        p = np.concatenate([np.asarray(pred(net, jnp.asarray(x[i:i + 48]))) for i in range(0, len(x), 48)])
        return float((p == d["label"]).mean())

    t0, losses = time.time(), []
    for _ in range(steps):
        idx = rng.choice(len(tr["label"]), 16, replace=False)
        if rand:
            pick = [[rng.integers(bounds[j], bounds[j + 1]) for j in range(k)] for _ in idx]
            x = np.stack([tr["res"][n, p] for n, p in zip(idx, pick)])
        else:
            x = tr["res"][idx][:, slots]
        x = transform(x.astype(np.float32))
        x = augment(x) if aug else x
        losses.append(float(step(net, opt, jnp.asarray(x), jnp.asarray(tr["label"][idx]))))
    print(json.dumps(args), f"CE(last 50) {np.mean(losses[-50:]):.3f} train acc {accuracy(tr):.3f} "
          f"test acc {accuracy(te):.3f} ({time.time() - t0:.0f} s, {jax.default_backend()})", flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "dump":
        dump(sys.argv[2], sys.argv[3])
    elif cmd == "probe":
        probe(sys.argv[2])
    else:
        cnn(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})
