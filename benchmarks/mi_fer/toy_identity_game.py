"""Experiment: does the min-min game remove an identity signal from z_exp?

Toy clips whose residuals carry both a class pattern (0.3) and a stronger identity pattern (0.6)
plus noise; identity embeddings are per-identity unit vectors. Trains the tiny MI-FER model for
STEPS steps per variant and reports expression WAR/UAR and the identity audit of held-out features.

    python benchmarks/mi_fer/toy_identity_game.py 600 '[[0.0,2,0.001,"raw"],[1.0,5,0.003,"unit"]]'

Each variant is [mi.weight, mi.estimator_steps, estimator lr, mi.critic_input(, mi.hidden = 128,
mi.penalty = "club", {other config overrides})]; the batch size is $TOY_BATCH (default 64). Meant for an
accelerator (about 20 s per variant on one H100; many minutes on a CPU). Results: fer_jax/methods/mi_fer/README.md.
"""

import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [REPO, os.path.join(REPO, "fer_jax", "methods", "mi_fer", "tests")]  # the tests' tiny config
from mifer_helpers import make_config  # noqa: E402

from fer_jax.core.registry import get_method  # noqa: E402
from fer_jax.core.settings import parse  # noqa: E402
from fer_jax.evaluate.identity_audit import audit  # noqa: E402
from fer_jax.evaluate.metrics import classification_report  # noqa: E402

S, K, NID, C, D = 32, 2, 16, 7, 32
pat = np.random.default_rng(0)
cls = pat.normal(size=(C, S, S, 3)).astype(np.float32)
idp = pat.normal(size=(NID, S, S, 3)).astype(np.float32)
emb = pat.normal(size=(NID, D)).astype(np.float32)
emb /= np.linalg.norm(emb, axis=1, keepdims=True)


def data(n: int, seed: int):
    r = np.random.default_rng(seed)
    y, i = r.integers(0, C, n), r.integers(0, NID, n)
    res = 0.3 * cls[y][:, None] + 0.6 * idp[i][:, None] + 1.0 * r.normal(size=(n, K, S, S, 3))
    e = emb[i] + 0.05 * r.normal(size=(n, D))
    e = (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)
    return dict(residuals=res.astype(np.float32), identity_embedding=e, label=y.astype(np.int32),
                mask=np.ones(n, np.float32)), i


def main() -> None:
    print(jax.devices(), flush=True)
    train, _ = data(4096, 1)
    test, test_id = data(1024, 2)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    batch = int(os.environ.get("TOY_BATCH", 64))
    res = {}
    for lam, es, elr, view, *rest in json.loads(sys.argv[2]):
        hidden = rest[0] if rest else 128
        penalty = rest[1] if len(rest) > 1 else "club"
        extra = rest[2] if len(rest) > 2 else {}
        cfg = make_config(**extra, **{
            "mi.weight": lam, "mi.start_step": 100, "mi.warmup_steps": 200, "mi.identity_dim": D,
            "mi.hidden": hidden, "mi.penalty": penalty, "mi.estimator_steps": es, "mi.critic_input": view,
            "model.feature_dim": 64, "model.width": 16, "optim.lr": 1e-3, "total_steps": steps})
        cfg.mi.optim = ml_collections.ConfigDict(dict(name="adamw", lr=elr, schedule="constant", weight_decay=0.0,
                                                      warmup_steps=0, grad_clip=0.0))
        name = f"{lam}/{es}/{elr}/{view}/h{hidden}/{penalty}" + "".join(f"/{k}={v}" for k, v in extra.items())
        m = get_method("mi_fer")
        st = m.create(parse(cfg, m), nnx.Rngs(0))
        step, ev = nnx.jit(m.train_step), nnx.jit(m.eval_step)
        r = np.random.default_rng(5)
        t0 = time.time()
        for s in range(steps):
            idx = r.choice(4096, batch, replace=False)
            out = step(st, {k: v[idx] for k, v in train.items()}, jnp.asarray(s))
            if s % 200 == 0:
                print(name, s, {k: round(float(v), 3) for k, v in out.items()}, flush=True)
        feats, logits, club = [], [], []
        for j in range(0, 1024, 256):
            o = ev(st, {k: v[j:j + 256] for k, v in test.items()})
            feats.append(np.asarray(o["features"]))
            logits.append(np.asarray(o["logits"]))
            club.append(np.asarray(o["mi/club_per_example"]))
        rep = classification_report(test["label"], np.concatenate(logits).argmax(-1), C)
        a = audit(np.concatenate(feats), test_id, seed=0)
        res[name] = dict(war=rep["war"], uar=rep["uar"], club=float(np.concatenate(club).mean()), **a,
                         secs=round(time.time() - t0, 1))
        print(name, res[name], flush=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
