"""STT's compact-loss weight, a cheap sweep (fer_jax/methods/stt/README.md): a tiny STT fits a few in-memory
random batches with the :tiny optimizer (AdamW 1e-3, grad clip 1.0) and the term on from step 0; variants of
the ratio term replace ``compactness`` for the run. Prints one JSON line per variant.

    python benchmarks/stt/loss_sweep.py ce,ratio_0.5,log_0.5,ratio_0.05 40
"""
import json
import os
import sys
import time

import jax.numpy as jnp
import numpy as np
from flax import nnx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [REPO, os.path.join(REPO, "fer_jax", "methods", "stt", "tests")]

from stt_helpers import tiny_config  # noqa: E402

import fer_jax.methods.stt.method as M  # noqa: E402
from fer_jax.core.data import random_arrays  # noqa: E402
from fer_jax.core.registry import get_method  # noqa: E402
from fer_jax.core.settings import parse  # noqa: E402

raw = M.compactness

def log_ratio(feats, labels, mask, centres, covered, eps):
    r = raw(feats, labels, mask, centres, covered, eps)
    return jnp.where(r > 0, jnp.log(r + 1e-6), 0.0)

def bounded(feats, labels, mask, centres, covered, eps):
    r = raw(feats, labels, mask, centres, covered, eps)
    return r / (1.0 + r)


VARIANTS = {"ce": (0.0, raw), "ratio_0.5": (0.5, raw), "ratio_0.05": (0.05, raw), "ratio_0.01": (0.01, raw),
            "log_0.5": (0.5, log_ratio), "log_0.1": (0.1, log_ratio), "bounded_0.5": (0.5, bounded)}
def main(argv: list[str]) -> None:
    """One JSON line per variant named in ``argv[0]`` (comma-separated), ``argv[1]`` steps each."""
    names = argv[0].split(",") if len(argv) > 0 else list(VARIANTS)
    steps = int(argv[1]) if len(argv) > 1 else 60
    for name in names:
        lam, fn = VARIANTS[name]
        M.compactness = fn
        config = tiny_config(dropout=0.0, width=32, heads=2, depth=1)
        config.optim.update(schedule="constant", warmup_steps=0, lr=1e-3, grad_clip=1.0)
        config.input.random.update(num_train=64, signal=0.3)
        config.compact.update(weight=lam, gate=100.0, ramp=0.0)
        method = get_method("stt")
        run = parse(config, method)
        state = method.create(run, nnx.Rngs(0))
        arrays = random_arrays(run.input, 7, "train", seed=0, spec=method.input_spec(run))
        n = len(arrays["label"]) // 16 * 16
        batches = [{k: jnp.asarray(v[i:i + 16]) for k, v in arrays.items()} for i in range(0, n, 16)]
        step = nnx.jit(method.train_step)
        t0, log = time.time(), []
        for i in range(steps):
            out = step(state, batches[i % len(batches)], jnp.int32(i))
            if i % 10 == 9 or i == 0:
                log.append((i + 1, round(float(out["loss/ce"]), 3), round(float(out["loss/compact"]), 3)))
        ev = nnx.jit(method.eval_step)
        feats = np.concatenate([np.asarray(ev(state, b)["features"]) for b in batches])
        labs = np.concatenate([np.asarray(b["label"]) for b in batches])
        cs = np.stack([feats[labs == c].mean(0) for c in np.unique(labs)])
        classes = list(np.unique(labs))
        intra = np.mean([np.sum((f - cs[classes.index(y)]) ** 2) for f, y in zip(feats, labs)])
        inter = np.mean([np.sum((a - b) ** 2) for i, a in enumerate(cs) for j, b in enumerate(cs) if i != j])
        acc = np.mean(np.concatenate([np.asarray(ev(state, b)["logits"]).argmax(-1) for b in batches]) == labs)
        print(json.dumps(dict(variant=name, lam=lam, log=log, train_acc=float(acc), ratio=float(intra / inter),
                              sec=round(time.time() - t0, 1))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
